"""Check scenario files without running them: every mistake at once, as ``file:line:col: path: message``.

Exit status 0 when every file is valid, 2 when any is not. Reading is bounded (size, nesting, values
after alias expansion), so any file gets an answer in well under two seconds.
"""

from __future__ import annotations

import argparse
import sys

from loadtest import exitcodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def main(args: argparse.Namespace) -> int:
    from loadtest.scenario.loader import ScenarioError, load_scenario

    failed = 0
    for path in args.files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            failed += 1
            for error in exc.errors:
                print(error, file=sys.stderr)
            count = len(exc.errors)
            print(f"{path}: invalid ({count} error{'s' if count != 1 else ''})", file=sys.stderr)
            continue
        except (RecursionError, MemoryError) as exc:  # the reader's limits should make these unreachable
            failed += 1
            print(f"{path}:1:1: this file is too large or too deeply nested to check ({type(exc).__name__})",
                  file=sys.stderr)
            continue
        if not args.quiet:
            print(f"{path}: ok ({scenario.name}, {len(scenario.mix)} flow{'s' if len(scenario.mix) != 1 else ''})")
    return exitcodes.INVALID_INPUT if failed else exitcodes.OK
