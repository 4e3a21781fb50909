"""Distributed runs on Locust's master/worker protocol: the master drives, workers send, one run directory.

How the pieces talk (all over Locust's own ZeroMQ connection, so only the master's port must be open):

* A worker connects with nothing but the master's address, asks for the run (``loadtest:hello``) and gets
  the scenario file's text and the command-line overrides (``loadtest:scenario``); it builds the same
  user classes the master dispatches. No file is shared: payload files a scenario names are read on the
  worker relative to its working directory.
* Every Locust stats report a worker sends (``report_to_master``, every few seconds) carries its recorder's
  ``drain()``; the master ``merge()``s it. When the worker's users have stopped it records its unfinished
  jobs as in flight and sends the rest (``loadtest:final``) before Locust's ``client_stopped``; ZeroMQ keeps
  one connection's messages in order, so the master has every worker's measurements when its test stops.
  Merging is exact, so the run directory holds the totals a single process would have produced.
* The ``respect`` limiter budget is divided among the workers that are running: the master sends each its
  share (``loadtest:share``, ``1 / workers``) whenever one joins or leaves.
* A worker that stops sending heartbeats (killed, machine gone) or quits before its final report is *lost*:
  the master notes when it was last heard from, how much of the run it missed and that its measurements
  since its last report are missing; ``summary.json`` lists it under ``run.settings.distributed``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import gevent
import gevent.event
import locust.stats as locust_stats
from locust.env import Environment
from locust.event import Events
from locust.html import get_html_report
from locust.runners import STATE_MISSING, MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history

from loadtest.scenario.model import OpenLoad, Scenario
from loadtest.traffic.overrides import Overrides, apply_overrides
from loadtest.traffic.runtime import TrafficRuntime

MSG_HELLO = "loadtest:hello"
MSG_SCENARIO = "loadtest:scenario"
MSG_READY = "loadtest:ready"
MSG_SHARE = "loadtest:share"
MSG_FINAL = "loadtest:final"
MSG_STOP = "loadtest:stop"
REPORT_KEY = "loadtest"
"""Key of our recorder drain inside Locust's worker stats report."""

DEFAULT_MASTER_PORT = 5557
"""Locust's own default master port; the only port workers need to reach."""
WORKER_WAIT_S = 60.0
"""How long the master waits for its ``--processes`` workers before giving up (``--master``: see
``--expect-workers-max-wait``)."""
WORKER_CONNECT_S = 60.0
"""How long a worker keeps trying to reach its master."""
FINAL_WAIT_S = 10.0
"""How long the master waits, after its test stopped, for final reports of workers still connected."""
FIRST_USERS_WAIT_S = 2.0
"""Longest the master waits, after starting the shape, for the workers to report their first users."""
WORKER_EXIT_WAIT_S = 10.0
"""How long the master waits for its local worker processes (``--processes``) to exit."""
SEED_STRIDE = 1_000_003
"""Worker ``i`` runs with seed ``seed + i * SEED_STRIDE`` (worker 0 keeps the scenario's), so workers'
random choices and Poisson arrivals are not copies of each other."""


# --------------------------------------------------------------------------------------------- shared


@dataclass
class RunRequest:
    """What a worker needs to build its part of the run: the scenario file's text and the overrides."""

    scenario_name: str
    scenario_text: str
    overrides: dict[str, Any] = field(default_factory=dict)
    base_dir: str = ""
    """The scenario's directory on the master: a worker that has the same directory reads payload files
    there (local workers always do), else from its working directory."""

    def as_message(self, index: int, workers: int) -> dict[str, Any]:
        return {
            "name": self.scenario_name, "text": self.scenario_text, "overrides": self.overrides,
            "index": index, "workers": workers, "base_dir": self.base_dir,
        }


