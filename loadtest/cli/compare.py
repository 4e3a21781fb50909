"""Compare two run directories: every headline figure side by side with its difference, plots overlaid."""

from __future__ import annotations

import argparse
import sys

from loadtest import exitcodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="the first run directory (the reference)")
    parser.add_argument("run_b", metavar="RUN_B", help="the second run directory (compared with A)")
    parser.add_argument("--out", "-o", metavar="DIR", default=None,
                        help="where to write compare.html/.md/.json and plots (default reports/compare/<A>_vs_<B>)")


def main(args: argparse.Namespace) -> int:
    from loadtest.report.side_by_side import build_comparison
    from loadtest.rundir.errors import RunDirectoryError

    try:
        html = build_comparison(args.run_a, args.run_b, args.out)
    except RunDirectoryError as exc:
        print(f"loadtest compare: {exc}", file=sys.stderr)
        return exitcodes.INVALID_INPUT
    print(f"comparison: {html}")
    return exitcodes.OK
