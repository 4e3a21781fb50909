"""The fixed-or-rolling test: is a rate window fixed (it starts afresh) or rolling (it slides with time)?

Half the budget at the start of a fresh window, the rest half a window later, then a burst just after the
window ends: a fixed window admits ``B`` again, a rolling one only the first half. Planned with margins of a
few typical round trips at the rate bursts really reach; where the groups landed is then checked from each
request's own times, and a test a slow moment moved is placed again (a busy machine delays some sends and
answers, and must not make the verdict wrong).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadtest.discovery.evidence import Interval, split_misplacements, window_kind
from loadtest.discovery.operation import WAIT_MIN_S, refused
from loadtest.discovery.prober import Batch
from loadtest.discovery.rate_traffic import RateTraffic

SPLIT_TRIES = 3
"""Times the fixed-or-rolling test is placed before giving up, when a busy machine or network moves its groups."""


@dataclass(frozen=True)
class _Placed:
    """The test's three groups as sent: ``first`` requests, ``second`` more ``second_at`` seconds later, then
    the burst just after the window."""

    cycle: int
    first: int
    second: int
    second_at: float
    group1: Batch
    group2: Batch
    group3: Batch


class SplitTest:
    """The fixed-or-rolling test of one operation's rate window (placed up to :data:`SPLIT_TRIES` times)."""

    def __init__(self, rate_traffic: RateTraffic) -> None:
        self.rt = rate_traffic
        self.tries = 0

    @property
    def untold(self) -> bool:
        """The test has neither told the window's kind nor been given up."""
        result = self.rt.result
        return result.kind is None and result.kind_reason == "not tested"

    def plan(self, window: Interval, rate: float | None = None, rtts: int = 4) -> tuple[float, float] | None:
        """When to send the second half-budget and the burst after the window (offsets from the first
        request), or None while the window is not known well enough to tell fixed from rolling.

        With halves of ``d`` seconds each at the burst rate: the second half must end inside the window
        (``t2 + d < W_low``); the burst after the window starts once the first half has left any window
        (``T = W_high + d + delta``) and must send half a budget before the second half starts leaving a
        rolling window (``T + d < t2 + W_low``)."""
        result = self.rt.result
        if not result.budget.known or int(result.budget.value()) < 2 or not window.bounded:
            return None
        budget = int(result.budget.value())
        half = (budget // 2 + 1) / (rate or self.rt.t.burst_rate())
        delta = self._delta(window, rtts)
        third = window.high + half + delta
        low = third + half + delta - window.low
        high = window.low - half - delta
        if low >= high:
            return None
        return (low + high) / 2, third

    def ready(self, window: Interval) -> bool:
        return self.plan(window) is not None

    def worth_a_try(self, window: Interval) -> bool:
        """The window is known, the test still untold and not plannable with the margins it is first planned
        with (a busy machine slows bursts and answers): try it at the full rate and with a margin of one
        round trip while tries remain, since where its groups landed is checked afterwards."""
        return (self.untold and self.tries < SPLIT_TRIES
                and self.plan(window, self.rt.t.s.max_rate, rtts=1) is not None)

    def not_placed_reason(self) -> str:
        if self.tries:
            return (f"not told: the test was placed {self.tries} times and its groups did not land where "
                    "planned (answers too uneven; see notes)")
        t = self.rt.t
        return (f"not told: the test does not fit in the window with bursts at {t.burst_rate():.3g}/s and "
                f"round trips of {1000 * t.typical_rtt():.3g} ms")

    def _delta(self, window: Interval, rtts: int = 4) -> float:
        """The margin around each group: a few typical round trips (where each group really landed is
        checked afterwards, so one slow answer need not push the test out of reach)."""
        return max(0.02 * window.high, rtts * self.rt.t.typical_rtt(), 0.01)

    def run(self, window: Interval, rate: float | None = None, rtts: int = 4) -> bool | None:
        """The test; whether it told anything, or None when its groups did not land where planned (it is
        placed again, up to :data:`SPLIT_TRIES` times). Planned for bursts at ``rate`` (by default the
        slowest of the recent bursts) with margins of ``rtts`` typical round trips."""
        placed = self._place(window, rate, rtts)
        if placed is None:
            return False
        return self._judge(window, placed)

    def _place(self, window: Interval, rate: float | None, rtts: int) -> _Placed | None:
        """Send the three groups where the plan puts them; None when the first two were not all admitted (the
        budget had changed) or nothing could be sent."""
        rt = self.rt
        t, result = rt.t, rt.result
        budget = int(result.budget.value())
        first, second = budget // 2, budget - budget // 2
        t.needs_jobs(2 * budget + 1, "the fixed-or-rolling test")
        plan = self.plan(window, rate, rtts)
        assert plan is not None  # checked by the caller
        second_at, third_offset = plan
        rt.wait_fresh(window.high)
        call = t.rate_call()
        cycle = result.cycles
        start = t.p.now()
        group1 = rt.pace(call, "split", cycle=cycle, rate=t.s.max_rate, limit=first, stop=refused, start=start)
        t.p.settle(group1, timeout=WAIT_MIN_S + 10)
        self.tries += 1
        origin = group1.first_sent
        if origin is None:
            return None
        t.p.sleep_until(origin.sent + second_at)
        group2 = rt.pace(call, "split", cycle=cycle, rate=t.s.max_rate, limit=second, stop=refused)
        t.p.settle(group2, timeout=WAIT_MIN_S + 10)
        # the burst begins once the first group has surely left the window, however late its answers came
        answered = [r.answered for r in group1.records if r.done and not math.isnan(r.answered)]
        third_at = max(origin.sent + third_offset, max(answered, default=-math.inf) + window.high + 0.001)
        for batch in (group1, group2):
            t.observe(batch)
        if group1.throttled or group2.throttled or group2.first_sent is None:
            refusal = group1.first_refusal or group2.first_refusal
            result.kind_reason = "the budget had changed: the first two groups were not all admitted"
            if refusal is not None:
                rt.after_refusal(refusal, origin)
            return None
        t.p.sleep_until(third_at)
        t.p.wait_gate(t.op)
        group3 = rt.pace(call, "split", cycle=cycle, rate=t.s.max_rate, limit=budget + 1, stop=refused)
        t.p.settle(group3, timeout=WAIT_MIN_S + 10)
        t.observe(group3)
        whole = Batch(records=group1.records + group2.records + group3.records, skipped=group3.skipped,
                      started=start, ended=t.p.now())
        rt.step(whole.step("split", cycle, t.s.max_rate))
        return _Placed(cycle, first, second, second_at, group1, group2, group3)

    def _judge(self, window: Interval, placed: _Placed) -> bool | None:
        """Fixed, rolling or neither, from what the burst after the window got; None when the groups did not
        land where planned."""
        rt = self.rt
        result = rt.result
        cycle, first, second, group3 = placed.cycle, placed.first, placed.second, placed.group3
        second_origin = placed.group2.first_sent
        assert second_origin is not None  # checked by _place
        third_origin = group3.first_sent
        refusal = rt.rate_refusal(group3)
        if third_origin is None:
            return False
        tolerance = max(0, (first + second) // 10)
        misplaced = split_misplacements(placed.group1.records, placed.group2.records, group3.records, window,
                                        first + tolerance + 1)
        if misplaced:
            again = self.tries < SPLIT_TRIES
            result.notes.append(f"cycle {cycle}: the fixed-or-rolling test did not land as planned "
                                f"({'; '.join(misplaced)}); " + ("it is placed again" if again else "given up"))
            if not again:
                result.kind_reason = (f"not told: in {SPLIT_TRIES} tries the test's groups did not land where "
                                      "planned (answers too uneven; see notes)")
            if group3.first_refusal is not None:
                rt.after_refusal(group3.first_refusal, third_origin, facts=False)
            return None
        kind = window_kind(first, second, group3.admitted, tolerance)
        result.kind = kind
        result.kind_reason = (
            f"{first} admitted at the start of a fresh window, {second} {placed.second_at:.3g} s later; just after "
            f"the window ended, {group3.admitted} of a burst were admitted"
            + (f" ({'a fresh budget' if kind == 'fixed' else 'the second group still counted'})" if kind else
               ": neither a fresh budget nor the first half")
        )
        if kind == "fixed":
            rt.window_start = third_origin.sent
        if refusal is not None:
            if kind == "fixed":
                result.budget.add(group3.admitted, f"cycle {cycle}: the burst after the window ended")
                rt.facts_from_refusal(refusal, third_origin, f"cycle {cycle} (fixed, third group)")
            elif kind == "rolling":
                rt.facts_from_refusal(refusal, second_origin, f"cycle {cycle} (rolling, second group)")
            rt.after_refusal(refusal, third_origin)
        elif group3.first_refusal is not None:
            rt.after_refusal(group3.first_refusal, third_origin)
        return kind is not None
