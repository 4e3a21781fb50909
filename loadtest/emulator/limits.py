"""The documented limits, enforced per endpoint: rate per window, requests in flight, queue size, payload.

Every figure comes from :mod:`loadtest.contract`; ``LimitsConfig`` switches each kind off or overrides it.
chosen: the rate window is fixed and starts with the first request after the previous window ended; a
refused request does not use up budget. Retry-After is the whole seconds until the window ends (rate),
or 1 (concurrency, queue size).
"""

from __future__ import annotations

import math

from loadtest import contract
from loadtest.contract import OPERATIONS, Op
from loadtest.emulator_config import EndpointConfig

RATE = "rate"
CONCURRENCY = "concurrency"
QUEUE_SIZE = "queue_size"
REASONS: tuple[str, ...] = (RATE, CONCURRENCY, QUEUE_SIZE)


class OpLimit:
    """The budget of one operation on one endpoint."""

    __slots__ = ("count", "in_flight", "max_in_flight", "per_worker", "rate", "window_end")

    def __init__(self, rate: int | None, max_in_flight: int | None, per_worker: int | None = None) -> None:
        self.rate = rate
        self.per_worker = per_worker
        self.max_in_flight = max_in_flight
        self.count = 0
        self.window_end = -math.inf
        self.in_flight = 0


class Limits:
    """Admission control for one endpoint. ``admit`` then, if admitted, ``release`` when answered."""

    def __init__(self, config: EndpointConfig) -> None:
        limits = config.limits
        self.window = float(limits.window)
        self.ops: dict[str, OpLimit] = {}
        for op, operation in OPERATIONS.items():
            rate = limits.rate_overrides.get(op, operation.rate_limit) if limits.rate else None
            conc = limits.concurrency_overrides.get(op, operation.concurrency_limit) if limits.concurrency else None
            per_worker = limits.rate_per_worker.get(op) if limits.rate else None
            self.ops[op.value] = OpLimit(rate, conc, per_worker)
        self.queue_size_limit: int | None = None
        if limits.queue_size:
            self.queue_size_limit = (
                limits.queue_size_limit
                if limits.queue_size_limit is not None
                else contract.queue_size_limit(config.workers_max)
            )
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
            if now >= limit.window_end:
                limit.window_end = now + self.window
                limit.count = 0
            if limit.count >= self.rate_budget(op):
                return RATE
            limit.count += 1
        limit.in_flight += 1
        return None

    def rate_budget(self, op: str) -> int:
        """Requests of ``op`` allowed in the current window (dynamic when ``rate_per_worker`` is set)."""
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
        """Whole seconds a refused client should wait (the ``Retry-After`` header)."""
        if reason == RATE:
            return max(1, math.ceil(self.ops[op].window_end - now))
        return 1

    def queue_full(self, queued: int) -> bool:
        """The queue-size rule: refuse submissions while the queue exceeds the limit."""
        return self.queue_size_limit is not None and queued > self.queue_size_limit

    def describe(self, op: str, reason: str) -> str:
        """The 429 message, naming the limit."""
        limit = self.ops[op]
        if reason == RATE:
            return f"rate limit exceeded: {op} allows {self.rate_budget(op)} requests per {self.window:g} s"
        if reason == CONCURRENCY:
            return f"concurrency limit exceeded: {op} allows {limit.max_in_flight} requests in flight"
        return f"queue size limit exceeded: more than {self.queue_size_limit} jobs are queued"
