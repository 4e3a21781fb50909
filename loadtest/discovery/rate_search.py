"""The rate search of one operation (open model, every send on a schedule): ramp, cycles, confirm, saturate.

1. *Ramp*: offer ``start_rate`` and double it every step until the first 429 (or until the ceiling rate
   has been held for ``ceiling_hold_s`` without one: no limit below it).
2. *Cycles*, each in a fresh window (after the ``Retry-After`` and after every earlier admission has left
   any window the evidence allows), each one stopped at its first refusal: a *budget* burst until refused,
   then the *fixed-or-rolling* test (:mod:`loadtest.discovery.split_test`) as soon as it can be placed, and
   *bisections* of the window's length (:mod:`loadtest.discovery.window_cycles`). Every refusal's offset
   and ``Retry-After`` bound the window (:mod:`loadtest.discovery.evidence`); the cycles stop once the window
   is known to ``precision`` (and the split test has run).
3. *Confirm*: back off to ``confirm_fraction`` of the slowest rate the evidence allows and offer it for a
   window (a fixed one; 1.25 windows otherwise): no 429 may come. Then *saturate*: offer twice the fastest
   rate allowed for a window (still honouring Retry-After): what gets through per second is the plateau of
   admitted against offered.
"""

from __future__ import annotations

import math

from loadtest.discovery.evidence import RequestRecord
from loadtest.discovery.operation import WAIT_MIN_S, OperationTraffic, Stop, documented_per_s, refused
from loadtest.discovery.rate_traffic import RateTraffic
from loadtest.discovery.results import FOUND, NOT_MEASURED, NOT_REACHED, RateResult
from loadtest.discovery.split_test import SplitTest
from loadtest.discovery.window_cycles import bisection_cycle, budget_cycle


