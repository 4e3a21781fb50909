"""The recorder: percentile accuracy, exact merging, time buckets, drains, bounded memory."""

from __future__ import annotations

import json
import random

import pytest

from loadtest.metrics import hdr
from loadtest.metrics.recorder import IN_FLIGHT, JobRecord, Recorder, aggregate

T0 = 1_700_000_000.0


def _job(i: int, rng: random.Random, flow: str = "poll") -> JobRecord:
    status = rng.choice(["COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED", IN_FLIGHT])
    gaps = [rng.uniform(1, 50) for _ in range(rng.randint(0, 3))]
    return JobRecord(
        job_id=f"job-{i}", flow=flow, submitted_at=T0 + i * 0.01, final_status=status,
        delay_ms=rng.lognormvariate(4, 1), execution_ms=rng.uniform(100, 2000),
        end_to_end_ms=None if status == IN_FLIGHT else rng.uniform(200, 5000), observe_interval_ms=250.0,
        first_chunk_ms=rng.uniform(10, 100) if gaps else None, chunk_gaps_ms=gaps, chunks=len(gaps) + bool(gaps),
        retries=rng.choice([0, 0, 1]), throttled=rng.choice([0, 0, 2]),
    )


def _feed(recorders: list[Recorder], n: int, seed: int = 7) -> None:
    """Spread the same synthetic samples across ``recorders`` at random."""
    rng = random.Random(seed)
    spread = random.Random(seed + 1)  # apart from the sample draws, so the samples never depend on the split
    for i in range(n):
        t = T0 + i * 0.005
        target = spread.choice(recorders)
        op = rng.choice(["run", "status", "status", "cancel"])
        status = rng.choice([200, 200, 200, 429, 0, 500, 404])
        target.record_request(op, rng.choice(["poll", "sync"]), status, rng.expovariate(1 / 30), t=t)
        if i % 3 == 0:
            spread.choice(recorders).record_job(_job(i, rng, rng.choice(["poll", "stream"])), t=t)
        if i % 50 == 0:
            spread.choice(recorders).record_dropped("poll", t=t)
        if i % 40 == 0:
            spread.choice(recorders).record_health(
                {"jobs": {"inQueue": i % 7, "inProgress": 2}, "workers": {"idle": 1, "running": 2}}, t=t
            )


def _figures(rec: Recorder) -> dict:
    rec.close_all()
    totals = {name: hdr.statistics(h) for name, h in aggregate(rec.totals()).items()}
    series = {b: rec.series_of_bucket(b) for b in rec.buckets()}
    return {
        "totals": totals, "series": series, "requests": dict(rec.requests), "jobs": dict(rec.jobs),
        "dropped": dict(rec.dropped), "job_totals": dict(rec.job_totals), "span": rec.span(),
        "rows": sorted(map(tuple, rec.job_rows)),
        "health": sorted((t, tuple(sorted(s.items()))) for t, s in rec.health),
    }


def test_percentiles_are_accurate_to_three_digits() -> None:
    rng = random.Random(1)
    values = sorted(rng.lognormvariate(3, 1.5) for _ in range(20_000))
    rec = Recorder(start=T0)
    for v in values:
        rec.record_request("run", "f", 200, v, t=T0 + 1)
    stats = hdr.statistics(aggregate(rec.totals())["latency"])
    assert stats["count"] == len(values)
    for name, pct in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        exact = values[max(int(pct / 100 * len(values) + 0.5), 1) - 1]
        assert stats[name] == pytest.approx(exact, rel=2e-3), name
    assert stats["max"] == pytest.approx(values[-1], rel=2e-3)
    assert stats["min"] == pytest.approx(values[0], rel=2e-3, abs=1e-3)  # µs resolution
    assert stats["mean"] == pytest.approx(sum(values) / len(values), rel=2e-3)


def test_statistics_agree_with_hdrhistogram() -> None:
    rng = random.Random(2)
    h = hdr.new_histogram()
    for _ in range(5000):
        h.record_value(hdr.to_us(rng.expovariate(1 / 80))[0])
    ours = hdr.statistics(h)
    for name, pct in (("p50", 50), ("p95", 95), ("p999", 99.9)):
        assert ours[name] == h.get_value_at_percentile(pct) / 1000
    assert ours["mean"] == pytest.approx(h.get_mean_value() / 1000, rel=1e-9)


def test_merged_snapshots_equal_one_recorder() -> None:
    single = Recorder(start=T0)
    _feed([single], 6000)
    parts = [Recorder(start=T0), Recorder(start=T0), Recorder(start=T0)]
    _feed(parts, 6000)
    merged = Recorder(start=T0)
    for part in parts:
        merged.merge(json.loads(json.dumps(part.snapshot())))
    assert _figures(merged) == _figures(single)


