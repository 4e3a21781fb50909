"""The headline tables as plain rows of text, shared by the HTML report, summary.md and compare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadtest.metrics.catalog import METRICS, Kind

HEADLINE_HISTOGRAMS: tuple[str, ...] = ("queue_delay", "execution_time", "end_to_end", "first_chunk", "chunk_gap",
                                        "latency")
HEADLINE_STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "max", "mean", "count")
HEADLINE_SCALARS: tuple[str, ...] = (
    "requests", "throughput", "accepted_rate", "throttled", "rate_429", "errors", "error_rate",
    "jobs.submitted", "jobs.completed", "jobs.failed", "jobs.timed_out", "jobs.cancelled", "jobs.in_flight",
    "jobs.retried", "job_failure_rate", "job_throughput", "dropped",
)
HEADLINE_GAUGES: tuple[str, ...] = ("queue_length", "in_progress", "workers_running")
OP_COLUMNS: tuple[tuple[str, str], ...] = (
    ("requests", "value"), ("throughput", "value"), ("throttled", "value"), ("rate_429", "value"),
    ("errors", "value"), ("latency", "p50"), ("latency", "p95"), ("latency", "p99"),
)
FLOW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("jobs.submitted", "value"), ("jobs.completed", "value"), ("job_failure_rate", "value"),
    ("queue_delay", "p95"), ("execution_time", "p95"), ("end_to_end", "p50"), ("end_to_end", "p95"),
    ("end_to_end", "p99"), ("rate_429", "value"),
)


def fmt(value: Any, unit: str, stat: str = "value") -> str:
    """A figure for people: 3 significant digits, ratios as percentages, counts as integers."""
    if value is None:
        return "–"
    if stat == "count" or unit in ("count", "jobs", "workers"):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if unit == "ratio":
        return f"{100 * value:.3g}%"
    if unit == "ms":
        return f"{value:,.0f} ms" if value >= 1000 else f"{value:.3g} ms"
    return f"{value:,.3g} {unit}" if unit else f"{value:.3g}"


def figure(metrics: Mapping[str, Any], metric: str, stat: str, scope: str | None = None,
           name: str | None = None) -> float | None:
    entry = metrics.get(metric) or {}
    figures = entry.get("overall") if scope is None else (entry.get(f"by_{scope}") or {}).get(name or "")
    if not figures:
        return None
    return figures.get(stat)


@dataclass(frozen=True)
class Row:
    """One headline figure: its reference (``queue_delay.p95``), its unit, its value."""

    metric: str
    stat: str
    unit: str
    value: float | None

    @property
    def ref(self) -> str:
        return self.metric if self.stat == "value" else f"{self.metric}.{self.stat}"

    @property
    def text(self) -> str:
        return fmt(self.value, self.unit, self.stat)


def headline_histograms(metrics: Mapping[str, Any]) -> list[tuple[str, list[Row]]]:
    """One line per histogram metric that was measured: its statistics."""
    out = []
    for metric in HEADLINE_HISTOGRAMS:
        if not (metrics.get(metric) or {}).get("overall"):
            continue
        unit = METRICS[metric].unit
        out.append((metric, [Row(metric, s, METRICS[metric].unit_of(s) if s == "count" else unit,
                                 figure(metrics, metric, s)) for s in HEADLINE_STATS]))
    return out


def headline_scalars(metrics: Mapping[str, Any]) -> list[Row]:
    rows = [Row(m, "value", METRICS[m].unit, figure(metrics, m, "value")) for m in HEADLINE_SCALARS]
    for gauge in HEADLINE_GAUGES:
        if (metrics.get(gauge) or {}).get("overall"):
            rows.append(Row(gauge, "max", METRICS[gauge].unit, figure(metrics, gauge, "max")))
    return rows


def scoped_table(metrics: Mapping[str, Any], scope: str,
                 columns: tuple[tuple[str, str], ...]) -> tuple[list[str], list[tuple[str, list[Row]]]]:
    """(column headers, [(flow or op name, rows)]) for a per-flow or per-operation table."""
    names = sorted({n for m, _ in columns for n in ((metrics.get(m) or {}).get(f"by_{scope}") or {})})
    headers = [m if s == "value" else f"{m}.{s}" for m, s in columns]
    table = []
    for name in names:
        table.append((name, [Row(m, s, METRICS[m].unit_of(s) if METRICS[m].kind is Kind.HISTOGRAM else METRICS[m].unit,
                                 figure(metrics, m, s, scope, name)) for m, s in columns]))
    return headers, table


def verdict_rows(verdicts: list[dict[str, Any]] | None) -> list[list[str]]:
    """Verdicts as text rows: criterion, expected, measured, verdict, why."""
    return [[str(v.get(k, "")) for k in ("criterion", "expected", "measured", "verdict", "why")]
            for v in verdicts or []]
