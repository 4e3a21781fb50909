"""Rebuild the report of a run directory: plots, report.html and summary.md, from its files alone."""

from __future__ import annotations

import argparse
import sys

from loadtest import exitcodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (e.g. reports/latest)")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def main(args: argparse.Namespace) -> int:
    from loadtest.report.build import build_report
    from loadtest.rundir.errors import RunDirectoryError

    try:
        built = build_report(args.run_dir)
    except RunDirectoryError as exc:
        print(f"loadtest report: {exc}", file=sys.stderr)
        return exitcodes.INVALID_INPUT
    if not args.quiet:
        print(f"report:  {built.html}")
        print(f"summary: {built.markdown}")
        print(f"plots:   {len(built.plots)} in {built.html.parent / 'plots'}")
    return exitcodes.OK
