"""Workers that take jobs from an endpoint's queue.

A worker pool is an interface (:class:`WorkerPool`): the simulated workers here are the first kind; a
later kind can hand jobs to unmodified RunPod worker processes over the worker protocol. Simulated
workers cold-start, run ``concurrency`` jobs at once, stop after ``idle_timeout`` above ``workers_min``,
crash (``mock_crash``: the platform retries the job once elsewhere and replaces the worker after a cold
start) and refresh (``mock_refresh``: restart with a cold start after the job). The scaler adds workers
as RunPod's do: ``queue_delay`` (when queued jobs have waited longer than ``value`` seconds; the first
worker of an empty endpoint starts at once) or ``request_count`` (``ceil((queued + running) / value)``).
Low-priority jobs never make the scaler add a worker. With ``recheck_when_full`` a worker that filled
its ``concurrency`` slots looks for new work only every that many seconds from the moment it filled up,
as the official SDK worker does (its job loop sleeps 1 s while full); by default a freed slot takes the
next job at once.
A job from an OpenAI chat or completion request runs the endpoint's simulated language model
(:mod:`loadtest.emulator.llm`): its first token after the prefill, then one token per decode draw, slowed by
the other jobs (sequences) in flight on the same worker.

No task per job: each running job holds one event of the endpoint's :class:`SimulatedTime` (its end, its
next stream chunk or its next token), applied in simulated-time order however late the loop is.
"""

from __future__ import annotations

import math
import string
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from loadtest.emulator import behaviour as bh
from loadtest.emulator.groundtruth import Counters
from loadtest.emulator.jobstore import COMPLETED, FAILED, IN_PROGRESS, TIMED_OUT, Job, JobStore
from loadtest.emulator.scaling import workers_to_start
from loadtest.emulator.simtime import Event, SimulatedTime
from loadtest.emulator_config import EndpointConfig

INITIALIZING = "initializing"
UP = "up"
UNHEALTHY = "unhealthy"
STOPPED = "stopped"

class WorkerStartError(RuntimeError):
    """An always-on worker could not start; the message says why (with the worker's own output)."""


CRASH_RETRIES = 1
"""How many times the platform re-runs a job whose worker crashed before failing it."""


def health_counts(*, idle: int, initializing: int, running: int, unhealthy: int) -> dict[str, int]:
    """The six ``/health`` worker counters; no emulated worker is ever "ready" (between initialised and
    idle) or "throttled"."""
    return {"idle": idle, "initializing": initializing, "ready": 0, "running": running, "throttled": 0,
            "unhealthy": unhealthy}


class WorkerPool(ABC):
    """What an endpoint needs from whatever runs its jobs.

    The endpoint applies its due simulated events (``EndpointRuntime.catch_up``) before every client
    request; ``release`` and ``notify_queued`` are called at the endpoint clock's present
    (``SimulatedTime.now``), the moment a pool should stamp the transitions they cause.
    """

    @abstractmethod
    def start(self) -> None:
        """Bring up the always-on workers."""

    @abstractmethod
    def notify_queued(self, now: float | None = None) -> None:
        """A job entered the queue: dispatch it or scale up."""

    @abstractmethod
    def release(self, job: Job) -> None:
        """A running job was taken away (cancelled, expired): stop working on it."""

    @abstractmethod
    def tick(self, now: float) -> None:
        """Periodic housekeeping (time-based scaling)."""

    @abstractmethod
    def health_workers(self) -> dict[str, int]:
        """The six ``/health`` worker counters."""

    @abstractmethod
    def total_workers(self) -> int:
        """Workers alive now, whatever their state."""

    def worker_counts(self) -> dict[str, int]:
        """Workers by state, for the ground truth."""
        counts = self.health_workers()
        return {
            "initializing": counts["initializing"], "idle": counts["idle"], "running": counts["running"],
            "unhealthy": counts["unhealthy"], "total": self.total_workers(),
        }

    @abstractmethod
    def close(self) -> None:
        """Cancel every timer."""

    def lateness_snapshot(self) -> dict[str, object]:
        """How late job ends were noticed (simulated pools only)."""
        return {}

    def listening(self, url: str) -> None:  # noqa: B027 (a hook: most pools need nothing)
        """The emulator now serves at ``url`` (``http://HOST:PORT``): real workers need it to reach their
        routes, so a pool of processes starts them from here."""

    async def warm_up(self) -> None:  # noqa: B027 (a hook: simulated workers are warm at once)
        """Return once the always-on workers (``workers_min``) can take jobs; the emulator announces itself
        only then, so a run never measures their start-up. Raises ``WorkerStartError`` when one cannot."""

    async def aclose(self) -> None:
        """Stop for good, waiting for whatever must end first (worker processes); then :meth:`close`."""
        self.close()

    def real_workers_snapshot(self, origin: float) -> dict[str, object] | None:
        """The ground truth's ``real_workers`` section (pools of real worker processes only); times in ms
        since ``origin`` on the loop clock."""
        return None


