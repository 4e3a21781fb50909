"""The queue API client on Locust's FastHttpUser session: the 429 policy, the limiters, Locust's statistics,
the hooks. What a request and an answer are (URLs, headers, request names, errors, ``Retry-After``, the
result) is :mod:`loadtest.queue_api.wire`, shared with the limit discovery.

Request names tell operation and flow apart and never contain a job id: ``POST /run [chat]``,
``GET /status [chat]``. A 429 answer is reported under its own row, ``POST /run [chat] (429)``, and
counts as a *success* in Locust's statistics when the scenario's ``on_429`` policy handles it (it is
retried, or counted and left by ``action: count``); only a 429 that exhausts the retries is a Locust
failure. So Locust's failure column means real errors, its ``(429)`` rows show throttling, and the
latency of accepted requests is not diluted by instant refusals. Every attempt, 429s included, also
goes to the recorder hook, which counts throttled requests apart from errors.

The API key is put in the ``Authorization`` header once and never logged, stored or shown.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from loadtest.contract import Op
from loadtest.queue_api.reachability import Backoff, Reachability
from loadtest.queue_api.wire import (
    ApiResult,
    answer_error,
    exchange,
    parse_retry_after,
    request_body,
    request_headers,
    request_line,
    request_name,
    retry_after_of,
)
from loadtest.scenario.model import On429
from loadtest.traffic.control import RunControl
from loadtest.traffic.limiter import ClientLimiters

THROTTLED_SUFFIX = " (429)"
NOT_SENT = "not sent: the run ended while waiting for the client-side limiter"
NOT_SENT_STOPPING = "not sent: the run ended while backing off from a target that did not answer"


class RequestFailure(Exception):
    """Why Locust should count a request as failed (its message is the row in Locust's failures table)."""


class ResponseHook(Protocol):
    """Called once per HTTP attempt (429s and connection errors included), positionally (it is on the hot
    path): operation, flow name, status code (0: no answer), latency in seconds, send time (Unix s)."""

    def __call__(self, op: Op, flow: str, status: int, latency_s: float, started_at: float, /) -> None: ...


class ThrottleHook(Protocol):
    """Called once per 429 answer: operation, flow name, the wait its ``Retry-After`` asked for (seconds, None
    when absent or unreadable), the time then actually waited before sending again (seconds, None when the
    client gave up or counted it), and when that wait ended (Unix s)."""

    def __call__(
        self, op: Op, flow: str, retry_after_s: float | None, waited_s: float | None, ended_at: float, /
    ) -> None: ...


def _no_hook(*_: Any) -> None:
    return None


class ApiClient:
    """One endpoint's operations over a FastHttpSession (``user.client``), shared by a user's flows."""

    def __init__(
        self,
        session: Any,
        *,
        endpoint_id: str,
        api_key: str,
        on_429: On429,
        control: RunControl,
        limiters: ClientLimiters | None = None,
        on_response: ResponseHook | Callable[..., None] = _no_hook,
        on_throttle: ThrottleHook | Callable[..., None] = _no_hook,
        on_error: Callable[[Op, int, str], object] = _no_hook,
        rng: random.Random | None = None,
        reachability: Reachability | None = None,
    ) -> None:
        self._session = session
        self._endpoint_id = endpoint_id
        self._on_429 = on_429
        self._control = control
        self._limiters = limiters
        self._on_response = on_response
        self._on_throttle = on_throttle
        self._on_error = on_error
        """Told the target's words for an error answer (or why none came): the end-of-run summary shows them."""
        self._rng = rng or random.Random()
        self._reachability = reachability or Reachability()
        self._backoff = Backoff(self._rng)
        """This client's pause while its requests go unanswered (no tight loop against a dead target)."""
        self._headers = request_headers(api_key, json_body=False)
        self._json_headers = request_headers(api_key, json_body=True)
        self._names: dict[tuple[str, Op, str], str] = {}
        self._lean = hasattr(session, "_send_request_safe_mode") and hasattr(session, "request_event")
        """Send through the session's internal safe-mode call and fire Locust's request event ourselves
        (what ``FastHttpSession.request`` does, minus its response wrapper); else use ``request()``."""
        self._fixed: dict[tuple[Op, str, str | None], tuple[str, str, str]] = {}
        """(method, path, name) of calls that carry no job id and no query, by (op, flow, method asked for):
        built once."""

    def __repr__(self) -> str:  # never show the key
        return f"ApiClient(endpoint_id={self._endpoint_id!r})"

    def _name(self, method: str, op: Op, flow: str) -> str:
        key = (method, op, flow)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = request_name(method, op, flow)
        return name

    def call(
        self,
        op: Op,
        *,
        flow: str,
        job_id: str | None = None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        method: str | None = None,
    ) -> ApiResult:
        """Send one operation, applying the 429 policy; returns the final answer."""
        key = (op, flow, method)
        fixed = self._fixed.get(key) if job_id is None and not params else None
        if fixed is None:
            method, path = request_line(op, self._endpoint_id, job_id=job_id, params=params, method=method)
            name = self._name(method, op, flow)
            if job_id is None and not params:
                self._fixed[key] = (method, path, name)  # under the key looked up (method may be None)
        else:
            method, path, name = fixed
        data = request_body(method, body)
        policy = self._on_429
        throttled = 0
        attempt = 0
        while True:
            gives_up = policy.action == "count" or attempt >= policy.max_retries
            pause = self._backoff.pause()
            if pause and not self._control.sleep(pause):
                return ApiResult(op, 0, None, NOT_SENT_STOPPING, 0.0, throttled=throttled)
            if self._limiters is None:
                result = self._send(op, flow, method, path, data, name, gives_up)
            else:
                with self._limiters.slot(op, self._control.event) as waited:
                    if waited is None:  # the run ended while we waited for the limiter: do not send
                        return ApiResult(op, 0, None, NOT_SENT, 0.0, throttled=throttled)
                    result = self._send(op, flow, method, path, data, name, gives_up)
            self._backoff.observe(result.status)
            self._reachability.observe(result.status, result.error)
            if result.error is not None and result.status != 429 and not 200 <= result.status < 300:
                self._on_error(op, result.status, result.error)
            if result.status != 429:
                result.throttled = throttled
                return result
            throttled += 1
            result.throttled = throttled
            asked = parse_retry_after(result.retry_after)
            if gives_up:
                self._on_throttle(op, flow, asked, None, time.time())
                return result
            delay = asked if policy.honour_retry_after else None
            if delay is None:
                delay = policy.backoff.delay(attempt, self._rng.random())
            began = time.perf_counter()
            slept = self._control.sleep(delay)
            self._on_throttle(op, flow, asked, time.perf_counter() - began, time.time())
            if not slept:
                return result  # the run is ending: do not send again
            attempt += 1

    def _send(
        self, op: Op, flow: str, method: str, path: str, data: bytes | None, name: str, gives_up: bool
    ) -> ApiResult:
        """One HTTP attempt through the Locust session, reported to Locust and to the response hook."""
        if not self._lean:
            return self._send_catching(op, flow, method, path, data, name, gives_up)
        response, url, status, content, sent_at, sent_perf, latency = exchange(
            self._session, method, path, data, self._json_headers if data else self._headers)
        content, error, failure, name, retry_after = self._judge(response, status, content, name, gives_up)
        self._session.request_event.fire(
            request_type=method, name=name, context={}, response=response, exception=failure,
            start_time=sent_at, url=url, response_time=latency * 1000,
            response_length=len(content) if content else 0,
        )
        self._on_response(op, flow, status, latency, sent_at)
        return ApiResult(op, status, content, error, latency, sent_at, sent_perf, retry_after)

    def _judge(
        self, response: Any, status: int, content: bytes | None, name: str, gives_up: bool
    ) -> tuple[bytes | None, str | None, Exception | None, str, str | None]:
        """(content kept, error text, Locust failure or None, statistics name, Retry-After) of one answer."""
        error = answer_error(status, content, response.error if status == 0 else None)
        if status == 429:
            retry_after = retry_after_of(response, status)
            failure = None
            if gives_up and self._on_429.action == "retry":
                failure = RequestFailure(f"429 Too Many Requests after {self._on_429.max_retries} retries")
            # the body is kept (parsed only if read): it may say which limit refused (limit discovery reads it)
            return content, error, failure, name + THROTTLED_SUFFIX, retry_after
        if error is None:
            return content, None, None, name, None
        return (content if status else None), error, RequestFailure(error), name, None

    def _send_catching(
        self, op: Op, flow: str, method: str, path: str, data: bytes | None, name: str, gives_up: bool
    ) -> ApiResult:
        """The same through the session's public ``request(catch_response=True)`` (any session)."""
        started_at = time.time()
        began = time.perf_counter()
        with self._session.request(
            method, path, name=name, data=data, headers=self._json_headers if data else self._headers,
            catch_response=True,
        ) as response:
            latency = time.perf_counter() - began
            status = response.status_code or 0
            content = response.content if status else None
            content, error, failure, row, retry_after = self._judge(response, status, content, name, gives_up)
            response.request_meta["name"] = row
            if failure is None:
                response.success()
            else:
                response.failure(failure)
        self._on_response(op, flow, status, latency, started_at)
        return ApiResult(op, status, content, error, latency, started_at, began, retry_after)
