"""Judge a run directory against its scenario's thresholds and, optionally, a saved baseline.

Prints a table of every criterion (expected, measured, verdict, why), writes ``verdicts.json`` into the
run directory, rebuilds its report (``report.html``, ``summary.md``) with the verdicts, and with
``--junit FILE`` writes JUnit XML (one test case per criterion). Exit status: 0 every criterion passed,
1 a threshold was broken or a regression found, 3 some figure could not be judged (missing data),
2 bad input (not a run directory, unknown baseline, invalid thresholds).
"""

from __future__ import annotations

import argparse
import sys
import time

from loadtest import exitcodes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (e.g. reports/latest)")
    parser.add_argument("--baseline", metavar="NAME",
                        help="compare with this saved baseline (default: the scenario's baseline.name, if any)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="judge the thresholds only, even when the scenario names a baseline")
    parser.add_argument("--junit", metavar="FILE", help="also write the verdicts as JUnit XML to FILE")
    parser.add_argument("--scenario", metavar="FILE",
                        help="take thresholds and baseline settings from this scenario file instead of the "
                             "run's own scenario.yaml")
    parser.add_argument("--baselines-dir", metavar="DIR",
                        help="where baselines are saved (default: $LOADTEST_BASELINES or ./baselines)")
    parser.add_argument("--confidence", type=float, default=None, metavar="P",
                        help="confidence of the noise interval for baseline comparisons (default 0.99)")
    parser.add_argument("--no-report", action="store_true", help="do not rebuild report.html / summary.md")
    parser.add_argument("--quiet", "-q", action="store_true", help="print only the outcome line")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from loadtest.check.judge import CheckInputError, judge_run
    from loadtest.check.junit import write_junit
    from loadtest.metrics.noise import DEFAULT_CONFIDENCE
    from loadtest.rundir.write import write_verdicts

    began = time.monotonic()
    confidence = DEFAULT_CONFIDENCE if args.confidence is None else args.confidence
    if not 0.5 <= confidence < 1.0:
        print(f"loadtest check: --confidence must be between 0.5 and 1 (exclusive), found {confidence:g}",
              file=sys.stderr)
        return exitcodes.INVALID_INPUT
    scenario = None
    if args.scenario:
        from loadtest.scenario.loader import ScenarioError, load_scenario

        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            for issue in exc.errors:
                print(issue, file=sys.stderr)
            print(f"loadtest check: {args.scenario}: invalid scenario", file=sys.stderr)
            return exitcodes.INVALID_INPUT
    try:
        if args.no_baseline and args.baseline:
            print("loadtest check: --baseline and --no-baseline contradict each other", file=sys.stderr)
            return exitcodes.INVALID_INPUT
        verdicts = judge_run(args.run_dir, scenario, args.baseline, baselines_dir=args.baselines_dir,
                             confidence=confidence, use_baseline=not args.no_baseline)
    except CheckInputError as exc:
        print(f"loadtest check: {exc}", file=sys.stderr)
        return exitcodes.INVALID_INPUT
    run_dir = verdicts.run_dir or args.run_dir
    try:
        write_verdicts(Path(run_dir), verdicts.as_document())
    except OSError as exc:
        print(f"loadtest check: cannot write verdicts.json into {run_dir}: {exc}", file=sys.stderr)
    if not args.no_report:
        _rebuild_report(run_dir)
    if args.junit:
        try:
            write_junit(verdicts, args.junit, elapsed_s=time.monotonic() - began)
        except OSError as exc:
            print(f"loadtest check: cannot write {args.junit}: {exc}", file=sys.stderr)
            return exitcodes.INVALID_INPUT
    if args.quiet:
        import io

        buffer = io.StringIO()
        verdicts.print_table(buffer)
        print(buffer.getvalue().rstrip().splitlines()[-1])
    else:
        verdicts.print_table(sys.stdout)
    return verdicts.exit_code


def _rebuild_report(run_dir: str) -> None:
    """Re-render the report with the verdicts; a report that cannot be built never changes the verdict."""
    from loadtest.report.build import build_report

    try:
        build_report(run_dir)
    except Exception as exc:  # the verdicts stand without their rendering
        print(f"loadtest check: the report could not be rebuilt ({exc}); verdicts.json is written", file=sys.stderr)