class Lateness:
    """How late the loop ran job-end events (an emulator quality figure; reported timings do not include
    it): a histogram with bucket upper bounds in ms, and the maximum."""

    BOUNDS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 1000, float("inf"))

    def __init__(self) -> None:
        self.counts = [0] * len(self.BOUNDS_MS)
        self.max_ms = 0.0

    def record(self, seconds: float) -> None:
        ms = seconds * 1000
        if ms > self.max_ms:
            self.max_ms = ms
        for index, bound in enumerate(self.BOUNDS_MS):
            if ms <= bound:
                self.counts[index] += 1
                return

    def snapshot(self) -> dict[str, object]:
        labels = [f"<={b:g}" if b != float("inf") else ">1000" for b in self.BOUNDS_MS]
        return {"buckets_ms": dict(zip(labels, self.counts, strict=True)), "max_ms": round(self.max_ms, 3)}


class Worker:
    """One simulated worker."""

    __slots__ = (
        "available", "full_since", "id", "idle_since", "jobs", "recheck", "refresh_pending", "replaces", "state",
        "timer",
    )

    def __init__(self, worker_id: str) -> None:
        self.id = worker_id
        self.state = INITIALIZING
        self.jobs: set[Job] = set()
        self.idle_since = 0.0
        self.timer: Event | None = None
        self.refresh_pending = False
        self.replaces: Worker | None = None
        self.available = False
        self.full_since: float | None = None
        """When the worker last filled its slots (for ``recheck_when_full``)."""
        self.recheck: Event | None = None


