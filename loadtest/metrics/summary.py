"""Recorder → the headline figures: every catalogue metric, overall, per flow and per operation.

This is the ``metrics`` section of ``summary.json`` and the columns of ``timeseries.json``; the check
and the report read those files, never the recorder, so this module is the one place figures are derived.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from loadtest.metrics import catalog, hdr
from loadtest.metrics.catalog import METRICS, Kind, Scope
from loadtest.metrics.recorder import Recorder, aggregate, final_status_class, is_error, is_throttled, series_name

HEALTH_GAUGES: dict[str, str] = {
    "queue_length": "jobs.inQueue",
    "in_progress": "jobs.inProgress",
    "workers_running": "workers.running",
}
"""Gauge metric → flattened /health key it reads."""

_JOB_STATUS_METRIC: dict[str, str] = {
    "completed": "jobs.completed",
    "failed": "jobs.failed",
    "cancelled": "jobs.cancelled",
    "timed_out": "jobs.timed_out",
    "in_flight": "jobs.in_flight",
}


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


class _Counts:
    """Request and job counters folded over time, overall / per flow / per op."""

    def __init__(self, recorder: Recorder) -> None:
        self.requests: dict[str, defaultdict[str, float]] = {}
        for name in ("requests", "throttled", "errors", "accepted"):
            self.requests[name] = defaultdict(float, {"": 0.0})  # counters are 0, not missing, when idle
        self.status_by_op: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (_, op, flow, status), n in recorder.requests.items():
            kinds = ["requests"]
            if is_throttled(status):
                kinds.append("throttled")
            elif status != 0:
                kinds.append("accepted")
            if is_error(status):
                kinds.append("errors")
            for kind in kinds:
                for key in ("", f"flow={flow}", f"op={op}"):
                    self.requests[kind][key] += n
            self.status_by_op[op][str(status)] += n
        self.jobs: dict[str, defaultdict[str, float]] = {
            m: defaultdict(float, {"": 0.0}) for m in (*_JOB_STATUS_METRIC.values(), "jobs.submitted")
        }
        for (_, flow, status), n in recorder.jobs.items():
            metric = _JOB_STATUS_METRIC[final_status_class(status)]
            for key in ("", f"flow={flow}"):
                self.jobs[metric][key] += n
                self.jobs["jobs.submitted"][key] += n
        self.dropped: defaultdict[str, float] = defaultdict(float, {"": 0.0})
        for (_, flow), n in recorder.dropped.items():
            self.dropped[""] += n
            self.dropped[f"flow={flow}"] += n
        self.retried: defaultdict[str, float] = defaultdict(float, {"": 0.0})
        for flow, totals in recorder.job_totals.items():
            self.retried[""] += totals.retried_jobs
            self.retried[f"flow={flow}"] += totals.retried_jobs


def _scoped(values: dict[str, float], transform: Any = None) -> dict[str, Any]:
    """``{"": v, "flow=a": v, "op=run": v}`` → the summary's overall / by_flow / by_op layout."""
    out: dict[str, Any] = {"overall": None, "by_flow": {}, "by_op": {}}
    for key, value in sorted(values.items()):
        figure = transform(key) if transform else value
        entry = {"value": figure}
        if key == "":
            out["overall"] = entry
        else:
            scope, _, name = key.partition("=")
            out[f"by_{scope}"][name] = entry
    return out


def summarize_metrics(recorder: Recorder, duration_s: float | None = None) -> dict[str, Any]:
    """Every catalogue metric as ``{"unit", "kind", "direction", "overall", "by_flow", "by_op"}``.

    ``overall`` and each scoped entry map statistic → value (``{"value": x}`` for non-histograms); a
    metric the run did not measure has ``overall: null``. Rates divide by ``duration_s`` (default: the
    recorder's span from its start to its last sample).
    """
    if duration_s is None:
        start, end = recorder.span()
        duration_s = end - start
    counts = _Counts(recorder)
    hist = aggregate(recorder.totals())
    metrics: dict[str, Any] = {}
    for name, spec in METRICS.items():
        entry: dict[str, Any] = {"unit": spec.unit, "kind": spec.kind.value, "direction": spec.direction.value}
        if spec.kind is Kind.HISTOGRAM:
            entry.update(_histogram_figures(name, spec, hist))
        elif spec.kind is Kind.GAUGE:
            entry.update(_gauge_figures(recorder, HEALTH_GAUGES[name]))
        else:
            entry.update(_scalar_figures(name, counts, duration_s))
        metrics[name] = entry
    return metrics


def _histogram_figures(name: str, spec: catalog.MetricSpec, hist: dict[str, hdr.Sparse]) -> dict[str, Any]:
    out: dict[str, Any] = {"overall": None, "by_flow": {}, "by_op": {}}
    for series, sparse in hist.items():
        metric, scope, value = parse_series_name(series)
        if metric != name:
            continue
        stats = hdr.statistics(sparse) or None
        if scope is None:
            out["overall"] = stats
        elif Scope(scope) in spec.scopes:
            out[f"by_{scope}"][value] = stats
    out["by_flow"] = dict(sorted(out["by_flow"].items()))
    out["by_op"] = dict(sorted(out["by_op"].items()))
    return out


