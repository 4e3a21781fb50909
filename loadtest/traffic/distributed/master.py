"""The master's side of a distributed run: merges its load generators' measurements, divides the budget,
notes losses."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import gevent
import gevent.event
from locust.env import Environment
from locust.rpc import Message
from locust.runners import STATE_MISSING, MasterRunner

from loadtest.queue_api.reachability import Refusal
from loadtest.traffic.arrivals import DispatchFigures, add_dispatch_figures
from loadtest.traffic.distributed.protocol import (
    FINAL_WAIT_S,
    REPORT_KEY,
    DistributedSection,
    FinalReport,
    LoadgenEntry,
    LostLoadgen,
    Msg,
    Report,
    RunRequest,
    ShareChange,
    StalledLoadgen,
)
from loadtest.traffic.runtime import TrafficRuntime

# --------------------------------------------------------------------------------------------- master


HEARTBEATS_STOPPED = "stopped sending heartbeats"


@dataclass
class LoadgenInfo:
    """What the master knows of one load generator."""

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
    """Stands in for the master's job book: the jobs are on the load generators, their counts come with reports."""

    def __init__(self) -> None:
        self.submitted = 0
        self.in_flight_by_loadgen: dict[str, int] = {}

    @property
    def in_flight(self) -> int:
        return sum(self.in_flight_by_loadgen.values())



