"""The discovery's HTTP side: one request at a time or paced streams, every answer recorded, Retry-After
honoured, the job cap enforced.

Requests are made as the run's are (:mod:`loadtest.queue_api.wire`: URLs, auth header, JSON, errors,
``Retry-After``) and sent over one Locust ``FastHttpSession`` whose connection pool is large enough that no
request waits for a connection (a wait would shift its send time); never retried: a 429 is counted, and
while nothing answers each request waits a growing pause first (as every client of the run).

Pacing runs in one greenlet that sleeps until each scheduled instant (absolute times, so a late wake-up
never shifts the later ones) and starts the request in a greenlet of its own; what was *actually* sent is
measured from the send times.

Honouring ``Retry-After``: once a 429 of an operation says ``Retry-After: R``, no request of that
operation is sent before R seconds after that answer came; a paced stream leaves those sends out and
counts them. Limits are per operation, so other operations go on.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent import Greenlet

from loadtest import exitcodes
from loadtest.contract import Op
from loadtest.discovery.evidence import RequestRecord, Step, summarise_step
from loadtest.errors import LoadtestError
from loadtest.queue_api import wire
from loadtest.queue_api.reachability import Backoff, Reachability
from loadtest.queue_api.wire import ApiResult
from loadtest.redaction import REDACTED

JOB_CREATING: frozenset[Op] = frozenset({Op.RUN, Op.RUNSYNC})
"""Operations whose admitted requests create (billable) jobs."""
WAIT_CAP_S = 330.0
"""Longest a paced send waits for a free place in flight (longer than any long-poll may be held)."""

_HINTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("queue_size", ("queue",)),
    ("concurrency", ("concurren", "in flight", "in-flight", "simultaneous")),
    ("rate", ("rate", "per second", "per minute", "requests per")),
)


def limit_hint(content: bytes | None) -> str | None:
    """Which limit a 429's body says refused the request: its JSON ``limit`` field, else words in it.

    Only the *kind* is read, never a number: the figures come from what was admitted and refused."""
    if not content:
        return None
    text = content[:2000].decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("limit"), str):
        named = parsed["limit"].lower()
        for kind, _ in _HINTS:
            if named.startswith(kind.split("_")[0]):
                return kind
    lowered = text.lower()
    for kind, words in _HINTS:
        if any(word in lowered for word in words):
            return kind
    return None


class DiscoveryAborted(LoadtestError):
    """The discovery cannot go on (target gone, key refused, interrupted); ``exit_code`` says which."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class JobGuard:
    """The spend cap: admitted job-creating requests (and those still in flight) never exceed ``cap``."""

    cap: int | None
    created: int = 0
    pending: int = 0
    ids: list[str] = field(default_factory=list)

    @property
    def left(self) -> int | None:
        return None if self.cap is None else max(0, self.cap - self.created - self.pending)

    def allows(self, n: int) -> bool:
        left = self.left
        return left is None or left >= n

    def reserve(self) -> bool:
        if not self.allows(1):
            return False
        self.pending += 1
        return True

    def settle(self, created: bool, job_id: str | None) -> None:
        self.pending -= 1
        if created:
            self.created += 1
            if job_id:
                self.ids.append(job_id)


@dataclass(frozen=True, slots=True)
class Call:
    """What one request of an operation carries."""

    op: Op
    job_id: str | None = None
    body: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None


@dataclass
class Batch:
    """The requests of one stream or wave, with running counts its pacing loop reads."""

    records: list[RequestRecord] = field(default_factory=list)
    admitted: int = 0
    throttled: int = 0
    first_refusal: RequestRecord | None = None
    skipped: int = 0
    capped: bool = False
    """The job cap stopped it."""
    outstanding: int = 0
    """Requests started and not yet answered."""
    started: float = 0.0
    ended: float = 0.0

    @property
    def first_sent(self) -> RequestRecord | None:
        sent = [r for r in self.records if not math.isnan(r.sent)]
        return min(sent, key=lambda r: r.sent) if sent else None

    def admitted_records(self) -> list[RequestRecord]:
        return sorted((r for r in self.records if r.admitted), key=lambda r: r.sent)

    def step(self, phase: str, cycle: int, nominal: float) -> Step:
        return summarise_step(phase, cycle, nominal, self.records, self.started, self.ended, self.skipped)


