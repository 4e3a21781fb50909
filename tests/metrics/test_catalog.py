"""The metric catalogue: reference parsing, did-you-mean, scopes, reading summary.json figures."""

from __future__ import annotations

import pytest

from loadtest.metrics import catalog
from loadtest.metrics.catalog import Direction, Kind, MetricRefError, Scope, parse_metric_ref


def test_histogram_reference_with_stat() -> None:
    ref = parse_metric_ref("end_to_end.p99")
    assert (ref.metric, ref.stat, ref.scope) == ("end_to_end", "p99", None)
    assert ref.unit == "ms"
    assert str(ref) == "end_to_end.p99"


def test_default_stats() -> None:
    assert parse_metric_ref("queue_delay").stat == "p95"
    assert parse_metric_ref("rate_429").stat == "value"
    assert parse_metric_ref("queue_length").stat == "max"


def test_dotted_metric_names() -> None:
    assert parse_metric_ref("jobs.failed").metric == "jobs.failed"
    ref = parse_metric_ref("jobs.failed.value")
    assert (ref.metric, ref.stat) == ("jobs.failed", "value")


def test_scopes_both_positions_and_keywords() -> None:
    a = parse_metric_ref("latency.p95{op=run}")
    b = parse_metric_ref("latency{op=run}.p95")
    c = parse_metric_ref("latency.p95", op="run")
    assert a == b == c
    assert a.op == "run" and a.flow is None and a.scope is Scope.OP
    f = parse_metric_ref("queue_delay.p50{flow=chat}")
    assert f.flow == "chat"
    assert str(f) == "queue_delay.p50{flow=chat}"


def test_unknown_metric_suggests() -> None:
    with pytest.raises(MetricRefError, match="did you mean 'end_to_end'"):
        parse_metric_ref("end_to_ned.p99")
    with pytest.raises(MetricRefError, match="did you mean 'queue_delay'"):
        parse_metric_ref("queue_dealy")


def test_unknown_stat_suggests() -> None:
    with pytest.raises(MetricRefError, match="did you mean 'p99'"):
        parse_metric_ref("end_to_end.p990")
    with pytest.raises(MetricRefError, match="no statistic 'p99'"):
        parse_metric_ref("rate_429.p99")


def test_bad_scopes() -> None:
    with pytest.raises(MetricRefError, match="cannot be broken down by op"):
        parse_metric_ref("queue_delay.p99{op=run}")
    with pytest.raises(MetricRefError, match=r"unknown operation 'rnu'.*'run'"):
        parse_metric_ref("latency.p99{op=rnu}")
    with pytest.raises(MetricRefError, match="at most one scope"):
        parse_metric_ref("latency.p99{op=run}", flow="x")
    with pytest.raises(MetricRefError, match="unknown scope"):
        parse_metric_ref("latency.p99{flwo=x}")
    with pytest.raises(MetricRefError, match="empty"):
        parse_metric_ref("  ")


def test_directions_and_kinds() -> None:
    assert catalog.METRICS["end_to_end"].higher_is_worse is True
    assert catalog.METRICS["throughput"].higher_is_worse is False
    assert catalog.METRICS["requests"].higher_is_worse is None
    assert catalog.METRICS["rate_429"].direction is Direction.HIGHER_IS_WORSE
    assert catalog.METRICS["chunk_gap"].flow_kinds == frozenset({"run_stream"})
    assert catalog.METRICS["latency"].kind is Kind.HISTOGRAM
    assert catalog.METRICS["latency"].unit_of("count") == "count"
    assert set(catalog.JOB_HISTOGRAM_METRICS) <= set(catalog.HISTOGRAM_METRICS)


def test_a_figure_is_found_by_its_reference() -> None:
    from loadtest.metrics.run_figures import MetricFigures, RunFigures, ScopeFigures

    figures = RunFigures({
        "end_to_end": MetricFigures("ms", Kind.HISTOGRAM, Direction.HIGHER_IS_WORSE, ScopeFigures({"p99": 120.5}),
                                    by_flow={"chat": ScopeFigures({"p99": 99.0})}),
        "rate_429": MetricFigures("ratio", Kind.RATIO, Direction.HIGHER_IS_WORSE, ScopeFigures({"value": 0.25}),
                                  by_op={"run": ScopeFigures({"value": 0.5})}),
    })
    assert figures.value(parse_metric_ref("end_to_end.p99")) == 120.5
    assert figures.value(parse_metric_ref("end_to_end.p99{flow=chat}")) == 99.0
    assert figures.value(parse_metric_ref("end_to_end.p99{flow=other}")) is None
    assert figures.value(parse_metric_ref("rate_429{op=run}")) == 0.5
    assert figures.value(parse_metric_ref("queue_delay.p50")) is None


def test_every_metric_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "run-directory.md").read_text()
    for name, spec in catalog.METRICS.items():
        assert f"| `{name}` | {spec.unit} | {spec.kind.value} |" in doc, name
