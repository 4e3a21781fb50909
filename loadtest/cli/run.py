"""Run a scenario headless on Locust and write its run directory and report.

Validates the scenario (exit 2 with every error), starts the emulator when the scenario targets it (its
log kept in the run directory), runs Locust in this process with a live progress line, then writes the
run directory (Locust's CSVs and HTML report included), prints a short summary and the report path.
Ctrl-C (or SIGTERM) stops the run cleanly: what was measured is kept and marked interrupted (exit 130).

Real endpoints cost money: the scenario's ``target.max_jobs`` caps submitted jobs, and the ``probe``
policy (which sends past the rate limits on purpose) is refused unless ``--confirm-probe`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_OUT_DIR = "reports"
"""Where run directories go unless ``--out-dir`` says otherwise (``loadtest ui`` uses it too)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", nargs="?", help="scenario YAML file (not with --worker)")
    parser.add_argument("--duration", metavar="TIME", help="run length, e.g. 30s or 5m (replaces the scenario's)")
    parser.add_argument("--users", type=int, metavar="N", help="closed model: hold N users (replaces the stages)")
    parser.add_argument("--rate", metavar="RATE", help="open model: constant arrival rate, e.g. 50/s (replaces stages)")
    parser.add_argument("--max-in-flight", type=int, metavar="N", help="open model: flows running at once")
    parser.add_argument("--seed", type=int, help="replace the scenario's seed")
    parser.add_argument("--drain", metavar="TIME",
                        help="after the duration, follow jobs in flight this long (no new ones); 0 stops at once "
                             "(replaces the scenario's drain, default 30s)")
    parser.add_argument("--out-dir", default=DEFAULT_OUT_DIR, metavar="DIR",
                        help=f"where run directories are created (default: {DEFAULT_OUT_DIR}/)")
    parser.add_argument("--run-dir", metavar="DIR",
                        help="exact run directory to write (default: OUT_DIR/<scenario>/<time>); refused when it "
                             "already holds files, unless --force")
    parser.add_argument("--force", action="store_true",
                        help="with --run-dir: replace the files an earlier run wrote there")
    parser.add_argument("--host", metavar="URL",
                        help="send to this API base URL instead (e.g. an emulator you started: http://127.0.0.1:8000/v2)")
    parser.add_argument("--confirm-probe", action="store_true",
                        help="allow the probe policy against a real endpoint (it exceeds the rate limits on purpose)")
    parser.add_argument("--no-progress", action="store_true", help="no live progress line")
    quiet = parser.add_mutually_exclusive_group()
    quiet.add_argument("--quiet", "-q", action="store_true",
                       help="print only the result line (errors still go to stderr)")
    quiet.add_argument("--json", action="store_true",
                       help="print only summary.json and the verdicts, as one JSON document (for scripts)")
    parser.add_argument("--no-report", action="store_true", help="write the run directory but not the HTML report")
    parser.add_argument("--check", action="store_true",
                        help="judge thresholds and a baseline (--baseline, or the scenario's baseline.name)")
    parser.add_argument("--baseline", metavar="NAME", help="compare against this saved baseline (implies --check)")
    parser.add_argument("--no-thresholds", action="store_true",
                        help="do not judge the scenario's thresholds at the end (e.g. for a shortened trial run)")
    from loadtest.cli.distributed_flags import add_distributed_arguments

    add_distributed_arguments(parser)


def main(args: argparse.Namespace) -> int:
    # Locust (gevent) monkey-patches the standard library: import it before any networking module.
    import locust  # noqa: F401

    from loadtest import exitcodes
    from loadtest.cli.distributed_flags import distributed_requested, usage_problems
    from loadtest.pipeline.options import RunOptions
    from loadtest.pipeline.run import run_scenario
    from loadtest.traffic.distributed.drive import MasterOptions
    from loadtest.traffic.distributed.worker import run_worker

    if args.no_thresholds and (args.check or args.baseline):
        print("loadtest run: --check/--baseline and --no-thresholds contradict each other", file=sys.stderr)
        return exitcodes.INVALID_INPUT
    master = None
    if distributed_requested(args) or not args.scenario:
        problems = usage_problems(args)
        if problems:
            for problem in problems:
                print(problem, file=sys.stderr)
            return exitcodes.INVALID_INPUT
        if args.worker:
            return run_worker(args.master_host, args.master_port, sys.stderr)
        if args.processes is not None:
            master = MasterOptions(expect_workers=args.processes, local_processes=args.processes)
        else:
            master = MasterOptions(expect_workers=args.expect_workers or 1, bind_host=args.master_bind_host,
                                   bind_port=args.master_bind_port, max_wait_s=args.expect_workers_max_wait)
    options = RunOptions(
        scenario_path=Path(args.scenario),
        duration=args.duration,
        users=args.users,
        rate=args.rate,
        max_in_flight=args.max_in_flight,
        seed=args.seed,
        drain=args.drain,
        out_dir=Path(args.out_dir),
        run_dir=Path(args.run_dir) if args.run_dir else None,
        force=args.force,
        host=args.host,
        confirm_probe=args.confirm_probe,
        progress=not args.no_progress,
        output="json" if args.json else ("quiet" if args.quiet else "text"),
        report=not args.no_report,
        check=args.check or bool(args.baseline),  # naming a baseline asks for the comparison
        baseline=args.baseline,
        thresholds=not args.no_thresholds,
    )
    return run_scenario(options, sys.stdout, sys.stderr, master)
