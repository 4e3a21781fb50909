"""Client-side limiters for the ``respect`` policy: stay under the limits in force instead of meeting 429s.

Two limits per operation, the run's limits in force (:class:`loadtest.limits_in_force.LimitsInForce`:
documented, the emulator's, discovered, or the scenario's own): requests per rate window and requests in
flight. Both are enforced a little below the limit (``margin``) so that jitter between our send time and
the server's arrival time cannot tip a window over; the scenario's own figures are used as given.

The budget is a *share*: with N Locust processes each gets ``limit / N``; :meth:`ClientLimiters.set_share`
changes it at run time (a master can hand each worker its share). Everything here is cooperative
(gevent greenlets, no OS threads), so plain attribute updates need no locks.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import gevent
from gevent.event import Event

from loadtest.contract import Op
from loadtest.limits_in_force import ConcurrencyLimit, LimitsInForce, RateLimit, Source

DEFAULT_MARGIN = 0.05
"""Fraction of each limit left unused by default."""


def window_slack(window: float) -> float:
    """Extra seconds added to every rate window: a full budget sent just as the previous one leaves the
    window lands right at the server's window boundary, so a few milliseconds of delay jitter between us
    and the server (connection set-up, scheduling, a busy server) would push it into the old window."""
    return min(max(0.1, 0.02 * window), 0.5)


def usable(limit: float, margin: float) -> float:
    """The part of ``limit`` we allow ourselves: ``limit * (1 - margin)``, and at least one below a limit
    of two or more (a margin of 5% of 20 is one request; of 2 it would be nothing)."""
    budget = limit * (1.0 - margin)
    if limit >= 2:
        budget = min(budget, limit - 1)
    return max(budget, 0.0)


class WindowLimiter:
    """At most ``budget`` starts in any sliding interval of ``window`` seconds.

    A sliding log is stricter than a server's fixed windows, so staying under it keeps every fixed window
    under too; the window is lengthened by :func:`window_slack` against delay jitter. A fractional budget
    (a share of a small limit, e.g. 2 per 10 s split four ways) becomes one start per stretched window,
    which keeps the same long-run rate without ever exceeding it.
    """

    def __init__(
        self,
        budget: float,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = gevent.sleep,
    ) -> None:
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        self._window = window
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self.set_budget(budget)

    @property
    def budget(self) -> float:
        return self._budget

    def set_budget(self, budget: float) -> None:
        """Change the budget at run time (e.g. a new share); waiters pick it up on their next check."""
        if budget <= 0:
            raise ValueError(f"a rate budget must be positive, got {budget}")
        self._budget = budget
        self._capacity = max(1, math.floor(budget))
        self._span = self._window * self._capacity / budget + window_slack(self._window)

    def acquire(self, cancel: Event | None = None) -> float | None:
        """Wait until a start is allowed, take it, and return the seconds waited.

        With ``cancel``: give up as soon as it is set and return None (the run is ending).
        """
        began = self._clock()
        while True:
            if cancel is not None and cancel.is_set():
                return None
            now = self._clock()
            horizon = now - self._span
            starts = self._starts
            while starts and starts[0] <= horizon:
                starts.popleft()
            if len(starts) < self._capacity:
                starts.append(now)
                return now - began
            pause = max(starts[0] - horizon, 0.0005)
            if cancel is not None:
                cancel.wait(pause)
            else:
                self._sleep(pause)


class ConcurrencyLimiter:
    """At most ``limit`` holders at once; the limit can change while greenlets wait."""

    def __init__(self, limit: int) -> None:
        self._in_use = 0
        self._waiters: deque[Event] = deque()
        self.set_limit(limit)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_use(self) -> int:
        return self._in_use

    def set_limit(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a concurrency limit must be at least 1, got {limit}")
        self._limit = limit
        self._wake()

    def acquire(self) -> None:
        if self._in_use < self._limit and not self._waiters:
            self._in_use += 1
            return
        ready = Event()
        self._waiters.append(ready)
        try:
            ready.wait()
        except BaseException:
            if ready in self._waiters:
                self._waiters.remove(ready)
            elif ready.is_set():  # the slot was handed to us just as we were killed: pass it on
                self.release()
            raise

    def release(self) -> None:
        self._in_use -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self._limit:
            self._in_use += 1
            self._waiters.popleft().set()


class OperationLimiter:
    """Both limits of one operation; ``slot()`` holds a concurrency place and takes a rate start."""

    def __init__(self, rate: RateLimit | None, concurrency: ConcurrencyLimit | None, margin: float,
                 share: float) -> None:
        self.rate_limit = rate
        self.concurrency_limit = concurrency
        self._margin = margin
        self.rate: WindowLimiter | None = None
        self.concurrency: ConcurrencyLimiter | None = None
        self.set_share(share)

    def _margin_of(self, figure: RateLimit | ConcurrencyLimit) -> float:
        """No margin on the scenario's own figures: they are the client's limits, used as given."""
        return 0.0 if figure.source is Source.SCENARIO else self._margin

    def set_share(self, share: float) -> None:
        """Use ``share`` (0 < share <= 1) of this operation's limits (at the cautious end of a discovered one)."""
        if self.rate_limit is not None:
            margin = self._margin_of(self.rate_limit)
            allowed = self.rate_limit.safe_value * share
            budget = usable(allowed, margin) if margin else allowed
            if self.rate is None:
                self.rate = WindowLimiter(budget, self.rate_limit.safe_window_s)
            else:
                self.rate.set_budget(budget)
        if self.concurrency_limit is not None:
            margin = self._margin_of(self.concurrency_limit)
            allowed = self.concurrency_limit.safe_value * share
            limit = max(1, math.floor(usable(allowed, margin) if margin else allowed))
            if self.concurrency is None:
                self.concurrency = ConcurrencyLimiter(limit)
            else:
                self.concurrency.set_limit(limit)

    @contextmanager
    def slot(self, cancel: Event | None = None) -> Iterator[float | None]:
        """Hold a place for one request; yields the seconds spent waiting, or None when ``cancel`` was set
        while waiting (then the request must not be sent)."""
        began = time.monotonic()
        if self.concurrency is not None:
            self.concurrency.acquire()
        try:
            granted = True
            if self.rate is not None:
                granted = self.rate.acquire(cancel) is not None
            yield (time.monotonic() - began) if granted else None
        finally:
            if self.concurrency is not None:
                self.concurrency.release()


