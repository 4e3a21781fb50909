"""The job flows of a scenario's mix, each telling one job's story as a :class:`JobRecord`.

A flow submits a job (``/run`` or ``/runsync``), follows it the way the scenario says (poll ``/status``,
drain ``/stream``, long-poll ``/status-sync``, cancel, retry) and records what it saw:

* ``delay_ms`` / ``execution_ms``: ``delayTime`` / ``executionTime`` exactly as the target reported them
  (a flow whose last answer lacked them, such as ``/stream``, asks ``/status`` once after the end);
* ``end_to_end_ms``: from just before the submission was sent to the arrival of the first answer that
  showed the job terminal; with polling this is late by up to ``observe_interval_ms`` (the pause that
  preceded that answer), recorded beside it; 0 when the target pushed the state (runsync, stream,
  status-sync);
* ``first_chunk_ms`` and ``chunk_gaps_ms`` for streams: chunks that arrive in the same ``/stream``
  answer were observed together, so a gap is measured between answers that brought chunks;
* ``final_status``, ``retries`` (``/retry`` calls) and ``throttled`` (429s met along the way).

Every accepted job is accounted for: a job is *opened* in the :class:`JobBook` as soon as the target
gives it an id and *closed* when recorded; when the run ends, flows record their job as ``IN_FLIGHT``
at their next pause, and :meth:`JobBook.close_remaining` records any the run cut off.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadtest import contract
from loadtest.contract import Op
from loadtest.distributions import draw
from loadtest.metrics.recorder import IN_FLIGHT, JobRecord, Recorder
from loadtest.queue_api.wire import ApiResult
from loadtest.scenario.model import (
    Flow,
    HealthFlow,
    LongPollFlow,
    PollSettings,
    PurgeQueueFlow,
    RetryFailedFlow,
    RunCancelFlow,
    RunPollFlow,
    RunStreamFlow,
    RunsyncFlow,
    StatusSyncFlow,
)
from loadtest.traffic.client import ApiClient
from loadtest.traffic.control import RunControl

NOT_FOUND = "NOT_FOUND"
"""Last-seen status of a job the target no longer knows (404: expired, purged)."""
MIN_EMPTY_LONG_POLL_PAUSE_S = 0.05
"""Pause after a long-poll that came back at once with nothing new, so a target that does not hold
requests is not hammered in a tight loop."""


class SpendingGuard:
    """Caps the jobs one process may submit (a real endpoint bills every job); unlimited when ``None``."""

    def __init__(self, max_jobs: int | None, on_reached: Callable[[], object] = lambda: None) -> None:
        self.max_jobs = max_jobs
        self.used = 0
        self.refused = 0
        self._on_reached = on_reached

    def take(self) -> bool:
        if self.max_jobs is not None and self.used >= self.max_jobs:
            self.refused += 1
            if self.refused == 1:
                self._on_reached()
            return False
        self.used += 1
        return True

    def give_back(self) -> None:
        """The submission was refused (429, error): it did not create a job."""
        self.used -= 1


class HealthGate:
    """Lets one ``/health`` sample per interval through, process-wide."""

    def __init__(self) -> None:
        self._last = -float("inf")

    def due(self, every: float) -> bool:
        now = time.monotonic()
        if now - self._last < every * 0.9:  # a little early is fine: the sampler's own timer wobbles
            return False
        self._last = now
        return True

    def taken(self) -> None:
        """The background sampler took a sample (it is always let through: its timer is the pace)."""
        self._last = time.monotonic()


class JobBook:
    """Jobs accepted by the target and not yet recorded; records each exactly once."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self._open: dict[int, JobStory] = {}
        self.submitted = 0

    @property
    def in_flight(self) -> int:
        return len(self._open)

    def open(self, story: JobStory) -> None:
        self.submitted += 1
        self._open[id(story)] = story

    def close(self, story: JobStory) -> None:
        if self._open.pop(id(story), None) is not None:
            self.recorder.record_job(story.record())

    def close_remaining(self) -> int:
        """Record every job still open as in flight (the run ended before it did); returns how many."""
        stories = list(self._open.values())
        for story in stories:
            story.in_flight = True
            self.close(story)
        return len(stories)


