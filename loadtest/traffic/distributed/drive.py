"""The master's run: the one run loop (:class:`loadtest.traffic.drive.Drive`) with the users on workers.

What differs from a single-process run: the runner is Locust's master (with, for ``--processes N``, N
worker processes started here on loopback); the run starts once the expected workers are ready and have
their first users; it ends early when every worker is lost; and the last measurements are the workers'
final reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import gevent
from locust import LoadTestShape, User
from locust.runners import MasterRunner, Runner

from loadtest.scenario.model import OpenLoad, Scenario
from loadtest.traffic.arrivals import DispatchFigures
from loadtest.traffic.distributed.master import MasterCoordinator
from loadtest.traffic.distributed.protocol import (
    FINAL_WAIT_S,
    FIRST_USERS_WAIT_S,
    MSG_DRAIN,
    WORKER_EXIT_WAIT_S,
    WORKER_WAIT_S,
    RunRequest,
    user_classes_for,
)
from loadtest.traffic.drive import Drive
from loadtest.traffic.outcome import Watcher
from loadtest.traffic.runtime import TrafficRuntime
from loadtest.traffic.shape import make_shape_class


@dataclass(frozen=True)
class MasterOptions:
    """How the master gets its workers."""

    expect_workers: int
    bind_host: str = "*"
    bind_port: int = 0
    """The port workers reach (0: any free one, as for ``--processes``; the CLI's default is Locust's 5557)."""
    local_processes: int = 0
    """Start this many workers here (``--processes``), bound to loopback."""
    max_wait_s: float = WORKER_WAIT_S
    """How long to wait for the expected workers (0: as long as it takes)."""

    @property
    def mode(self) -> str:
        return "processes" if self.local_processes else "master"

    def describe(self) -> str:
        if self.local_processes:
            return f"{self.local_processes} local worker processes"
        return f"master for {self.expect_workers} worker(s)"


class MasterDrive(Drive):
    """The run as Locust's master; the workers run the users and send their measurements."""

    lag_process = None  # each worker measures its own loop lag; it reaches the master with its drains

    def __init__(
        self,
        runtime: TrafficRuntime,
        host: str,
        locust_dir: Path,
        *,
        request: RunRequest,
        options: MasterOptions,
        err: TextIO,
        progress: TextIO | None = None,
        watchers: list[Watcher] | None = None,
        drain_s: float = 0.0,
    ) -> None:
        self.request = request
        self.options = options
        self.err = err
        self.processes: list[subprocess.Popen[bytes]] = []
        self.workers_dir = locust_dir / "workers"
        super().__init__(runtime, host, locust_dir, progress=progress, watchers=watchers or [], drain_s=drain_s)
        assert isinstance(self.runner, MasterRunner)
        self.coordinator = MasterCoordinator(runtime, self.runner, request, options.expect_workers)

    def user_classes(self) -> list[type[User]]:
        return list(user_classes_for(self.runtime, self.host, self.options.expect_workers))

    def shape_class(self) -> type[LoadTestShape]:
        return distributed_shape(self.runtime.scenario, self.duration + self.drain_s, self.options.expect_workers)

    def create_runner(self) -> Runner:
        local = self.options.local_processes > 0
        runner = self.environment.create_master_runner(
            master_bind_host="127.0.0.1" if local else self.options.bind_host,
            master_bind_port=0 if local else self.options.bind_port,
        )
        if local:
            self.processes = start_local_workers(self.options.local_processes, runner.server.port, self.workers_dir)
        else:
            print(f"loadtest: master waiting for {self.options.expect_workers} worker(s) on port {runner.server.port} "
                  f"(loadtest run --worker --master-host THIS_HOST --master-port {runner.server.port})", file=self.err)
        return runner

    def ready(self) -> bool:
        coordinator, options = self.coordinator, self.options
        if coordinator.wait_for_workers(options.max_wait_s or float("inf")):
            return True
        errors = [f"worker {i.index}: {i.error}" for i in coordinator.workers.values() if i.error]
        if not self.interrupted:
            print("; ".join(errors) if errors else f"only {len(coordinator.active())} of {options.expect_workers} "
                  f"worker(s) connected within {options.max_wait_s:g}s", file=self.err)
        return False

    def start(self) -> None:
        """Start the shape; the run's clock starts when the workers have their first users (the spawn
        messages take a moment), and so do the open model's schedules."""
        self.coordinator.begin_test()
        self.runner.start_shape()
        first_users = time.monotonic() + FIRST_USERS_WAIT_S
        while self.runner.user_count == 0 and time.monotonic() < first_users and not self.runtime.control.stopping:
            gevent.sleep(0.01)
        self.coordinator.run_started = time.time()

    def going(self) -> bool:
        return bool(self.coordinator.active())

    def start_draining(self) -> None:
        super().start_draining()
        for info in self.coordinator.active():
            self.runner.send_message(MSG_DRAIN, None, info.client_id)

    def ended(self, elapsed: float) -> None:
        self.coordinator.end_test()
        if not self.coordinator.active() and not self.interrupted and elapsed < self.duration:
            self.runtime.request_stop("every worker was lost")

    def collect(self) -> int:
        self.coordinator.wait_for_finals(FINAL_WAIT_S)
        return self.coordinator.in_flight_at_end()

    def dispatch(self) -> DispatchFigures | None:
        return self.coordinator.dispatch_totals()

    def describe_workers(self) -> dict[str, object]:
        return dict(self.coordinator.describe(self.options.mode))

    def close(self) -> None:
        if len(self.runner.greenlet):  # the workers never came: nothing was started
            self.runner.quit()
        self.coordinator.stop()
        if self.processes:
            stop_local_workers(self.processes, WORKER_EXIT_WAIT_S)


def distributed_shape(scenario: Scenario, duration: float, workers: int) -> type[LoadTestShape]:
    """The scenario's shape; in the open model it asks for one dispatcher user per worker, all started at
    once (one a second would start the second worker's arrivals a second late)."""
    from loadtest.traffic.drive import SHAPE_SLACK_S

    base = make_shape_class(scenario, duration=duration + SHAPE_SLACK_S)
    if not isinstance(scenario.load, OpenLoad):
        return base

    class PerWorkerDispatchers(base):  # type: ignore[misc, valid-type]
        def tick(self) -> tuple[int, float] | None:
            tick = super().tick()
            return None if tick is None else (workers, float(max(workers, tick[1])))  # all at once

    PerWorkerDispatchers.__name__ = PerWorkerDispatchers.__qualname__ = base.__name__
    return PerWorkerDispatchers


def start_local_workers(count: int, port: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
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


def stop_local_workers(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
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
