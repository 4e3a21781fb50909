"""Unfinished jobs are censored observations: their time so far is a lower bound, and a percentile that
depends on them says so (summary, windows, thresholds, baselines)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from loadtest.check.criteria import ThresholdSpec
from loadtest.check.regression import Comparison, compare_figure
from loadtest.check.thresholds import judge_whole_run, judge_windows
from loadtest.metrics import catalog, hdr
from loadtest.metrics.catalog import Direction, Kind
from loadtest.metrics.figures import RunBuckets
from loadtest.metrics.recorder import IN_FLIGHT, JobRecord, Recorder
from loadtest.metrics.run_figures import MetricFigures, RunFigures, ScopeFigures
from loadtest.metrics.summary import summarize_metrics
from loadtest.rundir.documents import FAIL, NOT_JUDGED, PASS, figures_plain
from loadtest.scenario.quantities import Tolerance

T0 = 1_750_000_000.0


def _rank_rule_by_brute_force(finished: list[float], censored: list[float], p: float) -> tuple[float, float, bool]:
    """The lowest and highest the value at HdrHistogram's rank can be, whatever the censored values really are
    (each anywhere at or above its bound: the extremes are the bounds and infinity), and whether they differ."""
    def at_rank(values: list[float]) -> float:
        ordered = sorted(values)
        k = max(int(p * len(ordered) / 100 + 0.5), 1)
        return ordered[k - 1]

    def cell(ms: float) -> int:
        return hdr.new_histogram().get_counts_array_index(hdr.to_us(ms)[0]) if ms != float("inf") else 1 << 40

    low = at_rank(finished + censored)
    high = at_rank(finished + [float("inf")] * len(censored))
    return low, high, cell(low) != cell(high)


def test_percentiles_of_finished_and_censored_samples_follow_the_rank_rule() -> None:
    rng = random.Random(11)
    for trial in range(60):
        finished = [rng.uniform(1, 1000) for _ in range(rng.randint(0, 40))]
        censored = [rng.uniform(1, 1500) for _ in range(rng.randint(1, 15))]
        f, c = hdr.new_histogram(), hdr.new_histogram()
        hdr.record_many(f, finished)
        hdr.record_many(c, censored)
        stats, bounds, caps = hdr.censored_statistics(hdr.sparse_of(f), hdr.sparse_of(c))
        for name, p in catalog.HISTOGRAM_PERCENTILES.items():
            low, high, lower = _rank_rule_by_brute_force(finished, censored, p)
            assert stats[name] == pytest.approx(low, rel=1e-3), (trial, name)
            assert (name in bounds) == lower, (trial, name, finished, censored)
            if lower and high != float("inf"):
                assert caps[name] == pytest.approx(high, rel=1e-3), (trial, name)
            else:
                assert name not in caps
        assert "max" in bounds and "mean" in bounds and "count" not in bounds
        assert "max" not in caps and "mean" not in caps
        assert stats["count"] == len(finished) + len(censored)


def test_censored_values_far_above_a_percentile_leave_it_exact() -> None:
    f, c = hdr.new_histogram(), hdr.new_histogram()
    hdr.record_many(f, [10.0] * 95 + [20.0] * 4)
    hdr.record_many(c, [5000.0])
    stats, bounds, _ = hdr.censored_statistics(hdr.sparse_of(f), hdr.sparse_of(c))
    assert stats["p50"] == pytest.approx(10, rel=1e-3) and "p50" not in bounds and "p95" not in bounds
    assert stats["p999"] == pytest.approx(5000, rel=1e-3) and "p999" in bounds
    assert stats["max"] == pytest.approx(5000, rel=1e-3) and "max" in bounds


def _overloaded() -> Recorder:
    """73 jobs that finished (queue delay 100..820 ms) and 59 still queued at the end (waiting 9-13 s so far)."""
    rec = Recorder(start=T0)
    for i in range(73):
        rec.record_job(JobRecord(f"f{i}", "chat", T0 + i * 0.1, "COMPLETED", delay_ms=100 + 10 * i,
                                 execution_ms=50, end_to_end_ms=200 + 10 * i), t=T0 + 1 + i * 0.1)
    for i in range(59):
        rec.record_job(JobRecord(f"u{i}", "chat", T0 + 8 + i * 0.05, IN_FLIGHT, last_status="IN_QUEUE",
                                 unfinished_ms=9000 + 70 * i, queued_ms=8800 + 70 * i), t=T0 + 20)
    return rec


def test_summary_marks_lower_bounds_and_counts_unfinished_jobs() -> None:
    figures = summarize_metrics(_overloaded(), 20.0)
    metrics = figures_plain(figures)
    delay = metrics["queue_delay"]["overall"]
    assert delay["count"] == 132 and delay["censored"] == 59
    assert delay["p95"] >= 12_000 and "p95" in delay["lower_bounds"]
    assert delay["p50"] == pytest.approx(750, rel=1e-2) and "p50" not in delay["lower_bounds"]  # rank 66 <= 73
    assert metrics["end_to_end"]["by_flow"]["chat"]["lower_bounds"] == metrics["end_to_end"]["overall"]["lower_bounds"]
    assert metrics["execution_time"]["overall"].get("lower_bounds") is None  # nothing censored there
    assert metrics["jobs.in_flight"]["overall"]["value"] == 59
    assert metrics["jobs.submitted"]["overall"]["value"] == 132
    ref = catalog.parse_metric_ref("queue_delay.p95")
    assert figures.is_lower_bound(ref)
    assert not figures.is_lower_bound(catalog.parse_metric_ref("queue_delay.p50"))


def _spec(text: str, *, max_ms: float | None = None, min_ms: float | None = None, window: float | None = None):
    return ThresholdSpec(catalog.parse_metric_ref(text), max=max_ms, min=min_ms, window_s=window)


def test_a_max_a_lower_bound_exceeds_fails_and_one_it_cannot_decide_is_not_judged() -> None:
    summary = summarize_metrics(_overloaded(), 20.0)
    failed = judge_whole_run(_spec("queue_delay.p95", max_ms=5000), summary)
    assert failed.verdict == FAIL and "lower bound" in failed.why
    undecided = judge_whole_run(_spec("queue_delay.p95", max_ms=60_000), summary)  # rank 125, 73 finished
    assert undecided.verdict == NOT_JUDGED
    assert "at least 12.4 s" in undecided.why and "59 unfinished jobs" in undecided.why
    exact = judge_whole_run(_spec("queue_delay.p50", max_ms=60_000), summary)
    assert exact.verdict == PASS
    reached = judge_whole_run(_spec("queue_delay.p95", min_ms=1000), summary)  # truth >= bound >= min
    assert reached.verdict == PASS
    unreached = judge_whole_run(_spec("queue_delay.p95", min_ms=30_000), summary)
    assert unreached.verdict == NOT_JUDGED


def test_a_few_unfinished_jobs_leave_a_percentile_capped_and_decidable() -> None:
    """115 jobs finished (100-214 ms end to end), 3 are cut off young: p95 lies between two close samples."""
    rec = Recorder(start=T0)
    for i in range(115):
        rec.record_job(JobRecord(f"f{i}", "chat", T0, "COMPLETED", end_to_end_ms=100.0 + i), t=T0 + 1)
    for i in range(3):
        rec.record_job(JobRecord(f"u{i}", "chat", T0 + 5, IN_FLIGHT, unfinished_ms=20.0 + i), t=T0 + 6)
    summary = summarize_metrics(rec, 6.0)
    entry = figures_plain(summary)["end_to_end"]["overall"]
    assert entry["p95"] == pytest.approx(208, abs=0.5) and "p95" in entry["lower_bounds"]  # rank 112 of 118
    assert entry["upper_bounds"]["p95"] == pytest.approx(211, abs=0.5)  # the 112th finished sample
    kept = judge_whole_run(_spec("end_to_end.p95", max_ms=2000), summary)
    assert kept.verdict == PASS and "whatever the unfinished jobs do" in kept.why
    assert judge_whole_run(_spec("end_to_end.p95", max_ms=209.5), summary).verdict == NOT_JUDGED
    assert judge_whole_run(_spec("end_to_end.p95", max_ms=150), summary).verdict == FAIL
    assert judge_whole_run(_spec("end_to_end.p95", min_ms=300), summary).verdict == FAIL  # at most 211 ms
    assert judge_whole_run(_spec("end_to_end.max", max_ms=60_000), summary).verdict == NOT_JUDGED  # uncapped


def test_windows_holding_unfinished_jobs_are_judged_the_same_way() -> None:
    rec = _overloaded()
    rec.close_all()
    buckets = RunBuckets(rec.snapshot(), start=T0, end=T0 + 21)
    figure = buckets.figure(catalog.parse_metric_ref("queue_delay.max"))
    lower = figure.evaluate(buckets.windows(5.0)[0]).lower
    assert lower.any() and not lower.all()
    summary = summarize_metrics(rec, 21.0)
    assert judge_windows(_spec("queue_delay.max", max_ms=5000, window=5), buckets, summary).verdict == FAIL
    undecided = judge_windows(_spec("queue_delay.max", max_ms=60_000, window=5), buckets, summary)
    assert undecided.verdict == NOT_JUDGED and "at least" in undecided.why
    whole = buckets.figure(catalog.parse_metric_ref("queue_delay.p95")).evaluate(buckets.whole_run())
    assert whole.values[0] == summary.value(catalog.parse_metric_ref("queue_delay.p95")) and bool(whole.lower[0])


def test_a_baseline_comparison_with_a_lower_bound_decides_only_what_it_shows() -> None:
    run = summarize_metrics(_overloaded(), 20.0)
    ref = catalog.parse_metric_ref("queue_delay.p95")

    def base(p95: float) -> RunFigures:
        return RunFigures({"queue_delay": MetricFigures("ms", Kind.HISTOGRAM, Direction.HIGHER_IS_WORSE,
                                                        ScopeFigures({"p95": p95}))})

    low_base, high_base = base(1000.0), base(50_000.0)
    worse = compare_figure(ref, Tolerance(True, 0.1), Comparison(run, low_base, None, None, "b"))
    assert worse.verdict == FAIL  # at least 12 s against 1 s: a regression whatever the truth
    unknown = compare_figure(ref, Tolerance(True, 0.1), Comparison(run, high_base, None, None, "b"))
    assert unknown.verdict == NOT_JUDGED and "unfinished jobs" in unknown.why


def test_an_unfinished_stream_waits_for_its_first_chunk_and_a_started_job_keeps_its_delay() -> None:
    rec = Recorder(start=T0)
    rec.record_job(JobRecord("s", "stream", T0, IN_FLIGHT, streams=True, unfinished_ms=4000.0), t=T0 + 4)
    rec.record_job(JobRecord("p", "chat", T0, IN_FLIGHT, delay_ms=300.0, last_status="IN_PROGRESS",
                             unfinished_ms=4000.0), t=T0 + 4)
    metrics = figures_plain(summarize_metrics(rec, 4.0))
    assert metrics["first_chunk"]["overall"]["censored"] == 1
    assert metrics["queue_delay"]["overall"]["count"] == 1 and "censored" not in metrics["queue_delay"]["overall"]
    assert metrics["end_to_end"]["overall"]["censored"] == 2
    assert metrics["end_to_end"]["overall"]["upper_bounds"] == {}  # nothing finished: no cap anywhere
    assert np.isclose(metrics["end_to_end"]["overall"]["min"], 4000, rtol=1e-3)


def test_a_job_story_left_unfinished_records_its_waits_so_far() -> None:
    import time

    from loadtest.traffic.flows import JobBook, JobStory

    recorder = Recorder(start=T0)
    book = JobBook(recorder)
    queued = JobStory(flow="chat", job_id="q", began=time.perf_counter() - 5.0)
    book.open(queued)
    queued.observe({"id": "q", "status": "IN_QUEUE"}, 0.0, queued.began + 0.01)  # the submission's answer
    queued.observe({"status": "IN_QUEUE"}, 1.0, queued.began + 3.02, sent=queued.began + 3.0)  # a poll
    streaming = JobStory(flow="tokens", job_id="s", began=time.perf_counter() - 2.0, streams=True)
    book.open(streaming)
    streaming.observe({"status": "IN_PROGRESS", "delayTime": 250}, 0.0, streaming.began + 0.5)
    assert book.close_remaining() == 2
    rows = {row["job_id"]: row for row in recorder.job_rows_as_records()}
    assert rows["q"]["final_status"] == IN_FLIGHT and rows["q"]["last_status"] == "IN_QUEUE"
    assert rows["q"]["queued_ms"] == pytest.approx(2990, abs=1)  # from the answer that proved it queued
    assert rows["q"]["unfinished_ms"] >= 5000 and rows["s"]["unfinished_ms"] >= 2000
    assert rows["s"]["queued_ms"] is None  # seen started: its queue delay (250 ms) is a finished sample
    metrics = figures_plain(summarize_metrics(recorder, 5.0))
    assert metrics["queue_delay"]["overall"]["censored"] == 1 and metrics["queue_delay"]["overall"]["count"] == 2
    assert metrics["first_chunk"]["by_flow"]["tokens"]["censored"] == 1
    assert metrics["end_to_end"]["overall"]["censored"] == 2
