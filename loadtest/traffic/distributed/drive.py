"""The master's run: the one run loop (:class:`loadtest.traffic.drive.Drive`) with the users on load generators.

What differs from a single-process run: the runner is Locust's master (with, for ``--generators N``, N load
generators started here on loopback); the run starts once the expected load generators are ready and have
their first users; it ends early when every one is lost; and the last measurements are their final reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import gevent
from locust import LoadTestShape
from locust.env import Environment
from locust.runners import MasterRunner

from loadtest.rundir.layout import GENERATORS_DIR
from loadtest.scenario.model import OpenLoad, Scenario
from loadtest.traffic.arrivals import DispatchFigures
from loadtest.traffic.distributed.master import MasterCoordinator
from loadtest.traffic.distributed.protocol import (
    FINAL_WAIT_S,
    FIRST_USERS_WAIT_S,
    LOADGEN_EXIT_WAIT_S,
    LoadgenOptions,
    LoadgensMissing,
    RunRequest,
    user_classes_for,
)
from loadtest.traffic.drive import SHAPE_SLACK_S, Drive, locust_environment
from loadtest.traffic.outcome import Watcher
from loadtest.traffic.runtime import TrafficRuntime
from loadtest.traffic.shape import make_shape_class


class MasterDrive(Drive):
    """The run as Locust's master; the load generators run the users and send their measurements."""

    def __init__(
        self,
        runtime: TrafficRuntime,
        environment: Environment,
        runner: MasterRunner,
        locust_dir: Path,
        *,
        coordinator: MasterCoordinator,
        options: LoadgenOptions,
        local: list[subprocess.Popen[bytes]],
        progress: TextIO | None = None,
        watchers: Sequence[Watcher] = (),
        drain_s: float = 0.0,
    ) -> None:
        super().__init__(runtime, environment, runner, locust_dir, progress=progress, watchers=watchers,
                         drain_s=drain_s)
        self.master = runner
        self.coordinator = coordinator
        self.options = options
        self.local = local
        """The load generators started on this machine (``--generators N``)."""

    def wait_until_ready(self) -> None:
        coordinator, options = self.coordinator, self.options
        if coordinator.wait_for_loadgens(options.max_wait_s or float("inf")):
            return
        if self.interrupted:
            raise KeyboardInterrupt
        errors = [f"load generator {i.index}: {i.error}" for i in coordinator.loadgens.values() if i.error]
        raise LoadgensMissing("; ".join(errors) if errors else f"only {len(coordinator.active())} of "
                              f"{options.expected} load generator(s) connected within {options.max_wait_s:g}s")

    def start(self) -> None:
        """Start the shape; the run's clock starts when the load generators have their first users (the spawn
        messages take a moment), and so do the open model's schedules."""
        self.coordinator.begin_test()
        self.runner.start_shape()
        first_users = time.monotonic() + FIRST_USERS_WAIT_S
        while self.runner.user_count == 0 and time.monotonic() < first_users and not self.runtime.control.stopping:
            gevent.sleep(0.01)
        self.coordinator.run_started = time.time()

    def going(self) -> bool:
        return bool(self.coordinator.active())

    def ended(self, elapsed: float) -> None:
        self.coordinator.end_test()
        if not self.coordinator.active() and not self.interrupted and elapsed < self.duration:
            self.runtime.request_stop("every load generator was lost")

    def collect(self) -> int:
        self.coordinator.wait_for_finals(FINAL_WAIT_S)
        return self.coordinator.in_flight_at_end()

    def dispatch(self) -> DispatchFigures | None:
        return self.coordinator.dispatch_totals()

    def describe_loadgens(self) -> dict[str, object]:
        return dict(self.coordinator.describe(self.options.mode))

    def close(self) -> None:
        if len(self.runner.greenlet):  # the load generators never came: nothing was started
            self.runner.quit()
        self.coordinator.stop()
        if self.local:
            stop_local_loadgens(self.local, LOADGEN_EXIT_WAIT_S)


def create_master_drive(
    runtime: TrafficRuntime, host: str, locust_dir: Path, *, request: RunRequest, options: LoadgenOptions,
    err: TextIO, progress: TextIO | None = None, watchers: Sequence[Watcher] = (), drain_s: float = 0.0,
) -> MasterDrive:
    """The run loop as Locust's master: its load generators started here (``options.local``, their logs in
    ``locust_dir/generators/``) or awaited from elsewhere; the master measures nothing of itself (each load
    generator measures its own loop lag, and generator 0 samples ``/health``)."""
    duration = runtime.scenario.total_duration
    expected = options.expected
    environment = locust_environment(runtime, host, user_classes_for(runtime, host, expected),
                                     distributed_shape(runtime.scenario, duration + drain_s, expected))
    local = options.local > 0
    runner = environment.create_master_runner(
        master_bind_host="127.0.0.1" if local else options.bind_host,
        master_bind_port=0 if local else options.bind_port,
    )
    port = runner.server.port
    if local:
        processes = start_local_loadgens(options.local, port, locust_dir / GENERATORS_DIR)
    else:
        processes = []
        print(f"loadtest: master waiting for {expected} load generator(s) on port {port} (loadtest run "
              f"--generator --master-host THIS_HOST --master-port {port})", file=err)
    coordinator = MasterCoordinator(runtime, runner, request, expected)
    return MasterDrive(runtime, environment, runner, locust_dir, coordinator=coordinator, options=options,
                       local=processes, progress=progress, watchers=watchers, drain_s=drain_s)


def distributed_shape(scenario: Scenario, duration: float, loadgens: int) -> type[LoadTestShape]:
    """The scenario's shape; in the open model it asks for one dispatcher user per load generator, all
    started at once (one a second would start the second generator's arrivals a second late)."""
    base = make_shape_class(scenario, duration=duration + SHAPE_SLACK_S)
    if not isinstance(scenario.load, OpenLoad):
        return base

    class PerLoadgenDispatchers(base):  # type: ignore[misc, valid-type]
        def tick(self) -> tuple[int, float] | None:
            tick = super().tick()
            return None if tick is None else (loadgens, float(max(loadgens, tick[1])))  # all at once

    PerLoadgenDispatchers.__name__ = PerLoadgenDispatchers.__qualname__ = base.__name__
    return PerLoadgenDispatchers


def start_local_loadgens(count: int, port: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    """``count`` load generators on this machine (``loadtest run --generator``), logs in ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    env.pop("LOADTEST_SCENARIO", None)
    processes = []
    for n in range(count):
        log = open(log_dir / f"generator-{n + 1}.log", "wb")  # noqa: SIM115  # the child owns it from here
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "loadtest.cli", "run", "--generator", "--master-host", "127.0.0.1",
             "--master-port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # Ctrl-C goes to the master, which stops them with their final reports
        ))
        log.close()
    return processes


def stop_local_loadgens(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
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