class SimulatedWorkers(WorkerPool):
    """Workers simulated on the event loop, with the endpoint's timing and scaling configuration."""

    def __init__(
        self,
        config: EndpointConfig,
        store: JobStore,
        behaviour: bh.Behaviour,
        clock: SimulatedTime,
        counters: Counters,
        replan: Callable[[Job], tuple[float, bh.Plan | None]],
    ) -> None:
        self.config = config
        self.store = store
        self.behaviour = behaviour
        self.clock = clock
        self.loop = clock.loop
        self.counters = counters
        self.replan = replan
        self.concurrency = config.concurrency
        self.workers: dict[str, Worker] = {}
        self._available: list[Worker] = []
        self._live = 0  # INITIALIZING + UP
        self._initializing = 0
        self._stream_interval = None if config.stream_interval is None else float(config.stream_interval)
        self._recheck = None if config.recheck_when_full is None else float(config.recheck_when_full)
        self.lateness = Lateness()
        self._id_chars = string.ascii_lowercase + string.digits

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        # chosen: the always-on workers (workers_min) are warm when the emulator starts.
        now = self.clock.now
        for _ in range(self.config.workers_min):
            self._start_worker(now, warm=True)

    def close(self) -> None:
        for worker in self.workers.values():
            for event in (worker.timer, worker.recheck):
                if event is not None:
                    event.cancel()
        self.workers.clear()
        self._available.clear()

    # --- events ------------------------------------------------------------------------------------
    def notify_queued(self, now: float | None = None) -> None:
        if self._available:
            self._dispatch(self.clock.now if now is None else now)
        if self.store.in_queue and self._live < self.config.workers_max:
            self._scale(self.clock.now if now is None else now)

    def release(self, job: Job) -> None:
        worker = self.workers.get(job.worker_id or "")
        if worker is None or job not in worker.jobs:
            return
        worker.jobs.discard(job)
        self._after_change(worker, self.clock.now)

    def tick(self, now: float) -> None:
        if self.store.in_queue:
            self._dispatch(now)
            self._scale(now)

    # --- dispatch and execution --------------------------------------------------------------------
    # Simulated time: every event happens at the moment it was due (``at``), not when the loop got round
    # to it, and events are applied in the order of those moments (SimulatedTime), so a busy loop delays
    # when a change becomes visible but never the timings or the order it reports.
    def _dispatch(self, at: float) -> None:
        available = self._available
        store = self.store
        if not available or not store.in_queue:
            return
        while available:
            job = store.pop_next()
            if job is None:
                return
            start = at if at > job.queued_at else job.queued_at
            if job.expire_at <= start:
                store.expire(job)
                continue
            self._run(available[-1], job, start)

    def _run(self, worker: Worker, job: Job, start: float) -> None:
        self.store.start(job, worker.id, start)
        worker.jobs.add(job)
        if len(worker.jobs) >= self.concurrency:
            self._set_available(worker, False)
            worker.full_since = start
        plan = job.plan
        if plan is not None and plan.progress:
            for index, value in enumerate(plan.progress):
                self.clock.at(start + plan.progress_wait * (index + 1), self._on_progress, job, job.attempt, value)
        if plan is not None and plan.chunks is not None:
            self._schedule_chunk(worker, job)
            return
        if plan is not None and plan.generation is not None and plan.outcome == bh.COMPLETE:
            self._schedule_token(worker, job, start + plan.generation.prefill_s)
            return
        self._schedule_end(worker, job, start + min(job.exec_s, job.exec_timeout))

    def _schedule_end(self, worker: Worker, job: Job, end: float) -> None:
        """The job's end event at ``end``, or at its TTL deadline when that comes first (then it expires)."""
        if end > job.ttl_deadline:
            end = job.ttl_deadline
        job.timer = self.clock.at(end, self._on_end, worker, job, job.attempt, end)

    def _on_progress(self, job: Job, attempt: int, value: Any) -> None:
        """A ``progress_update``: the running job's output shows it until the job ends."""
        if job.attempt == attempt and job.status == IN_PROGRESS and not job.expired:
            self.store.progress(job, value)

    def _chunk_time(self, job: Job, index: int, count: int) -> float:
        started = job.started_at or 0.0
        if self._stream_interval is None:
            return started + job.exec_s * (index + 1) / count
        return started + job.exec_s + index * self._stream_interval

    def _stream_end(self, job: Job, count: int) -> float:
        """When a streaming job of ``count`` chunks ends (its last chunk), before any timeout."""
        started = job.started_at or 0.0
        return self._chunk_time(job, count - 1, count) if count else started + job.exec_s

    def _schedule_chunk(self, worker: Worker, job: Job) -> None:
        chunks = job.plan.chunks if job.plan is not None else None
        count = len(chunks) if chunks else 0
        timeout_at = (job.started_at or 0.0) + job.exec_timeout
        if job.chunks_sent >= count:
            self._schedule_end(worker, job, min(self._stream_end(job, count), timeout_at))
            return
        when = self._chunk_time(job, job.chunks_sent, count)
        if when > timeout_at or when > job.ttl_deadline:
            self._schedule_end(worker, job, timeout_at)
            return
        job.timer = self.clock.at(when, self._on_chunk, worker, job, job.attempt)

    def _on_chunk(self, worker: Worker, job: Job, attempt: int) -> None:
        if job.attempt != attempt or job.status != IN_PROGRESS or job.expired or job.plan is None:
            return
        job.timer = None
        chunks = job.plan.chunks or []
        self.store.add_chunk(job, chunks[job.chunks_sent])
        if job.chunks_sent >= len(chunks):
            self._on_end(worker, job, attempt, self._stream_end(job, len(chunks)))
        else:
            self._schedule_chunk(worker, job)

    def _schedule_token(self, worker: Worker, job: Job, when: float) -> None:
        """A generating job's next token at ``when``, unless its execution timeout or TTL comes first."""
        timeout_at = (job.started_at or when) + job.exec_timeout
        if when > timeout_at or when > job.ttl_deadline:
            self._schedule_end(worker, job, timeout_at)
            return
        job.timer = self.clock.at(when, self._on_token, worker, job, job.attempt)

    def _on_token(self, worker: Worker, job: Job, attempt: int) -> None:
        """A language-model job emits its next token now: its chunks go to the job's stream at once, and
        the next token is due one decode later, slowed by the sequences in flight on this worker."""
        plan = job.plan
        if job.attempt != attempt or job.status != IN_PROGRESS or job.expired or plan is None:
            return
        generation = plan.generation
        if generation is None:
            return
        job.timer = None
        now = self.clock.now
        for chunk in generation.emit(now, job.id):
            self.store.add_chunk(job, chunk)
        if generation.finished:
            self._on_end(worker, job, attempt, now)
        else:
            self._schedule_token(worker, job, now + generation.next_token_after(len(worker.jobs)))

    def _on_end(self, worker: Worker, job: Job, attempt: int, end: float) -> None:
        """The simulated handler finished (or hit the execution timeout) at ``end``."""
        if job.attempt != attempt or job.status != IN_PROGRESS or job.expired:
            return
        job.timer = None
        self.lateness.record(self.loop.time() - end)
        if end >= job.ttl_deadline:
            self.store.expire(job)  # releases the worker through on_release
            return
        plan = job.plan
        started = job.started_at or end
        planned = job.exec_s
        if plan is not None and plan.chunks is not None:
            planned = self._stream_end(job, len(plan.chunks)) - started
        if plan is not None and plan.generation is not None and plan.outcome == bh.COMPLETE:
            generation = plan.generation
            if generation.finished:
                self._finish(worker, job, COMPLETED, end, generation.final_output(job.id), None)
            else:  # the execution timeout came before the last token
                self._finish(worker, job, TIMED_OUT, end, None, bh.timeout_error(job.exec_timeout))
        elif planned > job.exec_timeout:
            self._finish(worker, job, TIMED_OUT, end, None, bh.timeout_error(job.exec_timeout))
        elif plan is None:
            self._finish(worker, job, COMPLETED, end, bh.DEFAULT_OUTPUT, None)
        elif plan.outcome == bh.COMPLETE:
            if plan.refresh:
                worker.refresh_pending = True
                self._set_available(worker, False)
            self._finish(worker, job, COMPLETED, end, plan.output, None)
        elif plan.outcome == bh.FAIL:
            self._finish(worker, job, FAILED, end, plan.output, plan.error)
        else:
            self._crash(worker, end)

    def _finish(self, worker: Worker, job: Job, status: str, end: float, output: Any, error: str | None) -> None:
        worker.jobs.discard(job)
        self.store.finish(job, status, end, output, error)
        self._after_change(worker, end)

    def _crash(self, worker: Worker, at: float) -> None:
        """The worker process died: its jobs are retried once elsewhere (then FAILED); it is replaced."""
        self.counters.workers_crashed += 1
        self._set_available(worker, False)
        self._set_state(worker, UNHEALTHY)
        jobs, worker.jobs = list(worker.jobs), set()
        for job in jobs:
            if job.retries < CRASH_RETRIES:
                self.store.requeue_after_crash(job, at, self.replan(job))
            else:
                self.store.finish(job, FAILED, at, None, bh.crash_error(job.retries, worker.id))
        replacement = self._start_worker(at, warm=False)
        replacement.replaces = worker
        self._dispatch(at)
        self._scale(at)

    # --- worker state ------------------------------------------------------------------------------
    def _after_change(self, worker: Worker, at: float) -> None:
        """A worker lost a job at ``at``: refresh it, or offer its free slot, then keep it or let it idle."""
        if worker.state != UP:
            return
        if worker.refresh_pending:
            if not worker.jobs:
                self._restart(worker, at)
            return
        if worker.full_since is not None and self._recheck is not None:
            # As the SDK worker: while full it sleeps, and looks for work again only at its next re-check.
            if worker.recheck is None:
                period = self._recheck
                ticks = max(1, math.ceil((at - worker.full_since) / period - 1e-9))
                worker.recheck = self.clock.at(worker.full_since + ticks * period, self._on_recheck, worker)
            return
        worker.full_since = None
        self._set_available(worker, True)
        self._dispatch(at)
        if not worker.jobs and worker.state == UP:
            worker.idle_since = at
            if worker.timer is not None:
                worker.timer.cancel()
            worker.timer = self.clock.at(at + self.config.idle_timeout, self._on_idle, worker, at)

    def _on_recheck(self, worker: Worker) -> None:
        """A full worker's re-check came round: its freed slots are offered to the queue from now on."""
        worker.recheck = None
        if worker.state != UP or self.workers.get(worker.id) is not worker:
            return
        worker.full_since = None
        self._after_change(worker, self.clock.now)

    def _restart(self, worker: Worker, at: float) -> None:
        self._set_available(worker, False)
        self._set_state(worker, INITIALIZING)
        for event in (worker.timer, worker.recheck):
            if event is not None:
                event.cancel()
        worker.recheck = None
        worker.full_since = None
        ready = at + self.behaviour.cold_start()
        worker.timer = self.clock.at(ready, self._on_ready, worker, ready)

    def _start_worker(self, at: float, warm: bool) -> Worker:
        rng = self.behaviour.id_rng
        worker_id = "".join(rng.choice(self._id_chars) for _ in range(14))
        worker = Worker(worker_id)
        self.workers[worker_id] = worker
        self._live += 1
        self._initializing += 1
        self.counters.workers_started += 1
        if warm:
            self._on_ready(worker, at)
        else:
            ready = at + self.behaviour.cold_start()
            worker.timer = self.clock.at(ready, self._on_ready, worker, ready)
        return worker

    def _on_ready(self, worker: Worker, at: float) -> None:
        if worker.state != INITIALIZING or self.workers.get(worker.id) is not worker:
            return
        worker.timer = None
        worker.refresh_pending = False
        self._set_state(worker, UP)
        old = worker.replaces
        if old is not None:
            worker.replaces = None
            if self.workers.get(old.id) is old:
                del self.workers[old.id]
                old.state = STOPPED
        self._after_change(worker, at)

    def _on_idle(self, worker: Worker, idle_since: float) -> None:
        if worker.state != UP or worker.jobs or worker.idle_since != idle_since:
            return
        worker.timer = None
        if self._live <= self.config.workers_min:
            return
        self._set_available(worker, False)
        self._set_state(worker, STOPPED)
        del self.workers[worker.id]
        self.counters.workers_stopped += 1

    def _set_state(self, worker: Worker, state: str) -> None:
        old = worker.state
        if old == state:
            return
        live_before = old in (INITIALIZING, UP)
        live_after = state in (INITIALIZING, UP)
        self._live += int(live_after) - int(live_before)
        self._initializing += int(state == INITIALIZING) - int(old == INITIALIZING)
        worker.state = state

    def _set_available(self, worker: Worker, available: bool) -> None:
        available = available and worker.state == UP and not worker.refresh_pending
        available = available and len(worker.jobs) < self.concurrency
        if available == worker.available:
            return
        worker.available = available
        if available:
            self._available.append(worker)
        else:
            self._available.remove(worker)

    # --- scaling -----------------------------------------------------------------------------------
    def _scale(self, now: float) -> None:
        count = workers_to_start(self.config, self.store, self._live, self._initializing, self.concurrency, now)
        for _ in range(count):
            self._start_worker(now, warm=False)

    # --- reporting ---------------------------------------------------------------------------------
    def lateness_snapshot(self) -> dict[str, object]:
        return self.lateness.snapshot()

    def health_workers(self) -> dict[str, int]:
        idle = running = initializing = unhealthy = 0
        for worker in self.workers.values():
            if worker.state == UP:
                if worker.jobs:
                    running += 1
                else:
                    idle += 1
            elif worker.state == INITIALIZING:
                initializing += 1
            elif worker.state == UNHEALTHY:
                unhealthy += 1
        # chosen: no simulated worker is ever "ready" (between initialised and idle) or "throttled".
        return health_counts(idle=idle, initializing=initializing, running=running, unhealthy=unhealthy)

    def total_workers(self) -> int:
        return len(self.workers)