def worker_scenario(text: str, name: str, overrides: dict[str, Any], index: int, base_dir: Path) -> Scenario:
    """The scenario a worker runs: the master's file (loaded here, ``${VAR}`` from this machine's
    environment, payload files from ``base_dir``), the master's overrides, and a seed of its own (see
    :data:`SEED_STRIDE`). Raises ``ValueError`` saying what is wrong."""
    from loadtest.scenario.loader import ScenarioError, load_scenario_text

    try:
        scenario = load_scenario_text(text, file=f"{name} (from the master)", base_dir=base_dir)
    except ScenarioError as exc:
        raise ValueError("; ".join(str(issue) for issue in exc.errors)) from None
    scenario = apply_overrides(scenario, Overrides(**overrides))
    if index:
        scenario = scenario.model_copy(update={"seed": scenario.seed + index * SEED_STRIDE})
    return scenario


def user_classes_for(runtime: TrafficRuntime, host: str | None, workers: int) -> list[type]:
    """The scenario's user classes for a distributed run: the open model runs one arrival dispatcher per
    worker, each at ``1 / workers`` of the scheduled rate."""
    from loadtest.traffic.users import build_user_classes

    scenario = runtime.scenario
    is_open = isinstance(scenario.load, OpenLoad)
    classes = build_user_classes(
        runtime, host, duration=scenario.total_duration, rate_scale=1.0 / workers if is_open else 1.0
    )
    if is_open:
        for cls in classes:
            cls.fixed_count = workers
    return classes


# --------------------------------------------------------------------------------------------- master


@dataclass
class WorkerInfo:
    """What the master knows of one worker."""

    client_id: str
    index: int
    joined_at: float
    last_seen: float
    pid: int | None = None
    ready: bool = False
    error: str | None = None
    last_report: float | None = None
    reports: int = 0
    final: bool = False
    in_test: bool = False
    """Part of the test now running (connected when it began, or reported during it)."""
    lost_at: float | None = None
    lost_reason: str | None = None
    in_flight_at_end: int = 0
    dispatch: dict[str, Any] = field(default_factory=dict)
    share: float | None = None
    """The budget share last sent to it."""


class RemoteJobs:
    """Stands in for the master's job book: the jobs are on the workers, their counts come with reports."""

    def __init__(self) -> None:
        self.submitted = 0
        self.in_flight_by_worker: dict[str, int] = {}

    @property
    def in_flight(self) -> int:
        return sum(self.in_flight_by_worker.values())

    def close_remaining(self) -> int:
        return 0


