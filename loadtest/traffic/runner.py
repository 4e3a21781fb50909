"""``loadtest run`` in one place: scenario → target → Locust (in this process) → run directory → summary.

Locust runs programmatically (``Environment`` + local runner) rather than as a subprocess so that the
progress line, the graceful stop and the recorder live in one process; Locust's own statistics CSVs and
HTML report are still written into the run directory, so nothing of Locust's view is lost.

The caller must have imported Locust before anything that opens sockets (gevent monkey-patching).
"""

from __future__ import annotations

import gc
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gevent
import locust.stats as locust_stats
from locust.env import Environment
from locust.event import Events
from locust.html import get_html_report
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history

from loadtest import exitcodes
from loadtest.pipeline.target import TargetStartError, api_base_url, start_emulator
from loadtest.scenario.loader import ScenarioError, load_scenario, resolved_dict
from loadtest.scenario.model import EndpointTarget, Scenario
from loadtest.scenario.overrides import OverrideError, Overrides, apply_overrides
from loadtest.traffic.progress import ProgressLine
from loadtest.traffic.runtime import TargetError, TrafficRuntime
from loadtest.traffic.shape import make_shape_class
from loadtest.traffic.users import build_user_classes, network_timeout_for, start_health_sampler

LOCUST_CSV_PREFIX = "locust"
LOCUST_HTML = "locust.html"
CSV_INTERVAL_S = 1.0
"""How often Locust's CSV writer refreshes its files (Locust's default; rewriting them more often costs
a few percent of the load generator's CPU)."""
LIVE_CHECK_S = 2.0
"""How often thresholds marked ``abort`` are judged on the live recorder (``loadtest.check.live``)."""
SHAPE_SLACK_S = 2.0
"""The shape keeps its users this much past the run's end; the run itself stops on time."""


@dataclass
class RunOptions:
    """What ``loadtest run`` was asked to do."""

    scenario_path: Path
    duration: str | None = None
    users: int | None = None
    rate: str | None = None
    max_in_flight: int | None = None
    seed: int | None = None
    out_dir: Path = Path("reports")
    run_dir: Path | None = None
    host: str | None = None
    confirm_probe: bool = False
    progress: bool = True
    report: bool = True
    check: bool = False
    thresholds: bool = True
    """Judge the scenario's thresholds at the end (``--no-thresholds`` turns it off)."""
    baseline: str | None = None


@dataclass
class RunOutcome:
    """What happened: the measured window and how the run ended."""

    run_dir: Path
    started_at: float
    duration_s: float
    interrupted: bool
    stop_reason: str | None
    dispatch: dict[str, Any] = field(default_factory=dict)
    in_flight_at_end: int = 0


def prepare_scenario(options: RunOptions, err: TextIO) -> Scenario | None:
    """Load, override and vet the scenario; prints every problem and returns None when unusable."""
    try:
        scenario = load_scenario(options.scenario_path)
    except ScenarioError as exc:
        for issue in exc.errors:
            print(issue, file=err)
        count = len(exc.errors)
        print(f"{options.scenario_path}: invalid scenario ({count} error{'s' if count != 1 else ''})", file=err)
        return None
    try:
        scenario = apply_overrides(
            scenario,
            Overrides(options.duration, options.users, options.rate, options.max_in_flight, options.seed),
        )
    except OverrideError as exc:
        print(exc, file=err)
        return None
    probing_real = isinstance(scenario.target, EndpointTarget) and scenario.rate_limits.policy == "probe"
    if probing_real and not options.confirm_probe:
        print(
            f"{options.scenario_path}: rate_limits.policy is 'probe' against a real endpoint: it sends past the "
            "rate limits on purpose and every accepted job is billed. Add --confirm-probe to run it anyway.",
            file=err,
        )
        return None
    return scenario


@dataclass
class PreparedRun:
    """What every ``loadtest run`` has before traffic starts: the scenario, its runtime, the run directory
    and, for an emulator target, the running emulator (stop it when the run ends)."""

    scenario: Scenario
    runtime: TrafficRuntime
    run_dir: Path
    emulator: Any
    emulator_log: Path


