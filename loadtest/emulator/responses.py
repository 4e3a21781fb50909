"""JSON answers: every response of the emulator's API is JSON with ``Content-Type: application/json``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from loadtest import contract

if TYPE_CHECKING:
    from loadtest.emulator.endpoint import EndpointRuntime

JSON_TYPE = "application/json"

_encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_encode(payload).encode(), status=status, content_type=JSON_TYPE, headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(status, {"error": message}, headers)


def too_many(runtime: EndpointRuntime, op: str, reason: str, now: float) -> web.Response:
    """429 naming the limit, with ``Retry-After``; counted as a refusal in the ground truth."""
    runtime.counters.rejected[(op, reason)] += 1
    retry_after = runtime.admission.retry_after(op, reason, now)
    return json_response(
        429,
        {"error": runtime.admission.describe(op, reason), "limit": reason, "operation": op, "retryAfter": retry_after},
        {contract.RETRY_AFTER_HEADER: str(retry_after)},
    )
