"""Whether the target still answers, and whether it accepts the key: the run's circuit breaker.

A dead target answers every request at once with a connection error, so a load tester that just carries
on sends thousands of requests a second into a closed port. Each user (each API client) therefore backs
off exponentially, with full jitter, while its requests fail to get an answer (connection refused, reset,
timed out, or a gateway's 502/503/504), and the process keeps one :class:`Reachability` that the run
loop's watcher reads: nothing got through for ``guards.unreachable_after`` -> the run stops (exit 4);
the key refused (401/403) -> the run stops at once with the target's own words.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from loadtest.listeners import Listeners

GATEWAY_STATUSES = frozenset({502, 503, 504})
"""Answers from a gateway in front of a target that is down: no answer from the target itself."""
AUTH_STATUSES = frozenset({401, 403})
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 5.0


def unanswered(status: int) -> bool:
    """The request got no answer from the target itself (status 0: connection error or timeout)."""
    return status == 0 or status in GATEWAY_STATUSES


class Backoff:
    """One client's pause before its next request while its requests go unanswered."""

    __slots__ = ("failures", "rng")

    def __init__(self, rng: random.Random) -> None:
        self.failures = 0
        self.rng = rng

    def pause(self) -> float:
        """Seconds to wait before the next request: 0 while requests are answered, else a full-jitter draw
        from an exponentially growing ceiling (0.05 s, 0.1 s, ... up to 5 s)."""
        if self.failures == 0:
            return 0.0
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(self.failures - 1, 20))
        return self.rng.uniform(0.0, ceiling)

    def observe(self, status: int) -> None:
        self.failures = self.failures + 1 if unanswered(status) else 0


@dataclass
class Refusal:
    """The target refused the API key."""

    status: int
    message: str
    """The target's own words (``HTTP 401: Unauthorized``)."""


class Reachability:
    """Whether one process's requests get answers (shared by its clients)."""

    def __init__(self) -> None:
        self.failing_since: float | None = None
        """When the current run of unanswered requests began (Unix seconds); None while answers come."""
        self.last_failure: str | None = None
        """The last unanswered request's error, e.g. ``no answer: ConnectionRefusedError: ...``."""
        self.refusal: Refusal | None = None
        self.refused: Listeners[[Refusal]] = Listeners()
        """Told of the first refusal at once (the run stops on it without waiting for a watcher's tick)."""
        self.answered = 0
        self.unanswered = 0

    def observe(self, status: int, error: str | None) -> None:
        if unanswered(status):
            self.unanswered += 1
            self.last_failure = error
            if self.failing_since is None:
                self.failing_since = time.time()
            return
        self.answered += 1
        self.failing_since = None
        if status in AUTH_STATUSES and self.refusal is None:
            self.refusal = Refusal(status, error or f"HTTP {status}")
            self.refused.fire(self.refusal)

    def silent_for(self, now: float | None = None) -> float:
        """How long every request has gone unanswered (0 while answers come)."""
        if self.failing_since is None:
            return 0.0
        return max(0.0, (time.time() if now is None else now) - self.failing_since)

    def take_workers(self, failing_since: list[float | None], last_failure: str | None,
                     refusal: Refusal | None) -> None:
        """A distributed master's view from its workers' reports: the target is silent when every worker's
        requests are going unanswered (since the latest of their first failures)."""
        if refusal is not None and self.refusal is None:
            self.refusal = refusal
        if last_failure is not None:
            self.last_failure = last_failure
        silent = bool(failing_since) and all(since is not None for since in failing_since)
        self.failing_since = max(s for s in failing_since if s is not None) if silent else None
