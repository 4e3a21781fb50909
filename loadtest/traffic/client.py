"""The queue API client on Locust's FastHttpUser session: URLs, auth, request names, 429 policy, hooks.

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

import email.utils
import json as jsonlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from loadtest import contract
from loadtest.contract import OPERATIONS, Op
from loadtest.scenario.model import On429
from loadtest.traffic.control import RunControl
from loadtest.traffic.limiter import ClientLimiters

THROTTLED_SUFFIX = " (429)"
NOT_SENT = "not sent: the run ended while waiting for the client-side limiter"


class ResponseHook(Protocol):
    """Called once per HTTP attempt (429s and connection errors included)."""

    def __call__(
        self, *, op: Op, flow: str, status: int, latency_s: float, started_at: float, throttled: bool
    ) -> None: ...


@dataclass(slots=True)
class ApiResult:
    """The final answer to one logical call (after any 429 retries)."""

    op: Op
    status: int
    """HTTP status code; 0 when no answer came (connection error, timeout)."""
    body: Any
    error: str | None
    throttled: int
    """429 answers met on the way (the final answer included when it is a 429)."""
    latency_s: float
    """Latency of the final attempt."""
    retry_after: str | None = None
    """The ``Retry-After`` header of a 429 answer, as sent."""
    sent_at: float = 0.0
    """When the final attempt was sent (Unix seconds)."""
    sent_perf: float = 0.0
    """The same instant on the ``time.perf_counter`` clock (for durations)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.error is None

    @property
    def job_status(self) -> str | None:
        """The ``status`` field of a job object (``None`` when absent)."""
        if isinstance(self.body, dict):
            value = self.body.get("status")
            return value if isinstance(value, str) else None
        return None


def request_name(method: str, op: Op, flow: str) -> str:
    """The Locust statistics row of a request: operation and flow, never a job id."""
    return f"{method} {OPERATIONS[op].path} [{flow}]"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(seconds, 0.0)


def _no_hook(**_: Any) -> None:
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
        rng: random.Random | None = None,
    ) -> None:
        self._session = session
        self._endpoint_id = endpoint_id
        self._on_429 = on_429
        self._control = control
        self._limiters = limiters
        self._on_response = on_response
        self._rng = rng or random.Random()
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self._names: dict[tuple[str, Op, str], str] = {}

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
        spec = OPERATIONS[op]
        method = method or spec.methods[0]
        path = spec.url_path(self._endpoint_id, job_id)
        if params:
            path += "?" + "&".join(f"{key}={value}" for key, value in params.items())
        data = jsonlib.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        name = self._name(method, op, flow)
        policy = self._on_429
        throttled = 0
        attempt = 0
        while True:
            result = self._send(op, flow, method, path, data, name, final_429=self._gives_up(attempt))
            if result.error is NOT_SENT:
                result.throttled = throttled
                return result
            if result.status != 429:
                result.throttled = throttled
                return result
            throttled += 1
            result.throttled = throttled
            if self._gives_up(attempt):
                return result
            delay = None
            if policy.honour_retry_after:
                delay = parse_retry_after(result.retry_after)
            if delay is None:
                delay = policy.backoff.delay(attempt, self._rng.random())
            if not self._control.sleep(delay):
                return result  # the run is ending: do not send again
            attempt += 1

    def _gives_up(self, attempt: int) -> bool:
        return self._on_429.action == "count" or attempt >= self._on_429.max_retries

    def _send(
        self, op: Op, flow: str, method: str, path: str, data: bytes | None, name: str, *, final_429: bool
    ) -> ApiResult:
        if self._limiters is None:
            return self._send_now(op, flow, method, path, data, name, final_429=final_429)
        with self._limiters.slot(op, self._control.event) as waited:
            if waited is None:  # the run ended while we waited for the limiter: do not send
                return ApiResult(op=op, status=0, body=None, error=NOT_SENT, throttled=0, latency_s=0.0)
            return self._send_now(op, flow, method, path, data, name, final_429=final_429)

    def _send_now(
        self, op: Op, flow: str, method: str, path: str, data: bytes | None, name: str, *, final_429: bool
    ) -> ApiResult:
        started_at = time.time()
        began = time.perf_counter()
        with self._session.request(
            method, path, name=name, data=data, headers=self._headers, catch_response=True
        ) as response:
            latency = time.perf_counter() - began
            status = response.status_code or 0
            body: Any = None
            error: str | None = None
            retry_after: str | None = None
            if status == 429:
                response.request_meta["name"] = name + THROTTLED_SUFFIX
                headers = response.headers
                retry_after = headers.get(contract.RETRY_AFTER_HEADER) if headers else None
                error = "429 Too Many Requests"
                if final_429 and self._on_429.action == "retry":
                    response.failure(f"429 Too Many Requests after {self._on_429.max_retries} retries")
                else:
                    response.success()
            elif status == 0:
                error = f"no answer: {type(response.error).__name__}: {response.error}"
                response.failure(error)
            else:
                text = response.text
                if text:
                    try:
                        body = jsonlib.loads(text)
                    except ValueError:
                        error = f"HTTP {status}: answer is not JSON"
                if 200 <= status < 300:
                    if error:
                        response.failure(error)
                    else:
                        response.success()
                else:
                    message = body.get("error") if isinstance(body, dict) else None
                    error = f"HTTP {status}: {message or (text or '')[:200]}"
                    response.failure(error)
        self._on_response(op=op, flow=flow, status=status, latency_s=latency, started_at=started_at,
                          throttled=status == 429)
        return ApiResult(op=op, status=status, body=body, error=error, throttled=0, latency_s=latency,
                         retry_after=retry_after, sent_at=started_at, sent_perf=began)
