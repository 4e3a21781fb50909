"""The queue-size rule, exercised on purpose (``loadtest limits --queue-size``): ``/run`` jobs that last, one at
a time under the rate limit, each after reading the queue length from ``/health``, until a 429 that is not
the rate's or concurrency's. Nothing it submitted is left to run afterwards."""

from __future__ import annotations

from loadtest.contract import Op
from loadtest.discovery.operation import Settings, Stop, documented_per_s
from loadtest.discovery.prober import Call, Prober
from loadtest.discovery.results import QueueResult, RateResult


def queue_size_search(prober: Prober, settings: Settings, run_rate: RateResult | None, *, purge: bool) -> QueueResult:
    """``/run`` jobs that last (``hold_key``), one at a time under the rate limit, each after reading the queue
    length from ``/health``, until a 429 that is not the rate's or concurrency's; never raises.

    Afterwards none of those jobs is left to run: with ``purge`` the queue is dropped and the running ones
    cancelled; without, every one is cancelled (one ``/cancel`` each, honouring its Retry-After). Each also
    carries a ``ttl``, so a discovery that dies leaves jobs that expire instead of running."""
    result = QueueResult()
    if run_rate is not None and run_rate.found:
        pace = 0.7 * run_rate.per_second()[0]
    else:
        pace = (documented_per_s(Op.RUN) or 10.0) / 4
    pace = min(pace, settings.max_rate)
    job_input = dict(settings.payload.get("input") or {})
    job_input[settings.hold_key] = settings.max_op_s
    policy = {**(settings.payload.get("policy") or {}), "ttl": round((settings.max_op_s + 60) * 1000)}
    call = Call(Op.RUN, body={**settings.payload, "input": job_input, "policy": policy})
    began = prober.now()
    first_job = len(prober.jobs.ids)
    try:
        return _fill_queue(prober, settings, result, call, pace, began)
    except Stop as stop:
        result.reason = str(stop)
        return result
    finally:
        _clear_queue(prober, prober.jobs.ids[first_job:], purge=purge)


def _clear_queue(prober: Prober, jobs: list[str], *, purge: bool) -> None:
    """Leave none of the queue search's jobs to run. The queue is first in, first out: the earliest jobs are
    the running ones."""
    if purge:
        prober.call(Call(Op.PURGE_QUEUE), phase="cleanup")
        _, health = prober.call(Call(Op.HEALTH), phase="cleanup")
        body = health.body if health is not None and health.ok else None
        running = (body.get("jobs") or {}).get("inProgress") if isinstance(body, dict) else None
        jobs = jobs[: running if isinstance(running, int) else len(jobs)]
    for job in jobs:
        prober.call(Call(Op.CANCEL, job_id=job), phase="cleanup")


def _fill_queue(prober: Prober, settings: Settings, result: QueueResult, call: Call, pace: float,
                began: float) -> QueueResult:
    """One submission after each /health reading of the queue length, at ``pace``, until refused."""
    while prober.now() - began < settings.max_op_s:
        at = prober.now() + 1 / pace
        _, health = prober.call(Call(Op.HEALTH), phase="queue")
        body = health.body if health is not None and health.ok else None
        queued = (body.get("jobs") or {}).get("inQueue") if isinstance(body, dict) else None
        if not isinstance(queued, int):
            result.reason = "/health did not say how many jobs are queued"
            return result
        record = prober.send(call, phase="queue")
        if record is None:
            result.status = "not_reached"
            result.reason = (f"the job cap was reached with {queued} jobs queued and no 429 "
                             "(the threshold is higher)")
            return result
        result.submitted += 1
        if record.throttled:
            if record.limit_hint in ("rate", "concurrency"):
                result.notes.append(f"a 429 named the {record.limit_hint} limit at {queued} queued; the "
                                    "search slowed down")
                pace /= 2
                continue
            result.status = "exercised"
            result.refused_at = queued
            if record.limit_hint is None:
                result.notes.append("the 429 did not name its limit; it came below the rate limit, while the "
                                    "queue grew")
            return result
        if record.admitted:
            result.admitted_at_most = max(result.admitted_at_most or 0, queued)
        prober.sleep_until(at)
    result.status = "not_reached"
    result.reason = f"no 429 after {settings.max_op_s:g} s ({result.admitted_at_most} queued at most)"
    return result
