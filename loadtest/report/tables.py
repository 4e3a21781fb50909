"""The headline tables as plain rows of text, shared by the HTML report, summary.md and compare."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loadtest.limits_in_force import LimitsInForce, Source
from loadtest.metrics.catalog import METRICS, Kind, Scope
from loadtest.metrics.run_figures import RunFigures
from loadtest.rundir.documents import Verdict
from loadtest.rundir.layout import Entry, describe
from loadtest.rundir.read import RunDirectory

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


def fmt(value: float | None, unit: str, stat: str = "value") -> str:
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


def figure(metrics: RunFigures, metric: str, stat: str, scope: Scope | None = None,
           name: str | None = None) -> float | None:
    entry = metrics.get(metric)
    figures = entry.scoped(scope, name) if entry is not None else None
    return figures.get(stat) if figures is not None else None


def measured(metrics: RunFigures, metric: str) -> bool:
    """Whether the run measured ``metric`` at all (overall)."""
    entry = metrics.get(metric)
    return entry is not None and entry.overall is not None


def scope_names(metrics: RunFigures, metrics_and_stats: Sequence[tuple[str, str]], scope: Scope) -> set[str]:
    """Every flow or operation name that any of these metrics has figures for."""
    return {name for metric, _ in metrics_and_stats if (entry := metrics.get(metric)) is not None
            for name in entry.by(scope)}


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


def headline_histograms(metrics: RunFigures) -> list[tuple[str, list[Row]]]:
    """One line per histogram metric that was measured: its statistics."""
    out = []
    for metric in HEADLINE_HISTOGRAMS:
        if not measured(metrics, metric):
            continue
        unit = METRICS[metric].unit
        out.append((metric, [Row(metric, s, METRICS[metric].unit_of(s) if s == "count" else unit,
                                 figure(metrics, metric, s)) for s in HEADLINE_STATS]))
    return out


def headline_scalars(metrics: RunFigures) -> list[Row]:
    rows = [Row(m, "value", METRICS[m].unit, figure(metrics, m, "value")) for m in HEADLINE_SCALARS]
    for gauge in HEADLINE_GAUGES:
        if measured(metrics, gauge):
            rows.append(Row(gauge, "max", METRICS[gauge].unit, figure(metrics, gauge, "max")))
    return rows


def scoped_table(metrics: RunFigures, scope: Scope,
                 columns: tuple[tuple[str, str], ...]) -> tuple[list[str], list[tuple[str, list[Row]]]]:
    """(column headers, [(flow or op name, rows)]) for a per-flow or per-operation table."""
    names = sorted(scope_names(metrics, columns, scope))
    headers = [m if s == "value" else f"{m}.{s}" for m, s in columns]
    table = []
    for name in names:
        table.append((name, [Row(m, s, METRICS[m].unit_of(s) if METRICS[m].kind is Kind.HISTOGRAM else METRICS[m].unit,
                                 figure(metrics, m, s, scope, name)) for m, s in columns]))
    return headers, table


def verdict_rows(verdicts: Sequence[Verdict]) -> list[list[str]]:
    """Verdicts as text rows: criterion, expected, measured, verdict, why."""
    return [[v.criterion, v.expected, v.measured, v.verdict, v.why] for v in verdicts]


# ------------------------------------------------------------------------------------ limits in force

LIMIT_HEADERS: tuple[str, ...] = ("operation", "rate limit in force", "concurrency limit in force",
                                  "documented", "peak offered", "429 answers")


def limit_rows(limits: LimitsInForce, peaks: Mapping[str, float], throttled: Mapping[str, float]) -> list[list[str]]:
    """One row per operation the run sent: the limits in force (with their source; beside them what the
    emulator enforced when a discovered or the scenario's own limit was in force), the documented ones, the
    busiest window's offered rate and the 429s received."""
    rows = []
    for op in sorted(peaks):
        entry = limits.get(op)
        rate = entry.rate.label if entry.rate else "none"
        enforced_rate = entry.replaced_rate(Source.EMULATOR)
        if enforced_rate is not None:
            rate += f"; {enforced_rate.label}"
        conc = entry.concurrency.label if entry.concurrency else "none"
        enforced_concurrency = entry.replaced_concurrency(Source.EMULATOR)
        if enforced_concurrency is not None:
            conc += f"; {enforced_concurrency.label}"
        documented = []
        documented_rate = entry.rates.get(Source.DOCUMENTED)
        documented_concurrency = entry.concurrencies.get(Source.DOCUMENTED)
        if documented_rate is not None:
            documented.append(f"{documented_rate.value:,.0f} per {documented_rate.window_s:g} s")
        if documented_concurrency is not None:
            documented.append(f"{documented_concurrency.value:,.0f} in flight")
        rows.append([f"/{op}", rate, conc, ", ".join(documented) or "none",
                     f"{peaks[op]:,.3g}/s", f"{throttled.get(op, 0.0):,.0f}"])
    return rows


# ----------------------------------------------------------------------------------- run directory files

def run_files(directory: RunDirectory, listed: Mapping[str, str], written: Sequence[Entry]) -> list[list[str]]:
    """Every file of the run directory (and the ones this report writes), with what it holds: as the
    layout describes it, else as ``summary.json``'s ``files`` (``listed``) does."""
    names = set(directory.names()) | {entry.listed for entry in written}
    rows = []
    for name in sorted(names):
        described = describe(name) or listed.get(name.rstrip("/"), "")
        if name.endswith("/") and (directory.path / name).is_dir():
            count = sum(1 for p in (directory.path / name).iterdir() if not p.name.startswith("."))
            described = f"{described} ({count} files)" if described else f"{count} files"
        rows.append([name, described])
    return rows