@dataclass
class JobStory:
    """What one flow has seen of its job so far."""

    flow: str
    submitted_at: float = field(default_factory=time.time)
    began: float = field(default_factory=time.perf_counter)
    job_id: str = ""
    status: str | None = None
    delay_ms: float | None = None
    execution_ms: float | None = None
    end_to_end_ms: float | None = None
    observe_interval_ms: float | None = None
    first_chunk_ms: float | None = None
    last_chunk_at: float | None = None
    chunk_gaps_ms: list[float] = field(default_factory=list)
    chunks: int = 0
    retries: int = 0
    throttled: int = 0
    in_flight: bool = False
    streams: bool = False
    """The flow streams the job's output (an unfinished job without a chunk is still waiting for one)."""
    chunk_batches: list[tuple[float, int]] = field(default_factory=list)
    """(ms after submission, chunks) of every answer that brought chunks."""
    queued_from: float | None = None
    """When (perf clock) the answer arrived that first showed the job queued (after its submission or retry)."""
    queued_until: float | None = None
    """When (perf clock) the last request was sent whose answer still showed the job queued."""

    @property
    def terminal(self) -> bool:
        return self.status is not None and contract.is_terminal(self.status)

    def observe(self, body: Any, interval_s: float, arrived: float, *, sent: float | None = None) -> None:
        """Take in a job object (``/status``, ``/runsync``, ``/cancel``...) that arrived at ``arrived``, in
        answer to a request sent at ``sent`` (perf clock; given where a queued job's wait so far matters)."""
        if not isinstance(body, dict):
            return
        status = body.get("status")
        if isinstance(status, str):
            self.status = status
            if status == contract.JobStatus.IN_QUEUE:
                if self.queued_from is None:
                    self.queued_from = arrived
                if sent is not None:
                    self.queued_until = sent if self.queued_until is None else max(self.queued_until, sent)
        delay = body.get("delayTime")
        if isinstance(delay, int | float) and not isinstance(delay, bool):
            self.delay_ms = float(delay)
        execution = body.get("executionTime")
        if isinstance(execution, int | float) and not isinstance(execution, bool):
            self.execution_ms = float(execution)
        if self.terminal and self.end_to_end_ms is None:
            self.end_to_end_ms = (arrived - self.began) * 1000
            self.observe_interval_ms = interval_s * 1000

    def observe_chunks(self, count: int, arrived: float) -> None:
        if count <= 0:
            return
        if self.first_chunk_ms is None:
            self.first_chunk_ms = (arrived - self.began) * 1000
        elif self.last_chunk_at is not None:
            self.chunk_gaps_ms.append((arrived - self.last_chunk_at) * 1000)
        self.last_chunk_at = arrived
        self.chunks += count
        self.chunk_batches.append(((arrived - self.began) * 1000, count))

    def reopen_for_retry(self) -> None:
        """A ``/retry`` re-queued the job: the next terminal state is the one that counts."""
        self.retries += 1
        self.status = contract.JobStatus.IN_QUEUE.value
        self.end_to_end_ms = None
        self.observe_interval_ms = None
        self.queued_from = self.queued_until = None

    def record(self) -> JobRecord:
        """The job as recorded; an unfinished one says how long it had waited so far (lower bounds)."""
        final = self.status if self.status is not None and self.terminal and not self.in_flight else IN_FLIGHT
        unfinished_ms = queued_ms = None
        if final == IN_FLIGHT:
            unfinished_ms = (time.perf_counter() - self.began) * 1000
            if self.status == contract.JobStatus.IN_QUEUE and self.queued_from is not None:
                queued_ms = max(0.0, ((self.queued_until or self.queued_from) - self.queued_from) * 1000)
        return JobRecord(
            job_id=self.job_id,
            flow=self.flow,
            submitted_at=self.submitted_at,
            final_status=final,
            delay_ms=self.delay_ms,
            execution_ms=self.execution_ms,
            end_to_end_ms=self.end_to_end_ms if final != IN_FLIGHT else None,
            observe_interval_ms=self.observe_interval_ms if final != IN_FLIGHT else None,
            first_chunk_ms=self.first_chunk_ms,
            chunk_gaps_ms=self.chunk_gaps_ms,
            chunks=self.chunks,
            retries=self.retries,
            throttled=self.throttled,
            chunk_batches=self.chunk_batches,
            streams=self.streams,
            last_status=self.status,
            unfinished_ms=unfinished_ms,
            queued_ms=queued_ms,
        )


@dataclass
class FlowContext:
    """What a flow needs: the API, the run's stop signal, payloads, the job book and randomness."""

    api: ApiClient
    control: RunControl
    jobs: JobBook
    recorder: Recorder
    make_payload: Callable[[str], dict[str, Any]]
    rng: random.Random
    guard: SpendingGuard = field(default_factory=lambda: SpendingGuard(None))
    health_gate: HealthGate = field(default_factory=HealthGate)


# ------------------------------------------------------------------------------------------- helpers