class ClientLimiters:
    """The client's limiters, one per limited operation, sharing ``1 / processes`` of each limit.

    ``respect``: every limit in force, ``margin`` below it (the scenario's own figures as given);
    otherwise (``probe``, ``ignore``) only the limits the scenario sets for the client itself.
    """

    def __init__(self, limits: LimitsInForce, *, respect: bool, margin: float = DEFAULT_MARGIN,
                 processes: int = 1) -> None:
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        self.margin = margin
        self._share = 1.0 / max(1, processes)
        self._by_op: dict[Op, OperationLimiter] = {}
        for op, figures in limits.operations.items():
            rate, concurrency = figures.rate, figures.concurrency
            if not respect:
                rate = rate if rate is not None and rate.source is Source.SCENARIO else None
                concurrency = concurrency if concurrency is not None and concurrency.source is Source.SCENARIO \
                    else None
            if rate is not None or concurrency is not None:
                self._by_op[op] = OperationLimiter(rate, concurrency, margin, self._share)

    @property
    def share(self) -> float:
        return self._share

    @property
    def active(self) -> bool:
        """True when at least one operation is limited."""
        return bool(self._by_op)

    def set_share(self, share: float) -> None:
        """Change this process's share of every limit at run time (``1 / N`` for N equal processes)."""
        if not 0 < share <= 1:
            raise ValueError(f"a share must be in (0, 1], got {share}")
        self._share = share
        for limiter in self._by_op.values():
            limiter.set_share(share)

    def for_op(self, op: Op) -> OperationLimiter | None:
        return self._by_op.get(op)

    @contextmanager
    def slot(self, op: Op, cancel: Event | None = None) -> Iterator[float | None]:
        """See :meth:`OperationLimiter.slot`; operations without limits get their place at once."""
        limiter = self._by_op.get(op)
        if limiter is None:
            yield 0.0
            return
        with limiter.slot(cancel) as waited:
            yield waited