class RateSearch:
    """Finds one operation's rate limit: its window's budget and length, and whether it is fixed or rolling."""

    def __init__(self, traffic: OperationTraffic) -> None:
        self.t = traffic
        self.rt = RateTraffic(traffic)
        self.result = self.rt.result
        self.split = SplitTest(self.rt)
        self._opened_by: RequestRecord | None = None
        """A request that just opened a fixed window alone (the last bisection's), for the confirmation."""

    def run(self) -> RateResult:
        """The whole rate search; never raises :class:`Stop` (the reason lands in the result)."""
        result = self.result
        self.t.began = self.t.p.now()
        try:
            first = self._ramp()
            if first is None:
                return result
            self._cycles(first)
            self._confirm()
            self._saturate()
        except Stop as stop:
            result.notes.append(f"stopped early: {stop}")
            if not result.reason:
                result.reason = str(stop)
        finally:
            self._conclude()
        return result

    def _start_rate(self) -> float:
        s = self.t.s
        if s.start_rate is not None:
            return min(s.start_rate, s.max_rate)
        documented = documented_per_s(self.t.op)
        start = documented / 8 if documented is not None else 1.0
        return min(max(1.0, start), s.max_rate)

    def _ramp(self) -> RequestRecord | None:
        """Double the offered rate every step until the rate limit's first 429 (returned), or the ceiling."""
        t, rt, result = self.t, self.rt, self.result
        rate = self._start_rate()
        call = t.rate_call()
        at_ceiling = 0.0
        voided = 0
        while True:
            step_s = max(t.s.ramp_step_s, 3.0 / rate)
            t.needs_jobs(math.ceil(rate * step_s), "the next ramp step")
            t.p.wait_gate(t.op)
            batch = rt.pace(call, "ramp", cycle=0, rate=rate, duration=step_s, stop=refused)
            t.p.settle(batch, timeout=WAIT_MIN_S + 10)
            t.observe(batch)
            rt.step(batch.step("ramp", 0, rate))
            if batch.capped:
                raise Stop("the job cap was reached during the ramp")
            if batch.first_refusal is not None:
                t.check_retry_after(batch.first_refusal)
                refusal = rt.rate_refusal(batch)
                if refusal is not None:
                    return refusal
                voided += 1  # the concurrency (or queue) limit answered: same rate, fewer in flight
                if voided >= 5:
                    raise Stop("five ramp steps in a row met another limit than the rate's (see notes)")
                continue
            result.lower_bound_per_s = max(result.lower_bound_per_s or 0.0, batch.step("ramp", 0, rate).admitted_per_s)
            if rate >= t.s.max_rate:
                at_ceiling += step_s
                if at_ceiling >= t.s.ceiling_hold_s:
                    result.status = NOT_REACHED
                    result.reason = (f"no 429 at {t.s.max_rate:g}/s (the --max-rate ceiling) held for "
                                     f"{at_ceiling:g} s")
                    return None
            rate = min(2 * rate, t.s.max_rate)

    def _window_bound_after_ramp(self, refusal: RequestRecord) -> float:
        """An upper bound on the window from the ramp's refusal: the window that refused it began at or after
        the ramp began and was over by the time its Retry-After ran out (or a probe got through)."""
        t = self.t
        ramp_start = min(r.sent for r in t.p.records
                         if r.op == t.op.value and r.phase == "ramp" and not math.isnan(r.sent))
        if refusal.retry_after is not None:
            return refusal.answered + refusal.retry_after - ramp_start + t.slack()
        admitted_at = self.rt.probe_until_admitted(refusal, ramp_start, facts=False)
        return admitted_at - ramp_start + t.slack()

    def _cycles(self, ramp_refusal: RequestRecord) -> None:
        """Window-measuring cycles until the window is known to ``precision`` (or a limit on cycles or time)."""
        t, rt, result, split = self.t, self.rt, self.result, self.split
        first_bound = self._window_bound_after_ramp(ramp_refusal)
        void = 0
        opened_by: RequestRecord | None = None
        while True:
            if result.cycles >= t.s.max_cycles:
                result.notes.append(f"stopped refining after {result.cycles} cycles (--max-cycles)")
                return
            if t.elapsed() > t.s.max_op_s:
                result.notes.append(f"stopped refining after {t.elapsed():.0f} s (--max-time-per-op)")
                return
            window = result.window.interval()
            high = rt.window_high(first_bound)
            chained, opened_by = opened_by, None
            outcome: bool | None
            if not result.budget.known:
                outcome = budget_cycle(rt, high)
            elif split.untold and split.ready(window):
                outcome = split.run(window)
            elif window.relative_width > t.s.precision or not window.bounded:
                outcome, opened_by = bisection_cycle(rt, window, high, chained)
            elif split.worth_a_try(window):
                outcome = split.run(window, rate=t.s.max_rate, rtts=1)
            elif chained is not None:
                self._opened_by = chained
                return
            elif split.untold and int(result.budget.value()) >= 2:
                result.kind_reason = split.not_placed_reason()
                return
            else:
                return
            result.cycles += 1
            if outcome is None:  # a split test that did not land as planned: neither news nor a void window
                continue
            void = 0 if outcome else void + 1
            if void >= 3:
                raise Stop("three windows in a row told nothing about the rate limit (see notes)")

    def _confirm(self) -> None:
        """Back off below the slowest rate the evidence allows and offer it for two windows: no 429 expected."""
        t, rt, result = self.t, self.rt, self.result
        if not result.budget.known:
            return
        window = result.window.interval()
        if not window.bounded:
            return
        low_budget = result.budget.interval()[0]
        rate = t.s.confirm_fraction * low_budget / window.high
        fixed = result.kind == "fixed"
        # A fixed window opens with the stream's first request: a stream just shorter than the shortest
        # window possible fills one window at the rate, and that window is over by start + longest window.
        # Any other window: one and a quarter of the longest covers every position of a sliding one.
        duration = max(window.low * 0.999 if fixed else 1.25 * window.high, 5 / rate)
        t.needs_jobs(math.ceil(rate * duration) + 1, "the confirmation below the limit")
        opened_by, self._opened_by = self._opened_by, None
        if fixed and opened_by is not None and 1 + rate * window.high <= low_budget:
            # the window the last bisection request opened holds it alone: the stream fits in it from here
            origin = opened_by.sent
            start = origin + 1 / rate
        else:
            rt.wait_fresh(window.high)
            origin = start = t.p.now()
        batch = rt.pace(t.rate_call(), "confirm", cycle=result.cycles, rate=rate, duration=duration, start=start)
        rt.window_start = origin if fixed and duration < window.low else -math.inf
        t.p.settle(batch, timeout=WAIT_MIN_S + 10)
        t.observe(batch)
        rt.step(batch.step("confirm", result.cycles, rate))
        result.confirm_rate = rate
        result.confirmed = batch.throttled == 0 and not batch.capped
        if result.confirmed:
            result.no_429_rates.append(rate)
        else:
            result.notes.append(f"not confirmed: {batch.throttled} of {len(batch.records)} requests at {rate:.3g}/s "
                                f"(below the limit found) were refused")
        if batch.first_refusal is not None:
            t.check_retry_after(batch.first_refusal)

    def _saturate(self) -> None:
        """Offer twice the fastest rate the evidence allows for a window, honouring Retry-After: what gets
        through per second is the limit seen from the client (the plateau of admitted against offered)."""
        t, rt, result = self.t, self.rt, self.result
        window = result.window.interval()
        if not result.budget.known or not window.bounded or window.low <= 0:
            return
        rate = min(t.s.max_rate, 2 * result.budget.interval()[1] / window.low)
        duration = window.high
        t.needs_jobs(math.ceil(2.5 * result.budget.interval()[1]) + 1, "the saturation step")
        rt.wait_fresh(window.high)
        batch = rt.pace(t.rate_call(), "saturate", cycle=result.cycles, rate=rate, duration=duration)
        rt.window_start = -math.inf  # windows rolled over during the stream; where the last began is unknown
        t.p.settle(batch, timeout=WAIT_MIN_S + 10)
        t.observe(batch)
        rt.step(batch.step("saturate", result.cycles, rate))
        if batch.throttled:
            result.throttled_rates.append(rate)
        if batch.first_refusal is not None:
            t.check_retry_after(batch.first_refusal)

    def _conclude(self) -> None:
        """The search's status: found when a budget and a consistent, bounded window are known."""
        result = self.result
        if result.status == NOT_REACHED:
            return
        refused_any = any(step.throttled for step in result.steps)
        if not refused_any and result.lower_bound_per_s:
            result.status = NOT_REACHED
            result.reason = f"no 429 up to {result.lower_bound_per_s:.3g}/s admitted; {result.reason or 'stopped'}"
            return
        window = result.window.interval()
        if not window.consistent:
            result.notes.append("the window evidence contradicts itself (budget changing, or other traffic on "
                                "the endpoint?); the interval shown is the hard facts' span")
        if window.dropped:
            result.notes.append("Retry-After did not fit the other evidence and was not used to bound the window "
                                f"({', '.join(window.dropped)})")
        if result.budget.known and window.bounded and window.consistent:
            result.status = FOUND
            result.reason = ""
        elif result.status != FOUND:
            result.status = NOT_MEASURED
            if not result.reason:
                result.reason = ("no window bounded by the evidence" if result.budget.known
                                 else "no clean window was measured")
