"""Recorder → the headline figures: every catalogue metric, overall, per flow and per operation.

This is the ``metrics`` section of ``summary.json`` and the columns of ``timeseries.json``; the check
and the report read those files, never the recorder, so this module is the one place figures are derived.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from loadtest.metrics import catalog, hdr
from loadtest.metrics.catalog import METRICS, Kind, Scope, censored_name
from loadtest.metrics.figures import CountTables, GaugeFigure, SumFigure
from loadtest.metrics.recorder import Recorder, aggregate, series_name
from loadtest.metrics.run_figures import MetricFigures, RunFigures, ScopeFigures, Timeseries

HEALTH_GAUGES: dict[str, str] = {name: spec.health_key for name, spec in METRICS.items() if spec.health_key}
"""Gauge metric → flattened /health key it reads (from the catalogue)."""

_WHOLE_RUN = np.ones((1, 1))


def summarize_metrics(recorder: Recorder, duration_s: float | None = None) -> RunFigures:
    """Every catalogue metric's figures overall, per flow and per operation (see :class:`MetricFigures`).

    A metric the run did not measure has ``overall`` None. Rates divide by ``duration_s`` (default: the
    recorder's span from its start to its last sample). A histogram with censored samples (unfinished
    jobs) says how many, which statistics are lower bounds only and the cap of those that have one; see
    docs/run-directory.md.
    """
    if duration_s is None:
        start, end = recorder.span()
        duration_s = end - start
    tables = CountTables.of_recorder(recorder)
    hist = aggregate(recorder.total_counts())
    metrics: dict[str, MetricFigures] = {}
    for name, spec in METRICS.items():
        if spec.kind is Kind.HISTOGRAM:
            scoped = _histogram_figures(name, spec, hist)
        elif spec.kind is Kind.GAUGE:
            assert spec.health_key is not None
            scoped = _gauge_figures(recorder, spec.health_key)
        else:
            scoped = _derived_figures(spec, tables, duration_s)
        metrics[name] = MetricFigures(spec.unit, spec.kind, spec.direction, scoped.overall,
                                      dict(sorted(scoped.by_flow.items())), dict(sorted(scoped.by_op.items())))
    return RunFigures(metrics)


@dataclass
class _Scoped:
    overall: ScopeFigures | None = None
    by_flow: dict[str, ScopeFigures | None] = field(default_factory=dict)
    by_op: dict[str, ScopeFigures | None] = field(default_factory=dict)

    def put(self, scope: Scope | None, value: str | None, figures: ScopeFigures | None) -> None:
        if scope is None:
            self.overall = figures
        elif scope is Scope.FLOW:
            self.by_flow[value or ""] = figures
        else:
            self.by_op[value or ""] = figures


def _histogram_figures(name: str, spec: catalog.MetricSpec, hist: dict[str, hdr.Sparse]) -> _Scoped:
    out = _Scoped()
    censored_metric = censored_name(name) if spec.censored else None
    scopes: dict[tuple[str | None, str | None], None] = {}
    for series in hist:
        metric, scope, value = parse_series_name(series)
        if metric in (name, censored_metric):
            scopes[(scope, value)] = None
    for scope, value in scopes:
        if scope is not None and Scope(scope) not in spec.scopes:
            continue
        flow, op = (value, None) if scope == Scope.FLOW else (None, value)
        result, censored = series_statistics(hist, name, flow=flow, op=op)
        figures = None
        if result.stats:
            figures = (ScopeFigures(dict(result.stats), float(censored), tuple(result.lower_bounds),
                                    dict(result.upper_bounds)) if censored else ScopeFigures(dict(result.stats)))
        out.put(Scope(scope) if scope is not None else None, value, figures)
    return out


def series_statistics(
    hist: dict[str, hdr.Sparse], metric: str, *, flow: str | None = None, op: str | None = None,
    names: tuple[str, ...] | None = None,
) -> tuple[hdr.CensoredStatistics, int]:
    """A histogram metric's statistics in one scope, its censored samples (unfinished jobs) included as
    lower bounds, from the whole-run histograms :func:`aggregate` gives; and how many were censored."""
    finished = hist.get(series_name(metric, flow=flow, op=op))
    censored = hist.get(series_name(censored_name(metric), flow=flow, op=op)) if METRICS[metric].censored else None
    count = int(censored[1].sum()) if censored is not None else 0
    return hdr.censored_statistics(finished, censored, names), count


def _derived_figures(spec: catalog.MetricSpec, tables: CountTables, duration_s: float) -> _Scoped:
    """A counter, rate or ratio overall and per scope, derived as the catalogue says (one bucket: the run)."""
    assert spec.derivation is not None
    out = _Scoped()
    seconds = np.array([float(duration_s)])
    for scope, value in _scopes(spec, tables):
        def count(c: catalog.CounterSpec, scope: Scope | None = scope, value: str | None = value) -> np.ndarray | None:
            return tables.counter(c, scope, value)

        figure = SumFigure.derive(spec.derivation, count, seconds)
        if figure is None:
            raise KeyError(f"no whole-run counts for {spec.name!r}")  # the catalogue promises them: a bug
        number = float(figure.values(_WHOLE_RUN)[0])
        out.put(scope, value, ScopeFigures({"value": None if np.isnan(number) else number}))
    return out


def _scopes(spec: catalog.MetricSpec, tables: CountTables) -> list[tuple[Scope | None, str | None]]:
    """Overall, then each flow and operation the metric's counter has entries for (as its scopes allow)."""
    assert spec.derivation is not None
    flows, ops = tables.scope_values(spec.derivation.counter.scope_table)
    scopes: list[tuple[Scope | None, str | None]] = [(None, None)]
    scopes += [(Scope.FLOW, flow) for flow in flows if Scope.FLOW in spec.scopes]
    scopes += [(Scope.OP, op) for op in ops if Scope.OP in spec.scopes]
    return scopes


