"""Rebuild the report of a run directory: plots, report.html and summary.md, from its files alone."""

from __future__ import annotations

import argparse

from loadtest import exitcodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (e.g. reports/latest)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def main(args: argparse.Namespace) -> int:
    from loadtest.report.build import build_report

    built = build_report(args.run_dir)  # a run directory that cannot be read: RunDirectoryError, exit 2
    if not args.quiet:
        print(f"report:  {built.html}")
        print(f"summary: {built.markdown}")
        print(f"plots:   {len(built.plots)} in {built.html.parent / 'plots'}")
    return exitcodes.OK
