"""Save a run as a named baseline, or list the saved ones.

``loadtest baseline save RUN_DIR NAME`` copies the run's ``summary.json`` and per-bucket data
(``recorder.json``) to ``baselines/NAME/`` (commit that directory to share it with CI);
``loadtest baseline list`` shows what is saved. ``loadtest check RUN_DIR --baseline NAME`` compares.
"""

from __future__ import annotations

import argparse
import sys

from loadtest import exitcodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baselines-dir", metavar="DIR",
                        help="where baselines are saved (default: $LOADTEST_BASELINES or ./baselines)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    save = actions.add_parser("save", help="save a run directory as baseline NAME")
    save.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (e.g. reports/latest)")
    save.add_argument("name", metavar="NAME", help="baseline name (letters, digits, '_', '.', '-')")
    save.add_argument("--force", action="store_true", help="replace an existing baseline of that name")
    actions.add_parser("list", help="list saved baselines")


def main(args: argparse.Namespace) -> int:
    from loadtest.check.baselines import BaselineError, baselines_root, list_baselines, save_baseline

    root = getattr(args, "baselines_dir", None)
    if args.action == "save":
        try:
            path = save_baseline(args.run_dir, args.name, root, force=args.force)
        except BaselineError as exc:
            print(f"loadtest baseline: {exc}", file=sys.stderr)
            return exitcodes.INVALID_INPUT
        print(f"baseline {args.name!r} saved in {path} (from {args.run_dir})")
        return exitcodes.OK
    if args.action == "list":
        found = list_baselines(root)
        if not found:
            print(f"no baselines in {baselines_root(root)}/ (save one with: loadtest baseline save RUN_DIR NAME)")
            return exitcodes.OK
        width = max(len(item.name) for item in found)
        for item in found:
            length = f"{item.duration_s:.0f}s" if item.duration_s is not None else "?"
            print(f"{item.name:<{width}}  scenario {item.scenario or '?'}, {length}, "
                  f"saved {item.saved_at or '?'} from {item.source_run_dir or '?'}")
        return exitcodes.OK
    print("loadtest baseline: say what to do: save RUN_DIR NAME, or list", file=sys.stderr)
    return exitcodes.INVALID_INPUT
