"""What a request's answer and a job's end count as: the one classification every figure uses.

A request is ``ok``, ``throttled`` (429, counted apart from errors), an ``http_error`` (any other status
of 400 or more) or ``no_answer`` (status 0: a connection error or a timeout). A job ends in one of its
terminal states or is ``in_flight`` (unfinished when the run ended, or last seen in another state). The
catalogue's counters (:data:`loadtest.metrics.catalog.COUNTERS`) are sets of these classes, so the
summary, the windowed and live thresholds, the web UI and the progress line all count the same way.
Pure Python: the scenario validator imports the catalogue, which imports this.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from loadtest.contract import TERMINAL_STATUSES, JobStatus

IN_FLIGHT = "IN_FLIGHT"
"""final_status of a job still unfinished when the run ended."""


class RequestClass(StrEnum):
    """What one HTTP answer counts as."""

    OK = "ok"
    """Any answer below 400 (2xx; 1xx/3xx never reach the client as final answers)."""
    THROTTLED = "throttled"
    """429 Too Many Requests: the target refused for rate or concurrency, not an error."""
    HTTP_ERROR = "http_error"
    """An answer of 400 or more other than 429 (401, 404, 500, 502...)."""
    NO_ANSWER = "no_answer"
    """Status 0: no HTTP answer at all (connection refused or reset, timeout)."""


class JobOutcome(StrEnum):
    """How one submitted job ended, as the ``jobs.*`` counters name it."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    IN_FLIGHT = "in_flight"


@lru_cache(maxsize=1024)
def classify_request(status: int) -> RequestClass:
    """The class of an answer with HTTP status ``status`` (0: no answer). Every counter of requests uses this."""
    if status == 0:
        return RequestClass.NO_ANSWER
    if status == 429:
        return RequestClass.THROTTLED
    if status >= 400:
        return RequestClass.HTTP_ERROR
    return RequestClass.OK


@lru_cache(maxsize=64)
def job_outcome(final_status: str) -> JobOutcome:
    """The outcome of a job recorded with ``final_status`` (a :class:`JobStatus` value or ``IN_FLIGHT``)."""
    if final_status in TERMINAL_STATUSES:
        return JobOutcome(JobStatus(final_status).value.lower())
    return JobOutcome.IN_FLIGHT


ALL_REQUEST_CLASSES: frozenset[RequestClass] = frozenset(RequestClass)
ALL_JOB_OUTCOMES: frozenset[JobOutcome] = frozenset(JobOutcome)
