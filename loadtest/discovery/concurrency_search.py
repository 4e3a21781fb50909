"""The concurrency search of one operation (long-polls only: ``/runsync?wait=``, ``/status-sync``, ``/stream``
hold a slot while they wait).

Waves of 4, 16, 64... requests opened at 70% of the rate limit, each held by ``?wait=``; the first refusal
while ``n`` are held bounds the limit, then a wave of exactly that many plus one confirms it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from loadtest.contract import Op
from loadtest.discovery.operation import (
    HOLDABLE,
    WAIT_MAX_S,
    WAIT_MIN_S,
    OperationTraffic,
    Stop,
    documented_per_s,
    refused,
)
from loadtest.discovery.prober import Call
from loadtest.discovery.results import FOUND, NOT_REACHED, ConcurrencyResult, RateResult

HoldJob = Callable[[float], str | None]
"""Makes a job that lasts the given seconds, for requests to be held on (None: none could be made)."""


class ConcurrencySearch:
    """Finds how many requests of one operation may be in flight at once, by waves of held requests."""

    def __init__(self, traffic: OperationTraffic) -> None:
        self.t = traffic
        self.result = ConcurrencyResult()
        """Filled in as the search goes (what it holds when interrupted is what was found)."""

    def run(self, rate: RateResult, hold_job: HoldJob) -> ConcurrencyResult:
        """Requests held in flight in waves (long-polls only); never raises :class:`Stop`."""
        result = self.result
        op = self.t.op
        if op not in HOLDABLE:
            result.reason = (f"/{op.value} answers at once, so requests cannot be held in flight on purpose "
                             "(only /runsync, /status-sync and /stream wait)")
            return result
        pace = self._hold_pace(rate)
        try:
            self._waves(pace, hold_job)
        except Stop as stop:
            result.notes.append(f"stopped early: {stop}")
            result.reason = result.reason or str(stop)
        low, high = result.evidence.interval()
        if high is not None and result.evidence.consistent and low > 0:
            result.status = FOUND
            result.reason = ""
        elif high is None and low > 0 and result.status != FOUND:
            result.status = NOT_REACHED
            result.reason = result.reason or f"{low} requests held at once without a 429"
        return result

    def _hold_pace(self, rate: RateResult) -> float:
        """Open holds at 70% of the slowest rate the evidence allows (no rate-limit 429 can interfere: a
        window sees at most 70% of its budget)."""
        max_rate = self.t.s.max_rate
        if rate.found:
            return max(0.1, min(max_rate / 2, 0.7 * rate.per_second()[0]))
        if rate.status == NOT_REACHED and rate.lower_bound_per_s:
            return max(1.0, min(max_rate / 2, rate.lower_bound_per_s / 2))
        documented = documented_per_s(self.t.op)
        return max(1.0, min(max_rate / 2, (documented or 10.0) / 4))

    def _hold_call(self, hold_s: float, hold_job: HoldJob) -> Callable[[int], Call]:
        wait_ms = round(min(WAIT_MAX_S, max(WAIT_MIN_S, hold_s)) * 1000)
        op = self.t.op
        if op is Op.RUNSYNC:
            call = Call(Op.RUNSYNC, body=self.t.hold_payload(hold_s + 5), params={"wait": wait_ms})
        else:
            job = hold_job(hold_s)
            if job is None:
                raise Stop("no job could be made to hold requests on")
            call = Call(op, job_id=job, params={"wait": wait_ms})
        return lambda _: call

    def _waves(self, pace: float, hold_job: HoldJob) -> None:
        """Waves four times larger each until one is refused, then the confirmation wave."""
        result = self.result
        max_concurrency = self.t.s.max_concurrency
        size = 4
        found: int | None = None
        while True:
            size = min(size, max_concurrency)
            if self._wave(size, pace, hold_job, "holds"):
                found = result.evidence.interval()[0]
                break
            if size >= max_concurrency:
                break
            size *= 4
        if found is None:
            result.reason = f"no 429 with {max_concurrency} requests held (--max-concurrency)"
            return
        if found < 1:
            return
        refused_confirm = self._wave(found + 1, pace, hold_job, "confirm")
        held = result.waves[-1]["held"]
        result.confirmed = refused_confirm and held == found and result.waves[-1]["refused"] == 1
        if not result.confirmed:
            result.notes.append(f"confirmation wave of {found + 1}: {held} held, {result.waves[-1]['refused']} "
                                "refused (expected exactly one refused)")

    def _wave(self, size: int, pace: float, hold_job: HoldJob, phase: str) -> bool:
        """One wave of ``size`` held requests opened at ``pace``; whether the concurrency limit refused one."""
        t, result = self.t, self.result
        settle = max(0.3, 4 * t.rtt)
        opening = size / pace
        hold_s = round(min(WAIT_MAX_S, max(WAIT_MIN_S, opening + settle + 0.5)), 3)
        if opening + settle > hold_s:
            raise Stop(f"{size} requests cannot be opened within the longest wait the API allows at {pace:.3g}/s")
        t.needs_jobs(size, f"a wave of {size} held requests")
        call = self._hold_call(hold_s, hold_job)
        t.p.wait_gate(t.op)
        start = t.p.now()
        batch = t.p.pace(call, op=t.op, phase=phase, cycle=len(result.waves), rate=pace, limit=size, stop=refused)
        last_send = max((r.sent for r in batch.records if not math.isnan(r.sent)), default=start)
        t.p.sleep_until(max(t.p.now(), last_send + settle))
        early = [r for r in batch.records if r.admitted]
        refusals = [r for r in batch.records if r.throttled]
        held = sum(1 for r in batch.records if not r.done and not math.isnan(r.sent))
        for record in refusals:
            if record.limit_hint in ("rate", "queue_size"):
                result.notes.append(f"a 429 of the {record.limit_hint.replace('_', '-')} limit came during a wave "
                                    f"of {size}; it does not bound concurrency")
                continue
            result.evidence.refused(record.held)
        if not early:
            result.evidence.held(held)
        elif held:
            result.evidence.held(held)
            result.notes.append(f"{len(early)} of a wave of {size} were answered before the wave was complete "
                                "(their jobs finished?); only the requests still held count")
        wave: dict[str, str | float | int] = {"phase": phase, "size": size, "sent": len(batch.records), "held": held,
                                              "refused": len(refusals), "answered_early": len(early),
                                              "pace_per_s": round(pace, 3), "hold_s": hold_s,
                                              "started_s": round(start, 3)}
        result.waves.append(wave)
        if batch.capped:
            raise Stop("the job cap was reached during a wave")
        if early and not held and not refusals:
            raise Stop(f"none of a wave of {size} stayed in flight: the requests were answered before "
                       f"their wait ({hold_s:g} s) ran out; give a job that lasts (--hold-key / --payload)")
        t.p.settle(batch, timeout=hold_s + 15)
        t.observe(batch, held=True)
        for record in refusals:
            t.check_retry_after(record)
        return any(r.limit_hint not in ("rate", "queue_size") for r in refusals)