class MasterCoordinator:
    """The master's side: hands out the run, merges workers' measurements, divides the budget, notes losses."""

    def __init__(
        self, runtime: TrafficRuntime, runner: MasterRunner, request: RunRequest | None, expected: int
    ) -> None:
        self.runtime = runtime
        self.runner = runner
        self.request = request
        self.expected = max(1, expected)
        self.workers: dict[str, WorkerInfo] = {}
        self.run_started: float | None = None
        self.run_ended: float | None = None
        self.jobs = RemoteJobs()
        runtime.jobs = self.jobs  # type: ignore[assignment]  # the progress line reads counts from here
        self._share_sent: float | None = None
        self.share_changes: list[tuple[float, int, float]] = []
        """(when, workers, share) each time the budget was divided anew."""
        events = runner.environment.events
        events.worker_report.add_listener(self._on_report)
        events.heartbeat_sent.add_listener(self._on_heartbeat)
        runner.register_message(MSG_HELLO, self._on_hello)
        runner.register_message(MSG_READY, self._on_ready)
        runner.register_message(MSG_FINAL, self._on_final)
        runner.register_message(MSG_STOP, self._on_stop_request)
        self._watcher = gevent.spawn(self._watch)

    # ------------------------------------------------------------------------------------ messages

    def _info(self, client_id: str) -> WorkerInfo:
        info = self.workers.get(client_id)
        if info is None:
            now = time.time()
            info = self.workers[client_id] = WorkerInfo(
                client_id, self.runner.get_worker_index(client_id), joined_at=now, last_seen=now
            )
        return info

    def _on_hello(self, environment: Any, msg: Any, **_: Any) -> None:
        if self.request is None:  # locustfile mode: workers load the scenario themselves
            return
        info = self._info(msg.node_id)
        info.pid = (msg.data or {}).get("pid")
        workers = max(self.expected, len(self.active()) + (0 if info in self.active() else 1))
        self.runner.send_message(MSG_SCENARIO, self.request.as_message(info.index, workers), msg.node_id)

    def _on_ready(self, environment: Any, msg: Any, **_: Any) -> None:
        info = self._info(msg.node_id)
        info.last_seen = time.time()
        info.error = (msg.data or {}).get("error")
        info.ready = info.error is None
        self._rebalance()

    def _on_stop_request(self, environment: Any, msg: Any, **_: Any) -> None:
        info = self._info(msg.node_id)
        self.runtime.request_stop(f"worker {info.index}: {(msg.data or {}).get('reason', 'asked to stop')}")

    def _on_heartbeat(self, client_id: str, timestamp: float, **_: Any) -> None:
        info = self.workers.get(client_id)
        if info is not None:
            info.last_seen = timestamp

    def _absorb(self, info: WorkerInfo, data: dict[str, Any]) -> None:
        snapshot = data.get("snapshot")
        if snapshot and snapshot.get("first_t") is not None:  # None: nothing recorded since the last drain
            self.runtime.recorder.merge(snapshot)
        live = data.get("live") or {}
        self.runtime.live.requests += int(live.get("requests", 0))
        self.runtime.live.throttled += int(live.get("throttled", 0))
        self.runtime.live.errors += int(live.get("errors", 0))
        self.jobs.submitted += int(live.get("submitted", 0))
        self.jobs.in_flight_by_worker[info.client_id] = int(live.get("in_flight", 0))
        info.last_report = time.time()
        info.reports += 1

    def _on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        payload = data.get(REPORT_KEY)
        if payload:
            info = self._info(client_id)
            if info.lost_at is None:
                self._absorb(info, payload)
                if self.testing and not info.final:
                    info.in_test = True
                if not info.ready and info.error is None:  # its ready message may have come too early
                    info.ready = True
                    self._rebalance()

    def _on_final(self, environment: Any, msg: Any, **_: Any) -> None:
        info = self._info(msg.node_id)
        data = msg.data or {}
        self._absorb(info, data)
        info.final, info.in_test = True, True
        info.in_flight_at_end = int(data.get("in_flight_at_end", 0))
        info.dispatch = data.get("dispatch") or {}
        self.jobs.in_flight_by_worker[info.client_id] = 0

    # ------------------------------------------------------------------------------- workers and budget

    def active(self) -> list[WorkerInfo]:
        """Workers that are connected, built their part of the run, and have not been lost."""
        clients = self.runner.clients
        return [
            info for info in self.workers.values()
            if info.ready and info.lost_at is None and info.client_id in clients
            and clients[info.client_id].state != STATE_MISSING
        ]

    def _rebalance(self) -> None:
        active = self.active()
        if not active:
            return
        share = 1.0 / len(active)
        if share != self._share_sent:
            self._share_sent = share
            self.share_changes.append((time.time(), len(active), share))
        for info in active:
            if info.share != share:  # each worker is told when its share differs from what it was told
                info.share = share
                self.runner.send_message(MSG_SHARE, {"share": share, "workers": len(active)}, info.client_id)

    def _watch(self) -> None:
        while True:
            gevent.sleep(0.5)
            self.check_workers()

    def check_workers(self) -> None:
        """Note workers lost since the last look (missing heartbeats, or gone without a final report)."""
        clients = self.runner.clients
        now = time.time()
        for info in self.workers.values():
            if not info.in_test or info.final or info.lost_at is not None:
                continue
            node = clients.get(info.client_id)
            if node is None:
                info.lost_at, info.lost_reason = info.last_seen, "left before sending its final report"
            elif node.state == STATE_MISSING:
                info.lost_at, info.lost_reason = info.last_seen, "stopped sending heartbeats"
            else:
                continue
            self.jobs.in_flight_by_worker.pop(info.client_id, None)
            since = f"{now - info.lost_at:.1f}s ago" if info.lost_at else "just now"
            print(f"loadtest: worker {info.index} ({info.client_id}) lost: {info.lost_reason} (last heard {since})",
                  file=sys.stderr)
        self._rebalance()

    def wait_for_workers(self, timeout: float) -> bool:
        """Block until ``expected`` workers are ready (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.runtime.control.stopping:
            if len(self.active()) >= self.expected:
                return True
            failed = [info for info in self.workers.values() if info.error]
            if failed:
                return False
            gevent.sleep(0.1)
        return False

    def wait_for_finals(self, timeout: float) -> None:
        """After the test stopped: wait (bounded) for final reports of workers still connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_workers()
            pending = [i for i in self.workers.values() if i.in_test and not i.final and i.lost_at is None]
            if not pending:
                return
            gevent.sleep(0.1)
        for info in self.workers.values():
            if info.in_test and not info.final and info.lost_at is None:
                info.lost_at, info.lost_reason = info.last_seen, "sent no final report"

    def stop(self) -> None:
        self._watcher.kill()

    @property
    def testing(self) -> bool:
        return self.run_started is not None and self.run_ended is None

    def begin_test(self) -> None:
        """A test begins (again, in the web UI): counts from zero, the clock from now, and the workers
        connected now are the ones whose final reports it waits for."""
        self.jobs = RemoteJobs()
        self.runtime.jobs = self.jobs  # type: ignore[assignment]
        self.run_started, self.run_ended = time.time(), None
        clients = self.runner.clients
        for info in self.workers.values():
            node = clients.get(info.client_id)
            connected = node is not None and node.state != STATE_MISSING
            if connected:
                info.lost_at = info.lost_reason = None  # back (or never gone): part of this test
            info.in_test = connected and info.ready
            info.final, info.in_flight_at_end, info.dispatch = False, 0, {}

    def end_test(self) -> None:
        if self.run_ended is None:
            self.run_ended = time.time()

    def ui_rows(self) -> list[dict[str, Any]]:
        """Rows for the web UI's Jobs tab: workers running and every worker lost."""
        connected = len(self.runner.clients)
        rows: list[dict[str, Any]] = [{
            "name": "workers",
            "value": f"{self.runner.worker_count} ready or running, {connected} connected, {self.expected} expected",
        }]
        start = self.run_started
        for info in sorted(self.workers.values(), key=lambda i: i.index):
            if info.lost_at is not None:
                when = f"{info.lost_at - start:.1f}s into the test" if start and info.lost_at >= start else "before"
                rows.append({"name": f"lost worker {info.index}",
                             "value": f"{info.client_id}: {info.lost_reason} ({when})"})
        return rows

    # ----------------------------------------------------------------------------------------- reports

    def dispatch_totals(self) -> dict[str, Any]:
        """The open model's arrival figures, added over the workers."""
        parts = [info.dispatch for info in self.workers.values() if info.dispatch]
        if not parts:
            return {}
        total = {key: sum(p.get(key, 0) or 0 for p in parts) for key in ("scheduled", "started", "dropped")}
        rates = [p.get("achieved_rate") for p in parts if p.get("achieved_rate")]
        total["achieved_rate"] = sum(rates) if rates else None
        total["lateness_max_s"] = max((p.get("lateness_max_s") or 0.0) for p in parts)
        return total

    def in_flight_at_end(self) -> int:
        return sum(info.in_flight_at_end for info in self.workers.values())

    def describe(self, mode: str) -> dict[str, Any]:
        """The ``distributed`` section of the run's settings (summary.json ``run.settings.distributed``)."""
        start = self.run_started or 0.0
        end = self.run_ended or time.time()
        duration = max(end - start, 1e-9)

        def offset(t: float | None) -> float | None:
            return None if t is None or not self.run_started else round(t - start, 3)

        workers = []
        lost = []
        for info in sorted(self.workers.values(), key=lambda i: i.index):
            entry = {
                "name": info.client_id, "index": info.index, "host": info.client_id.rsplit("_", 1)[0], "pid": info.pid,
                "joined_at_s": offset(info.joined_at), "reports": info.reports, "final_report": info.final,
                "in_flight_at_end": info.in_flight_at_end,
            }
            if info.error:
                entry["error"] = info.error
            workers.append(entry)
            if info.lost_at is not None:
                lost_at = max(info.lost_at, start) if self.run_started else info.lost_at
                missed = max(0.0, end - lost_at) if self.run_started else None
                lost.append({
                    "name": info.client_id, "index": info.index, "pid": info.pid, "reason": info.lost_reason,
                    "lost_at": _iso(info.lost_at), "lost_at_s": offset(info.lost_at),
                    "missed_s": round(missed, 3) if missed is not None else None,
                    "missed_fraction": round(min(1.0, missed / duration), 4) if missed is not None else None,
                    "last_report_at_s": offset(info.last_report),
                    "note": "measurements since its last report are missing; its open jobs were not recorded",
                })
        shares = [{"at_s": offset(t), "workers": n, "share": share} for t, n, share in self.share_changes]
        return {"mode": mode, "workers_expected": self.expected, "workers": workers, "lost_workers": lost,
                "limiter_shares": shares}


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------- worker