class Prober:
    """Sends a discovery's requests to one endpoint and keeps every record."""

    def __init__(
        self,
        base_url: str,
        endpoint_id: str,
        api_key: str,
        *,
        pool_size: int,
        network_timeout: float,
        job_cap: int | None,
        unreachable_after: float = 10.0,
        watchers: list[Callable[[], str | None]] | None = None,
    ) -> None:
        from locust.contrib.fasthttp import FastHttpSession
        from locust.event import EventHook

        self._session = FastHttpSession(
            base_url=base_url, request_event=EventHook(), user=None, network_timeout=network_timeout,
            connection_timeout=10.0, concurrency=pool_size,
        )
        self.reachability = Reachability()
        self._backoff = Backoff(random.Random(1))
        self._endpoint_id = endpoint_id
        self._headers = wire.request_headers(api_key, json_body=False)
        self._json_headers = wire.request_headers(api_key, json_body=True)
        self._api_key = api_key
        self.t0 = time.perf_counter()
        self.records: list[RequestRecord] = []
        self.jobs = JobGuard(job_cap)
        self.not_before: dict[Op, float] = {}
        """Per operation, the earliest next send a ``Retry-After`` allows (seconds since ``t0``)."""
        self.in_flight: dict[Op, int] = {}
        self._unreachable_after = unreachable_after
        self._watchers = watchers or []
        self._pending: set[Greenlet] = set()
        self.interrupted = False
        """Set by Ctrl-C or SIGTERM: every search stops at its next check."""

    def __repr__(self) -> str:  # never show the key
        return "Prober()"

    # ------------------------------------------------------------------------------------------ time

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def sleep_until(self, at: float) -> None:
        """Sleep until ``at`` (seconds since ``t0``), checking the target every half second."""
        while True:
            self.check()
            left = at - self.now()
            if left <= 0:
                return
            gevent.sleep(min(left, 0.5))

    def wait_gate(self, op: Op) -> None:
        """Wait until the operation's ``Retry-After`` has run out."""
        self.sleep_until(self.not_before.get(op, 0.0))

    def check(self) -> None:
        """Raise :class:`DiscoveryAborted` when interrupted, or when the target has gone or refused the key."""
        if self.interrupted:
            raise DiscoveryAborted("interrupted", exitcodes.INTERRUPTED)
        refusal = self.reachability.refusal
        if refusal is not None:
            words = refusal.message.replace(self._api_key, REDACTED) if self._api_key else refusal.message
            raise DiscoveryAborted(f"the target refused the API key ({words})", exitcodes.KEY_REFUSED)
        silent = self.reachability.silent_for()
        if silent > self._unreachable_after:
            last = self.reachability.last_failure or "no answer"
            raise DiscoveryAborted(f"the target has not answered for {silent:.0f} s ({last})", exitcodes.TARGET_ERROR)
        for watcher in self._watchers:
            reason = watcher()
            if reason is not None:
                raise DiscoveryAborted(reason, exitcodes.TARGET_ERROR)

    # -------------------------------------------------------------------------------------- requests

    def send(self, call: Call, *, phase: str, cycle: int = 0, scheduled: float | None = None,
             batch: Batch | None = None) -> RequestRecord | None:
        """Send one request (in this greenlet) and record it; None when the job cap forbids it. Alone, it
        waits for the operation's Retry-After; in a ``batch`` (counted in ``batch.outstanding`` by
        :meth:`spawn`) it is left out, and counted as skipped, if a Retry-After began since it was planned."""
        try:
            return self._send(call, phase, cycle, scheduled, batch)
        finally:
            if batch is not None:
                batch.outstanding -= 1

    def _send(self, call: Call, phase: str, cycle: int, scheduled: float | None,
              batch: Batch | None) -> RequestRecord | None:
        op = call.op
        if batch is None:
            self.wait_gate(op)
        elif self.not_before.get(op, 0.0) > self.now():  # a 429 came in since the pacing decided to send
            batch.skipped += 1
            return None
        creates = op in JOB_CREATING
        if creates and not self.jobs.reserve():
            if batch is not None:
                batch.capped = True
            return None
        record = RequestRecord(op.value, phase, cycle, self.now() if scheduled is None else scheduled)
        record.held = self.in_flight.get(op, 0)
        self.records.append(record)
        if batch is not None:
            batch.records.append(record)
        self.in_flight[op] = record.held + 1
        record.sent = self.now()  # refined from the client's own send instant once answered
        result: ApiResult | None = None
        try:
            result = self._exchange(call)
        finally:
            self.in_flight[op] -= 1
            if result is None and creates:  # killed before an answer
                self.jobs.settle(False, None)
        self._take(record, result, batch)
        if creates:
            body = result.body if result.ok else None
            job_id = body.get("id") if isinstance(body, dict) else None
            self.jobs.settle(result.ok, job_id if isinstance(job_id, str) else None)
        return record

    def _exchange(self, call: Call) -> ApiResult:
        """One HTTP request and its answer (after the pause while the target does not answer)."""
        pause = self._backoff.pause()
        if pause:
            gevent.sleep(pause)
        method, path = wire.request_line(call.op, self._endpoint_id, job_id=call.job_id, params=call.params)
        data = wire.request_body(method, call.body)
        response, _, status, content, sent_at, sent_perf, latency = wire.exchange(
            self._session, method, path, data, self._json_headers if data else self._headers)
        error = wire.answer_error(status, content, response.error if status == 0 else None)
        self._backoff.observe(status)
        self.reachability.observe(status, error)
        retry_after = wire.retry_after_of(response, status)
        return ApiResult(call.op, status, content, error, latency, sent_at, sent_perf, retry_after)

    def _take(self, record: RequestRecord, result: ApiResult, batch: Batch | None) -> None:
        now = self.now()
        record.sent = result.sent_perf - self.t0 if result.sent_perf else now
        record.answered = record.sent + result.latency_s if result.sent_perf else now
        record.status = result.status
        record.error = result.error if result.status != 429 else None
        op = Op(record.op)
        if result.status == 429:
            record.retry_after = wire.parse_retry_after(result.retry_after)
            record.limit_hint = limit_hint(result.content)
            if record.retry_after is not None:
                until = record.answered + record.retry_after
                self.not_before[op] = max(self.not_before.get(op, 0.0), until)
        if batch is not None:
            if record.admitted:
                batch.admitted += 1
            elif record.throttled:
                batch.throttled += 1
                if batch.first_refusal is None or record.sent < batch.first_refusal.sent:
                    batch.first_refusal = record

    def call(self, call: Call, *, phase: str) -> tuple[RequestRecord | None, ApiResult | None]:
        """One request for the discovery's own bookkeeping (setup jobs, /health), honouring Retry-After."""
        self.wait_gate(call.op)
        creates = call.op in JOB_CREATING
        if creates and not self.jobs.reserve():
            return None, None
        record = RequestRecord(call.op.value, phase, 0, self.now())
        record.sent = record.scheduled
        self.records.append(record)
        result = self._exchange(call)
        self._take(record, result, None)
        if creates:
            body = result.body if result.ok else None
            job_id = body.get("id") if isinstance(body, dict) else None
            self.jobs.settle(result.ok, job_id if isinstance(job_id, str) else None)
        return record, result

    def spawn(self, call: Call, *, phase: str, cycle: int, scheduled: float, batch: Batch) -> bool:
        """Start one request in its own greenlet; False when the job cap forbids it."""
        if call.op in JOB_CREATING and not self.jobs.allows(1):
            batch.capped = True
            return False
        batch.outstanding += 1
        greenlet = gevent.spawn(self.send, call, phase=phase, cycle=cycle, scheduled=scheduled, batch=batch)
        self._pending.add(greenlet)
        greenlet.link(self._pending.discard)
        return True

    def settle(self, batch: Batch, timeout: float) -> bool:
        """Wait (up to ``timeout``) until every request of ``batch`` has its answer; False if some have not."""
        return self.wait_until(lambda: batch.outstanding <= 0, timeout)

    def abandon(self) -> None:
        """Stop waiting for answers still out (at the end, or when aborting)."""
        for greenlet in list(self._pending):
            greenlet.kill(block=False)
        gevent.joinall(list(self._pending), timeout=2)

    # -------------------------------------------------------------------------------------- pacing

    def pace(
        self,
        call: Callable[[int], Call],
        *,
        op: Op,
        phase: str,
        cycle: int,
        rate: float,
        duration: float = math.inf,
        limit: int | None = None,
        stop: Callable[[Batch], bool] | None = None,
        start: float | None = None,
        batch: Batch | None = None,
        max_in_flight: int | None = None,
    ) -> Batch:
        """Send ``call(i)`` at ``start + i / rate`` until ``duration`` has passed, ``limit`` requests were
        sent or ``stop(batch)`` says so. Sends a ``Retry-After`` forbids are left out (counted as skipped).
        With ``max_in_flight``, a send waits while that many of the batch are unanswered (its send time is
        what it is: late sends show in the step's lateness). Returns at once after the last send;
        :meth:`settle` waits for the answers."""
        batch = batch or Batch()
        begin = self.now() if start is None else start
        if not batch.records:
            batch.started = begin
        index = 0
        sent = 0
        ran_out = False
        while True:
            at = begin + index / rate
            if at - begin >= duration:
                ran_out = True
                break
            if (limit is not None and sent >= limit) or (stop is not None and stop(batch)):
                break
            self.sleep_until(at)
            if max_in_flight is not None and batch.outstanding >= max_in_flight:
                self.wait_until(lambda: batch.outstanding < max_in_flight, timeout=WAIT_CAP_S)
            if stop is not None and stop(batch):
                break
            if self.not_before.get(op, 0.0) > self.now():
                batch.skipped += 1
            elif self.spawn(call(sent), phase=phase, cycle=cycle, scheduled=at, batch=batch):
                sent += 1
            else:
                break
            index += 1
        batch.ended = begin + (duration if ran_out else index / rate)  # the stretch the schedule covered
        return batch

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Poll ``condition`` every few milliseconds until it holds or ``timeout`` passes."""
        deadline = self.now() + timeout
        while not condition():
            if self.now() >= deadline:
                return False
            self.check()
            gevent.sleep(0.002)
        return True
