"""Jobs of one endpoint and the state machine: the one place where a job changes status.

Every transition goes through a method of :class:`JobStore`, which checks the source state and keeps the
counters (``/health`` and the ground truth) in step, so no job can reach two terminal states and the
counters always add up::

    submitted + retried_manual == in_queue + in_progress + sum(final) + expired_unfinished

Jobs are compact (``__slots__``); the queue is a deque with lazy removal (a cancelled or expired job stays
in the deque and is skipped at pickup), so every queue operation is O(1). Expiry (TTL and result
retention) is indexed by deadline: one FIFO per lifetime length (deadlines in push order are sorted) and
a heap for rarely used lengths, swept periodically and checked again on every lookup.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from loadtest.contract import RETRYABLE_STATUSES, TERMINAL_STATUSES, JobStatus
from loadtest.emulator.behaviour import Plan
from loadtest.emulator.groundtruth import Counters

IN_QUEUE = JobStatus.IN_QUEUE.value
IN_PROGRESS = JobStatus.IN_PROGRESS.value
COMPLETED = JobStatus.COMPLETED.value
FAILED = JobStatus.FAILED.value
CANCELLED = JobStatus.CANCELLED.value
TIMED_OUT = JobStatus.TIMED_OUT.value
_FINISHED_BY_WORKER = frozenset({COMPLETED, FAILED, TIMED_OUT})
TERMINAL: frozenset[str] = frozenset(s.value for s in TERMINAL_STATUSES)
RETRYABLE: frozenset[str] = frozenset(s.value for s in RETRYABLE_STATUSES)


class TransitionError(RuntimeError):
    """An illegal state change was attempted (a bug, never a client error)."""


class Job:
    """One job. Times are loop-clock seconds; ``delay_ms``/``exec_ms`` are what the API reports."""

    __slots__ = (
        "attempt", "body", "chunks", "chunks_sent", "delay_ms", "error", "exec_ms", "exec_s", "exec_timeout",
        "expire_at", "expired", "finished_at", "id", "low_priority", "output", "plan", "queued_at", "retention",
        "retries", "started_at", "status", "submitted_at", "timer", "ttl_deadline", "via", "waiters", "webhook",
        "worker_id",
    )

    def __init__(
        self, job_id: str, via: str, body: bytes | None, now: float, exec_s: float, plan: Plan | None,
        exec_timeout: float, ttl_deadline: float, retention: float, webhook: str | None = None,
        low_priority: bool = False,
    ) -> None:
        self.id = job_id
        self.via = via
        self.status = IN_QUEUE
        self.body = body
        self.plan = plan
        self.exec_s = exec_s
        self.exec_timeout = exec_timeout
        self.ttl_deadline = ttl_deadline
        self.retention = retention
        self.webhook = webhook
        self.low_priority = low_priority
        self.submitted_at = now
        self.queued_at = now
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.delay_ms: int | None = None
        self.exec_ms: int | None = None
        self.worker_id: str | None = None
        self.output: Any = None
        self.error: str | None = None
        self.retries = 0
        self.expire_at = ttl_deadline
        self.expired = False
        self.timer: Any = None
        self.waiters: list[Any] | None = None
        self.chunks: list[Any] | None = None
        self.chunks_sent = 0
        self.attempt = 0

    def view(self) -> dict[str, Any]:
        """The job object as ``/status`` answers it: only the fields that apply to its state."""
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.delay_ms is not None:
            out["delayTime"] = self.delay_ms
        if self.exec_ms is not None:
            out["executionTime"] = self.exec_ms
        if self.worker_id is not None:
            out["workerId"] = self.worker_id
        if self.output is not None and self.status != IN_QUEUE:
            out["output"] = self.output
        if self.error is not None:
            out["error"] = self.error
        if self.retries:
            out["retries"] = self.retries
        return out


class ExpiryIndex:
    """Deadlines of jobs, cheap to add and to sweep; a superseded entry is recognised and skipped."""

    _FIFO_LENGTHS_MAX = 32

    def __init__(self) -> None:
        self._fifos: dict[float, tuple[deque[Job], deque[float]]] = {}
        self._heap: list[tuple[float, int, Job]] = []
        self._seq = itertools.count()

    def add(self, job: Job, deadline: float, length: float | None) -> None:
        """Index ``job`` to expire at ``deadline``, ``length`` seconds after now (None: not in step with
        other deadlines, e.g. a TTL kept across a retry)."""
        fifo = None if length is None else self._fifos.get(length)
        if fifo is None and length is not None and len(self._fifos) < self._FIFO_LENGTHS_MAX:
            fifo = self._fifos[length] = (deque(), deque())
        if fifo is None:
            heapq.heappush(self._heap, (deadline, next(self._seq), job))
        else:
            fifo[0].append(job)
            fifo[1].append(deadline)

    def due(self, now: float) -> Iterator[Job]:
        """Jobs whose current deadline has passed (each entry looked at once)."""
        for jobs, deadlines in self._fifos.values():
            while deadlines and deadlines[0] <= now:
                deadline = deadlines.popleft()
                job = jobs.popleft()
                if job.expire_at == deadline and not job.expired:
                    yield job
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, job = heapq.heappop(heap)
            if job.expire_at == deadline and not job.expired:
                yield job

    def clear(self) -> None:
        self._fifos.clear()
        self._heap.clear()


class JobStore:
    """All jobs of one endpoint, the queue, and the transitions between states."""

    def __init__(self, counters: Counters, records_max: int) -> None:
        self.counters = counters
        self.jobs: dict[str, Job] = {}
        self.queue: deque[Job] = deque()
        self.low_queue: deque[Job] = deque()
        self.in_queue = 0
        self.in_queue_low = 0
        self.in_progress = 0
        self.completed = 0
        self.failed = 0
        self.exec_ms_total = 0
        self.records: deque[Job] = deque(maxlen=records_max or None)
        self.records_max = records_max
        self.records_total = 0
        self.expiry = ExpiryIndex()
        self.on_release: Callable[[Job], None] = lambda job: None
        """Called when a job leaves IN_PROGRESS other than by its worker (cancel, expiry)."""
        self.on_terminal: Callable[[Job], None] = lambda job: None
        """Called once per terminal transition (webhooks)."""

    # --- lookups -----------------------------------------------------------------------------------
    def get(self, job_id: str, now: float) -> Job | None:
        """The job, or None when unknown or expired (an expired job is removed right here)."""
        job = self.jobs.get(job_id)
        if job is not None and job.expire_at <= now:
            self.expire(job)
            return None
        return job

    def pop_next(self) -> Job | None:
        """The next queued job (normal priority first), still IN_QUEUE; None when none is waiting."""
        for queue in (self.queue, self.low_queue):
            while queue:
                job = queue.popleft()
                if job.status == IN_QUEUE and not job.expired:
                    return job
        return None

    def oldest_waits(self, now: float, older_than: float, limit: int) -> int:
        """How many normal-priority queued jobs have waited longer than ``older_than`` (at most ``limit``)."""
        count = 0
        for job in self.queue:
            if count >= limit or now - job.queued_at <= older_than:
                break
            if job.status == IN_QUEUE and not job.expired:
                count += 1
        return count

    # --- transitions -------------------------------------------------------------------------------
    def add(self, job: Job, ttl_length: float) -> None:
        """A new job enters the queue."""
        self.jobs[job.id] = job
        self._enqueue(job)
        self.counters.submitted[job.via] += 1
        self.expiry.add(job, job.expire_at, ttl_length)
        if self.records_max:
            self.records.append(job)  # a bounded deque: the oldest record falls out by itself
            self.records_total += 1

    def _enqueue(self, job: Job) -> None:
        if job.low_priority:
            self.low_queue.append(job)
            self.in_queue_low += 1
        else:
            self.queue.append(job)
        self.in_queue += 1

    def _leave_queue(self, job: Job) -> None:
        self.in_queue -= 1
        if job.low_priority:
            self.in_queue_low -= 1

    def start(self, job: Job, worker_id: str, now: float) -> None:
        """IN_QUEUE -> IN_PROGRESS: a worker picked the job up."""
        self._require(job, IN_QUEUE)
        self._leave_queue(job)
        self.in_progress += 1
        job.status = IN_PROGRESS
        job.started_at = now
        job.worker_id = worker_id
        job.delay_ms = round((now - job.queued_at) * 1000)
        job.attempt += 1
        self._notify(job)

    def finish(self, job: Job, status: str, now: float, output: Any = None, error: str | None = None) -> None:
        """IN_PROGRESS -> COMPLETED | FAILED | TIMED_OUT, reported by the job's worker."""
        self._require(job, IN_PROGRESS)
        if status not in _FINISHED_BY_WORKER:
            raise TransitionError(f"a worker cannot finish a job as {status}")
        self.in_progress -= 1
        job.output = output
        job.error = error
        self._terminal(job, status, now)

    def cancel(self, job: Job, now: float) -> bool:
        """IN_QUEUE | IN_PROGRESS -> CANCELLED; False (nothing changed) when the job already finished."""
        if job.status == IN_QUEUE:
            self._leave_queue(job)
        elif job.status == IN_PROGRESS:
            self.in_progress -= 1
            self.on_release(job)
        else:
            return False
        self._terminal(job, CANCELLED, now)
        return True

    def purge(self, now: float) -> int:
        """Every queued job -> CANCELLED (running jobs are untouched); how many were removed."""
        removed = 0
        for queue in (self.queue, self.low_queue):
            while queue:
                job = queue.popleft()
                if job.status == IN_QUEUE and not job.expired:
                    self._leave_queue(job)
                    self._terminal(job, CANCELLED, now)
                    removed += 1
        self.counters.purged += removed
        return removed

    def retry(self, job: Job, now: float, plan: tuple[float, Plan | None]) -> None:
        """FAILED | TIMED_OUT -> IN_QUEUE (``/retry``): same id, previous output removed."""
        if job.status not in RETRYABLE:
            raise TransitionError(f"job {job.id} is {job.status}; only FAILED or TIMED_OUT can be retried")
        self.counters.retried_manual += 1
        self._requeue(job, now, plan)

    def requeue_after_crash(self, job: Job, now: float, plan: tuple[float, Plan | None]) -> None:
        """IN_PROGRESS -> IN_QUEUE: the platform retries a job whose worker died."""
        self._require(job, IN_PROGRESS)
        self.in_progress -= 1
        self.counters.retried_auto += 1
        self._requeue(job, now, plan)

    def _requeue(self, job: Job, now: float, plan: tuple[float, Plan | None]) -> None:
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        job.status = IN_QUEUE
        job.retries += 1
        job.exec_s, job.plan = plan
        job.output = job.error = None
        job.delay_ms = job.exec_ms = None
        job.worker_id = None
        job.started_at = job.finished_at = None
        job.chunks = None
        job.chunks_sent = 0
        job.queued_at = now
        if job.expire_at != job.ttl_deadline:
            job.expire_at = job.ttl_deadline
            self.expiry.add(job, job.expire_at, None)
        self._enqueue(job)
        self._notify(job)

    def expire(self, job: Job) -> None:
        """Remove a job whose TTL or retention ran out: from now on it is unknown (404)."""
        if job.expired:
            return
        if job.status == IN_QUEUE:
            self._leave_queue(job)
            self.counters.expired_unfinished += 1
        elif job.status == IN_PROGRESS:
            self.in_progress -= 1
            self.counters.expired_unfinished += 1
            self.on_release(job)
        else:
            self.counters.expired_results += 1
        job.expired = True
        self.jobs.pop(job.id, None)
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        job.body = job.plan = job.chunks = None
        job.output = None
        self._notify(job)

    def set_retention(self, job: Job, seconds: float, now: float) -> None:
        """``?ttl=``: a finished job is removed ``seconds`` from now; a live one keeps it for later."""
        job.retention = seconds
        if job.finished_at is not None:
            job.expire_at = min(job.ttl_deadline, now + seconds)
            self.expiry.add(job, job.expire_at, None)

    def sweep(self, now: float) -> int:
        """Expire every job whose deadline has passed; how many."""
        count = 0
        for job in list(self.expiry.due(now)):
            self.expire(job)
            count += 1
        return count

    def _terminal(self, job: Job, status: str, now: float) -> None:
        job.status = status
        job.finished_at = now
        if job.started_at is not None:
            job.exec_ms = round((now - job.started_at) * 1000)
            self.exec_ms_total += job.exec_ms
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None
        if status == COMPLETED:
            self.completed += 1
        elif status != CANCELLED:
            self.failed += 1
        self.counters.final[status] += 1
        self._notify(job)
        self.on_terminal(job)  # webhooks read the input from the body, the ground truth the plan: before both go
        job.plan = None
        if status not in RETRYABLE:
            job.body = None  # only a retry would need the input again
        expire_at = now + job.retention
        if expire_at < job.ttl_deadline:
            job.expire_at = expire_at
            self.expiry.add(job, expire_at, job.retention)

    def progress(self, job: Job, value: Any) -> None:
        """A running job reported progress: ``/status`` shows it as the output until the job ends."""
        if job.status == IN_PROGRESS:
            job.output = value
            self._notify(job)

    def add_chunk(self, job: Job, chunk: Any) -> None:
        """A streaming job produced one chunk; it waits in the job's buffer until ``/stream`` drains it."""
        if job.chunks is None:
            job.chunks = []
        job.chunks.append(chunk)
        job.chunks_sent += 1
        self._notify(job)

    @staticmethod
    def drain(job: Job) -> list[Any]:
        """The chunks produced since the previous drain (each chunk is handed out once)."""
        chunks = job.chunks
        if not chunks:
            return []
        job.chunks = None
        return chunks

    def clear(self) -> None:
        """Forget every job (``/_emulator/reset``): wake waiters, cancel timers."""
        for job in self.jobs.values():
            if job.timer is not None:
                job.timer.cancel()
                job.timer = None
            job.expired = True
            self._notify(job)
        self.jobs.clear()
        self.queue.clear()
        self.low_queue.clear()
        self.records.clear()
        self.expiry.clear()

    # --- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _require(job: Job, status: str) -> None:
        if job.status != status or job.expired:
            raise TransitionError(f"job {job.id} is {job.status}{' (expired)' if job.expired else ''}, not {status}")

    @staticmethod
    def _notify(job: Job) -> None:
        waiters = job.waiters
        if waiters:
            job.waiters = None
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    @property
    def records_dropped(self) -> int:
        """Per-job records no longer kept (the oldest, beyond ``records_max``)."""
        return self.records_total - len(self.records)

    def health_jobs(self) -> dict[str, int]:
        """The ``/health`` job counters: completed/failed/retried cumulative, the others current."""
        return {
            "completed": self.completed,
            "failed": self.failed,
            "inProgress": self.in_progress,
            "inQueue": self.in_queue,
            "retried": self.counters.retried_manual + self.counters.retried_auto,
        }