def _gauge_figures(recorder: Recorder, key: str) -> _Scoped:
    samples = sorted((t, s[key]) for t, s in recorder.health if key in s)
    if not samples:
        return _Scoped()
    figure = GaugeFigure.of_samples(((t, {key: v}) for t, v in samples), key, "", lambda _: 0, 1)
    whole = all(isinstance(v, int) for _, v in samples)  # counts stay whole numbers in summary.json
    stats: dict[str, float | None] = {}
    for stat in catalog.GAUGE_STATS:
        figure.stat = stat
        value = float(figure.values(_WHOLE_RUN)[0])
        stats[stat] = int(value) if whole and stat != "mean" else value
    return _Scoped(ScopeFigures(stats))


def parse_series_name(series: str) -> tuple[str, str | None, str | None]:
    """``latency{op=run}`` → ("latency", "op", "run"); ``queue_delay`` → ("queue_delay", None, None)."""
    if "{" not in series:
        return series, None, None
    metric, _, rest = series.partition("{")
    scope, _, value = rest.rstrip("}").partition("=")
    return metric, scope, value


def error_messages(recorder: Recorder) -> dict[str, dict[str, str]]:
    """The target's words per operation and error status (``"0"``: why no answer came)."""
    out: dict[str, dict[str, str]] = {}
    for (op, status), message in sorted(recorder.error_messages.items()):
        out.setdefault(op, {})[str(status)] = message
    return out


def requests_by_status(recorder: Recorder) -> dict[str, dict[str, int]]:
    """Requests per operation per status code (``"0"`` = connection error or timeout)."""
    by_op: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _, op, _flow, status, n in recorder.request_counts():
        by_op[op][str(status)] += n
    return {op: dict(sorted(codes.items())) for op, codes in sorted(by_op.items())}


def job_outcomes(recorder: Recorder) -> dict[str, dict[str, int]]:
    """Jobs per flow per final status (JobStatus values and IN_FLIGHT)."""
    out: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (_, flow, status), n in recorder.jobs.items():
        out[flow][status] += n
    return {flow: dict(sorted(v.items())) for flow, v in sorted(out.items())}


def timeseries(recorder: Recorder) -> Timeseries:
    """Per-bucket figures, columnar (see :class:`Timeseries`).

    Histogram series (``latency{op=run}``, ``queue_delay``, ...) map each of :data:`hdr.SERIES_STATS` to
    a list (None where the bucket had no sample); counter series (every counter metric of the catalogue
    kept per bucket: ``requests{op=run}``, ``throttled{op=run}``, ``errors{op=run}``,
    ``jobs.completed{flow=x}``, ``dropped{flow=x}``, ``chunks{flow=x}``...) map to ``{"count": [...]}``,
    each present when something counted towards it. Buckets run without gaps from the first to the last.
    """
    recorder.close_all()
    buckets = recorder.buckets()
    if not buckets:
        return Timeseries(recorder.bucket_s)
    first, last = buckets[0], buckets[-1]
    n = last - first + 1
    t = [(first + i) * recorder.bucket_s for i in range(n)]
    hist_series: dict[str, dict[str, list[float | None]]] = {}
    for b in buckets:
        for name, stats in recorder.series_of_bucket(b).items():
            columns = hist_series.get(name)
            if columns is None:
                columns = hist_series[name] = {s: [None] * n for s in hdr.SERIES_STATS}
            for stat, value in zip(hdr.SERIES_STATS, stats, strict=True):
                columns[stat][b - first] = value
    series: dict[str, dict[str, list[float | None]]] = dict(sorted(hist_series.items()))
    series.update(sorted(_counter_series(recorder, first, n).items()))
    return Timeseries(recorder.bucket_s, t, series)


def _counter_series(recorder: Recorder, first: int, n: int) -> dict[str, dict[str, list[float | None]]]:
    """Per-bucket counts of every counter metric kept per bucket, overall and per scope it has entries in."""
    snapshot = {
        "requests": list(recorder.request_counts()),
        "jobs": [[*k, v] for k, v in recorder.jobs.items()],
        "dropped": [[*k, v] for k, v in recorder.dropped.items()],
        "chunks": [[*k, v] for k, v in recorder.chunks.items()],
    }
    tables = CountTables.of_snapshot(snapshot, first, n)
    out: dict[str, dict[str, list[float | None]]] = {}
    for name, spec in METRICS.items():
        if spec.kind is not Kind.COUNTER or spec.derivation is None:
            continue
        counter = spec.derivation.counter
        if counter.table is catalog.Table.JOB_TOTALS:
            continue  # whole-run only
        for scope, value in _scopes(spec, tables):
            if not tables.present(counter, scope, value):
                continue
            vector = tables.counter(counter, scope, value)
            assert vector is not None
            flow, op = (value, None) if scope is Scope.FLOW else (None, value)
            out[series_name(name, flow=flow, op=op)] = {"count": [int(v) for v in vector]}
    return out
