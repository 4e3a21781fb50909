"""The headline figures of a run, by scope, as summary.json holds them."""

from __future__ import annotations

import pytest

from loadtest.metrics import catalog
from loadtest.metrics.recorder import IN_FLIGHT, JobRecord, Recorder
from loadtest.metrics.summary import summarize_metrics
from loadtest.rundir.documents import figures_plain

T0 = 1_700_000_000.0


def _small_recorder() -> Recorder:
    rec = Recorder(start=T0)
    for i in range(10):
        rec.record_request("run", "a", 200, 10.0 + i, t=T0 + i)
    rec.record_request("run", "a", 429, 1.0, t=T0 + 1)
    rec.record_request("run", "b", 429, 1.0, t=T0 + 2)
    rec.record_request("status", "a", 0, 30_000.0, t=T0 + 3)
    rec.record_request("status", "a", 404, 2.0, t=T0 + 3)
    for i, status in enumerate(["COMPLETED", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED", IN_FLIGHT]):
        rec.record_job(JobRecord(f"j{i}", "a", T0 + i, status, delay_ms=100.0 * (i + 1), execution_ms=50.0,
                                 end_to_end_ms=200.0, retries=int(status == "FAILED")), t=T0 + i + 1)
    rec.record_dropped("b", t=T0 + 5)
    rec.record_job(JobRecord("x", "b", T0, "COMPLETED", delay_ms=5.0), t=T0 + 10)
    return rec


def test_summary_figures_by_scope() -> None:
    m = figures_plain(summarize_metrics(_small_recorder(), duration_s=10.0))
    assert set(m) == set(catalog.METRICS)
    assert m["requests"]["overall"] == {"value": 14}
    assert m["requests"]["by_op"] == {"run": {"value": 12}, "status": {"value": 2}}
    assert m["throttled"]["by_flow"] == {"a": {"value": 1}, "b": {"value": 1}}
    assert m["errors"]["overall"] == {"value": 2}
    assert m["rate_429"]["by_op"]["run"]["value"] == pytest.approx(2 / 12)
    assert m["error_rate"]["overall"]["value"] == pytest.approx(2 / 14)
    assert m["throughput"]["overall"]["value"] == pytest.approx(1.4)
    assert m["accepted_rate"]["overall"]["value"] == pytest.approx(1.1)  # 14 - two 429s - one status 0
    assert m["jobs.submitted"]["overall"]["value"] == 7
    assert m["jobs.completed"]["by_flow"] == {"a": {"value": 2}, "b": {"value": 1}}
    assert m["jobs.in_flight"]["overall"]["value"] == 1
    assert m["jobs.retried"]["overall"]["value"] == 1
    assert m["job_failure_rate"]["overall"]["value"] == pytest.approx(2 / 5)
    assert m["job_throughput"]["overall"]["value"] == pytest.approx(0.3)
    assert m["dropped"]["by_flow"] == {"b": {"value": 1}}
    assert m["queue_delay"]["overall"]["count"] == 7
    assert m["queue_delay"]["by_flow"]["b"]["max"] == pytest.approx(5.0, rel=1e-3)
    assert m["queue_delay"]["by_op"] == {}
    assert m["latency"]["by_op"]["status"]["max"] == pytest.approx(30_000, rel=1e-3)
    assert m["first_chunk"]["overall"] is None  # not measured is null, not zero
    assert m["queue_length"]["overall"] is None
    assert m["end_to_end"]["unit"] == "ms" and m["end_to_end"]["direction"] == "higher_is_worse"


def test_idle_counters_are_zero_and_ratios_null() -> None:
    m = figures_plain(summarize_metrics(Recorder(start=T0), duration_s=5.0))
    assert m["dropped"]["overall"] == {"value": 0}
    assert m["requests"]["overall"] == {"value": 0}
    assert m["throughput"]["overall"] == {"value": 0}
    assert m["rate_429"]["overall"] == {"value": None}