def test_periodic_drains_merge_exactly() -> None:
    """Workers drain every couple of simulated seconds; the master ends with a single recorder's figures."""
    rng = random.Random(3)
    events = [
        (T0 + i * 0.013, rng.choice(["run", "status"]), rng.choice(["a", "b"]), rng.choice([200, 429, 0]),
         rng.expovariate(1 / 30))
        for i in range(3000)
    ]
    single = Recorder(start=T0)
    workers = [Recorder(start=T0), Recorder(start=T0)]
    master = Recorder(start=T0, grace_buckets=2)
    for n, (t, op, flow, status, latency) in enumerate(events):
        single.record_request(op, flow, status, latency, t=t)
        workers[n % 2].record_request(op, flow, status, latency, t=t)
        if n % 150 == 149:  # about every 2 s of simulated time
            for w in workers:
                master.merge(json.loads(json.dumps(w.drain())))
    for w in workers:
        master.merge(w.drain())
    assert len(master._closed) > 10  # the master closed buckets while drains kept arriving
    a, b = _figures(master), _figures(single)
    assert a["totals"] == b["totals"]
    assert a["series"] == b["series"]
    assert a["requests"] == b["requests"]


def test_bucket_boundaries() -> None:
    rec = Recorder(bucket_s=2.0, start=T0)
    rec.record_request("run", "f", 200, 10.0, t=T0 + 1.999)
    rec.record_request("run", "f", 429, 20.0, t=T0 + 2.0)
    rec.record_request("run", "f", 200, 30.0, t=T0 + 3.999)
    b0 = int(T0 // 2)
    assert rec.requests == {(b0, "run", "f", 200): 1, (b0 + 1, "run", "f", 429): 1, (b0 + 1, "run", "f", 200): 1}
    assert rec.series_of_bucket(b0)["latency{op=run}"][0] == 1
    assert rec.series_of_bucket(b0 + 1)["latency{op=run}"][0] == 2
    assert rec.span() == (T0, T0 + 3.999)


def test_old_buckets_are_closed_so_memory_is_bounded() -> None:
    rec = Recorder(start=T0, grace_buckets=3)
    for second in range(200):
        for k in range(20):
            rec.record_request("status", "f", 200, 5.0 + k, t=T0 + second + k / 20)
    assert len(rec._open) <= 4
    assert len(rec._closed) >= 196
    encoded = sum(len(e) for c in rec._closed.values() for e in c.encoded.values())
    assert encoded / len(rec._closed) < 2000
    # A late sample for a closed bucket still counts.
    rec.record_request("status", "f", 200, 1000.0, t=T0 + 5.5)
    assert rec.series_of_bucket(int(T0 + 5))["latency"][0] == 21
    assert hdr.statistics(aggregate(rec.totals())["latency"])["count"] == 200 * 20 + 1


def test_job_rows_are_capped_and_counted() -> None:
    rng = random.Random(4)
    rec = Recorder(start=T0, keep_jobs=10)
    for i in range(25):
        rec.record_job(_job(i, rng), t=T0 + i)
    assert len(rec.job_rows) == 10
    assert rec.job_rows_omitted == 15
    assert sum(rec.jobs.values()) == 25


def test_health_samples_are_bounded() -> None:
    rec = Recorder(start=T0, keep_health=100)
    for i in range(1000):
        rec.record_health({"jobs": {"inQueue": i, "nan": float("nan")}, "workers": {"idle": 1, "x": "text"}}, t=T0 + i)
    assert len(rec.health) < 100
    assert rec.health[0][1] == {"jobs.inQueue": 0, "workers.idle": 1}
    assert rec.health[-1][0] > T0 + 900


def test_drain_resets_but_keeps_settings() -> None:
    rec = Recorder(bucket_s=0.5, start=T0)
    rec.record_request("run", "f", 200, 3.0, t=T0 + 1)
    snap = rec.drain()
    assert snap["requests"] == [[int((T0 + 1) // 0.5), "run", "f", 200, 1]]
    assert rec.requests == {} and rec.totals() == {} and rec.bucket_s == 0.5 and rec.start == T0
    json.dumps(snap)


def test_merging_an_empty_drain_changes_nothing() -> None:
    empty_master = Recorder(start=T0)
    empty_master.merge(Recorder(start=T0).drain())  # a worker that has sent nothing yet
    assert empty_master.requests == {} and empty_master.totals() == {}
    busy = Recorder(start=T0)
    busy.record_request("run", "f", 200, 3.0, t=T0 + 1)
    before = busy.snapshot()
    busy.merge(Recorder(start=T0).drain())
    assert busy.snapshot() == before


def test_merge_rejects_unknown_format_and_rebuckets() -> None:
    with pytest.raises(ValueError, match="format"):
        Recorder().merge({"format": 99})
    fine = Recorder(bucket_s=1.0, start=T0)
    fine.record_request("run", "f", 200, 3.0, t=T0 + 3.5)
    coarse = Recorder(bucket_s=2.0, start=T0)
    coarse.merge(fine.snapshot())
    assert list(coarse.requests) == [(int((T0 + 3.5) // 2), "run", "f", 200)]


def test_out_of_range_values_are_clamped_and_counted() -> None:
    rec = Recorder(start=T0)
    rec.record_request("run", "f", 200, 1e15, t=T0)
    rec.record_request("run", "f", 200, -1.0, t=T0)
    assert rec.clamped == 2
    assert hdr.statistics(aggregate(rec.totals())["latency"])["count"] == 2


def test_closed_histograms_are_freed_without_the_garbage_collector() -> None:
    """hdrhistogram objects form a reference cycle; the recorder breaks it so memory is returned at once."""
    import gc

    from hdrh.histogram import HdrHistogram

    def live_histograms() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, HdrHistogram))

    gc.collect()
    before = live_histograms()
    gc.disable()
    try:
        rec = Recorder(start=T0, grace_buckets=2)
        for second in range(60):
            for flow in ("a", "b"):
                rec.record_request("status", flow, 200, 5.0, t=T0 + second)
                rec.record_job(JobRecord(f"{flow}{second}", flow, T0, "COMPLETED", delay_ms=1.0), t=T0 + second)
        snap = rec.snapshot()
        merged = Recorder(start=T0, grace_buckets=2)
        merged.merge(snap)
        merged.merge(snap)  # adds into open and closed buckets alike
        for bucket in merged.buckets():
            merged.series_of_bucket(bucket)
        # open buckets (3 + the newest) × 4 series + 4 totals, per recorder; nothing else may survive
        assert live_histograms() - before <= 2 * (4 * 4 + 4)
    finally:
        gc.enable()


def test_vectorised_index_values_match_hdrhistogram() -> None:
    lowest, highest, median = hdr._index_values()
    h = hdr.new_histogram()
    for i in [*range(0, 4096, 7), *range(4096, h.counts_len, 97), h.counts_len - 1]:
        v = h.get_value_from_index(i)
        assert lowest[i] == h.get_lowest_equivalent_value(v)
        assert highest[i] == h.get_highest_equivalent_value(v)
        assert median[i] == h._hdr_median_equiv_value(v)


def test_recording_in_batches_equals_hdrhistogram_one_by_one() -> None:
    """A bucket's samples wait in a list and are recorded vectorised: the histogram is the same to the bit."""
    rng = random.Random(5)
    values = [rng.lognormvariate(2, 2) for _ in range(5000)] + [0.0, 1e-4, 0.0005, 0.0015, 2.5e-3, 1e12, -3.0,
                                                                 float("nan"), 1.0, 1023.4999, 1023.5, 7.77e5]
    one_by_one, clamped = hdr.new_histogram(), 0
    for v in values:
        us, was_clamped = hdr.to_us(v)
        one_by_one.record_value(us)
        clamped += was_clamped
    batch = hdr.new_histogram()
    assert hdr.record_many(batch, values) == clamped == 3
    assert hdr.encode(batch) == hdr.encode(one_by_one)
    assert (batch.get_total_count(), batch.get_min_value(), batch.get_max_value()) == (
        one_by_one.get_total_count(), one_by_one.get_min_value(), one_by_one.get_max_value())


def test_one_recording_per_request_and_whole_run_totals_from_closed_buckets() -> None:
    rec = Recorder(start=T0, grace_buckets=2)
    for second in range(10):
        for k in range(5):
            rec.record_request("run", "f", 200, 10.0 + k, t=T0 + second + k / 5)
    assert rec._totals  # buckets 0..6 closed: added to the whole-run totals as they closed
    assert sum(len(v) for o in rec._open.values() for v in o.values.values()) == 15  # 3 open buckets, as raw lists
    assert hdr.statistics(aggregate(rec.total_counts())["latency"])["count"] == 50
    assert hdr.statistics(aggregate(rec.totals())["latency"])["count"] == 50
    rec.close_all()
    assert hdr.statistics(rec.totals()[("latency", "f", "run")])["count"] == 50