class WorkerAgent:
    """A worker's side: builds its part of the run from the master's scenario, ships measurements."""

    def __init__(
        self,
        environment: Environment,
        runner: WorkerRunner,
        *,
        base_dir: Path | None = None,
        runtime: TrafficRuntime | None = None,
        sample_health: bool = True,
    ) -> None:
        self.environment = environment
        self.runner = runner
        self.base_dir = base_dir or Path.cwd()
        self.runtime: TrafficRuntime | None = runtime
        """Given: the locustfile built it from its own scenario file; else built from the master's."""
        self.sample_health = sample_health
        self.index = 0
        self.error: str | None = None
        self.done = gevent.event.Event()
        self._sent = {"requests": 0, "throttled": 0, "errors": 0, "submitted": 0}
        events = environment.events
        events.report_to_master.add_listener(self._on_report_to_master)
        events.test_start.add_listener(self._on_test_start)
        events.test_stopping.add_listener(self._on_test_stopping)
        events.test_stop.add_listener(self._on_test_stop)
        runner.register_message(MSG_SCENARIO, self._on_scenario)
        runner.register_message(MSG_SHARE, self._on_share)
        if runtime is not None:
            runtime.on_stop_requested = self._ask_master_to_stop
            self.index = max(0, runner.worker_index)
            runner.send_message(MSG_READY, {"classes": [c.__name__ for c in environment.user_classes]})

    def hello(self) -> None:
        self.runner.send_message(MSG_HELLO, {"pid": os.getpid()})

    def _on_scenario(self, environment: Any, msg: Any, **_: Any) -> None:
        data = msg.data
        try:
            master_dir = Path(data.get("base_dir") or "")
            base_dir = master_dir if data.get("base_dir") and master_dir.is_dir() else self.base_dir
            scenario = worker_scenario(data["text"], data["name"], data["overrides"], int(data["index"]), base_dir)
            workers = max(1, int(data["workers"]))
            self.index = int(data["index"])
            runtime = TrafficRuntime(scenario, base_dir=base_dir, processes=workers,
                                     process_index=self.index % workers)
            classes = user_classes_for(runtime, None, workers)
        except Exception as exc:  # reported to the master, which stops with a clear message
            self.error = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            self.runner.send_message(MSG_READY, {"error": self.error})
            self.done.set()
            return
        self.runtime = runtime
        runtime.on_stop_requested = self._ask_master_to_stop
        self.environment.user_classes[:] = classes
        self.environment.stop_timeout = self.environment.stop_timeout or 0
        self.runner.send_message(MSG_READY, {"classes": [c.__name__ for c in classes]})

    def _ask_master_to_stop(self, reason: str) -> None:
        """The spending guard (or another stop request) on this worker ends the whole run."""
        self.runner.send_message(MSG_STOP, {"reason": reason})

    def _on_share(self, environment: Any, msg: Any, **_: Any) -> None:
        share = float(msg.data["share"])
        if self.runtime is not None and self.runtime.limiters is not None:
            self.runtime.limiters.set_share(share)

    def _live_delta(self) -> dict[str, int]:
        assert self.runtime is not None
        live, jobs = self.runtime.live, self.runtime.jobs
        now = {"requests": live.requests, "throttled": live.throttled, "errors": live.errors,
               "submitted": jobs.submitted}
        delta = {key: now[key] - self._sent[key] for key in now}
        self._sent = now
        delta["in_flight"] = jobs.in_flight
        return delta

    def _on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        if self.runtime is None:
            return
        data[REPORT_KEY] = {"snapshot": self.runtime.recorder.drain(), "live": self._live_delta()}

    def _on_test_start(self, environment: Any, **_: Any) -> None:
        from loadtest.traffic.users import start_health_sampler

        runtime = self.runtime
        if runtime is None:
            return
        runtime.control.reset()
        runtime.recorder.start = time.time()
        if self.sample_health and self.index == 0 and environment.host:  # one worker samples /health
            runtime.health_sampler = start_health_sampler(runtime, environment, environment.host)

    def _on_test_stopping(self, environment: Any, **_: Any) -> None:
        if self.runtime is not None:
            self.runtime.control.stop()

    def _on_test_stop(self, environment: Any, **_: Any) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        in_flight = runtime.finish()
        if runtime.health_sampler is not None:
            runtime.health_sampler.join(timeout=5)
            runtime.health_sampler.kill()
        dispatch: dict[str, Any] = {}
        if runtime.dispatcher is not None:
            stats = runtime.dispatcher.stats
            dispatch = {"scheduled": stats.scheduled, "started": stats.started, "dropped": stats.dropped,
                        "achieved_rate": stats.achieved_rate(), "lateness_max_s": stats.lateness_max}
        self.runner.send_message(MSG_FINAL, {
            "snapshot": runtime.recorder.drain(), "live": self._live_delta(), "in_flight_at_end": in_flight,
            "dispatch": dispatch,
        })
        gevent.spawn_later(0.5, self.done.set)  # after Locust's own client_stopped has gone out

    def close(self) -> None:
        """Nothing is left on the worker's disk (nothing was written)."""


