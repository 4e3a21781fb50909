"""The life of an endpoint's real worker processes: started, watched, scaled, stopped, replaced.

- a worker is ``initializing`` from spawn to its first job request (its real cold start), then idle or
  running by the jobs it holds;
- liveness is the process itself (``Popen.poll``), never pings: the SDK's ping process outlives a crashed
  handler (spec 5.7). A worker that exits holding jobs crashed: a replacement starts with a real cold
  start (its jobs are settled by :class:`~loadtest.emulator.job_handout.JobHandout`);
- workers that exit before asking for a job are started again after a growing pause (:data:`START_BACKOFF_S`),
  and one that asks for none within ``start_timeout`` is killed;
- ``stopPod`` (``refresh_worker``), scale-down and shutdown stop a worker: SIGTERM to its process group, its
  held polls answered at once so it exits in about a second, SIGKILL after ``stop_grace``;
- scaling follows the rule both pools share (:mod:`loadtest.emulator.scaling`).

Process groups, the death signal, the watchdog and reaping are :mod:`loadtest.emulator.supervisor`'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import string
from collections import Counter, deque
from collections.abc import Iterator

from loadtest.emulator.groundtruth import Counters
from loadtest.emulator.job_handout import JobHandout
from loadtest.emulator.scaling import workers_to_start
from loadtest.emulator.supervisor import supervisor
from loadtest.emulator.worker_command import WorkerCommand
from loadtest.emulator.worker_process import (
    CRASHED,
    FAILED_REASONS,
    IDLE,
    REFRESH,
    SHUTDOWN,
    START_FAILED,
    START_TIMEOUT,
    TAIL_LINES,
    UNHEALTHY_EXIT,
    ProcessWorker,
)
from loadtest.emulator.worker_timings import WorkerTimings
from loadtest.emulator.workers import INITIALIZING, STOPPED, UNHEALTHY, UP, WorkerStartError, health_counts
from loadtest.emulator_config import EndpointConfig

log = logging.getLogger(__name__)

START_BACKOFF_S: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
"""Pause before the next start after 1, 2, ... workers in a row exited before asking for a job."""
GONE_RECORDS_MAX = 1000
"""Stopped workers kept in the ground truth (the oldest are dropped first, and counted)."""
SHUTDOWN_REAP_S = 2.0
"""How long shutdown waits for every process of every group to be gone after SIGKILL."""


class WorkerProcesses:
    """Starts, watches, scales and stops an endpoint's worker processes."""

    def __init__(self, config: EndpointConfig, command: WorkerCommand, handout: JobHandout, timings: WorkerTimings,
                 counters: Counters, id_rng: random.Random) -> None:
        self.config = config
        self.command = command
        self.handout = handout
        self.timings = timings
        self.counters = counters
        self.id_rng = id_rng
        self.active: dict[str, ProcessWorker] = {}
        self.gone: deque[ProcessWorker] = deque()
        self.gone_dropped = 0
        self.url: str | None = None
        """Where the emulator serves (no worker starts before it is known)."""
        self._reaping: set[int] = set()
        self._start_failures_in_row = 0
        self._next_start_at = 0.0
        self._id_chars = string.ascii_lowercase + string.digits
        self.started = 0
        self.restarts = 0
        self.crashes = 0
        self.start_failures = 0

    @property
    def _closing(self) -> bool:
        return self.handout.closing

    @property
    def _stop_grace(self) -> float:
        return float(self.command.worker_config.stop_grace)

    def workers(self) -> Iterator[ProcessWorker]:
        """Every worker, stopped ones first."""
        yield from self.gone
        yield from self.active.values()

    def worker(self, worker_id: str) -> ProcessWorker | None:
        """The running worker with this id (None: unknown, or already gone)."""
        worker = self.active.get(worker_id)
        return worker if worker is not None and worker.alive else None

    # --- counts -------------------------------------------------------------------------------------
    def live(self) -> int:
        return sum(1 for worker in self.active.values() if worker.live)

    def health_workers(self) -> dict[str, int]:
        counts = Counter(worker.health_counter for worker in self.active.values())
        return health_counts(idle=counts["idle"], initializing=counts["initializing"], running=counts["running"],
                             unhealthy=counts["unhealthy"])

    def total_workers(self) -> int:
        return sum(1 for w in self.active.values() if w.alive)

    # --- start-up -----------------------------------------------------------------------------------
    async def warm_up(self) -> None:
        """Return once ``workers_min`` workers asked for a job; raise when one failed to start."""
        while True:
            failed = next((w for w in self.workers() if w.exit_reason in FAILED_REASONS), None)
            if failed is not None:
                tail = failed.tail or failed.read_tail()
                shown = "\n".join(f"  | {line}" for line in tail[-TAIL_LINES:]) or "  (it printed nothing)"
                raise WorkerStartError(
                    f"endpoint {self.config.id!r}: the worker ({self.command.worker_config.describe()}) "
                    f"{(failed.exit_reason or '').replace('_', ' ')} with exit code {failed.exit_code}; its output "
                    f"({failed.stderr_path.name}, {failed.stdout_path.name}):\n{shown}"
                )
            ready = sum(1 for worker in self.active.values() if worker.serving and worker.first_request_at is not None)
            if ready >= self.config.workers_min:
                return
            await asyncio.sleep(0.05)

    def seen(self, worker: ProcessWorker, now: float) -> None:
        """The worker made a job-take or job-stop request: the first one ends its cold start."""
        if worker.first_request_at is not None:
            return
        worker.first_request_at = now
        worker.idle_since = now
        self.timings.cold_start.add((now - worker.spawned_at) * 1000)
        self._start_failures_in_row = 0
        if worker.state == INITIALIZING and worker.draining is None:
            worker.state = UP
        old = worker.replaces
        if old is not None:
            worker.replaces = None
            self._retire(old)

    # --- scaling ------------------------------------------------------------------------------------
    def scale(self, now: float) -> None:
        """Start the workers the scaling rule asks for (none while starts back off)."""
        if self.url is None or self._closing:
            return
        for worker in list(self.active.values()):  # crashed workers nobody replaced stop showing after a while
            exited_at = worker.exited_at
            shown_long_enough = exited_at is not None and now - exited_at >= float(self.config.idle_timeout)
            if worker.state == UNHEALTHY and shown_long_enough:
                self._retire(worker)
        if now < self._next_start_at:
            return
        live = [worker for worker in self.active.values() if worker.live]
        initializing = sum(1 for worker in live if worker.state == INITIALIZING)
        count = workers_to_start(self.config, self.handout.store, len(live), initializing, self.handout.per_worker,
                                 now)
        for _ in range(count):
            if self._spawn(now) is None:
                return

    def _back_off(self, now: float) -> None:
        """One more worker in a row failed to start: pause the next start."""
        self.start_failures += 1
        self._start_failures_in_row += 1
        self._next_start_at = now + START_BACKOFF_S[min(self._start_failures_in_row, len(START_BACKOFF_S)) - 1]

    def _spawn(self, now: float) -> ProcessWorker | None:
        assert self.url is not None
        worker_id = "".join(self.id_rng.choice(self._id_chars) for _ in range(14))
        paths = self.command.output_paths(worker_id)
        try:
            process = self.command.launch(worker_id, self.url, paths)
        except OSError as exc:
            self._back_off(now)
            log.error("endpoint %s: cannot start the worker command %s: %s", self.config.id, self.command.argv[0],
                      exc)
            return None
        worker = ProcessWorker(worker_id, process, now, paths, self._stop_grace)
        self.active[worker_id] = worker
        self.started += 1
        self.counters.workers_started += 1
        return worker

    # --- stopping -----------------------------------------------------------------------------------
    def refresh(self, worker: ProcessWorker, now: float) -> None:
        """``stopPod``: restart the worker (a handler-returned ``refresh_worker`` never exits by itself)."""
        if worker.draining is not None or self._closing:
            return
        self.restarts += 1
        self._drain(worker, REFRESH, now)
        if self.url is not None and self.live() < self.config.workers_max:
            self._spawn(now)

    def _drain(self, worker: ProcessWorker, reason: str, now: float) -> None:
        """Stop handing the worker jobs and ask it to exit (SIGTERM to its group); SIGKILL later."""
        if worker.draining is not None or not worker.alive:
            return
        worker.draining = reason
        supervisor().signal_group(worker.pid, signal.SIGTERM)
        self.handout.wake_polls(worker)
        worker.kill_at = None if worker.jobs else now + worker.stop_grace

    def unhealthy(self, worker: ProcessWorker, check: str, reason: str) -> None:
        """The worker's ping says it is unhealthy: it gets no more jobs (its polls are answered now)."""
        worker.unhealthy = {"check": check, "reason": reason}
        log.warning("endpoint %s: worker %s reports itself unhealthy (%s: %s)", self.config.id, worker.id, check,
                    reason)
        self.handout.wake_polls(worker)

    # --- watching -----------------------------------------------------------------------------------
    def watch(self, now: float) -> None:
        """Notice exits, enforce the start timeout, SIGKILL and idle deadlines, and reap finished groups."""
        for worker in list(self.active.values()):
            if worker.alive:
                self._watch(worker, now)
        if self._reaping:
            sup = supervisor()
            self._reaping = {pgid for pgid in self._reaping if not sup.reap_group(pgid)}

    def _watch(self, worker: ProcessWorker, now: float) -> None:
        code = worker.process.poll()
        if code is not None:
            self._on_exit(worker, code, now)
            return
        if worker.kill_at is not None and now >= worker.kill_at:
            worker.kill_at = None
            log.info("endpoint %s: worker %s did not exit after SIGTERM; SIGKILL", self.config.id, worker.id)
            supervisor().signal_group(worker.pid, signal.SIGKILL)
        elif worker.first_request_at is None and worker.draining is None:
            start_timeout = float(self.command.worker_config.start_timeout)
            if now - worker.spawned_at >= start_timeout:
                log.error("endpoint %s: worker %s made no job request within %g s of its start; killing it",
                          self.config.id, worker.id, start_timeout)
                worker.draining = START_TIMEOUT
                supervisor().signal_group(worker.pid, signal.SIGKILL)
        elif worker.draining is None and worker.state == UP and not worker.jobs:
            idle_for = now - worker.idle_since
            if idle_for >= float(self.config.idle_timeout) and self.live() > self.config.workers_min:
                self._drain(worker, IDLE, now)

    def _poll_exits(self, now: float) -> bool:
        """Notice exited workers; True while any is still running."""
        running = False
        for worker in list(self.active.values()):
            if worker.alive:
                code = worker.process.poll()
                if code is None:
                    running = True
                else:
                    self._on_exit(worker, code, now)
        return running

    def _on_exit(self, worker: ProcessWorker, code: int, now: float) -> None:
        """The worker's main process is gone: settle its jobs, kill what is left of its group."""
        worker.exit_code = code
        worker.exited_at = now
        supervisor().signal_group(worker.pid, signal.SIGKILL)  # the SDK's ping process, orphaned by a crash
        self._reaping.add(worker.pid)
        self.handout.wake_polls(worker)
        held = list(worker.jobs.values())
        worker.jobs.clear()
        reason = worker.exit_reason = worker.reason_for_exit(code, bool(held))
        if self._closing:
            worker.state = STOPPED
            self._retire(worker)
            return
        if reason in (START_FAILED, START_TIMEOUT, UNHEALTHY_EXIT) and worker.first_request_at is None:
            self._back_off(now)
        if reason in FAILED_REASONS:
            worker.tail = worker.read_tail()
            log.error(
                "endpoint %s: worker %s (pid %d) %s with exit code %d%s\n%s", self.config.id, worker.id,
                worker.pid, reason.replace("_", " "), code, f", holding {len(held)} job(s)" if held else "",
                "\n".join(f"  | {line}" for line in worker.tail[-10:]),
            )
        if reason == CRASHED:
            self.crashes += 1
            self.counters.workers_crashed += 1
        self.handout.settle_exited(worker, held, reason == CRASHED, now)
        if reason in FAILED_REASONS:
            worker.state = UNHEALTHY  # shown until its replacement asks for a job (or idle_timeout passes)
            if reason == CRASHED and self.url is not None and self.live() < self.config.workers_max:
                replacement = self._spawn(now)
                if replacement is not None:
                    replacement.replaces = worker
        else:
            worker.state = STOPPED
            if reason == IDLE:
                self.counters.workers_stopped += 1
            self._retire(worker)
        self.handout.dispatch(now)
        self.scale(now)

    def _retire(self, worker: ProcessWorker) -> None:
        if self.active.get(worker.id) is worker and not worker.alive:
            del self.active[worker.id]
            worker.state = STOPPED
            self.gone.append(worker)
            if len(self.gone) > GONE_RECORDS_MAX:
                self.gone.popleft()
                self.gone_dropped += 1

    # --- shutdown -----------------------------------------------------------------------------------
    def kill_all(self) -> None:
        """SIGKILL every worker group at once and answer every worker's held polls."""
        sup = supervisor()
        for worker in self.active.values():
            if worker.alive or worker.pid in self._reaping:  # a group long gone may have a new owner
                sup.signal_group(worker.pid, signal.SIGKILL)
            self.handout.wake_polls(worker)

    async def stop_all(self, loop: asyncio.AbstractEventLoop) -> None:
        """SIGTERM every worker (its held polls answered so it exits at once), SIGKILL what is left after
        ``stop_grace``, and wait until every process of every group is gone."""
        now = loop.time()
        for worker in list(self.active.values()):
            if worker.alive:
                self._drain(worker, SHUTDOWN, now)
        deadline = now + self._stop_grace
        while self._poll_exits(loop.time()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        sup = supervisor()
        for worker in self.active.values():
            if worker.alive:
                sup.signal_group(worker.pid, signal.SIGKILL)
        deadline = loop.time() + SHUTDOWN_REAP_S
        while True:
            alive = self._poll_exits(loop.time())
            self._reaping = {pgid for pgid in self._reaping if not sup.reap_group(pgid)}
            if (not alive and not self._reaping) or loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        for pgid in self._reaping:
            log.error("worker process group %d still has processes after SIGKILL", pgid)
