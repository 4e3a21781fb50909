"""The figure engine: one derivation per figure (the catalogue's), one classification, the same figures as
before the engine existed, whole-run counts and live totals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from loadtest.metrics import catalog, hdr, summary
from loadtest.metrics.classify import JobOutcome, RequestClass, classify_request, job_outcome
from loadtest.metrics.figures import LiveTotals, RunBuckets, run_counts
from loadtest.metrics.recorder import IN_FLIGHT, Recorder
from loadtest.metrics.synthetic import synthetic_recorder
from loadtest.rundir.documents import figures_plain, timeseries_plain

T0 = 1_750_000_000.0
BEFORE = Path(__file__).parent / "data" / "figures_before_engine.json"
"""Figures of the recorders below as the code before the figure engine computed them (summary.py and
check/buckets.py each with their own formulas): the engine must give every one of them unchanged."""

REFS = ["latency.p95", "latency.p50{op=run}", "latency.max{flow=chat}", "queue_delay.p99", "end_to_end.mean{flow=sync}",
        "requests", "requests{op=status}", "throttled{flow=chat}", "errors", "throughput", "throughput{op=run}",
        "accepted_rate", "accepted_rate{flow=stream}", "rate_429", "rate_429{op=run}", "error_rate",
        "error_rate{flow=chat}", "jobs.submitted", "jobs.completed{flow=chat}", "jobs.failed", "jobs.cancelled",
        "jobs.timed_out", "jobs.in_flight", "job_throughput", "job_throughput{flow=sync}", "job_failure_rate",
        "job_failure_rate{flow=stream}", "dropped", "dropped{flow=chat}", "queue_length.max", "queue_length.mean",
        "workers_running.last", "in_progress.min", "jobs.retried", "latency.count", "chunk_gap.p90"]


def _recorder(name: str) -> Recorder:
    if name == "synthetic":
        return synthetic_recorder(jobs=3000, duration_s=40.0, seed=3)
    if name == "empty":
        return Recorder(start=T0)
    if name == "requests_only":
        r = Recorder(start=T0)
        for i in range(50):
            r.record_request("health", "h", 200 if i % 7 else 503, 1.5 + i, t=T0 + i * 0.3)
            r.record_request("run", "x", 429 if i % 3 == 0 else (0 if i % 11 == 0 else 200), 2.0,
                             t=T0 + 0.2 + i * 0.3)
        return r
    merged = Recorder(start=T0)
    merged.merge(synthetic_recorder(jobs=500, duration_s=10.0, seed=5).drain())
    merged.merge(synthetic_recorder(jobs=700, duration_s=12.0, seed=6, start=T0 + 0.5).snapshot())
    return merged


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def _figures_now(name: str, rec: Recorder) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metrics": figures_plain(summary.summarize_metrics(rec, 41.5)),
        "requests_by_status": summary.requests_by_status(rec),
        "job_outcomes": summary.job_outcomes(rec),
    }
    [hdr.encode(h) for h in rec.totals().values()]  # reading whole-run histograms with open buckets changes nothing
    buckets = RunBuckets(rec.snapshot(), start=rec.start, end=rec.start + 41.5)
    figures: dict[str, Any] = {}
    for text in REFS:
        figure = buckets.figure(catalog.parse_metric_ref(text))
        if figure is None:
            figures[text] = None
            continue
        weights, starts = buckets.windows(5.0)
        figures[text] = {"whole": [_plain(float(x)) for x in figure.values(buckets.whole_run())],
                         "windows": [_plain(float(x)) for x in figure.values(weights)] if len(starts) else []}
    doc["figures"] = figures
    if name in ("requests_only", "merged"):
        doc["timeseries"] = timeseries_plain(summary.timeseries(rec))
    return json.loads(json.dumps(doc))


@pytest.mark.parametrize("name", ["synthetic", "empty", "requests_only", "merged"])
def test_every_figure_is_what_it_was_before_the_engine(name: str) -> None:
    expected = json.loads(BEFORE.read_text())[name]
    now = _figures_now(name, _recorder(name))
    added = set(now["metrics"]) - set(expected["metrics"])
    assert added <= {"retry_after", "backoff_wait", "chunks", "chunk_rate"}  # metrics added since
    for metric in expected["metrics"]:
        assert now["metrics"][metric] == expected["metrics"][metric], metric
    for key in ("requests_by_status", "job_outcomes", "figures"):
        assert now[key] == expected[key], key
    if "timeseries" in expected:
        assert now["timeseries"] == expected["timeseries"]


def test_one_classification_of_answers_and_job_ends() -> None:
    assert [classify_request(s) for s in (200, 204, 302, 429, 400, 401, 404, 500, 503, 0)] == [
        RequestClass.OK, RequestClass.OK, RequestClass.OK, RequestClass.THROTTLED, *[RequestClass.HTTP_ERROR] * 5,
        RequestClass.NO_ANSWER,
    ]
    assert job_outcome("COMPLETED") is JobOutcome.COMPLETED and job_outcome("TIMED_OUT") is JobOutcome.TIMED_OUT
    assert job_outcome(IN_FLIGHT) is JobOutcome.IN_FLIGHT and job_outcome("IN_PROGRESS") is JobOutcome.IN_FLIGHT
    # the catalogue's counters are sets of these classes: errors never include 429s
    assert RequestClass.THROTTLED not in catalog.COUNTERS["errors"].classes
    assert catalog.COUNTERS["accepted"].classes == {RequestClass.OK, RequestClass.HTTP_ERROR}


def test_every_derived_metric_names_its_counters_in_the_catalogue() -> None:
    for spec in catalog.METRICS.values():
        if spec.kind in (catalog.Kind.HISTOGRAM, catalog.Kind.GAUGE):
            assert spec.derivation is None
            continue
        assert spec.derivation is not None and spec.derivation.numerator in catalog.COUNTERS
        if spec.kind is catalog.Kind.RATE:
            assert spec.derivation.denominator == catalog.DURATION
        if spec.kind is catalog.Kind.RATIO:
            assert spec.derivation.denominator in catalog.COUNTERS


def test_a_catalogue_entry_that_does_not_fit_its_kind_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = catalog.MetricSpec("x", "ratio", catalog.Kind.RATIO, "", catalog.Direction.NEUTRAL, frozenset(),
                                frozenset(), frozenset(), catalog.Derivation("throttled", catalog.DURATION))
    monkeypatch.setitem(catalog.METRICS, "x", broken)
    with pytest.raises(AssertionError, match="cannot divide by 'duration'"):
        catalog._check_catalogue()


def test_run_counts_are_the_summary_counts() -> None:
    rec = synthetic_recorder(jobs=800, duration_s=20.0, seed=9)
    counts = run_counts(rec)
    metrics = figures_plain(summary.summarize_metrics(rec))
    assert counts.requests == metrics["requests"]["overall"]["value"]
    assert counts.throttled == metrics["throttled"]["overall"]["value"]
    assert counts.errors == metrics["errors"]["overall"]["value"]
    assert counts.rate_429 == metrics["rate_429"]["overall"]["value"]
    assert counts.jobs_submitted == metrics["jobs.submitted"]["overall"]["value"] == 800
    assert counts.in_flight == metrics["jobs.in_flight"]["overall"]["value"]
    assert counts.dropped == metrics["dropped"]["overall"]["value"]
    assert sum(counts.by_status.values()) == counts.requests
    assert counts.no_answer == counts.by_status.get(0, 0)
    assert {op: {str(k): v for k, v in codes.items()} for op, codes in counts.requests_by_op_status.items()} == \
        summary.requests_by_status(rec)
    empty = run_counts(Recorder(start=T0))
    assert empty.requests == 0 and empty.rate_429 is None and empty.jobs[JobOutcome.COMPLETED] == 0


def test_live_totals_settle_old_buckets_and_stay_exact() -> None:
    rec = Recorder(start=T0)
    live = LiveTotals(rec, settle_buckets=5)
    assert live.counts()["requests"] == 0
    sent = {"requests": 0, "throttled": 0, "errors": 0}
    for second in range(40):
        for i in range(10):
            status = (200, 429, 500, 0)[i % 4]
            rec.record_request("run", "f", status, 3.0, t=T0 + second + i / 10)
            sent["requests"] += 1
            sent["throttled"] += status == 429
            sent["errors"] += status in (500, 0)
        if second % 7 == 0:
            counts = live.counts()
            assert {k: counts[k] for k in sent} == sent
    assert {k: live.counts()[k] for k in sent} == sent
    assert live.counts()["accepted"] == run_counts(rec).requests - run_counts(rec).throttled - run_counts(rec).no_answer