def _wait_ms(seconds: float) -> int:
    """A ``?wait=`` in milliseconds, within the documented range."""
    return max(contract.WAIT_MIN_MS, min(contract.WAIT_MAX_MS, round(seconds * 1000)))


def _submit(ctx: FlowContext, name: str, op: Op, params: dict[str, Any] | None = None) -> JobStory | None:
    """Send the job; returns its story (opened in the book) or None when no job was created."""
    if not ctx.control.accepting or not ctx.guard.take():
        return None
    body = ctx.make_payload(name)
    story = JobStory(flow=name)
    result = ctx.api.call(op, flow=name, body=body, params=params)
    story.throttled += result.throttled
    job_id = result.body.get("id") if isinstance(result.body, dict) else None
    if not isinstance(job_id, str) or not job_id or not (result.ok or result.job_status):
        ctx.guard.give_back()
        return None
    story.job_id = job_id
    story.submitted_at = result.sent_at  # the accepted attempt: after any limiter wait and 429 retries
    story.began = result.sent_perf
    ctx.jobs.open(story)
    story.observe(result.body, 0.0, time.perf_counter())
    return story


def _job_flow(ctx: FlowContext, name: str, follow: Callable[[JobStory], None], op: Op = Op.RUN,
              params: dict[str, Any] | None = None) -> None:
    """What every job flow opens and ends with: submit one job, let ``follow`` follow it the flow's way,
    record it (nothing when no job was created)."""
    story = _submit(ctx, name, op, params)
    if story is None:
        return
    follow(story)
    _finish(ctx, story)


def _call_on_job(ctx: FlowContext, story: JobStory, op: Op, params: dict[str, Any] | None = None) -> ApiResult:
    result = ctx.api.call(op, flow=story.flow, job_id=story.job_id, params=params)
    story.throttled += result.throttled
    if result.status == 404:
        story.status = NOT_FOUND
    return result


def _poll(ctx: FlowContext, story: JobStory, poll: PollSettings, *, pause_first: bool = True) -> None:
    """``/status`` until terminal, ``max_wait`` after submission, or the end of the run."""
    deadline = story.began + poll.max_wait
    first = True
    for interval in poll.intervals():
        pause = interval if (pause_first or not first) else 0.0
        first = False
        now = time.perf_counter()
        if now >= deadline:
            return
        pause = min(pause, deadline - now)
        if not ctx.control.sleep(pause):
            return
        result = _call_on_job(ctx, story, Op.STATUS)
        if result.status == 404:
            return
        if result.ok:
            story.observe(result.body, pause, time.perf_counter(), sent=result.sent_perf)
            if story.terminal:
                return


def _long_poll(ctx: FlowContext, story: JobStory, op: Op, flow: LongPollFlow) -> None:
    """``/stream`` or ``/status-sync`` with ``?wait=`` until terminal, ``max_wait`` or the end of the run."""
    deadline = story.began + flow.max_wait
    params = {"wait": _wait_ms(flow.wait)}
    while time.perf_counter() < deadline and not ctx.control.stopping:
        sent = time.perf_counter()
        result = _call_on_job(ctx, story, op, params)
        arrived = time.perf_counter()
        if result.status == 404:
            return
        new_chunks = 0
        if result.ok and isinstance(result.body, dict):
            if op is Op.STREAM:
                stream = result.body.get("stream")
                new_chunks = len(stream) if isinstance(stream, list) else 0
                story.observe_chunks(new_chunks, arrived)
            story.observe(result.body, 0.0, arrived, sent=result.sent_perf)
            if story.terminal:
                return
        quick_and_empty = not new_chunks and arrived - sent < MIN_EMPTY_LONG_POLL_PAUSE_S
        if quick_and_empty and not ctx.control.sleep(MIN_EMPTY_LONG_POLL_PAUSE_S):
            return


def _finish(ctx: FlowContext, story: JobStory) -> None:
    if not story.terminal:
        story.in_flight = True
    elif story.delay_ms is None and story.execution_ms is None and story.status in RAN_STATUSES:
        _fetch_times(ctx, story)
    ctx.jobs.close(story)


RAN_STATUSES = frozenset({contract.JobStatus.COMPLETED, contract.JobStatus.FAILED, contract.JobStatus.TIMED_OUT})
"""Terminal states of a job that reached a worker, so the target has its delayTime/executionTime."""


def _fetch_times(ctx: FlowContext, story: JobStory) -> None:
    """One ``/status`` for ``delayTime``/``executionTime`` when the answer that ended the job lacked them
    (``/stream`` answers carry only the status and chunks)."""
    if ctx.control.stopping:
        return
    result = _call_on_job(ctx, story, Op.STATUS)
    body = result.body
    if result.ok and isinstance(body, dict):
        for key, attribute in (("delayTime", "delay_ms"), ("executionTime", "execution_ms")):
            value = body.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(story, attribute, float(value))


