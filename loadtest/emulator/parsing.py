"""Reading what clients send: submission bodies, policies and query parameters.

Pure functions raising :class:`BadRequest` with a message that says what was wrong and where, so the HTTP
layer can answer 400 with ``{"error": message}`` and never a 500.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from loadtest import contract
from loadtest.emulator_config import PolicyConfig


class BadRequest(ValueError):
    """The request cannot be served as sent (answered 400)."""


@dataclass(slots=True)
class Submission:
    """A validated ``/run`` or ``/runsync`` body."""

    job_input: Any
    webhook: str | None = None
    execution_timeout_ms: int | None = None
    ttl_ms: int | None = None
    low_priority: bool = False


def parse_json(body: bytes, what: str = "request body") -> Any:
    """JSON from bytes, or BadRequest naming the problem."""
    try:
        return json.loads(body)
    except RecursionError:
        raise BadRequest(f"{what} is nested too deeply") from None
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not UTF-8 text") from None
    except ValueError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None


def _whole_ms(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise BadRequest(f"policy.{name} must be an integer number of milliseconds, found {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise BadRequest(f"policy.{name} must be a whole number of milliseconds, found {value!r}")
        value = int(value)
    if not low <= value <= high:
        raise BadRequest(f"policy.{name} must be between {low} and {high} ms, found {value}")
    return value


_decode = json.JSONDecoder().decode


def parse_submission(body: bytes, bounds: PolicyConfig) -> Submission:
    """Validate a submission body: ``input`` (an object) required; ``webhook``, ``policy``, ``s3Config``."""
    try:  # fast path: the common {"input": {...}} and nothing else
        data = _decode(body.decode())
        if type(data) is dict and len(data) == 1:
            job_input = data.get("input")
            if type(job_input) is dict:
                return Submission(job_input)
    except (ValueError, RecursionError):
        pass
    return _parse_submission_fully(body, bounds)


def _parse_submission_fully(body: bytes, bounds: PolicyConfig) -> Submission:
    if not body.strip():
        raise BadRequest("request body is empty; send a JSON object with an 'input' field")
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BadRequest(f"request body must be a JSON object with an 'input' field, found {type(data).__name__}")
    if "input" not in data:
        raise BadRequest("request body has no 'input' field")
    job_input = data["input"]
    if not isinstance(job_input, dict):
        raise BadRequest(f"'input' must be a JSON object, found {_json_type(job_input)}")
    submission = Submission(job_input)
    webhook = data.get("webhook")
    if webhook is not None:
        if not isinstance(webhook, str) or not webhook.startswith(("http://", "https://")):
            raise BadRequest(f"'webhook' must be an http:// or https:// URL, found {webhook!r}")
        submission.webhook = webhook
    policy = data.get("policy")
    if policy is not None:
        if not isinstance(policy, dict):
            raise BadRequest(f"'policy' must be a JSON object, found {_json_type(policy)}")
        high = round(float(bounds.max) * 1000)
        if "executionTimeout" in policy:
            low = round(float(bounds.execution_timeout_min) * 1000)
            submission.execution_timeout_ms = _whole_ms(policy["executionTimeout"], "executionTimeout", low, high)
        if "ttl" in policy:
            low = round(float(bounds.ttl_min) * 1000)
            submission.ttl_ms = _whole_ms(policy["ttl"], "ttl", low, high)
        if "lowPriority" in policy:
            if not isinstance(policy["lowPriority"], bool):
                raise BadRequest(f"policy.lowPriority must be true or false, found {policy['lowPriority']!r}")
            submission.low_priority = policy["lowPriority"]
    s3 = data.get("s3Config")
    if s3 is not None and not isinstance(s3, dict):
        raise BadRequest(f"'s3Config' must be a JSON object, found {_json_type(s3)}")
    return submission


def parse_wait(raw: str | None, default_ms: int) -> int:
    """A long-poll ``?wait=`` in ms (documented bounds); the default when absent."""
    if raw is None:
        return default_ms
    try:
        wait = int(raw)
    except ValueError:
        wait = -1
    if not contract.WAIT_MIN_MS <= wait <= contract.WAIT_MAX_MS:
        raise BadRequest(f"wait is invalid; must be between {contract.WAIT_MIN_MS} and {contract.WAIT_MAX_MS}")
    return wait


def parse_ttl(raw: str) -> int:
    """A ``/status?ttl=`` in ms: a non-negative integer."""
    try:
        ttl = int(raw)
    except ValueError:
        ttl = -1
    if ttl < 0 or ttl > contract.POLICY_MAX_MS:
        raise BadRequest(f"ttl is invalid; must be an integer number of ms between 0 and {contract.POLICY_MAX_MS}")
    return ttl


def parse_count(raw: str | None, name: str, default: int, high: int) -> int:
    """A non-negative integer query parameter (admin paging)."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= high:
        raise BadRequest(f"{name} must be an integer between 0 and {high}, found {raw!r}")
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(value), type(value).__name__
    )
