"""After a run: write the run directory, build the report, print the short summary, run the check.

The run directory's layout belongs to ``loadtest.metrics.rundir``; this module hands it the recorder, the
resolved scenario, the settings, the emulator's ground truth and log, and Locust's own CSVs and HTML.
The report and the check are reached through their subcommands' public entry points
(``loadtest report RUN_DIR``, ``loadtest check RUN_DIR``), so this side depends on nothing else of theirs.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from loadtest import exitcodes
from loadtest.contract import TERMINAL_STATUSES
from loadtest.metrics.recorder import IN_FLIGHT, is_error, is_throttled

if TYPE_CHECKING:
    from loadtest.traffic.runner import RunOutcome
    from loadtest.traffic.runtime import TrafficRuntime

LOCUST_FILES = ("locust_stats.csv", "locust_stats_history.csv", "locust_failures.csv", "locust_exceptions.csv",
                "locust.html")
REPORT_HTML = "report.html"


def write_results(
    runtime: TrafficRuntime,
    outcome: RunOutcome,
    *,
    scenario: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
    ground_truth: Mapping[str, Any] | None,
    emulator_log: Path | None,
    reports_root: Path | None,
    build_report: bool,
    err: TextIO,
) -> Path:
    """Write ``outcome.run_dir`` (measurements, Locust's files, the emulator's log) and its report."""
    from loadtest.metrics.rundir import write_run_directory

    run_dir = outcome.run_dir
    extra = {name: run_dir / name for name in LOCUST_FILES if (run_dir / name).exists()}
    all_settings = dict(settings)
    all_settings["stop_reason"] = outcome.stop_reason
    # every job recorded as unfinished, whether its flow saw the stop or the runtime closed it afterwards
    all_settings["jobs_in_flight_at_end"] = totals(runtime)["in_flight"]
    if outcome.dispatch:
        all_settings["open_model"] = outcome.dispatch
    write_run_directory(
        run_dir,
        runtime.recorder,
        scenario=scenario,
        settings=all_settings,
        interrupted=outcome.interrupted,
        duration_s=outcome.duration_s,
        started_at=outcome.started_at,
        ground_truth=ground_truth,
        emulator_log=emulator_log,
        extra_files=extra,
        reports_root=reports_root,
        link_latest=reports_root is not None,
    )
    if build_report:
        code = call_subcommand("loadtest.cli.report", [str(run_dir)], err)
        if code not in (None, exitcodes.OK):
            print(f"report: could not be built (exit {code}); the run directory is complete", file=err)
    return run_dir


def write_locust_run(
    runtime: TrafficRuntime, environment: Any, run_dir: Path, *, in_flight_at_end: int,
    extra_settings: Mapping[str, Any] | None = None,
) -> Path:
    """The run directory of a test driven by ``locust -f`` (web UI or headless): same files as ``loadtest run``
    but Locust's own CSVs only when Locust was asked for them (``--csv``). ``extra_settings`` go into
    ``run.settings`` (a distributed master's workers)."""
    import sys
    import time

    from locust.html import get_html_report

    from loadtest.scenario.loader import resolved_dict
    from loadtest.traffic.runner import LOCUST_HTML, RunOutcome, dispatch_figures

    run_dir.mkdir(parents=True, exist_ok=True)
    started_at = runtime.started_at or runtime.recorder.start
    duration = time.monotonic() - runtime.started_monotonic if runtime.started_monotonic else None
    try:
        (run_dir / LOCUST_HTML).write_text(get_html_report(environment, show_download_link=False), encoding="utf-8")
    except Exception as exc:  # Locust's report is a bonus; ours is written from the recorder anyway
        print(f"Locust's HTML report could not be built: {exc}", file=sys.stderr)
    outcome = RunOutcome(
        run_dir=run_dir,
        started_at=started_at,
        duration_s=duration if duration is not None else max(0.0, time.time() - started_at),
        interrupted=False,
        stop_reason=runtime.stop_reason,
        dispatch=dispatch_figures(runtime),
        in_flight_at_end=in_flight_at_end,
    )
    settings = {
        "target": "emulator" if runtime.scenario.is_emulated else "endpoint",
        "host": environment.host,
        "driver": "locust -f",
        "load_model": runtime.scenario.load.model,
        "rate_limit_policy": runtime.scenario.rate_limits.policy,
        "seed": runtime.scenario.seed,
        **(extra_settings or {}),
    }
    write_results(runtime, outcome, scenario=resolved_dict(runtime.scenario), settings=settings, ground_truth=None,
                  emulator_log=None, reports_root=None, build_report=True, err=sys.stderr)
    return run_dir


def call_subcommand(module_name: str, argv: list[str], err: TextIO) -> int | None:
    """Run another part's subcommand in-process through its public ``add_arguments``/``main``.

    Returns None when that part is not installed (a partial checkout), else its exit code.
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    parser = argparse.ArgumentParser(prog=module_name)
    module.add_arguments(parser)
    try:
        args = parser.parse_args(argv)
        return int(module.main(args) or exitcodes.OK)
    except SystemExit as exc:  # argparse refusing: report, do not die
        print(f"{module_name}: refused {argv}: exit {exc.code}", file=err)
        return exitcodes.INVALID_INPUT


def run_check(
    run_dir: Path, baseline: str | None, out: TextIO, err: TextIO, *, use_baseline: bool = True, report: bool = True
) -> int:
    """Judge the written run directory against the scenario's thresholds (and, with ``use_baseline``, a
    baseline: ``--baseline`` or the scenario's ``baseline.name``); the check rebuilds the report with the
    verdicts unless ``report`` is false."""
    argv = [str(run_dir)] + (["--baseline", baseline] if baseline else [])
    argv += [] if use_baseline else ["--no-baseline"]
    argv += [] if report else ["--no-report"]
    code = call_subcommand("loadtest.cli.check", argv, err)
    if code is None:
        print("check: the check part (loadtest.check) is not installed; nothing was judged", file=err)
        return exitcodes.NOT_JUDGEABLE
    return code


def totals(runtime: TrafficRuntime) -> dict[str, int]:
    """Whole-run counts from the recorder: requests, throttled, errors, jobs by outcome, dropped."""
    recorder = runtime.recorder
    counts = {"requests": 0, "throttled": 0, "errors": 0, "dropped": 0, "in_flight": 0}
    for (_, _op, _flow, status), n in recorder.requests.items():
        counts["requests"] += n
        if is_throttled(status):
            counts["throttled"] += n
        elif is_error(status):
            counts["errors"] += n
    for status in TERMINAL_STATUSES:
        counts[status.value.lower()] = 0
    for (_, _flow, status), n in recorder.jobs.items():
        key = IN_FLIGHT.lower() if status == IN_FLIGHT else str(status).lower()
        counts[key] = counts.get(key, 0) + n
    counts["dropped"] = sum(recorder.dropped.values())
    counts["jobs"] = sum(recorder.jobs.values())
    return counts


def print_summary(runtime: TrafficRuntime, outcome: RunOutcome, out: TextIO) -> None:
    """The short terminal summary and where the report is."""
    c = totals(runtime)
    seconds = max(outcome.duration_s, 1e-9)
    state = "INTERRUPTED" if outcome.interrupted else "finished"
    print(f"\nloadtest: {runtime.scenario.name} {state} after {outcome.duration_s:.1f}s"
          + (f" ({outcome.stop_reason})" if outcome.stop_reason and not outcome.interrupted else ""), file=out)
    throttled_pct = 100.0 * c["throttled"] / c["requests"] if c["requests"] else 0.0
    print(f"  requests  {c['requests']} ({c['requests'] / seconds:.1f}/s), 429 {c['throttled']} "
          f"({throttled_pct:.1f}%), errors {c['errors']}", file=out)
    print(f"  jobs      {c['jobs']}: completed {c.get('completed', 0)}, failed {c.get('failed', 0)}, "
          f"cancelled {c.get('cancelled', 0)}, timed out {c.get('timed_out', 0)}, in flight {c.get('in_flight', 0)}",
          file=out)
    if outcome.dispatch:
        d = outcome.dispatch
        rate = d.get("achieved_rate")
        print(f"  arrivals  {d['scheduled']} scheduled, {d['started']} started, {d['dropped']} dropped"
              + (f", {rate:.2f}/s achieved" if rate else ""), file=out)
    report = outcome.run_dir / REPORT_HTML
    print(f"  run dir   {outcome.run_dir}", file=out)
    if report.exists():
        print(f"  report    {report}", file=out)


def conclude_run(
    runtime: TrafficRuntime,
    outcome: RunOutcome,
    options: Any,
    *,
    scenario: dict[str, Any],
    settings: dict[str, Any],
    ground_truth: dict[str, Any] | None,
    emulator_log: Path | None,
    out: TextIO,
    err: TextIO,
    after_summary: Any = None,
) -> int:
    """The end of every ``loadtest run`` (single process or master): write the run directory, print the
    summary, judge, and return the exit code.

    Thresholds are always judged when the scenario has any (verdicts in the terminal and the report, exit 1
    when one fails); ``--check`` adds the baseline comparison. An interrupted run is not judged."""
    unreachable = target_unreachable(runtime)
    judge = (
        (options.check or (options.thresholds and bool(runtime.scenario.thresholds)))
        and not outcome.interrupted and not unreachable
    )
    (outcome.run_dir / "verdicts.json").unlink(missing_ok=True)  # a reused --run-dir keeps no stale verdicts
    write_results(
        runtime, outcome, scenario=scenario, settings=settings, ground_truth=ground_truth,
        emulator_log=emulator_log,
        reports_root=options.out_dir if options.run_dir is None else None,
        build_report=options.report and not judge,  # the check rebuilds it with the verdicts
        err=err,
    )
    print_summary(runtime, outcome, out)
    if after_summary is not None:
        after_summary()
    if unreachable:
        print(f"target: no request reached the target: all {unreachable} failed to connect (is it up? is the "
              "base URL right?). What was measured is kept in the run directory.", file=err)
        return exitcodes.INTERRUPTED if outcome.interrupted else exitcodes.TARGET_ERROR
    if not judge:
        return exitcodes.INTERRUPTED if outcome.interrupted else exitcodes.OK
    code = run_check(outcome.run_dir, options.baseline, out, err, use_baseline=options.check, report=options.report)
    report = outcome.run_dir / "report.html"
    if options.report and report.exists():
        print(f"  report    {report}", file=out)
    return code


def target_unreachable(runtime: TrafficRuntime) -> int:
    """The number of requests sent when every one of them failed to connect (status 0), else 0."""
    sent = failed_to_connect = 0
    for (_, _op, _flow, status), n in runtime.recorder.requests.items():
        sent += n
        failed_to_connect += n if status == 0 else 0
    return sent if sent and failed_to_connect == sent else 0
