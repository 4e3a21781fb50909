"""The master's side of a distributed run: merges workers' measurements, divides the budget, notes
losses."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner

from loadtest.queue_api.reachability import Refusal
from loadtest.traffic.arrivals import DispatchFigures, add_dispatch_figures
from loadtest.traffic.distributed.protocol import (
    FINAL_WAIT_S,
    MSG_FINAL,
    MSG_FINISH,
    MSG_HELLO,
    MSG_READY,
    MSG_SCENARIO,
    MSG_SHARE,
    MSG_STOP,
    REPORT_KEY,
    RunRequest,
)
from loadtest.traffic.runtime import TrafficRuntime

# --------------------------------------------------------------------------------------------- master


HEARTBEATS_STOPPED = "stopped sending heartbeats"


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
    dispatch: DispatchFigures | None = None
    share: float | None = None
    """The budget share last sent to it."""
    failing_since: float | None = None
    """Since when its requests have gone unanswered, as it last reported (None: answers come)."""
    stalls: list[tuple[float, float]] = field(default_factory=list)
    """(lost, back) each time it stopped sending heartbeats and then came back (a stalled machine)."""


class RemoteJobs:
    """Stands in for the master's job book: the jobs are on the workers, their counts come with reports."""

    def __init__(self) -> None:
        self.submitted = 0
        self.in_flight_by_worker: dict[str, int] = {}

    @property
    def in_flight(self) -> int:
        return sum(self.in_flight_by_worker.values())



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
        runtime.job_counts = self.jobs  # the progress line and the web UI read the workers' counts
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

    def _on_hello(self, environment: Environment, msg: Message, **_: object) -> None:
        if self.request is None:  # locustfile mode: workers load the scenario themselves
            return
        info = self._info(msg.node_id)
        info.pid = (msg.data or {}).get("pid")
        workers = max(self.expected, len(self.active()) + (0 if info in self.active() else 1))
        self.runner.send_message(MSG_SCENARIO, self.request.as_message(info.index, workers), msg.node_id)

    def _on_ready(self, environment: Environment, msg: Message, **_: object) -> None:
        info = self._info(msg.node_id)
        info.last_seen = time.time()
        info.error = (msg.data or {}).get("error")
        info.pid = (msg.data or {}).get("pid", info.pid)
        info.ready = info.error is None
        self._rebalance()

    def _on_stop_request(self, environment: Environment, msg: Message, **_: object) -> None:
        info = self._info(msg.node_id)
        self.runtime.request_stop(f"worker {info.index}: {(msg.data or {}).get('reason', 'asked to stop')}")

    def _on_heartbeat(self, client_id: str, timestamp: float, **_: object) -> None:
        info = self.workers.get(client_id)
        if info is not None:
            info.last_seen = timestamp

    def _absorb(self, info: WorkerInfo, data: dict[str, Any]) -> None:
        snapshot = data.get("snapshot")
        if snapshot and snapshot.get("first_t") is not None:  # None: nothing recorded since the last drain
            self.runtime.recorder.merge(snapshot)
        jobs = data.get("jobs") or {}
        self.jobs.submitted += int(jobs.get("submitted", 0))
        self.jobs.in_flight_by_worker[info.client_id] = int(jobs.get("in_flight", 0))
        info.last_report = time.time()
        info.reports += 1
        view = data.get("reachability")
        if isinstance(view, dict):
            since = view.get("failing_since")
            info.failing_since = float(since) if isinstance(since, int | float) else None
            refused = view.get("refusal")
            refusal = Refusal(int(refused["status"]), str(refused["message"])) if isinstance(refused, dict) else None
            failure = view.get("last_failure")
            self.runtime.reachability.take_workers([i.failing_since for i in self.active()] or [info.failing_since],
                                                   str(failure) if failure else None, refusal)

    def _on_report(self, client_id: str, data: dict[str, Any], **_: object) -> None:
        payload = data.get(REPORT_KEY)
        if payload:
            info = self._info(client_id)
            self._recover(info)
            if info.lost_at is None:
                self._absorb(info, payload)
                if self.testing and not info.final:
                    info.in_test = True
                if not info.ready and info.error is None:  # its ready message may have come too early
                    info.ready = True
                    self._rebalance()

    def _on_final(self, environment: Environment, msg: Message, **_: object) -> None:
        info = self._info(msg.node_id)
        data = msg.data or {}
        self._absorb(info, data)
        info.final, info.in_test = True, True
        info.in_flight_at_end = int(data.get("in_flight_at_end", 0))
        info.dispatch = data.get("dispatch") or None
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
            self._recover(info)
            if not info.in_test or info.final or info.lost_at is not None:
                continue
            node = clients.get(info.client_id)
            if node is None:
                info.lost_at, info.lost_reason = info.last_seen, "left before sending its final report"
            elif node.state == STATE_MISSING:
                info.lost_at, info.lost_reason = info.last_seen, HEARTBEATS_STOPPED
            else:
                continue
            self.jobs.in_flight_by_worker.pop(info.client_id, None)
            since = f"{now - info.lost_at:.1f}s ago" if info.lost_at else "just now"
            print(f"loadtest: worker {info.index} ({info.client_id}) lost: {info.lost_reason} (last heard {since})",
                  file=sys.stderr)
        self._rebalance()

    def _recover(self, info: WorkerInfo) -> None:
        """A worker lost for missing heartbeats that is heard from again stalled rather than died: take it
        back (its reports hold everything since its last one, so nothing of it is lost) and re-divide."""
        node = self.runner.clients.get(info.client_id)
        if info.lost_at is None or info.lost_reason != HEARTBEATS_STOPPED or node is None \
                or node.state == STATE_MISSING:
            return
        back = time.time()
        info.stalls.append((info.lost_at, back))
        info.lost_at, info.lost_reason = None, None
        print(f"loadtest: worker {info.index} ({info.client_id}) is back after {back - info.stalls[-1][0]:.1f}s "
              "without heartbeats", file=sys.stderr)
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

    def collect_finals(self) -> None:
        """At the master's ``test_stop`` under the locustfile: make sure every worker's final report is in.

        Locust's headless ``--run-time`` ends with ``quit()``, whose ``test_stop`` comes *before* the workers
        are told anything; then the workers still running are asked to stop (``loadtest:finish``) and their
        final reports awaited. After ``stop()`` (the UI's Stop, its run time) they are already in.
        """
        from locust.runners import STATE_RUNNING, STATE_SPAWNING

        running = [node for node in self.runner.clients.values() if node.state in (STATE_RUNNING, STATE_SPAWNING)]
        for node in running:  # not Locust's own "stop": after it a worker ignores "quit" for its stop timeout
            self.runner.send_message(MSG_FINISH, None, node.id)
        grace = float(self.runner.environment.stop_timeout or 0) if running else 0.0
        self.wait_for_finals(grace + FINAL_WAIT_S)

    def stop(self) -> None:
        self._watcher.kill()

    @property
    def testing(self) -> bool:
        return self.run_started is not None and self.run_ended is None

    def begin_test(self) -> None:
        """A test begins (again, in the web UI): counts from zero, the clock from now, and the workers
        connected now are the ones whose final reports it waits for."""
        self.jobs = RemoteJobs()
        self.runtime.job_counts = self.jobs
        self.run_started, self.run_ended = time.time(), None
        clients = self.runner.clients
        for info in self.workers.values():
            node = clients.get(info.client_id)
            connected = node is not None and node.state != STATE_MISSING
            if connected:
                info.lost_at = info.lost_reason = None  # back (or never gone): part of this test
            info.in_test = connected and info.ready
            info.final, info.in_flight_at_end, info.dispatch = False, 0, None

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

    def dispatch_totals(self) -> DispatchFigures | None:
        """The open model's arrival figures, added over the workers."""
        return add_dispatch_figures([info.dispatch for info in self.workers.values() if info.dispatch])

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
        stalled = []
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
            if info.stalls:
                stalled.append({
                    "name": info.client_id, "index": info.index,
                    "stalls": [{"from_s": offset(lost_at), "to_s": offset(back), "seconds": round(back - lost_at, 3)}
                               for lost_at, back in info.stalls],
                    "note": "sent no heartbeats for a while, then came back; its share of the rate budget went to "
                            "the others meanwhile",
                })
        shares = [{"at_s": offset(t), "workers": n, "share": share} for t, n, share in self.share_changes]
        return {"mode": mode, "workers_expected": self.expected, "workers": workers, "lost_workers": lost,
                "stalled_workers": stalled, "limiter_shares": shares}


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
