"""Requests and answers of the queue API on the wire, whatever sends them: the method and path of each
operation, the headers (the key in ``Authorization``, once), the request body, the statistics name of a
request, what an answer's status and body say went wrong, ``Retry-After``, and :class:`ApiResult`.

The API key goes into the ``Authorization`` header and nowhere else: never logged, stored or shown.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any, Final

from loadtest import contract
from loadtest.contract import OPERATIONS, Op

THROTTLED: Final = "429 Too Many Requests"
"""The error text of a 429 answer (throttling, not a failure)."""
_JSON_STARTS: Final = (b"{", b"[", b" ", b"\n", b"\r", b"\t")


def request_line(op: Op, endpoint_id: str, *, job_id: str | None = None, params: Mapping[str, Any] | None = None,
                 method: str | None = None) -> tuple[str, str]:
    """(method, path below the base URL) of one call: the operation's first documented method unless
    ``method`` is given; ``params`` as the query string."""
    spec = OPERATIONS[op]
    path = spec.url_path(endpoint_id, job_id)
    if params:
        path += "?" + "&".join(f"{name}={value}" for name, value in params.items())
    return method or spec.methods[0], path


def request_body(method: str, body: Mapping[str, Any] | None) -> bytes | None:
    """The JSON body sent (an empty one for a POST without a body; none for a GET)."""
    if body is not None:
        return json.dumps(body).encode()
    return b"" if method == "POST" else None


def request_headers(api_key: str, *, json_body: bool) -> dict[str, str]:
    """The headers of every request: the key, JSON wanted, the encodings Locust's own requests accept."""
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json",
               "Accept-Encoding": "gzip, deflate, br"}
    if json_body:
        headers["Content-Type"] = "application/json"
    return headers


def request_name(method: str, op: Op, flow: str) -> str:
    """The statistics row of a request: operation and flow, never a job id (``POST /run [chat]``)."""
    return f"{method} {OPERATIONS[op].path} [{flow}]"


def answer_error(status: int, content: bytes | None, no_answer: object = None) -> str | None:
    """What went wrong, in words, or None for a good answer: a 2xx that is not JSON, a 429
    (:data:`THROTTLED`), no answer at all (status 0, ``no_answer`` the exception), or an error status with
    the target's own message (its JSON ``error``, else the start of the body)."""
    if 200 <= status < 300:
        return f"HTTP {status}: answer is not JSON" if content and content[:1] not in _JSON_STARTS else None
    if status == 429:
        return THROTTLED
    if status == 0:
        return f"no answer: {type(no_answer).__name__}: {no_answer}"
    message = None
    try:
        parsed = json.loads(content) if content else None
        message = parsed.get("error") if isinstance(parsed, dict) else None
    except ValueError:
        pass
    return f"HTTP {status}: {message or (content or b'')[:200].decode('utf-8', 'replace')}"


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


Exchanged = tuple[Any, str, int, bytes | None, float, float, float]
"""One request sent and its answer read: (the session's response object, URL, status (0: no answer came:
a connection error, a timeout, a body cut off), body, sent at (Unix s), the same instant on the
``time.perf_counter`` clock, latency in seconds). A plain tuple: it is made for every request."""


def exchange(session: Any, method: str, path: str, data: bytes | None, headers: Mapping[str, str]) -> Exchanged:
    """Send one request through a Locust ``FastHttpSession``'s internal safe-mode call (what its
    ``request()`` does, minus the per-request response wrapper; the session is passed in, Locust is never
    imported here) and read the answer's body."""
    url = session.base_url + path
    sent_at = time.time()
    began = time.perf_counter()
    response = session._send_request_safe_mode(method, url, payload=data, headers=headers)
    status = response.status_code or 0
    try:
        content = response.content if status else None
    except Exception as exc:  # the connection broke while the body was read
        content, status = None, 0
        response.error = exc
    return response, url, status, content, sent_at, began, time.perf_counter() - began


def retry_after_of(response: Any, status: int) -> str | None:
    """A 429 answer's ``Retry-After`` header, as sent (None for any other answer, or without one)."""
    headers = response.headers if status == 429 else None
    return headers.get(contract.RETRY_AFTER_HEADER) if headers else None


_UNPARSED: Final = object()


class ApiResult:
    """The final answer to one logical call (after any 429 retries).

    The JSON body is parsed on first use of :attr:`body` (a ``/health`` answer sent as traffic is often
    never read); a 2xx answer that does not even look like a JSON object or array is an error at once.
    """

    __slots__ = ("_body", "content", "error", "latency_s", "op", "retry_after", "sent_at", "sent_perf", "status",
                 "throttled")

    def __init__(
        self,
        op: Op,
        status: int,
        content: bytes | None,
        error: str | None,
        latency_s: float,
        sent_at: float = 0.0,
        sent_perf: float = 0.0,
        retry_after: str | None = None,
        *,
        throttled: int = 0,
    ) -> None:
        self.op = op
        self.status = status
        """HTTP status code; 0 when no answer came (connection error, timeout)."""
        self.content = content
        self.error = error
        self.latency_s = latency_s
        """Latency of the final attempt."""
        self.sent_at = sent_at
        """When the final attempt was sent (Unix seconds)."""
        self.sent_perf = sent_perf
        """The same instant on the ``time.perf_counter`` clock (for durations)."""
        self.retry_after = retry_after
        """The ``Retry-After`` header of a 429 answer, as sent."""
        self.throttled = throttled
        """429 answers met on the way (the final answer included when it is a 429)."""
        self._body: Any = _UNPARSED

    @property
    def body(self) -> Any:
        """The parsed JSON answer (``None`` when there was none or it was not JSON)."""
        body = self._body
        if body is _UNPARSED:
            body = None
            if self.content:
                try:
                    body = json.loads(self.content)
                except ValueError:
                    if self.error is None:
                        self.error = f"HTTP {self.status}: answer is not JSON"
            self._body = body
        return body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.error is None

    @property
    def job_status(self) -> str | None:
        """The ``status`` field of a job object (``None`` when absent)."""
        body = self.body
        if isinstance(body, dict):
            value = body.get("status")
            return value if isinstance(value, str) else None
        return None
