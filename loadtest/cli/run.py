"""Run a scenario headless on Locust and write its run directory and report.

Validates the scenario (exit 2 with every error), starts the emulator when the scenario targets it (its
log kept in the run directory), runs Locust in this process with a live progress line, then writes the
run directory (Locust's CSVs and HTML report included), prints a short summary and the report path.
Ctrl-C (or SIGTERM) stops the run cleanly: what was measured is kept and marked interrupted (exit 130).

With ``--generators N`` the users run in N load-generator processes under a master in this process;
``--master`` waits for load generators started elsewhere with ``--generator`` (docs/distributed.md).

Real endpoints cost money: the scenario's ``target.max_jobs`` caps submitted jobs, and the ``probe``
policy (which sends past the rate limits on purpose) is refused unless ``--confirm-probe`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from loadtest.cli.flags import add_distributed_arguments, add_output_arguments, add_override_arguments

    parser.add_argument("scenario", metavar="SCENARIO", nargs="?", help="scenario YAML file (not with --generator)")
    add_override_arguments(parser)
    add_output_arguments(parser, what="run directories", layout="OUT_DIR/<scenario>/<time>")
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
    add_distributed_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from loadtest.cli.flags import distributed_requested, override_values, usage_problems
    from loadtest.errors import UsageError

    if args.no_thresholds and (args.check or args.baseline):
        raise UsageError("--check/--baseline and --no-thresholds contradict each other")
    if distributed_requested(args) or not args.scenario:
        problems = usage_problems(args)
        if problems:
            raise UsageError(problems)
    # Locust (gevent) monkey-patches the standard library: import it before any networking module. The
    # flags above are checked first, so a mistyped command answers at once.
    import locust  # noqa: F401

    from loadtest.pipeline.options import RunOptions
    from loadtest.pipeline.run import run_scenario, serve_as_loadgen
    from loadtest.scenario.overrides import Overrides
    from loadtest.traffic.distributed.protocol import LoadgenOptions

    if args.generator:
        return serve_as_loadgen(args.master_host, args.master_port, sys.stderr)
    loadgens = None
    if args.generators is not None:
        loadgens = LoadgenOptions(expected=args.generators, local=args.generators)
    elif args.master:
        loadgens = LoadgenOptions(expected=args.expect_generators or 1, bind_host=args.master_bind_host,
                                  bind_port=args.master_bind_port, max_wait_s=args.expect_generators_max_wait)
    options = RunOptions(
        scenario_path=Path(args.scenario),
        out_dir=Path(args.out_dir),
        overrides=Overrides.from_given(override_values(args)),
        run_dir=Path(args.run_dir) if args.run_dir else None,
        force=args.force,
        host=args.host,
        confirm_probe=args.confirm_probe,
        loadgens=loadgens,
        progress=not args.no_progress,
        output="json" if args.json else ("quiet" if args.quiet else "text"),
        report=not args.no_report,
        check=args.check or bool(args.baseline),  # naming a baseline asks for the comparison
        baseline=args.baseline,
        thresholds=not args.no_thresholds,
    )
    return run_scenario(options, sys.stdout, sys.stderr)