class MasterCoordinator:
    """The master's side: hands out the run, merges the load generators' measurements, divides the budget,
    notes losses."""

    def __init__(
        self, runtime: TrafficRuntime, runner: MasterRunner, request: RunRequest | None, expected: int
    ) -> None:
        self.runtime = runtime
        self.runner = runner
        self.request = request
        self.expected = max(1, expected)
        self.loadgens: dict[str, LoadgenInfo] = {}
        self.run_started: float | None = None
        self.run_ended: float | None = None
        self.jobs = RemoteJobs()
        runtime.job_counts = self.jobs  # the progress line and the web UI read the load generators' counts
        self._share_sent: float | None = None
        self.share_changes: list[tuple[float, int, float]] = []
        """(when, load generators, share) each time the budget was divided anew."""
        events = runner.environment.events
        events.worker_report.add_listener(self._on_report)
        events.heartbeat_sent.add_listener(self._on_heartbeat)
        handlers = {Msg.HELLO: self._on_hello, Msg.READY: self._on_ready, Msg.FINAL: self._on_final,
                    Msg.STOP: self._on_stop_request}
        for name, handler in handlers.items():
            runner.register_message(name, handler)
        runtime.events.draining.add(self._tell_draining)
        self._watcher = gevent.spawn(self._watch)

    # ------------------------------------------------------------------------------------ messages

    def _info(self, client_id: str) -> LoadgenInfo:
        info = self.loadgens.get(client_id)
        if info is None:
            now = time.time()
            info = self.loadgens[client_id] = LoadgenInfo(
                client_id, self.runner.get_worker_index(client_id), joined_at=now, last_seen=now
            )
        return info

    def _on_hello(self, environment: Environment, msg: Message, **_: object) -> None:
        if self.request is None:  # under the locustfile load generators prepare the scenario themselves
            return
        info = self._info(msg.node_id)
        info.pid = (msg.data or {}).get("pid")
        loadgens = max(self.expected, len(self.active()) + (0 if info in self.active() else 1))
        self.runner.send_message(Msg.SCENARIO, dict(self.request.assign(info.index, loadgens)), msg.node_id)

    def _on_ready(self, environment: Environment, msg: Message, **_: object) -> None:
        info = self._info(msg.node_id)
        info.last_seen = time.time()
        info.error = (msg.data or {}).get("error")
        info.pid = (msg.data or {}).get("pid", info.pid)
        info.ready = info.error is None
        self._rebalance()

    def _on_stop_request(self, environment: Environment, msg: Message, **_: object) -> None:
        info = self._info(msg.node_id)
        self.runtime.request_stop(f"load generator {info.index}: {(msg.data or {}).get('reason', 'asked to stop')}")

    def _tell_draining(self) -> None:
        """The duration is over: the load generators submit no new jobs and follow those in flight."""
        for info in self.active():
            self.runner.send_message(Msg.DRAIN, None, info.client_id)

    def _on_heartbeat(self, client_id: str, timestamp: float, **_: object) -> None:
        info = self.loadgens.get(client_id)
        if info is not None:
            info.last_seen = timestamp

    def _absorb(self, info: LoadgenInfo, data: Report) -> None:
        snapshot = data["snapshot"]
        if snapshot and snapshot.get("first_t") is not None:  # None: nothing recorded since the last drain
            self.runtime.recorder.merge(snapshot)
        jobs = data["jobs"]
        self.jobs.submitted += jobs["submitted"]
        self.jobs.in_flight_by_loadgen[info.client_id] = jobs["in_flight"]
        info.last_report = time.time()
        info.reports += 1
        view = data["reachability"]
        info.failing_since = view["failing_since"]
        refused = view["refusal"]
        refusal = Refusal(refused["status"], refused["message"]) if refused is not None else None
        self.runtime.reachability.take_loadgens([i.failing_since for i in self.active()] or [info.failing_since],
                                                view["last_failure"], refusal)

    def _on_report(self, client_id: str, data: dict[str, object], **_: object) -> None:
        payload: Report | None = data.get(REPORT_KEY)  # type: ignore[assignment]  # ours, from LoadgenAgent
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
        data: FinalReport = msg.data
        self._absorb(info, data)
        info.final, info.in_test = True, True
        info.in_flight_at_end = data["in_flight_at_end"]
        info.dispatch = data["dispatch"]
        self.jobs.in_flight_by_loadgen[info.client_id] = 0

    # ------------------------------------------------------------------------------- load generators and budget

    def active(self) -> list[LoadgenInfo]:
        """Load generators that are connected, built their part of the run, and have not been lost."""
        clients = self.runner.clients
        return [
            info for info in self.loadgens.values()
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
            if info.share != share:  # each is told when its share differs from what it was told
                info.share = share
                self.runner.send_message(Msg.SHARE, {"share": share, "generators": len(active)}, info.client_id)

    def _watch(self) -> None:
        while True:
            gevent.sleep(0.5)
            self.check_loadgens()

    def check_loadgens(self) -> None:
        """Note load generators lost since the last look (missing heartbeats, or gone without a final report)."""
        clients = self.runner.clients
        now = time.time()
        for info in self.loadgens.values():
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
            self.jobs.in_flight_by_loadgen.pop(info.client_id, None)
            since = f"{now - info.lost_at:.1f}s ago" if info.lost_at else "just now"
            print(f"loadtest: load generator {info.index} ({info.client_id}) lost: {info.lost_reason} (last heard "
                  f"{since})", file=sys.stderr)
        self._rebalance()

    def _recover(self, info: LoadgenInfo) -> None:
        """A load generator lost for missing heartbeats that is heard from again stalled rather than died: take it
        back (its reports hold everything since its last one, so nothing of it is lost) and re-divide."""
        node = self.runner.clients.get(info.client_id)
        if info.lost_at is None or info.lost_reason != HEARTBEATS_STOPPED or node is None \
                or node.state == STATE_MISSING:
            return
        back = time.time()
        info.stalls.append((info.lost_at, back))
        info.lost_at, info.lost_reason = None, None
        print(f"loadtest: load generator {info.index} ({info.client_id}) is back after "
              f"{back - info.stalls[-1][0]:.1f}s without heartbeats", file=sys.stderr)
        self._rebalance()

    def wait_for_loadgens(self, timeout: float) -> bool:
        """Block until ``expected`` load generators are ready (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.runtime.control.stopping:
            if len(self.active()) >= self.expected:
                return True
            failed = [info for info in self.loadgens.values() if info.error]
            if failed:
                return False
            gevent.sleep(0.1)
        return False

    def wait_for_finals(self, timeout: float) -> None:
        """After the test stopped: wait (bounded) for final reports of load generators still connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_loadgens()
            pending = [i for i in self.loadgens.values() if i.in_test and not i.final and i.lost_at is None]
            if not pending:
                return
            gevent.sleep(0.1)
        for info in self.loadgens.values():
            if info.in_test and not info.final and info.lost_at is None:
                info.lost_at, info.lost_reason = info.last_seen, "sent no final report"

    def collect_finals(self) -> None:
        """At the master's ``test_stop`` under the locustfile: make sure every load generator's final report is in.

        Locust's headless ``--run-time`` ends with ``quit()``, whose ``test_stop`` comes *before* the load generators
        are told anything; then the load generators still running are asked to stop (``loadtest:finish``) and their
        final reports awaited. After ``stop()`` (the UI's Stop, its run time) they are already in.
        """
        from locust.runners import STATE_RUNNING, STATE_SPAWNING

        running = [node for node in self.runner.clients.values() if node.state in (STATE_RUNNING, STATE_SPAWNING)]
        for node in running:  # not Locust's own "stop": after it a Locust worker ignores "quit" for its stop timeout
            self.runner.send_message(Msg.FINISH, None, node.id)
        grace = float(self.runner.environment.stop_timeout or 0) if running else 0.0
        self.wait_for_finals(grace + FINAL_WAIT_S)

    def stop(self) -> None:
        self._watcher.kill()

    @property
    def testing(self) -> bool:
        return self.run_started is not None and self.run_ended is None

    def begin_test(self) -> None:
        """A test begins (again, in the web UI): counts from zero, the clock from now, and the load generators
        connected now are the ones whose final reports it waits for."""
        self.jobs = RemoteJobs()
        self.runtime.job_counts = self.jobs
        self.run_started, self.run_ended = time.time(), None
        clients = self.runner.clients
        for info in self.loadgens.values():
            node = clients.get(info.client_id)
            connected = node is not None and node.state != STATE_MISSING
            if connected:
                info.lost_at = info.lost_reason = None  # back (or never gone): part of this test
            info.in_test = connected and info.ready
            info.final, info.in_flight_at_end, info.dispatch = False, 0, None

    def end_test(self) -> None:
        if self.run_ended is None:
            self.run_ended = time.time()

    def ui_rows(self) -> list[dict[str, str]]:
        """Rows for the web UI's Jobs tab: load generators running and every one lost."""
        connected = len(self.runner.clients)
        rows: list[dict[str, str]] = [{
            "name": "load generators",
            "value": f"{self.runner.worker_count} ready or running, {connected} connected, {self.expected} expected",
        }]
        start = self.run_started
        for info in sorted(self.loadgens.values(), key=lambda i: i.index):
            if info.lost_at is not None:
                when = f"{info.lost_at - start:.1f}s into the test" if start and info.lost_at >= start else "before"
                rows.append({"name": f"lost load generator {info.index}",
                             "value": f"{info.client_id}: {info.lost_reason} ({when})"})
        return rows

    # ----------------------------------------------------------------------------------------- reports

    def dispatch_totals(self) -> DispatchFigures | None:
        """The open model's arrival figures, added over the load generators."""
        return add_dispatch_figures([info.dispatch for info in self.loadgens.values() if info.dispatch])

    def in_flight_at_end(self) -> int:
        return sum(info.in_flight_at_end for info in self.loadgens.values())

    def describe(self, mode: str) -> DistributedSection:
        """The ``distributed`` section of the run's settings (summary.json ``run.settings.distributed``)."""
        start = self.run_started or 0.0
        end = self.run_ended or time.time()
        duration = max(end - start, 1e-9)

        def offset(t: float | None) -> float | None:
            return None if t is None or not self.run_started else round(t - start, 3)

        loadgens: list[LoadgenEntry] = []
        lost: list[LostLoadgen] = []
        stalled: list[StalledLoadgen] = []
        for info in sorted(self.loadgens.values(), key=lambda i: i.index):
            entry: LoadgenEntry = {
                "name": info.client_id, "index": info.index, "host": info.client_id.rsplit("_", 1)[0], "pid": info.pid,
                "joined_at_s": offset(info.joined_at), "reports": info.reports, "final_report": info.final,
                "in_flight_at_end": info.in_flight_at_end,
            }
            if info.error:
                entry["error"] = info.error
            loadgens.append(entry)
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
        shares: list[ShareChange] = [{"at_s": offset(t), "generators": n, "share": share}
                                     for t, n, share in self.share_changes]
        return {"mode": mode, "generators_expected": self.expected, "generators": loadgens, "lost_generators": lost,
                "stalled_generators": stalled, "limiter_shares": shares}


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