def run_worker(master_host: str, master_port: int, err: TextIO) -> int:
    """``loadtest run --worker``: serve one run for the master at ``master_host:master_port``."""
    import math

    import locust.runners as locust_runners

    from loadtest import exitcodes

    locust_runners.CONNECT_RETRY_COUNT = max(1, math.ceil(WORKER_CONNECT_S / locust_runners.CONNECT_TIMEOUT))
    events = Events()
    environment = Environment(user_classes=[], events=events)
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    except (ConnectionError, OSError) as exc:
        reason = str(exc) or f"no answer within {WORKER_CONNECT_S:g}s"
        print(f"--master-host {master_host}:{master_port}: cannot reach the master ({reason})", file=err)
        return exitcodes.TARGET_ERROR
    agent = WorkerAgent(environment, runner)
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        agent.done.set()

    handlers = [gevent.signal_handler(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        agent.hello()
        while not agent.done.wait(0.2):
            if len(runner.greenlet) == 0:  # the master told us to quit
                break
    finally:
        for handler in handlers:
            handler.cancel()
        if interrupted or agent.error:
            environment.events.quitting.fire(environment=environment, reverse=True)  # tell the master
            gevent.sleep(0.2)
        runner.greenlet.kill(block=False)
        agent.close()
    if agent.error:
        print(f"worker: the master's scenario could not be built here: {agent.error}", file=err)
        return exitcodes.INVALID_INPUT
    return exitcodes.INTERRUPTED if interrupted else exitcodes.OK


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
    from loadtest.metrics.rundir import new_run_directory
    from loadtest.scenario.loader import resolved_dict
    from loadtest.traffic.results import print_summary, run_check, write_results
    from loadtest.traffic.runner import _ground_truth, _settings, prepare_scenario
    from loadtest.traffic.runtime import TargetError
    from loadtest.traffic.target import TargetStartError, api_base_url, start_emulator

    if master.expect_workers < 1:
        print(f"--{'processes' if master.local_processes else 'expect-workers'}: must be at least 1, "
              f"got {master.expect_workers}", file=err)
        return exitcodes.INVALID_INPUT
    scenario = prepare_scenario(options, err)
    if scenario is None:
        return exitcodes.INVALID_INPUT
    try:
        runtime = TrafficRuntime(scenario, base_dir=options.scenario_path.resolve().parent)
    except TargetError as exc:
        print(exc, file=err)
        return exitcodes.INVALID_INPUT
    request = RunRequest(
        scenario_name=options.scenario_path.name,
        scenario_text=options.scenario_path.read_text(encoding="utf-8"),
        base_dir=str(options.scenario_path.resolve().parent),
        overrides={k: v for k, v in {
            "duration": options.duration, "users": options.users, "rate": options.rate,
            "max_in_flight": options.max_in_flight, "seed": options.seed,
        }.items() if v is not None},
    )
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
    try:
        host = options.host or api_base_url(scenario, emulator)
        mode = f"{master.local_processes} local worker processes" if master.local_processes else (
            f"master for {master.expect_workers} worker(s)")
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
    write_results(
        runtime, outcome, scenario=resolved_dict(scenario), settings=settings, ground_truth=ground_truth,
        emulator_log=emulator_log if emulator is not None else None,
        reports_root=options.out_dir if options.run_dir is None else None,
        build_report=options.report, err=err,
    )
    print_summary(runtime, outcome, out)
    for lost in settings["distributed"]["lost_workers"]:
        print(f"  LOST      worker {lost['index']} ({lost['name']}): {lost['reason']} at {lost['lost_at_s']}s, "
              f"missed {lost['missed_s']}s ({100 * (lost['missed_fraction'] or 0):.0f}% of the run)", file=out)
    code = exitcodes.INTERRUPTED if outcome.interrupted else exitcodes.OK
    if options.check and not outcome.interrupted:
        code = run_check(outcome.run_dir, options.baseline, out, err)
    return code


# ------------------------------------------------------------------------------- locustfile (UI, locust -f)

_coordinator: MasterCoordinator | None = None
"""The master's coordinator when the locustfile runs as Locust's master (``loadtest ui --processes N``)."""


def attach_to_locust(environment: Any, runtime: TrafficRuntime) -> None:
    """At Locust's ``init`` in the locustfile: as master, merge the workers' measurements into ``runtime``
    and divide the budget; as worker, ship ``runtime``'s measurements. Nothing for a local runner."""
    global _coordinator
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        options = environment.parsed_options
        expected = int(getattr(options, "expect_workers", 1) or 1) if options is not None else 1
        _coordinator = MasterCoordinator(runtime, runner, None, expected)
    elif isinstance(runner, WorkerRunner):
        # the locustfile samples /health itself on every process; the budget share comes from the master
        WorkerAgent(environment, runner, runtime=runtime, sample_health=False)


def coordinator() -> MasterCoordinator | None:
    return _coordinator
