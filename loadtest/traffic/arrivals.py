"""The open model: jobs arrive on a schedule, however slowly the target answers.

Locust's users form a closed loop (a user waits for its answer before its next request), so a slow
target quietly lowers the offered load ("coordinated omission"). Here one dispatcher greenlet starts
each arrival at its scheduled instant, on a pool capped at ``max_in_flight``; an arrival that finds the
pool full is *dropped* and counted (k6's ``dropped_iterations``), never silently skipped.

The schedule is a cumulative arrival curve ``C(t)`` built from phases (constant, ramped; evenly spaced
or Poisson). Arrival *k* happens when ``C(t)`` reaches target *k*: the integers for even spacing, sums
of unit exponentials for Poisson. Times are absolute offsets from the start, so a late wake-up never
shifts later arrivals and the long-run rate stays exact.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypedDict

import gevent
from gevent.event import Event
from gevent.pool import Pool


@dataclass(frozen=True, slots=True)
class ArrivalPhase:
    """``duration`` seconds of arrivals at ``rate`` per second, ramping linearly to ``end_rate`` if given."""

    duration: float
    rate: float
    end_rate: float | None = None

    @property
    def final_rate(self) -> float:
        return self.rate if self.end_rate is None else self.end_rate

    @property
    def expected_arrivals(self) -> float:
        return (self.rate + self.final_rate) / 2 * self.duration


def _offset_within(phase: ArrivalPhase, amount: float) -> float:
    """Seconds into ``phase`` at which its cumulative arrivals reach ``amount``.

    Solves ``r0*u + a*u^2 = amount`` with ``a = (r1 - r0) / (2 * duration)`` in the form that stays
    accurate when ``a`` is zero or negative.
    """
    if amount <= 0:
        return 0.0
    r0 = phase.rate
    a = (phase.final_rate - r0) / (2 * phase.duration)
    discriminant = max(r0 * r0 + 4 * a * amount, 0.0)
    denominator = r0 + math.sqrt(discriminant)
    return 2 * amount / denominator if denominator > 0 else phase.duration


def arrival_offsets(
    phases: Iterable[ArrivalPhase], *, poisson: bool = False, seed: int | None = None, scale: float = 1.0
) -> Iterator[float]:
    """Scheduled arrival times, in seconds from the start, in order.

    ``scale`` multiplies every rate (a process's share of a distributed open model). Evenly spaced
    arrivals start at 0 and each phase is half-open, so 20/s for 3 s gives exactly 60 arrivals.
    """
    rng = random.Random(seed)
    next_target = rng.expovariate(1.0) if poisson else 0.0
    phase_start = 0.0
    cumulative_before = 0.0
    for raw in phases:
        phase = ArrivalPhase(raw.duration, raw.rate * scale, None if raw.end_rate is None else raw.end_rate * scale)
        if phase.duration <= 0:
            continue
        total = phase.expected_arrivals
        while next_target < cumulative_before + total:
            offset = _offset_within(phase, next_target - cumulative_before)
            if offset >= phase.duration:
                break
            yield phase_start + offset
            next_target += rng.expovariate(1.0) if poisson else 1.0
        phase_start += phase.duration
        cumulative_before += total


@dataclass
class DispatchStats:
    """What the dispatcher did: every scheduled arrival is either started or dropped."""

    scheduled: int = 0
    started: int = 0
    dropped: int = 0
    lateness_max: float = 0.0
    """Largest delay between an arrival's scheduled instant and its start, in seconds."""
    lateness_total: float = 0.0
    first_start: float | None = None
    last_start: float | None = None
    start_times: list[float] = field(default_factory=list)
    """Start instants (monotonic clock), kept only when the dispatcher was asked to keep them."""

    @property
    def lateness_mean(self) -> float:
        return self.lateness_total / self.started if self.started else 0.0

    def achieved_rate(self) -> float | None:
        """Arrivals per second between the first and the last arrival (started and dropped alike)."""
        handled = self.started + self.dropped
        if handled < 2 or self.first_start is None or self.last_start is None:
            return None
        span = self.last_start - self.first_start
        return (handled - 1) / span if span > 0 else None


class DispatchFigures(TypedDict):
    """What the open-model dispatcher(s) of a run did (``run.settings.open_model`` in summary.json)."""

    scheduled: int
    started: int
    dropped: int
    achieved_rate: float | None
    lateness_max_s: float
    lateness_mean_s: float


def dispatch_figures(dispatcher: ArrivalDispatcher | None) -> DispatchFigures | None:
    """The figures of one dispatcher; None for a closed-model run (no dispatcher)."""
    if dispatcher is None:
        return None
    stats = dispatcher.stats
    return {
        "scheduled": stats.scheduled, "started": stats.started, "dropped": stats.dropped,
        "achieved_rate": stats.achieved_rate(), "lateness_max_s": stats.lateness_max,
        "lateness_mean_s": stats.lateness_mean,
    }


def add_dispatch_figures(parts: list[DispatchFigures]) -> DispatchFigures | None:
    """Several processes' dispatchers as one: counts and rates add, the worst lateness counts."""
    if not parts:
        return None
    rates = [p["achieved_rate"] for p in parts if p["achieved_rate"]]
    started = sum(p["started"] for p in parts)
    return {
        "scheduled": sum(p["scheduled"] for p in parts), "started": started,
        "dropped": sum(p["dropped"] for p in parts), "achieved_rate": sum(rates) if rates else None,
        "lateness_max_s": max(p["lateness_max_s"] for p in parts),
        "lateness_mean_s": sum(p["lateness_mean_s"] * p["started"] for p in parts) / started if started else 0.0,
    }


class ArrivalDispatcher:
    """Starts ``start_arrival()`` at each scheduled offset on a pool of ``max_in_flight`` greenlets."""

    def __init__(
        self,
        offsets: Iterable[float],
        start_arrival: Callable[[], object],
        max_in_flight: int,
        on_dropped: Callable[[], object] = lambda: None,
        *,
        keep_start_times: bool = False,
        stop_event: Event | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self._offsets = offsets
        self._start_arrival = start_arrival
        self._on_dropped = on_dropped
        self._keep = keep_start_times
        self.pool = Pool(max_in_flight)
        self.stats = DispatchStats()
        self._stop = stop_event if stop_event is not None else Event()
        self.began: float | None = None
        """Monotonic instant the schedule started (offset 0)."""
        self.finished = False
        """True once every scheduled arrival was started or dropped."""

    @property
    def in_flight(self) -> int:
        return len(self.pool)

    def stop(self) -> None:
        """Schedule no more arrivals; those already started run on."""
        self._stop.set()

    def run(self) -> DispatchStats:
        """Dispatch the whole schedule (or until :meth:`stop`), in the calling greenlet."""
        began = self.began = time.monotonic()
        stats = self.stats
        for offset in self._offsets:
            due = began + offset
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            if self._stop.is_set():
                break
            now = time.monotonic()
            stats.scheduled += 1
            if stats.first_start is None:
                stats.first_start = now
            stats.last_start = now
            if self.pool.full():
                stats.dropped += 1
                self._on_dropped()
                continue
            lateness = max(now - due, 0.0)
            stats.lateness_total += lateness
            stats.lateness_max = max(stats.lateness_max, lateness)
            stats.started += 1
            if self._keep:
                stats.start_times.append(now)
            self.pool.spawn(self._start_arrival)
        else:
            self.finished = True
        return stats

    def join(self, timeout: float | None = None) -> bool:
        """Wait for started arrivals to finish; True when none is left."""
        return self.pool.join(timeout=timeout)

    def kill(self) -> None:
        self.pool.kill(block=True, timeout=5)


def sleep_until(deadline: float) -> None:
    """Cooperative sleep until a monotonic instant."""
    remaining = deadline - time.monotonic()
    if remaining > 0:
        gevent.sleep(remaining)
