"""The cycles that measure a rate window, each in a fresh window and stopped at its first refusal.

- *budget*: a quick burst until refused: the requests admitted are the window's budget ``B``;
- *bisection*: a quick burst of ``B``, then request ``B + 1`` in the middle of what is still possible for the
  window's length; refused or admitted, it halves the interval.

Each returns whether it told anything (three silent cycles in a row stop the search).
"""

from __future__ import annotations

import math

from loadtest.discovery.evidence import Interval, RequestRecord
from loadtest.discovery.operation import WAIT_MIN_S, Stop, refused
from loadtest.discovery.prober import Batch
from loadtest.discovery.rate_traffic import RateTraffic


def _admitted_after(batch: Batch, refusal: RequestRecord) -> int:
    """Requests of ``batch`` admitted although sent after ``refusal`` was answered: the server refused, then
    admitted again, so the burst did not stay in one window (the window ended, or a rolling one moved on)."""
    return sum(1 for r in batch.records if r.admitted and r.sent > refusal.answered)


def budget_cycle(rt: RateTraffic, high: float) -> bool:
    """A quick burst in a fresh window (at least ``high`` after every admission) until refused."""
    t, result = rt.t, rt.result
    rt.wait_fresh(high)
    guess = max((s.admitted for s in result.steps), default=0) * 4 + 10
    t.needs_jobs(min(guess, 100_000), "a budget cycle")
    batch = rt.pace(t.rate_call(), "budget", cycle=result.cycles, rate=t.s.max_rate, stop=refused, limit=100_000)
    t.p.settle(batch, timeout=WAIT_MIN_S + 10)
    t.observe(batch)
    t.observe_burst(batch)
    rt.step(batch.step("budget", result.cycles, t.s.max_rate))
    if batch.capped:
        raise Stop("the job cap was reached during a budget cycle")
    refusal = rt.rate_refusal(batch)
    origin = batch.first_sent
    if refusal is None or origin is None:
        if batch.first_refusal is not None:
            rt.after_refusal(batch.first_refusal, origin or batch.first_refusal)
        return False
    late = _admitted_after(batch, refusal)
    if late:
        result.notes.append(f"cycle {result.cycles}: {late} requests were admitted after the burst's first 429 "
                            "had been answered (the window turned over during the burst); its count was not used")
    else:
        result.budget.add(batch.admitted, f"cycle {result.cycles}: a quick burst")
    rt.facts_from_refusal(refusal, origin, f"cycle {result.cycles}")
    rt.window_start = origin.sent
    rt.after_refusal(refusal, origin)
    return True


def bisection_cycle(rt: RateTraffic, window: Interval, high: float,
                    opened_by: RequestRecord | None = None) -> tuple[bool, RequestRecord | None]:
    """A quick burst of the window's budget ``B``, then one request at the middle of the window lengths
    still possible: refused, the window is longer; admitted, it is not. With ``opened_by`` (a request
    that just opened a fixed window alone) the cycle runs in that window at once. Returns whether it
    told anything, and the request that opened a new fixed window, if one did."""
    t, result = rt.t, rt.result
    budget = int(result.budget.value())
    rate = t.s.max_rate
    already = 1 if opened_by is not None else 0
    t.needs_jobs(budget + 1 - already, "a bisection cycle")
    if opened_by is None:
        rt.wait_fresh(high)
    call = t.rate_call()
    burst = rt.pace(call, "window", cycle=result.cycles, rate=rate, stop=refused, limit=budget - already)
    t.p.settle(burst, timeout=WAIT_MIN_S + 10)
    t.observe_burst(burst)
    origin = opened_by or burst.first_sent
    if burst.capped:
        raise Stop("the job cap was reached during a bisection cycle")
    if origin is None:
        return False, None
    target = window.mid if window.bounded else max(2 * window.low, high)
    last = max((r.sent for r in burst.records if not math.isnan(r.sent)), default=origin.sent)
    target = max(target, last - origin.sent + 2 / rate)
    probe = Batch() if burst.first_refusal is not None else rt.pace(
        call, "window", cycle=result.cycles, rate=rate, limit=1, start=origin.sent + target)
    t.p.settle(probe, timeout=WAIT_MIN_S + 10)
    whole = Batch(records=burst.records + probe.records, admitted=burst.admitted + probe.admitted,
                  throttled=burst.throttled + probe.throttled, skipped=burst.skipped + probe.skipped,
                  first_refusal=burst.first_refusal or probe.first_refusal, started=origin.sent,
                  ended=t.p.now())
    t.observe(whole)
    rt.step(whole.step("window", result.cycles, (budget + 1) / max(target, 1e-9)))
    if probe.capped:
        raise Stop("the job cap was reached during a bisection cycle")
    refusal = rt.rate_refusal(whole)
    admitted = whole.admitted + already
    if refusal is not None:
        why = (f"cycle {result.cycles}: a burst of {budget - already}" if burst.first_refusal is not None
               else f"cycle {result.cycles}: request {budget + 1} sent {target:.3g} s in")
        result.budget.add(admitted, why)
        rt.facts_from_refusal(refusal, origin, why)
        rt.window_start = origin.sent
        rt.after_refusal(refusal, origin)
        return True, None
    if whole.first_refusal is not None:
        rt.after_refusal(whole.first_refusal, origin)
        return False, None
    if probe.records and probe.admitted and result.budget.stable:
        extra = probe.records[0]
        rt.window_start = extra.sent
        result.window.admitted(extra.sent - origin.sent + extra.rtt, f"cycle {result.cycles}: request "
                               f"{budget + 1} admitted {extra.sent - origin.sent:.3f} s in")
        return True, (extra if result.kind == "fixed" else None)
    result.notes.append(f"cycle {result.cycles}: request {budget + 1} was admitted, but the budget has not "
                        "been seen twice alike, so it does not bound the window")
    return False, None
