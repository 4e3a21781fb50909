"""A run directory, read once into what the report needs (and nothing from anywhere else)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.limits_in_force import LimitsInForce
from loadtest.metrics import hdr, rundir
from loadtest.metrics.catalog import HISTOGRAM_METRICS, METRICS, MetricRef
from loadtest.metrics.figures import HistogramFigure, RunBuckets
from loadtest.report import timeline
from loadtest.report.run_limits import from_scenario_copy, limits_of_run

DISTRIBUTION_METRICS: tuple[str, ...] = HISTOGRAM_METRICS
"""Every time the catalogue keeps as a histogram (job times, request latency, Retry-After, backoff waits)."""


@dataclass
class RunData:
    """Everything a report shows, loaded from one run directory."""

    path: Path
    summary: dict[str, Any]
    timeseries: dict[str, Any]
    distributions: dict[str, list[tuple[float, float]]]
    """Series name (``queue_delay``, ``end_to_end{flow=chat}``, ``latency{op=run}``) → (percentile, ms)."""
    distribution_counts: dict[str, int] = field(default_factory=dict)
    """Samples behind each distribution (jobs, or requests for ``latency``)."""
    health: list[dict[str, float]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] | None = None
    scenario_text: str | None = None
    tag: str | None = None
    """Short name in overlaid plots (``A``/``B`` in a comparison); defaults to :attr:`label`."""
    scenario: dict[str, Any] | None = None
    """``scenario.yaml`` parsed (None when absent or unreadable: see :attr:`warnings`)."""
    limits: LimitsInForce = field(default_factory=lambda: from_scenario_copy(None, None)[0])
    """The rate and concurrency limits in force, with where each comes from."""
    warnings: list[str] = field(default_factory=list)
    """Problems reading optional files; the report shows them at the top."""
    ground_truth: dict[str, Any] | None = None
    """The emulator's own figures (``ground_truth.json``), when the target was the emulator."""
    _buckets: RunBuckets | None = None
    _buckets_read: bool = False

    @property
    def metrics(self) -> dict[str, Any]:
        return self.summary["metrics"]

    @property
    def findings(self) -> list[dict[str, str]]:
        """What went wrong in the run, as the run wrote it (``run.warnings``: kind and message)."""
        found = self.summary["run"].get("warnings") or []
        return [f for f in found if isinstance(f, dict) and f.get("message")]

    def loop_lag(self) -> dict[str, dict[str, Any]]:
        """Each process's loop lag: the load generators' (summary.json) and the emulator's (ground truth)."""
        lag: dict[str, dict[str, Any]] = dict(self.summary.get("loop_lag") or {})
        emulator = (self.ground_truth or {}).get("loop_lag")
        if isinstance(emulator, dict):
            lag["emulator"] = emulator
        return lag

    def real_workers(self) -> list[dict[str, Any]]:
        """The real-worker sections of the ground truth, one per endpoint running the user's own handler."""
        endpoints = (self.ground_truth or {}).get("endpoints") or {}
        return [e["real_workers"] for e in endpoints.values() if isinstance(e, dict) and e.get("real_workers")]

    @property
    def start(self) -> float:
        return float(self.summary["run"]["start_unix"])

    @property
    def label(self) -> str:
        """A short name for this run: ``<scenario>/<directory name>``."""
        return f"{self.summary['run'].get('scenario') or '?'}/{self.path.name}"

    @property
    def duration_s(self) -> float:
        return float(self.summary["run"].get("duration_s") or 0.0)

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    @property
    def bucket_s(self) -> float:
        return float(self.timeseries.get("bucket_s", 1.0))

    def series(self, name: str) -> dict[str, list[float | None]] | None:
        return self.timeseries.get("series", {}).get(name)

    def buckets(self) -> RunBuckets | None:
        """The run's per-bucket histograms and counters (``recorder.json``), read on first use; None
        when the file is absent (the report then falls back to ``timeseries.json``)."""
        if not self._buckets_read:
            self._buckets_read = True
            snapshot = rundir.read_json(self.path, rundir.RECORDER_JSON, required=False)
            if snapshot:
                self._buckets = RunBuckets(snapshot, start=self.start, end=self.end)
        return self._buckets

    def counter_windows(self, names: Sequence[str] = ()) -> timeline.Windows:
        """Windows over ``timeseries.json``'s buckets for the counters ``names``: wide enough that a typical
        window counts :data:`timeline.TARGET_COUNT` of the median counter (see :func:`timeline.typical_width`)."""
        starts = np.asarray(self.timeseries.get("t", []), dtype=float)
        per = timeline.typical_width([self.counts(name) for name in names] or [np.zeros(len(starts))],
                                     self.bucket_s, timeline.TARGET_COUNT)
        return timeline.windows_over(starts, self.bucket_s, self.start, self.end, per)

    def counts(self, name: str) -> np.ndarray:
        """A counter's per-bucket counts from ``timeseries.json`` (zeros when it was never counted)."""
        column = (self.series(name) or {}).get("count") or []
        values = np.zeros(len(self.timeseries.get("t", [])))
        values[: len(column)] = [0.0 if v is None else float(v) for v in column[: len(values)]]
        return values

    def ops_sent(self) -> list[str]:
        """Operations the run sent requests to."""
        prefix = "requests{op="
        return sorted(n[len(prefix):-1] for n in self.timeseries.get("series", {}) if n.startswith(prefix))

    def peak_rates(self) -> dict[str, float]:
        """Per operation sent, the highest offered rate over a window (see :meth:`counter_windows`)."""
        peaks = {}
        for op in self.ops_sent():
            name = f"requests{{op={op}}}"
            rates = self.counter_windows([name]).rate(self.counts(name))
            peaks[op] = float(np.nanmax(rates)) if np.isfinite(rates).any() else 0.0
        return peaks

    def throttled_by_op(self) -> dict[str, float]:
        """429 answers per operation over the whole run."""
        by_op = (self.metrics.get("throttled") or {}).get("by_op") or {}
        return {op: float((figures or {}).get("value") or 0.0) for op, figures in by_op.items()}

    def percentiles(self, metric: str) -> timeline.PercentileSeries | None:
        """``metric``'s p50/p95/p99 per time window, merged from the bucket histograms where the run
        kept them (see :mod:`loadtest.report.timeline`); None when the run never measured it."""
        if metric not in METRICS:
            return None  # a figure this version does not know (a newer run directory)
        buckets = self.buckets()
        if buckets is not None:
            figure = buckets.figure(MetricRef(metric, "count"))
            if isinstance(figure, HistogramFigure) and figure.counts.size:
                starts = (buckets.first + np.arange(buckets.count)) * buckets.bucket_s
                return timeline.percentiles_from_histograms(figure, starts, buckets.bucket_s, self.start, self.end)
        columns = self.series(metric)
        if not columns or not any(v for v in columns.get("count", []) if v):
            return None
        starts = np.asarray(self.timeseries.get("t", []), dtype=float)
        return timeline.percentiles_from_columns(columns, starts, self.bucket_s, self.start, self.end)


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; :class:`rundir.RunDirectoryError` says which file is missing or bad."""
    path = rundir.resolve_run_dir(run_dir)
    if not path.is_dir():
        raise rundir.RunDirectoryError(f"{path}: not a directory")
    path = path.resolve()  # reports/latest → the run's own directory name in titles
    summary = rundir.read_summary(path)
    timeseries = rundir.read_json(path, rundir.TIMESERIES_JSON, required=False) or {"t": [], "series": {}}
    distributions, distribution_counts = _distributions(path)
    scenario_text = _text(path / rundir.SCENARIO_YAML)
    warnings: list[str] = []
    scenario = _scenario(scenario_text, path / rundir.SCENARIO_YAML, warnings)
    limits, limit_warnings = limits_of_run(path, scenario)
    warnings += limit_warnings
    return RunData(
        path=path,
        summary=summary,
        timeseries=timeseries,
        distributions=distributions,
        distribution_counts=distribution_counts,
        health=_health(path / rundir.HEALTH_CSV),
        verdicts=_verdicts(path),
        scenario_text=scenario_text,
        scenario=scenario,
        limits=limits,
        warnings=warnings,
        ground_truth=_ground_truth(path, warnings),
    )


def _ground_truth(path: Path, warnings: list[str]) -> dict[str, Any] | None:
    try:
        document = rundir.read_json(path, rundir.GROUND_TRUTH_JSON, required=False)
    except rundir.RunDirectoryError as exc:
        warnings.append(str(exc))
        return None
    return document if isinstance(document, dict) else None


def _scenario(text: str | None, where: Path, warnings: list[str]) -> dict[str, Any] | None:
    """The run's ``scenario.yaml`` as data, read with the scenario reader's limits (size, depth, aliases);
    a file that cannot be read is a warning (the report stands without it), not a failure."""
    if text is None:
        return None
    from loadtest.scenario.source import YamlFileError, load_yaml_file

    try:
        document = load_yaml_file(where, "the run's scenario")
    except YamlFileError as exc:
        warnings.append(f"{exc}; limits are drawn as documented")
        return None
    if not isinstance(document, dict):
        warnings.append(f"{where}: not a mapping; limits are drawn as documented")
        return None
    return document


def _distributions(path: Path) -> tuple[dict[str, list[tuple[float, float]]], dict[str, int]]:
    document = rundir.read_json(path, rundir.HISTOGRAMS_JSON, required=False)
    if not document:
        return {}, {}
    parts: dict[str, list[hdr.Sparse]] = {}
    for metric, flow, op, encoded in document["histograms"]:
        if metric not in DISTRIBUTION_METRICS:
            continue
        decoded = hdr.decode(encoded)
        sparse = hdr.sparse_of(decoded)
        hdr.release(decoded)
        names = [metric, f"{metric}{{flow={flow}}}"] + ([f"{metric}{{op={op}}}"] if op else [])
        for name in names:
            parts.setdefault(name, []).append(sparse)
    merged = {name: hdr.sparse_sum(pieces) for name, pieces in sorted(parts.items())}
    return ({name: hdr.distribution(sparse) for name, sparse in merged.items()},
            {name: int(sparse[1].sum()) for name, sparse in merged.items()})


def _health(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def _verdicts(path: Path) -> list[dict[str, Any]] | None:
    """``verdicts.json``: a list of ``{criterion, expected, measured, verdict, why}`` (or under "verdicts")."""
    file = path / rundir.VERDICTS_JSON
    if not file.exists():
        return None
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise rundir.RunDirectoryError(f"{file}: cannot read it: {exc}") from None
    items = document.get("verdicts", []) if isinstance(document, dict) else document
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None
