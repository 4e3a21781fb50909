"""The rate search's traffic, and what each of its refusals proves about the window.

Every phase of the rate search (:mod:`loadtest.discovery.rate_search`), its window-measuring cycles
(:mod:`loadtest.discovery.window_cycles`) and the fixed-or-rolling test (:mod:`loadtest.discovery.split_test`)
send through :class:`RateTraffic`: paced stretches that keep few enough requests in flight that a
concurrency limit cannot answer first, a fresh window before each measurement, every refusal sorted (the
rate limit's, or another's) and turned into facts about the window, and ``Retry-After`` honoured (or, without
one, single probes until a request is admitted again).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from loadtest.contract import OPERATIONS, Op
from loadtest.discovery.evidence import RequestRecord, Step
from loadtest.discovery.operation import OperationTraffic, Stop
from loadtest.discovery.prober import Batch, Call
from loadtest.discovery.results import RateResult
from loadtest.listeners import Listeners


class RateTraffic:
    """The rate search's paced stretches on one operation, and the window facts its refusals give."""

    def __init__(self, traffic: OperationTraffic) -> None:
        self.t = traffic
        self.result = RateResult()
        """Filled in as the search goes (what it holds when interrupted is what was found)."""
        self.window_start = -math.inf
        """Where the window a request last opened alone began (a fixed window's admissions leave with it)."""
        documented = OPERATIONS[traffic.op].concurrency_limit
        self.in_flight_cap: int | None = max(1, documented // 2) if documented else None
        """Requests kept in flight at most, so a concurrency limit cannot answer first: half the documented
        concurrency, lowered whenever a 429 names the concurrency limit."""
        self.step_done: Listeners[[Op, Step]] = Listeners()
        """Told of every stretch of traffic the rate search finishes (the progress lines)."""

    def pace(self, call: Callable[[int], Call], phase: str, *, cycle: int, rate: float, duration: float = math.inf,
             limit: int | None = None, stop: Callable[[Batch], bool] | None = None,
             start: float | None = None) -> Batch:
        """A paced stretch (in flight kept under :attr:`in_flight_cap`)."""
        return self.t.p.pace(call, op=self.t.op, phase=phase, cycle=cycle, rate=rate, duration=duration,
                             limit=limit, stop=stop, start=start, max_in_flight=self.in_flight_cap)

    def step(self, step: Step) -> None:
        self.result.steps.append(step)
        self.step_done.fire(self.t.op, step)

    def fresh_at(self, window_high: float) -> float:
        """When every admission so far has left any window at most ``window_high`` long; for a window known to
        be fixed, when the last window opened is over (its admissions leave with it)."""
        t = self.t
        if self.result.kind == "fixed" and self.window_start >= t.last_admitted - window_high:
            return self.window_start + window_high + t.slack()
        return t.last_admitted + window_high + t.slack()

    def wait_fresh(self, window_high: float) -> None:
        self.t.p.sleep_until(self.fresh_at(window_high))
        self.t.p.wait_gate(self.t.op)

    def window_high(self, fallback: float) -> float:
        """The longest window the evidence allows (``fallback`` while it is unbounded)."""
        interval = self.result.window.interval()
        return interval.high if interval.bounded else fallback

    def rate_refusal(self, batch: Batch) -> RequestRecord | None:
        """The batch's first refusal, when it was the rate limit's (not concurrency's or the queue's)."""
        first = batch.first_refusal
        if first is None:
            return None
        if first.limit_hint in ("concurrency", "queue_size"):
            self.result.notes.append(
                f"a 429 named the {first.limit_hint.replace('_', '-')} limit during the rate search "
                f"({first.held} requests of /{self.t.op.value} were in flight); that window was not used")
            if first.limit_hint == "concurrency":
                cap = max(1, first.held - 1)
                self.in_flight_cap = cap if self.in_flight_cap is None else min(self.in_flight_cap, cap)
                self.result.notes.append(f"the rate search now keeps at most {self.in_flight_cap} in flight")
            return None
        return first

    def facts_from_refusal(self, refusal: RequestRecord, origin: RequestRecord, why: str) -> None:
        """Window facts from a refusal in the window ``origin`` opened: its offset and its Retry-After.

        The server saw the refusal between ``offset - rtt(origin)`` and ``offset + rtt(refusal)`` seconds
        after the window opened (each request reached it somewhere within its round trip)."""
        window = self.result.window
        earliest = refusal.sent - origin.sent - origin.rtt
        latest = refusal.sent - origin.sent + refusal.rtt
        window.refused(earliest, why)
        if refusal.retry_after is not None:
            window.retry_after(earliest, latest, refusal.retry_after, why)

    def after_refusal(self, refusal: RequestRecord, origin: RequestRecord, *, facts: bool = True) -> None:
        """Honour the refusal's Retry-After, or probe for the window's end when it has none (each probe a fact
        about the window ``origin`` opened, with ``facts``)."""
        self.t.check_retry_after(refusal)
        if refusal.retry_after is None:
            self.probe_until_admitted(refusal, origin.sent, facts=facts)

    def probe_until_admitted(self, refusal: RequestRecord, origin: float, *, facts: bool) -> float:
        """No ``Retry-After``: single requests, spaced ever wider (3% of the time since ``origin``), until one
        is admitted; each refused one (and the admitted one) bounds the window when ``facts``."""
        t = self.t
        call = t.rate_call()(0)
        last_refused = refusal.sent
        deadline = t.p.now() + t.s.max_pause_s
        while t.p.now() < deadline:
            spacing = max(0.01, 0.03 * (t.p.now() - origin), t.rtt)
            t.p.sleep_until(t.p.now() + spacing)
            t.needs_jobs(1, "a probe")
            record = t.p.send(call, phase="probe", cycle=self.result.cycles)
            if record is None:
                raise Stop("the job cap was reached while probing for the window's end")
            if record.status > 0:
                t.rtt = max(t.rtt, record.rtt)
            if record.admitted:
                t.last_admitted = max(t.last_admitted, record.sent)
                self.window_start = record.sent  # with a fixed window, the probe opened a new one
                if facts:
                    self.result.window.admitted(record.sent - origin + record.rtt, "a probe was admitted after "
                                                "the window's budget was used")
                return record.sent
            if record.throttled:
                if record.retry_after is not None:
                    return record.answered + record.retry_after  # the header appeared after all: honour it
                if facts:
                    self.result.window.refused(record.sent - origin - t.rtt, "a probe was refused")
                last_refused = record.sent
        raise Stop(f"no request was admitted for {t.s.max_pause_s:g} s after a 429 (last refused at "
                   f"{last_refused - origin:.1f} s)")
