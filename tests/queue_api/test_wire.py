"""Requests and answers on the wire: request lines, bodies, headers, names, error words, Retry-After."""

from __future__ import annotations

import email.utils
import time

import pytest

from loadtest.contract import Op
from loadtest.queue_api.wire import (
    THROTTLED,
    ApiResult,
    answer_error,
    parse_retry_after,
    request_body,
    request_headers,
    request_line,
    request_name,
)


def test_request_names_tell_operation_and_flow_apart_without_job_ids() -> None:
    assert request_name("POST", Op.RUN, "chat") == "POST /run [chat]"
    assert request_name("GET", Op.STATUS, "async") == "GET /status [async]"


def test_request_lines_bodies_and_headers() -> None:
    assert request_line(Op.RUN, "ep") == ("POST", "/ep/run")
    assert request_line(Op.STATUS, "ep", job_id="J1") == ("GET", "/ep/status/J1")
    assert request_line(Op.STREAM, "ep", job_id="J1", params={"wait": 100}) == ("GET", "/ep/stream/J1?wait=100")
    assert request_line(Op.STATUS, "ep", job_id="J1", method="POST") == ("POST", "/ep/status/J1")
    assert request_body("POST", {"input": {}}) == b'{"input": {}}'
    assert request_body("POST", None) == b"" and request_body("GET", None) is None
    plain, with_json = request_headers("k", json_body=False), request_headers("k", json_body=True)
    assert plain["Authorization"] == "Bearer k" and "Content-Type" not in plain
    assert with_json["Content-Type"] == "application/json"


def test_answers_are_put_in_words() -> None:
    assert answer_error(200, b'{"id": "x"}') is None and answer_error(204, None) is None
    assert answer_error(200, b"<html>") == "HTTP 200: answer is not JSON"
    assert answer_error(429, b"{}") == THROTTLED
    assert answer_error(0, None, ConnectionRefusedError("refused")) == "no answer: ConnectionRefusedError: refused"
    assert answer_error(401, b'{"error": "Unauthorized"}') == "HTTP 401: Unauthorized"
    assert answer_error(500, b"boom") == "HTTP 500: boom"
    result = ApiResult(Op.RUN, 200, b'{"status": "IN_QUEUE"}', None, 0.01)
    assert result.ok and result.job_status == "IN_QUEUE"


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = time.time()
    date = email.utils.formatdate(now + 10, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(10, abs=1.0)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0
