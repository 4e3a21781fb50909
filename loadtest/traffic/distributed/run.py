"""``loadtest run --processes N`` / ``--master``: the master's whole run, from workers to run directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import gevent
import gevent.event
import locust.stats as locust_stats
from locust.env import Environment
from locust.event import Events
from locust.html import get_html_report
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history

from loadtest.scenario.model import OpenLoad, Scenario
from loadtest.traffic.distributed.master import MasterCoordinator
from loadtest.traffic.distributed.protocol import (
    DEFAULT_MASTER_PORT,
    FINAL_WAIT_S,
    FIRST_USERS_WAIT_S,
    WORKER_EXIT_WAIT_S,
    WORKER_WAIT_S,
    RunRequest,
    user_classes_for,
)
from loadtest.traffic.runtime import TrafficRuntime

# --------------------------------------------------------------------------------------- master's run


@dataclass
class MasterOptions:
    expect_workers: int
    bind_host: str = "*"
    bind_port: int = DEFAULT_MASTER_PORT
    local_processes: int = 0
    """Start this many workers here (``--processes``), bound to loopback."""
    max_wait_s: float = WORKER_WAIT_S
    """How long to wait for the expected workers (0: as long as it takes)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_local_workers(count: int, port: int, log_dir: Path) -> list[subprocess.Popen]:
    """``count`` worker processes on this machine (``loadtest run --worker``), logs in ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    env.pop("LOADTEST_SCENARIO", None)
    processes = []
    for n in range(count):
        log = open(log_dir / f"worker-{n + 1}.log", "wb")  # noqa: SIM115  # the child owns it from here
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "loadtest.cli", "run", "--worker", "--master-host", "127.0.0.1",
             "--master-port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # Ctrl-C goes to the master, which stops them with their final reports
        ))
        log.close()
    return processes


def stop_local_workers(processes: list[subprocess.Popen], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=3)


def execute_master(
    runtime: TrafficRuntime,
    request: RunRequest,
    host: str,
    run_dir: Path,
    options: MasterOptions,
    *,
    progress_to: TextIO | None,
    err: TextIO,
) -> tuple[Any, MasterCoordinator] | None:
    """Run the scenario as Locust's master; returns (RunOutcome, coordinator), or None when the workers
    never came (the reason printed to ``err``)."""
    from loadtest.traffic.progress import ProgressLine
    from loadtest.traffic.runner import CSV_INTERVAL_S, LOCUST_CSV_PREFIX, LOCUST_HTML, SHAPE_SLACK_S, RunOutcome
    from loadtest.traffic.users import network_timeout_for

    scenario = runtime.scenario
    duration = scenario.total_duration
    workers = options.expect_workers
    events = Events()
    user_classes = user_classes_for(runtime, host, workers)
    shape = _distributed_shape(scenario, duration + SHAPE_SLACK_S, workers)()
    grace = network_timeout_for(list(runtime.flows.values()))
    env = Environment(user_classes=user_classes, shape_class=shape, events=events, host=host, stop_timeout=grace)
    local = options.local_processes > 0
    bind_host = "127.0.0.1" if local else options.bind_host
    bind_port = 0 if local else options.bind_port
    runner = env.create_master_runner(master_bind_host=bind_host, master_bind_port=bind_port)
    coordinator = MasterCoordinator(runtime, runner, request, workers)
    processes: list[subprocess.Popen] = []
    if local:
        processes = start_local_workers(options.local_processes, runner.server.port, run_dir / "workers")
    else:
        print(f"loadtest: master waiting for {workers} worker(s) on port {runner.server.port} "
              f"(loadtest run --worker --master-host THIS_HOST --master-port {runner.server.port})", file=err)

    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        runtime.request_stop("interrupted")

    handlers = [gevent.signal_handler(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        if not coordinator.wait_for_workers(options.max_wait_s or float("inf")):
            if interrupted:
                raise KeyboardInterrupt
            errors = [f"worker {i.index}: {i.error}" for i in coordinator.workers.values() if i.error]
            ready = len(coordinator.active())
            print("; ".join(errors) if errors else
                  f"only {ready} of {workers} worker(s) connected within {options.max_wait_s:g}s", file=err)
            return None
        locust_stats.CSV_STATS_INTERVAL_SEC = CSV_INTERVAL_S
        csv_writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(run_dir / LOCUST_CSV_PREFIX),
                                        full_history=False)
        background = [gevent.spawn(csv_writer), gevent.spawn(stats_history, runner)]
        progress = ProgressLine(runtime, duration, progress_to) if progress_to is not None else None
        from loadtest.check.live import LiveThresholds  # thresholds with abort: true stop the run once lost
        from loadtest.traffic.runner import LIVE_CHECK_S

        started_at, began = time.time(), time.monotonic()
        live_check, next_live_check = None, began
        try:
            coordinator.begin_test()
            runner.start_shape()
            # the run's clock starts when the workers have their first users (the spawn messages take a
            # moment); the open model's dispatchers schedule their arrivals from then on
            first_users = time.monotonic() + FIRST_USERS_WAIT_S
            while runner.user_count == 0 and time.monotonic() < first_users and not runtime.control.stopping:
                gevent.sleep(0.01)
            started_at = time.time()
            began = time.monotonic()
            runtime.recorder.start = started_at
            coordinator.run_started = started_at
            live_check, next_live_check = LiveThresholds.from_scenario(scenario), began + LIVE_CHECK_S
            deadline = began + duration
            while not runtime.control.stopping and not interrupted:
                now = time.monotonic()
                if now >= deadline or not coordinator.active():
                    break
                gevent.sleep(min(0.25, deadline - now))
                if progress is not None:
                    progress.maybe_print(now - began)
                if live_check is not None and now >= next_live_check:
                    next_live_check = now + LIVE_CHECK_S
                    lost = live_check.check(runtime.recorder)  # on the merged measurements of every worker
                    if lost is not None:
                        runtime.request_stop(LiveThresholds.stop_reason(lost))
        except KeyboardInterrupt:
            interrupted = True
            runtime.request_stop("interrupted")
        measured = time.monotonic() - began
        coordinator.end_test()
        if not coordinator.active() and not interrupted and measured < duration:
            runtime.request_stop("every worker was lost")
        try:
            runtime.control.stop()
            runner.stop()
            coordinator.wait_for_finals(FINAL_WAIT_S)
            gevent.sleep(CSV_INTERVAL_S + 0.1)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            runner.quit()
            coordinator.stop()
            for greenlet in background:
                greenlet.kill()
            csv_writer.close_files()
        if progress is not None:
            progress.finish(measured)
        try:
            (run_dir / LOCUST_HTML).write_text(get_html_report(env, show_download_link=False), encoding="utf-8")
        except Exception as exc:  # Locust's report is a bonus; ours is written from the recorder anyway
            (run_dir / LOCUST_HTML).write_text(f"<p>Locust's HTML report could not be built: {exc}</p>")
        outcome = RunOutcome(
            run_dir=run_dir, started_at=started_at, duration_s=measured, interrupted=interrupted,
            stop_reason=runtime.stop_reason, dispatch=coordinator.dispatch_totals(),
            in_flight_at_end=coordinator.in_flight_at_end(),
        )
        return outcome, coordinator
    finally:
        for handler in handlers:
            handler.cancel()
        if len(runner.greenlet):  # the workers never came: nothing was started
            runner.quit()
            coordinator.stop()
        if processes:
            stop_local_workers(processes, WORKER_EXIT_WAIT_S)


def _distributed_shape(scenario: Scenario, duration: float, workers: int) -> type:
    """The scenario's shape; in the open model it asks for one dispatcher user per worker, all started at
    once (one a second would start the second worker's arrivals a second late)."""
    from loadtest.traffic.shape import make_shape_class

    base = make_shape_class(scenario, duration=duration)
    if not isinstance(scenario.load, OpenLoad):
        return base

    class PerWorkerDispatchers(base):  # type: ignore[misc, valid-type]
        def tick(self) -> tuple[int, float] | None:
            tick = super().tick()
            return None if tick is None else (workers, float(max(workers, tick[1])))  # all at once

    PerWorkerDispatchers.__name__ = PerWorkerDispatchers.__qualname__ = base.__name__
    return PerWorkerDispatchers


# ------------------------------------------------------------------------------------ the whole command


def run_distributed(options: Any, master: MasterOptions, out: TextIO, err: TextIO) -> int:
    """``loadtest run SCENARIO --processes N`` or ``--master --expect-workers N``: the master's whole run,
    from the scenario to the run directory, the summary and the check; returns the exit code."""
    from loadtest import exitcodes
    from loadtest.pipeline.target import api_base_url
    from loadtest.scenario.loader import resolved_dict
    from loadtest.traffic.results import conclude_run
    from loadtest.traffic.runner import _ground_truth, _settings, prepare_run

    if master.expect_workers < 1:
        print(f"--{'processes' if master.local_processes else 'expect-workers'}: must be at least 1, "
              f"got {master.expect_workers}", file=err)
        return exitcodes.INVALID_INPUT
    prepared = prepare_run(options, err)
    if isinstance(prepared, int):
        return prepared
    scenario, runtime, run_dir = prepared.scenario, prepared.runtime, prepared.run_dir
    emulator, emulator_log = prepared.emulator, prepared.emulator_log
    request = RunRequest(
        scenario_name=options.scenario_path.name,
        scenario_text=options.scenario_path.read_text(encoding="utf-8"),
        base_dir=str(options.scenario_path.resolve().parent),
        overrides={k: v for k, v in {
            "duration": options.duration, "users": options.users, "rate": options.rate,
            "max_in_flight": options.max_in_flight, "seed": options.seed,
        }.items() if v is not None},
    )
    try:
        host = options.host or api_base_url(scenario, emulator)
        mode = f"{master.local_processes} local worker processes" if master.local_processes else (
            f"master for {master.expect_workers} worker(s)")
        if emulator is not None and not master.local_processes:
            print(f"loadtest: note: the emulator listens on {host} (loopback): only workers on this machine reach "
                  "it; for other machines start one with `loadtest emulate --host 0.0.0.0` and pass --host",
                  file=err)
        print(f"loadtest: running {scenario.name!r} for {scenario.total_duration:g}s against {host} ({mode})",
              file=out)
        result = execute_master(runtime, request, host, run_dir, master,
                                progress_to=out if options.progress else None, err=err)
        ground_truth = _ground_truth(emulator, scenario) if result is not None else None
    finally:
        if emulator is not None:
            emulator.stop()
    if result is None:
        return exitcodes.TARGET_ERROR
    outcome, coordinator = result
    settings = _settings(options, scenario, host, emulator is not None)
    settings["locust_processes"] = master.expect_workers
    settings["distributed"] = coordinator.describe("processes" if master.local_processes else "master")

    def report_lost_workers() -> None:
        for lost in settings["distributed"]["lost_workers"]:
            print(f"  LOST      worker {lost['index']} ({lost['name']}): {lost['reason']} at {lost['lost_at_s']}s, "
                  f"missed {lost['missed_s']}s ({100 * (lost['missed_fraction'] or 0):.0f}% of the run)", file=out)

    return conclude_run(
        runtime, outcome, options, scenario=resolved_dict(scenario), settings=settings, ground_truth=ground_truth,
        emulator_log=emulator_log if emulator is not None else None, out=out, err=err,
        after_summary=report_lost_workers,
    )
