"""Generated, realistic-looking measurements: for tests of the run directory and report, and ``make perf``.

Nothing here talks to a target; it feeds a :class:`Recorder` the way the traffic side would, with a seeded
random generator, so a report can be built and checked without running load.
"""

from __future__ import annotations

import random

from loadtest.metrics.recorder import IN_FLIGHT, JobRecord, Recorder

FLOWS: dict[str, tuple[str, ...]] = {
    "chat": ("run", "status"),
    "sync": ("runsync",),
    "stream": ("run", "stream"),
}


def synthetic_recorder(
    jobs: int = 2000,
    duration_s: float = 60.0,
    *,
    start: float = 1_750_000_000.0,
    seed: int = 1,
    health_every_s: float = 1.0,
    keep_jobs: int = 100_000,
) -> Recorder:
    """A recorder holding ``jobs`` jobs spread over ``duration_s`` seconds with their requests.

    Queue delay grows over the run (a backlog building up), a share of requests is throttled, some jobs
    fail or time out, and the last ones are still in flight at the end.
    """
    rng = random.Random(seed)
    rec = Recorder(start=start, keep_jobs=keep_jobs)
    flows = list(FLOWS)
    statuses = ["COMPLETED"] * 90 + ["FAILED"] * 4 + ["TIMED_OUT"] * 2 + ["CANCELLED"] * 2 + [IN_FLIGHT] * 2
    next_health = start
    for i in range(jobs):
        t = start + duration_s * (i + 0.5) / jobs
        while next_health <= t:
            backlog = int(40 * (next_health - start) / duration_s)
            rec.record_health(
                {
                    "jobs": {"inQueue": backlog, "inProgress": 3, "completed": i, "failed": i // 25, "retried": 0},
                    "workers": {"idle": 1, "initializing": 0, "ready": 1, "running": 3, "throttled": 0,
                                "unhealthy": 0},
                },
                t=next_health,
            )
            next_health += health_every_s
        flow = flows[i % len(flows)]
        progress = (t - start) / duration_s
        delay = rng.lognormvariate(3.5, 0.6) * (1 + 4 * progress)
        execution = rng.gammavariate(4, 60)
        status = rng.choice(statuses)
        ops = FLOWS[flow]
        throttled = 0
        if rng.random() < 0.05 + 0.1 * progress:
            rec.record_request(ops[0], flow, 429, rng.uniform(0.5, 3), t=t)
            throttled = 1
        rec.record_request(ops[0], flow, 200, rng.lognormvariate(1.5, 0.5), t=t)
        if rng.random() < 0.01:
            rec.record_request(ops[-1], flow, rng.choice([0, 500]), rng.uniform(1, 50), t=t)
        polls = 1 + int((delay + execution) // 250)
        if flow == "chat":
            for _ in range(min(polls, 4)):
                rec.record_request("status", flow, 200, rng.lognormvariate(1.0, 0.4), t=t)
        gaps = [rng.uniform(5, 40) for _ in range(rng.randint(2, 6))] if flow == "stream" else []
        if flow == "stream":
            rec.record_request("stream", flow, 200, rng.lognormvariate(3, 0.5), t=t)
        rec.record_job(
            JobRecord(
                job_id=f"job-{i:07d}", flow=flow, submitted_at=t, final_status=status,
                delay_ms=None if status == IN_FLIGHT else delay,
                execution_ms=None if status in (IN_FLIGHT, "CANCELLED") else execution,
                end_to_end_ms=None if status == IN_FLIGHT else delay + execution + rng.uniform(0, 250),
                observe_interval_ms=250.0 if flow == "chat" else 0.0,
                first_chunk_ms=delay + rng.uniform(5, 30) if gaps else None,
                chunk_gaps_ms=gaps, chunks=len(gaps) + 1 if gaps else 0,
                retries=1 if status == "FAILED" and rng.random() < 0.3 else 0, throttled=throttled,
            ),
            t=t,
        )
        if rng.random() < 0.002:
            rec.record_dropped(flow, t=t)
    return rec


def shifted(snapshot: dict, offset_s: float, bucket_s: float) -> dict:
    """A copy of a recorder snapshot moved ``offset_s`` later in time (a whole number of buckets)."""
    shift = round(offset_s / bucket_s)
    moved = dict(snapshot)
    moved["histograms"] = [[b + shift, *rest] for b, *rest in snapshot["histograms"]]
    for name in ("requests", "jobs", "dropped"):
        moved[name] = [[b + shift, *rest] for b, *rest in snapshot[name]]
    moved["health"] = [[t + offset_s, s] for t, s in snapshot["health"]]
    for name in ("first_t", "last_t"):
        if snapshot.get(name) is not None:
            moved[name] = snapshot[name] + offset_s
    moved["job_rows"] = [[f"{row[0]}+{shift}", row[1], row[2] + offset_s, *row[3:]] for row in snapshot["job_rows"]]
    return moved


def large_recorder(jobs: int, *, jobs_per_s: float = 1000.0, slice_jobs: int = 10_000, seed: int = 1,
                   start: float = 1_750_000_000.0) -> Recorder:
    """A recorder of ``jobs`` jobs at ``jobs_per_s``, built fast by repeating one generated slice in time.

    Histograms and counters are exactly those of the repeated slices (merging is exact), so this is a
    faithful stand-in for a long run when measuring the cost of the run directory and the report.
    """
    slice_jobs = min(slice_jobs, jobs)
    slice_s = slice_jobs / jobs_per_s
    piece = synthetic_recorder(jobs=slice_jobs, duration_s=slice_s, start=start, seed=seed)
    snap = piece.snapshot()
    total = Recorder(start=start)
    copies = max(1, round(jobs / slice_jobs))
    for k in range(copies):
        total.merge(shifted(snap, k * slice_s, piece.bucket_s))
    return total
