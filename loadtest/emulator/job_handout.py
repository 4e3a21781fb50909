"""Jobs between an endpoint's queue and its real worker processes: hand-out, take-away and results.

- *Hand-out*: a worker's job-take waits in one line with every other (first come, first served); a take
  that finds the queue empty is held (:class:`Poll`) and answered the moment a job is queued. A job handed
  out starts in the store and carries its execution-timeout timer.
- *Take-away*: a job that is no longer the worker's (execution timeout, cancel, TTL expiry) ends here and its
  id is queued for the worker's job-stop poll; what the worker still posts for it is late, and ignored.
- *Results*: progress, stream chunks and the final job-done post end up in the store; a result too large
  for the API completes the job without output, as on the platform.
- *A worker gone*: the jobs it held are re-queued once (then FAILED) when it crashed, re-queued otherwise.

Nothing here starts or stops a process: that is :mod:`loadtest.emulator.worker_supervision`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Mapping

from loadtest.emulator import behaviour as bh
from loadtest.emulator.jobstore import COMPLETED, FAILED, IN_PROGRESS, TIMED_OUT, Job, JobStore
from loadtest.emulator.worker_process import ProcessWorker
from loadtest.emulator.worker_timings import WorkerTimings
from loadtest.emulator.workers import CRASH_RETRIES

DRAIN_POLL_HOLD_S = 0.5
"""A stopping worker's polls are answered 204 this soon (not at once: an immediate 204 makes the SDK ask
again at once, about 1,400 times a second)."""


class Poll:
    """A held job-take: resolved with the jobs handed out, or None (nothing for it)."""

    __slots__ = ("count", "future", "request", "worker")

    def __init__(self, worker: ProcessWorker, future: asyncio.Future[list[Job] | None], count: int,
                 request: object) -> None:
        self.worker = worker
        self.future = future
        self.count = count
        self.request = request

    def gone(self) -> bool:
        """The worker hung up (its connection closed): hand it nothing."""
        if self.future.done():
            return True
        transport = getattr(self.request, "transport", None)
        return self.request is not None and (transport is None or transport.is_closing())


class JobHandout:
    """Hands an endpoint's queued jobs to its worker processes and takes in what they send back."""

    def __init__(self, store: JobStore, loop: asyncio.AbstractEventLoop, timings: WorkerTimings) -> None:
        self.store = store
        self.loop = loop
        self.timings = timings
        self.takes: deque[Poll] = deque()
        """Held job-takes, oldest first."""
        self.closing = False
        """The pool is shutting down: no job goes out, every poll is answered soon."""
        self.per_worker = 1
        """The most jobs one worker has held at once (what the scaler counts a worker as taking)."""
        self.lost_handouts = 0
        """Jobs handed out whose answer never reached the worker (it hung up): back in the queue."""

    # --- hand-out -----------------------------------------------------------------------------------
    def take_now(self, worker: ProcessWorker, count: int, now: float) -> list[Job]:
        """Jobs for a take that just arrived: what is left once the takes already waiting were served."""
        if not worker.serving or self.closing or not self.store.in_queue:
            return []
        if self.takes:
            self.dispatch(now)  # first come, first served (it also drops takes whose worker hung up)
            if self.takes:
                return []
        return self._hand_out(worker, count, now)

    def wait_take(self, worker: ProcessWorker, count: int, request: object) -> Poll:
        """Hold a take in line until a job comes (or the route's hold runs out)."""
        poll = Poll(worker, self.loop.create_future(), count, request)
        self.takes.append(poll)
        return poll

    def forget_take(self, poll: Poll) -> None:
        """A held take was answered (or abandoned): it no longer waits in line."""
        with contextlib.suppress(ValueError):  # already taken out by a hand-out
            self.takes.remove(poll)

    def poll_hold(self, worker: ProcessWorker, hold: float) -> float:
        """How long to hold this worker's poll when there is nothing for it."""
        return DRAIN_POLL_HOLD_S if not worker.serving or self.closing else hold

    def dispatch(self, now: float) -> None:
        """Serve the held takes in order while jobs are queued (dropping those whose worker is gone)."""
        takes = self.takes
        while takes and self.store.in_queue:
            poll = takes[0]
            if poll.gone() or not poll.worker.serving:
                takes.popleft()
                if not poll.future.done():
                    poll.future.set_result(None)
                continue
            jobs = self._hand_out(poll.worker, poll.count, now)
            if not jobs:
                return
            takes.popleft()
            poll.future.set_result(jobs)

    def _hand_out(self, worker: ProcessWorker, count: int, now: float) -> list[Job]:
        store = self.store
        jobs: list[Job] = []
        while len(jobs) < count:
            job = store.pop_next()
            if job is None:
                break
            if job.expire_at <= now:
                store.expire(job)
                continue
            store.start(job, worker.id, now)
            worker.jobs[job.id] = job
            worker.taken += 1
            job.timer = self.loop.call_at(now + job.exec_timeout, self._on_timeout, worker, job, job.attempt)
            jobs.append(job)
        if jobs:
            held = len(worker.jobs)
            worker.held_max = max(worker.held_max, held)
            self.per_worker = max(self.per_worker, held)
        return jobs

    def handout_failed(self, worker: ProcessWorker, jobs: list[Job], now: float) -> None:
        """The jobs could not be written to the worker (it hung up): back to the queue."""
        for job in jobs:
            if worker.jobs.get(job.id) is job and job.status == IN_PROGRESS:
                del worker.jobs[job.id]
                self.lost_handouts += 1
                self.store.requeue_after_crash(job, now, (job.exec_s, None))
        worker.jobs_changed(now)

    # --- take-away ----------------------------------------------------------------------------------
    def _on_timeout(self, worker: ProcessWorker, job: Job, attempt: int) -> None:
        if job.attempt != attempt or job.status != IN_PROGRESS or worker.jobs.get(job.id) is not job:
            return
        at = (job.started_at or self.loop.time()) + job.exec_timeout
        job.timer = None
        self.take_away(worker, job, at)
        self.store.finish(job, TIMED_OUT, at, None, bh.timeout_error(job.exec_timeout))
        self.timings.job_ended(job)

    def take_away(self, worker: ProcessWorker, job: Job, now: float) -> None:
        """The job is no longer the worker's (stopped, timed out, cancelled, expired): tell it on job-stop."""
        del worker.jobs[job.id]
        worker.last_chunk_at.pop(job.id, None)
        worker.zombies.add(job.id)
        worker.stop_ids.append(job.id)
        self.wake_polls(worker, takes=False)
        worker.jobs_changed(now)

    def stop_ids(self, worker: ProcessWorker) -> list[str]:
        """The ids of the jobs taken away from the worker since it last asked (its job-stop answer)."""
        ids, worker.stop_ids = worker.stop_ids, []
        return ids

    def wait_stop(self, worker: ProcessWorker) -> asyncio.Future[object]:
        """Hold a job-stop poll until a job is taken away (or the route's hold runs out)."""
        future: asyncio.Future[object] = self.loop.create_future()
        worker.stop_polls.append(future)
        return future

    def wake_polls(self, worker: ProcessWorker, takes: bool = True) -> None:
        """Answer the worker's held polls now (stop polls read its stop ids; takes get nothing)."""
        polls, worker.stop_polls = worker.stop_polls, []
        for future in polls:
            if not future.done():
                future.set_result(True)
        if not takes:
            return
        for poll in self.takes:
            if poll.worker is worker and not poll.future.done():
                poll.future.set_result(None)

    # --- results ------------------------------------------------------------------------------------
    def progress(self, worker: ProcessWorker, job_id: str, value: object) -> None:
        job = worker.jobs.get(job_id)
        if job is None:
            worker.late_progress += 1  # normal: the SDK posts progress from a thread, often after the result
            return
        self.store.progress(job, value)

    def chunk(self, worker: ProcessWorker, job_id: str, value: object, now: float) -> None:
        job = worker.jobs.get(job_id)
        if job is None:
            worker.late_chunks += 1
            return
        last = worker.last_chunk_at.get(job_id)
        if last is None:
            self.timings.first_chunk.add((now - (job.started_at or now)) * 1000)
        else:
            self.timings.chunk_gap.add((now - last) * 1000)
        worker.last_chunk_at[job_id] = now
        worker.chunks += 1
        for piece in bh.split_chunk(value):
            self.store.add_chunk(job, piece)

    def result(self, worker: ProcessWorker, job_id: str, payload: Mapping[str, object], is_stream: bool,
               now: float) -> bool:
        """A final job-done post; False when the job is no longer this worker's (a late result, ignored)."""
        job = worker.jobs.get(job_id)
        if job is None:
            worker.late_results += 1
            worker.zombies.discard(job_id)
            return False
        del worker.jobs[job_id]
        worker.last_chunk_at.pop(job_id, None)
        worker.finished += 1
        output = payload.get("output")
        if is_stream and output == []:
            output = None  # chosen (spec open question 3): a generator job without aggregation has no output
        error = payload.get("error")
        if error:
            message = error if isinstance(error, str) else json.dumps(error)
            self.store.finish(job, FAILED, now, output, message)
        else:
            self.store.finish(job, COMPLETED, now, output, None)
        self.timings.job_ended(job)
        worker.jobs_changed(now)
        return True

    def oversized_result(self, worker: ProcessWorker, job_id: str, now: float) -> None:
        """A job-done body over the result limit: the platform answers 400 and the job shows COMPLETED
        without output (runpod-python #309)."""
        job = worker.jobs.pop(job_id, None)
        if job is None:
            worker.late_results += 1
            return
        worker.finished += 1
        self.store.finish(job, COMPLETED, now, None, None)
        self.timings.job_ended(job)
        worker.jobs_changed(now)

    # --- a worker gone ------------------------------------------------------------------------------
    def settle_exited(self, worker: ProcessWorker, held: list[Job], crashed: bool, now: float) -> None:
        """The jobs an exited worker held: a crash re-queues each once more (up to :data:`CRASH_RETRIES`),
        then fails it; a stopping worker that exits holding jobs lost them, and the platform retries them."""
        for job in held:
            if crashed and job.retries >= CRASH_RETRIES:
                self.store.finish(job, FAILED, now, None, bh.crash_error(job.retries, worker.id))
                self.timings.job_ended(job)
            else:
                self.store.requeue_after_crash(job, now, (job.exec_s, None))

    def close(self) -> None:
        """Answer every held take with nothing."""
        self.closing = True
        for poll in self.takes:
            if not poll.future.done():
                poll.future.set_result(None)
        self.takes.clear()
