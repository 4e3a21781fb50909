"""Admission control per endpoint: the limits enforced on each request (rate per window, requests in
flight, queue size, payload).

The figures are the endpoint's limits in force (:class:`loadtest.limits_in_force.LimitsInForce`: the
documented table with the endpoint's ``LimitsConfig`` applied: switches, other values, window length per
operation, fixed or rolling window, per-worker rate); this module holds the windows and counters that
enforce them, exactly, so a discovery run can be checked against them:

- ``fixed`` (chosen default): a window opens with the first request that finds none open and lasts
  ``window``; it admits ``rate`` requests. ``rolling`` (sliding log): a request at ``t`` is admitted while
  fewer than ``rate`` requests were admitted in ``(t - window, t]``.
- A refused request uses no budget; a request refused for concurrency never opens a window.
- ``Retry-After`` is truthful: the whole seconds (rounded up, at least 1) until a request would be
  admitted if nothing else arrived: the end of the fixed window, or the moment enough admissions leave
  the rolling window. 1 for concurrency and queue size (a slot can free at any moment).
"""

from __future__ import annotations

import math
from collections import deque

from loadtest import contract
from loadtest.contract import Op
from loadtest.emulator_config import EndpointConfig
from loadtest.limits_in_force import LimitsInForce

RATE = "rate"
CONCURRENCY = "concurrency"
QUEUE_SIZE = "queue_size"
REASONS: tuple[str, ...] = (RATE, CONCURRENCY, QUEUE_SIZE)


class OpLimit:
    """The budget of one operation on one endpoint, and what it has admitted."""

    __slots__ = ("admitted", "count", "in_flight", "max_in_flight", "per_worker", "rate", "window", "window_end")

    def __init__(
        self, rate: int | None, max_in_flight: int | None, per_worker: int | None = None, window: float = 1.0,
        rolling: bool = False,
    ) -> None:
        self.rate = rate
        self.per_worker = per_worker
        self.max_in_flight = max_in_flight
        self.window = window
        self.count = 0
        """Admitted in the current fixed window."""
        self.window_end = -math.inf
        self.admitted: deque[float] | None = deque() if rolling else None
        """Rolling window: when each request still inside the window was admitted (oldest first)."""
        self.in_flight = 0


class Admission:
    """Admission control for one endpoint. ``admit`` then, if admitted, ``release`` when answered."""

    def __init__(self, config: EndpointConfig) -> None:
        limits = config.limits
        self.in_force = LimitsInForce.resolve(emulator=limits, workers_max=config.workers_max)
        """The figures enforced (the documented ones with this endpoint's configuration applied)."""
        self.window = float(limits.window)
        """The default window length (operations may override it)."""
        self.window_kind = limits.window_kind
        rolling = limits.window_kind == "rolling"
        self.ops: dict[str, OpLimit] = {}
        for op, figures in self.in_force.operations.items():
            rate, concurrency = figures.rate, figures.concurrency
            self.ops[op.value] = OpLimit(
                int(rate.value) if rate is not None else None,
                int(concurrency.value) if concurrency is not None else None,
                int(rate.per_worker) if rate is not None and rate.per_worker else None,
                rate.window_s if rate is not None else self.window,
                rolling,
            )
        queue_size = self.in_force.queue_size
        self.queue_size_limit: int | None = queue_size.value if queue_size is not None else None
        self.unlimited = all(limit.rate is None and limit.max_in_flight is None for limit in self.ops.values())
        """No rate or concurrency limit on any operation: admission is just counting."""
        self.payload_limits: dict[str, int | None] = {}
        for op in (Op.RUN, Op.RUNSYNC, Op.OPENAI):
            documented = contract.PAYLOAD_LIMIT_BYTES.get(op, contract.PAYLOAD_LIMIT_BYTES[Op.RUNSYNC])
            self.payload_limits[op.value] = limits.payload_overrides.get(op, documented) if limits.payload else None

    def admit(self, op: str, now: float) -> str | None:
        """Take one request of ``op`` in; the reason it is refused, or None (then ``release`` later)."""
        limit = self.ops[op]
        if limit.max_in_flight is not None and limit.in_flight >= limit.max_in_flight:
            return CONCURRENCY
        if limit.rate is not None:
            admitted = limit.admitted
            if admitted is None:
                if now >= limit.window_end:
                    limit.window_end = now + limit.window
                    limit.count = 0
                if limit.count >= self.rate_budget(op):
                    return RATE
                limit.count += 1
            else:
                edge = now - limit.window
                while admitted and admitted[0] <= edge:
                    admitted.popleft()
                if len(admitted) >= self.rate_budget(op):
                    return RATE
                admitted.append(now)
        limit.in_flight += 1
        return None

    def rate_budget(self, op: str) -> int:
        """Requests of ``op`` allowed per window now (dynamic when ``rate_per_worker`` is set)."""
        limit = self.ops[op]
        rate = limit.rate or 0
        if limit.per_worker:
            return max(rate, self.running_workers() * limit.per_worker)
        return rate

    @staticmethod
    def running_workers() -> int:
        """Replaced by the endpoint with its workers' count (running workers raise dynamic budgets)."""
        return 0

    def release(self, op: str) -> None:
        self.ops[op].in_flight -= 1

    def retry_after(self, op: str, reason: str, now: float) -> int:
        """Whole seconds a refused client should wait (the ``Retry-After`` header), rounded up."""
        if reason != RATE:
            return 1
        limit = self.ops[op]
        admitted = limit.admitted
        if admitted is None:
            wait = limit.window_end - now
        else:
            budget = self.rate_budget(op)
            # the request is admitted once all but budget - 1 of the admissions in the window have left
            leaving = len(admitted) - budget
            wait = admitted[leaving] + limit.window - now if 0 <= leaving < len(admitted) else limit.window
        return max(1, math.ceil(wait - 1e-9))

    def queue_full(self, queued: int) -> bool:
        """The queue-size rule: refuse submissions while the queue exceeds the limit."""
        return self.queue_size_limit is not None and queued > self.queue_size_limit

    def describe(self, op: str, reason: str) -> str:
        """The 429 message, naming the limit."""
        limit = self.ops[op]
        if reason == RATE:
            return (
                f"rate limit exceeded: {op} allows {self.rate_budget(op)} requests per {limit.window:g} s "
                f"({self.window_kind} window)"
            )
        if reason == CONCURRENCY:
            return f"concurrency limit exceeded: {op} allows {limit.max_in_flight} requests in flight"
        return f"queue size limit exceeded: more than {self.queue_size_limit} jobs are queued"