def prepare_run(options: RunOptions, err: TextIO) -> PreparedRun | int:
    """Validate the scenario, build its runtime, create the run directory and start the emulator when the
    scenario targets it; an exit code instead when one of those fails (the reason printed to ``err``)."""
    scenario = prepare_scenario(options, err)
    if scenario is None or not _baseline_available(options, scenario, err):
        return exitcodes.INVALID_INPUT
    try:
        runtime = TrafficRuntime(scenario, base_dir=options.scenario_path.resolve().parent)
    except TargetError as exc:
        print(exc, file=err)
        return exitcodes.INVALID_INPUT

    from loadtest.metrics.rundir import new_run_directory

    run_dir = options.run_dir or new_run_directory(scenario.name, options.out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    emulator = None
    emulator_log = run_dir / "emulator.log"
    if scenario.is_emulated and not options.host:
        try:
            emulator = start_emulator(scenario, log_path=emulator_log)
        except TargetStartError as exc:
            print(f"target: {exc} (log: {emulator_log})", file=err)
            return exitcodes.TARGET_ERROR
    return PreparedRun(scenario, runtime, run_dir, emulator, emulator_log)


def _baseline_available(options: RunOptions, scenario: Scenario, err: TextIO) -> bool:
    """With ``--check``, the baseline to compare with must exist before any traffic is sent."""
    name = options.baseline or (scenario.baseline.name if scenario.baseline is not None else None)
    if not options.check or name is None:
        return True
    from loadtest.check.baselines import BaselineError, load_baseline

    try:
        load_baseline(name)
    except BaselineError as exc:
        print(f"loadtest run: {exc}", file=err)
        return False
    return True


def run_scenario_file(options: RunOptions, out: TextIO, err: TextIO) -> int:
    """The whole ``loadtest run``; returns the exit code."""
    prepared = prepare_run(options, err)
    if isinstance(prepared, int):
        return prepared
    scenario, runtime, run_dir = prepared.scenario, prepared.runtime, prepared.run_dir
    emulator, emulator_log = prepared.emulator, prepared.emulator_log
    try:
        host = options.host or api_base_url(scenario, emulator)
        print(f"loadtest: running {scenario.name!r} for {scenario.total_duration:g}s against {host}", file=out)
        outcome = execute(runtime, host, run_dir, progress_to=out if options.progress else None)
        ground_truth = _ground_truth(emulator, scenario)
    finally:
        if emulator is not None:
            emulator.stop()

    from loadtest.traffic.results import conclude_run

    return conclude_run(
        runtime, outcome, options,
        scenario=resolved_dict(scenario),
        settings=_settings(options, scenario, host, emulator is not None),
        ground_truth=ground_truth,
        emulator_log=emulator_log if emulator is not None else None,
        out=out, err=err,
    )


def _ground_truth(emulator: Any, scenario: Scenario) -> dict[str, Any] | None:
    if emulator is None:
        return None
    try:
        return emulator.ground_truth()
    except Exception:  # the run's own measurements stand without it
        return None


def _settings(options: RunOptions, scenario: Scenario, host: str, emulated: bool) -> dict[str, Any]:
    return {
        "scenario_file": str(options.scenario_path),
        "target": "emulator" if emulated else ("host" if options.host else "endpoint"),
        "host": host,
        "duration_s": scenario.total_duration,
        "load_model": scenario.load.model,
        "rate_limit_policy": scenario.rate_limits.policy,
        "seed": scenario.seed,
        "overrides": {
            k: v for k, v in {
                "duration": options.duration, "users": options.users, "rate": options.rate,
                "max_in_flight": options.max_in_flight, "seed": options.seed,
            }.items() if v is not None
        },
        "locust_processes": 1,
    }


OPEN_MODEL_END_GRACE_S = 2.0
"""Longest the run waits past its duration for the open-model dispatcher to finish its schedule."""


def _deadline(runtime: TrafficRuntime, began: float, duration: float) -> float:
    """When the run ends: ``duration`` after the start; for the open model, ``duration`` after the schedule
    started (the user is spawned a moment after the run) and not before every arrival is dispatched."""
    dispatcher = runtime.dispatcher
    if dispatcher is None or dispatcher.began is None:
        return began + duration
    end = dispatcher.began + duration
    if time.monotonic() >= end and not dispatcher.finished:
        return min(time.monotonic() + 0.01, end + OPEN_MODEL_END_GRACE_S)
    return end


def _track_csv_writes(csv_writer: StatsCSVFileWriter) -> list[float]:
    """A one-item list holding when Locust's CSV writer last refreshed its files (monotonic clock)."""
    written = [0.0]
    refresh = getattr(csv_writer, "_requests_data_rows", None)
    if refresh is None:  # another Locust version: the caller then waits a full interval
        written[0] = -1.0
        return written

    def tracked(writer: Any) -> Any:
        result = refresh(writer)
        written[0] = time.monotonic()
        return result

    csv_writer._requests_data_rows = tracked  # type: ignore[method-assign]
    return written


def _wait_for_csv_refresh(written: list[float], since: float) -> None:
    """Wait until the CSV writer has refreshed its files after ``since`` (at most one interval and a bit)."""
    deadline = since + CSV_INTERVAL_S + 0.2
    if written[0] < 0:
        gevent.sleep(CSV_INTERVAL_S + 0.1)
        return
    while written[0] <= since and time.monotonic() < deadline:
        gevent.sleep(0.02)


def dispatch_figures(runtime: TrafficRuntime) -> dict[str, Any]:
    """What the open-model dispatcher did (empty for the closed model)."""
    if runtime.dispatcher is None:
        return {}
    stats = runtime.dispatcher.stats
    return {
        "scheduled": stats.scheduled, "started": stats.started, "dropped": stats.dropped,
        "achieved_rate": stats.achieved_rate(), "lateness_max_s": stats.lateness_max,
        "lateness_mean_s": stats.lateness_mean,
    }


def execute(runtime: TrafficRuntime, host: str, run_dir: Path, *, progress_to: TextIO | None) -> RunOutcome:
    """Run Locust headless in this process for the scenario's duration; keeps Locust's CSVs and HTML."""
    scenario = runtime.scenario
    duration = scenario.total_duration
    events = Events()
    user_classes = build_user_classes(runtime, host, duration=duration)
    shape = make_shape_class(scenario, duration=duration + SHAPE_SLACK_S)()
    grace = network_timeout_for(list(runtime.flows.values()))
    env = Environment(user_classes=user_classes, shape_class=shape, events=events, host=host, stop_timeout=grace)
    events.test_stopping.add_listener(lambda **_: runtime.control.stop())
    runner = env.create_local_runner()

    locust_stats.CSV_STATS_INTERVAL_SEC = CSV_INTERVAL_S
    csv_writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(run_dir / LOCUST_CSV_PREFIX), full_history=False)
    csv_written = _track_csv_writes(csv_writer)
    background = [gevent.spawn(csv_writer), gevent.spawn(stats_history, runner)]

    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        runtime.request_stop("interrupted")

    handlers = [gevent.signal_handler(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)]
    progress = ProgressLine(runtime, duration, progress_to) if progress_to is not None else None
    gc.collect()
    gc.freeze()  # everything built so far lives for the whole run: keep it out of the collector's scans
    started_at = time.time()
    began = time.monotonic()
    runtime.recorder.start = started_at
    from loadtest.check.live import LiveThresholds  # thresholds with abort: true stop the run once lost

    live_check, next_live_check = LiveThresholds.from_scenario(scenario), began + LIVE_CHECK_S
    try:
        runner.start_shape()
        sampler = start_health_sampler(runtime, env, host)
        if sampler is not None:
            runtime.health_sampler = sampler
        deadline = began + duration
        while not runtime.control.stopping:
            now = time.monotonic()
            deadline = _deadline(runtime, began, duration)
            if now >= deadline:
                break
            gevent.sleep(min(0.25, deadline - now))
            if progress is not None:
                progress.maybe_print(now - began)
            if live_check is not None and now >= next_live_check:
                next_live_check = now + LIVE_CHECK_S
                lost = live_check.check(runtime.recorder)
                if lost is not None:
                    runtime.request_stop(LiveThresholds.stop_reason(lost))
    except KeyboardInterrupt:
        interrupted = True
        runtime.request_stop("interrupted")
    if runtime.dispatcher is not None and runtime.dispatcher.began is not None:
        # the open model's measured window starts with its schedule, a moment after the user spawned
        started_at += runtime.dispatcher.began - began
        began = runtime.dispatcher.began
    measured = time.monotonic() - began
    try:
        runtime.control.stop()
        runner.stop()
        if runtime.health_sampler is not None:
            runtime.health_sampler.join(timeout=5)
            runtime.health_sampler.kill()
        _wait_for_csv_refresh(csv_written, since=time.monotonic())  # Locust's CSVs get the final figures
    except KeyboardInterrupt:
        interrupted = True
    finally:
        in_flight = runtime.finish()
        runner.quit()
        for greenlet in background:
            greenlet.kill()
        csv_writer.close_files()
        for handler in handlers:
            handler.cancel()
    if progress is not None:
        progress.finish(measured)
    try:
        (run_dir / LOCUST_HTML).write_text(get_html_report(env, show_download_link=False), encoding="utf-8")
    except Exception as exc:  # Locust's report is a bonus; ours is written from the recorder anyway
        (run_dir / LOCUST_HTML).write_text(f"<p>Locust's HTML report could not be built: {exc}</p>")
    dispatch = dispatch_figures(runtime)
    return RunOutcome(
        run_dir=run_dir,
        started_at=started_at,
        duration_s=measured,
        interrupted=interrupted,
        stop_reason=runtime.stop_reason,
        dispatch=dispatch,
        in_flight_at_end=in_flight,
    )