# --------------------------------------------------------------------------------------------- flows


def run_poll(ctx: FlowContext, name: str, flow: RunPollFlow) -> None:
    _job_flow(ctx, name, lambda story: _poll(ctx, story, flow.poll))


def runsync(ctx: FlowContext, name: str, flow: RunsyncFlow) -> None:
    """``/runsync``; when the wait runs out first, keep polling the id, as the official clients do."""

    def follow(story: JobStory) -> None:
        if not story.terminal:
            _poll(ctx, story, flow.poll, pause_first=False)

    _job_flow(ctx, name, follow, Op.RUNSYNC, {"wait": _wait_ms(flow.wait)})


def run_stream(ctx: FlowContext, name: str, flow: RunStreamFlow) -> None:
    def follow(story: JobStory) -> None:
        story.streams = True
        _long_poll(ctx, story, Op.STREAM, flow)

    _job_flow(ctx, name, follow)


def status_sync(ctx: FlowContext, name: str, flow: StatusSyncFlow) -> None:
    _job_flow(ctx, name, lambda story: _long_poll(ctx, story, Op.STATUS_SYNC, flow))


def run_cancel(ctx: FlowContext, name: str, flow: RunCancelFlow) -> None:
    def follow(story: JobStory) -> None:
        if not ctx.control.sleep(draw(flow.cancel_after, ctx.rng)):
            return
        result = _call_on_job(ctx, story, Op.CANCEL)
        if result.ok:
            story.observe(result.body, 0.0, time.perf_counter())
        if flow.confirm and not story.terminal and result.status != 404:
            _poll(ctx, story, flow.poll, pause_first=False)

    _job_flow(ctx, name, follow)


def retry_failed(ctx: FlowContext, name: str, flow: RetryFailedFlow) -> None:
    def follow(story: JobStory) -> None:
        _poll(ctx, story, flow.poll)
        while story.status in contract.RETRYABLE_STATUSES and story.retries < flow.retries:
            if not ctx.control.sleep(flow.retry_after) or ctx.control.stopping:
                break
            result = _call_on_job(ctx, story, Op.RETRY)
            if not result.ok:
                break
            story.reopen_for_retry()
            story.observe(result.body, 0.0, time.perf_counter())
            _poll(ctx, story, flow.poll)

    _job_flow(ctx, name, follow)


def health(ctx: FlowContext, name: str, flow: HealthFlow, *, sampler: bool = False) -> None:
    """One ``/health`` call, recorded as endpoint state at most once per ``every`` in this process (sent as
    weighted traffic it may run thousands of times a second; the gauges need no more than the sampler's
    pace). The background ``sampler``'s calls are always recorded: a late answer must not lose a sample."""
    if ctx.control.stopping:  # the background sampler goes on while the run drains
        return
    result = ctx.api.call(Op.HEALTH, flow=name)
    if not result.ok or not isinstance(result.body, dict):
        return
    if sampler:
        ctx.health_gate.taken()
    elif not ctx.health_gate.due(flow.every):
        return
    ctx.recorder.record_health(result.body)


def purge_queue(ctx: FlowContext, name: str, flow: PurgeQueueFlow) -> None:
    if not ctx.control.accepting:  # a purge while draining would drop the very jobs being followed
        return
    ctx.api.call(Op.PURGE_QUEUE, flow=name)


FLOW_RUNNERS: dict[str, Callable[[FlowContext, str, Any], None]] = {
    "run_poll": run_poll,
    "runsync": runsync,
    "run_stream": run_stream,
    "status_sync": status_sync,
    "run_cancel": run_cancel,
    "retry_failed": retry_failed,
    "health": health,
    "purge_queue": purge_queue,
}
"""What each flow kind of :mod:`loadtest.flowkinds` does, by kind name."""


def run_flow(ctx: FlowContext, name: str, flow: Flow) -> None:
    """Run one flow of the mix to its end."""
    FLOW_RUNNERS[flow.flow](ctx, name, flow)


def sample_health_forever(ctx: FlowContext, name: str, flow: HealthFlow) -> None:
    """The background ``/health`` sampler: one sample every ``flow.every`` until the run stops."""
    next_at = time.monotonic()
    while not ctx.control.stopping:
        health(ctx, name, flow, sampler=True)
        next_at = max(next_at + flow.every, time.monotonic())  # late (a busy machine): no burst to catch up
        if not ctx.control.sleep(max(next_at - time.monotonic(), 0.0)):
            return