def _scalar_figures(name: str, counts: _Counts, duration_s: float) -> dict[str, Any]:
    req = counts.requests

    def rate(values: dict[str, float]) -> dict[str, Any]:
        return _scoped(values, lambda key: values[key] / duration_s if duration_s > 0 else None)

    def ratio(numerators: dict[str, float], denominators: dict[str, float]) -> dict[str, Any]:
        keys = {k: 0.0 for k in denominators}
        return _scoped(keys, lambda key: _ratio(numerators.get(key, 0.0), denominators[key]))

    if name in ("requests", "throttled", "errors"):
        values = {k: req[name].get(k, 0.0) for k in req["requests"]}
        return _scoped(values)
    if name == "throughput":
        return rate(req["requests"])
    if name == "accepted_rate":
        return rate({k: req["accepted"].get(k, 0.0) for k in req["requests"]})
    if name == "rate_429":
        return ratio(req["throttled"], req["requests"])
    if name == "error_rate":
        return ratio(req["errors"], req["requests"])
    if name in counts.jobs:
        submitted = counts.jobs["jobs.submitted"]
        return _scoped({k: counts.jobs[name].get(k, 0.0) for k in submitted})
    if name == "jobs.retried":
        return _scoped({k: counts.retried.get(k, 0.0) for k in counts.jobs["jobs.submitted"]})
    if name == "job_throughput":
        completed = counts.jobs["jobs.completed"]
        return rate({k: completed.get(k, 0.0) for k in counts.jobs["jobs.submitted"]})
    if name == "job_failure_rate":
        bad: dict[str, float] = defaultdict(float)
        finished: dict[str, float] = defaultdict(float)
        for key in counts.jobs["jobs.submitted"]:
            bad[key] = counts.jobs["jobs.failed"].get(key, 0.0) + counts.jobs["jobs.timed_out"].get(key, 0.0)
            finished[key] = bad[key] + counts.jobs["jobs.completed"].get(key, 0.0)
        return ratio(bad, finished)
    if name == "dropped":
        return _scoped(dict(counts.dropped))
    raise KeyError(f"no rule derives metric {name!r}")  # a catalogue entry without a rule is a bug


def _gauge_figures(recorder: Recorder, key: str) -> dict[str, Any]:
    samples = sorted((t, s[key]) for t, s in recorder.health if key in s)
    if not samples:
        return {"overall": None, "by_flow": {}, "by_op": {}}
    values = [v for _, v in samples]
    stats = {"min": min(values), "max": max(values), "mean": sum(values) / len(values), "last": values[-1]}
    return {"overall": stats, "by_flow": {}, "by_op": {}}


def parse_series_name(series: str) -> tuple[str, str | None, str | None]:
    """``latency{op=run}`` → ("latency", "op", "run"); ``queue_delay`` → ("queue_delay", None, None)."""
    if "{" not in series:
        return series, None, None
    metric, _, rest = series.partition("{")
    scope, _, value = rest.rstrip("}").partition("=")
    return metric, scope, value


def requests_by_status(recorder: Recorder) -> dict[str, dict[str, int]]:
    """Requests per operation per status code (``"0"`` = connection error or timeout)."""
    counts = _Counts(recorder)
    return {op: dict(sorted(codes.items())) for op, codes in sorted(counts.status_by_op.items())}


def job_outcomes(recorder: Recorder) -> dict[str, dict[str, int]]:
    """Jobs per flow per final status (JobStatus values and IN_FLIGHT)."""
    out: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (_, flow, status), n in recorder.jobs.items():
        out[flow][status] += n
    return {flow: dict(sorted(v.items())) for flow, v in sorted(out.items())}


def timeseries(recorder: Recorder) -> dict[str, Any]:
    """Per-bucket figures, columnar: ``{"bucket_s", "t": [bucket starts], "series": {name: ...}}``.

    Histogram series (``latency{op=run}``, ``queue_delay``, ...) map each of :data:`hdr.SERIES_STATS` to
    a list (None where the bucket had no sample); counter series (``requests{op=run}``,
    ``throttled{op=run}``, ``errors{op=run}``, ``jobs.completed{flow=x}``, ``dropped{flow=x}``, ...)
    map to ``{"count": [...]}``. Buckets run without gaps from the first to the last.
    """
    recorder.close_all()
    buckets = recorder.buckets()
    if not buckets:
        return {"format": 1, "bucket_s": recorder.bucket_s, "t": [], "series": {}}
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
    counters: dict[str, list[float]] = {}

    def bump(name: str, bucket: int, amount: int) -> None:
        column = counters.get(name)
        if column is None:
            column = counters[name] = [0] * n
        column[bucket - first] += amount

    for (b, op, flow, status), count in recorder.requests.items():
        names = ["requests"]
        if is_throttled(status):
            names.append("throttled")
        if is_error(status):
            names.append("errors")
        for metric in names:
            for scoped in (series_name(metric), series_name(metric, op=op), series_name(metric, flow=flow)):
                bump(scoped, b, count)
    for (b, flow, status), count in recorder.jobs.items():
        metric = _JOB_STATUS_METRIC[final_status_class(status)]
        for scoped in (metric, series_name(metric, flow=flow), "jobs.submitted",
                       series_name("jobs.submitted", flow=flow)):
            bump(scoped, b, count)
    for (b, flow), count in recorder.dropped.items():
        bump("dropped", b, count)
        bump(series_name("dropped", flow=flow), b, count)
    series: dict[str, Any] = dict(sorted(hist_series.items()))
    series.update({name: {"count": counters[name]} for name in sorted(counters)})
    return {"format": 1, "bucket_s": recorder.bucket_s, "t": t, "series": series}
