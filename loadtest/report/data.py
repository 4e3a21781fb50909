"""A run directory, read once into what the report needs (and nothing from anywhere else).

Every file is read through :class:`~loadtest.rundir.read.RunDirectory`, as typed documents; this module
only adds what a report derives from them: distributions, windows over the time series, peak rates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from loadtest.limits_in_force import LimitsInForce
from loadtest.looplag import LoopLagDict
from loadtest.metrics import hdr
from loadtest.metrics.catalog import HISTOGRAM_METRICS, METRICS, MetricRef
from loadtest.metrics.figures import HistogramFigure, RunBuckets
from loadtest.metrics.run_figures import Column, RunFigures, Timeseries
from loadtest.report import timeline
from loadtest.report.run_limits import from_scenario_copy, limits_of_run
from loadtest.rundir.documents import GroundTruth, Histograms, RealWorkers, RunWarning, Summary, VerdictsDocument
from loadtest.rundir.errors import RunDirectoryError
from loadtest.rundir.read import HealthRow, RunDirectory

DISTRIBUTION_METRICS: tuple[str, ...] = HISTOGRAM_METRICS
"""Every time the catalogue keeps as a histogram (job times, request latency, Retry-After, backoff waits)."""

ScenarioData = dict[str, object]
"""The run's ``scenario.yaml`` as plain data."""


@dataclass
class RunData:
    """Everything a report shows, loaded from one run directory."""

    directory: RunDirectory
    summary: Summary
    timeseries: Timeseries
    distributions: dict[str, list[tuple[float, float]]]
    """Series name (``queue_delay``, ``end_to_end{flow=chat}``, ``latency{op=run}``) → (percentile, ms)."""
    distribution_counts: dict[str, int] = field(default_factory=dict)
    """Samples behind each distribution (jobs, or requests for ``latency``)."""
    health: list[HealthRow] = field(default_factory=list)
    verdicts: VerdictsDocument | None = None
    scenario_text: str | None = None
    tag: str | None = None
    """Short name in overlaid plots (``A``/``B`` in a comparison); defaults to :attr:`label`."""
    scenario: ScenarioData | None = None
    """``scenario.yaml`` parsed (None when absent or unreadable: see :attr:`warnings`)."""
    limits: LimitsInForce = field(default_factory=lambda: from_scenario_copy(None, None)[0])
    """The rate and concurrency limits in force, with where each comes from."""
    warnings: list[str] = field(default_factory=list)
    """Problems reading optional files; the report shows them at the top."""
    ground_truth: GroundTruth | None = None
    """The emulator's own figures (``ground_truth.json``), when the target was the emulator."""

    @property
    def path(self) -> Path:
        return self.directory.path

    @property
    def metrics(self) -> RunFigures:
        return self.summary.metrics

    @property
    def findings(self) -> tuple[RunWarning, ...]:
        """What went wrong in the run, as the run wrote it (``run.warnings``: kind and message)."""
        return self.summary.run.warnings

    def loop_lag(self) -> dict[str, LoopLagDict]:
        """Each process's loop lag: the load generators' (summary.json) and the emulator's (ground truth)."""
        lag = dict(self.summary.loop_lag)
        if self.ground_truth is not None and self.ground_truth.loop_lag is not None:
            lag["emulator"] = self.ground_truth.loop_lag
        return lag

    def real_workers(self) -> tuple[RealWorkers, ...]:
        """The real-worker sections of the ground truth, one per endpoint running the user's own handler."""
        return self.ground_truth.real_workers if self.ground_truth is not None else ()

    @property
    def start(self) -> float:
        return self.summary.run.start_unix

    @property
    def label(self) -> str:
        """A short name for this run: ``<scenario>/<directory name>``."""
        return f"{self.summary.run.scenario or '?'}/{self.path.name}"

    @property
    def duration_s(self) -> float:
        return self.summary.run.duration_s

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    @property
    def bucket_s(self) -> float:
        return self.timeseries.bucket_s

    def series(self, name: str) -> Mapping[str, Column] | None:
        return self.timeseries.series.get(name)

    def buckets(self) -> RunBuckets | None:
        """The run's per-bucket histograms and counters (``recorder.json``), read on first use; None
        when the file is absent (the report then falls back to ``timeseries.json``)."""
        return self.directory.buckets()

    def counter_windows(self, names: Sequence[str] = ()) -> timeline.Windows:
        """Windows over ``timeseries.json``'s buckets for the counters ``names``: wide enough that a typical
        window counts :data:`timeline.TARGET_COUNT` of the median counter (see :func:`timeline.typical_width`)."""
        starts = np.asarray(self.timeseries.t, dtype=float)
        per = timeline.typical_width([self.counts(name) for name in names] or [np.zeros(len(starts))],
                                     self.bucket_s, timeline.TARGET_COUNT)
        return timeline.windows_over(starts, self.bucket_s, self.start, self.end, per)

    def counts(self, name: str) -> np.ndarray:
        """A counter's per-bucket counts from ``timeseries.json`` (zeros when it was never counted)."""
        column = self.timeseries.column(name, "count") or []
        values = np.zeros(len(self.timeseries.t))
        values[: len(column)] = [0.0 if v is None else float(v) for v in column[: len(values)]]
        return values

    def ops_sent(self) -> list[str]:
        """Operations the run sent requests to."""
        prefix = "requests{op="
        return sorted(n[len(prefix):-1] for n in self.timeseries.series if n.startswith(prefix))

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
        throttled = self.metrics.get("throttled")
        if throttled is None:
            return {}
        return {op: (figures.get("value") or 0.0) if figures is not None else 0.0
                for op, figures in throttled.by_op.items()}

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
        starts = np.asarray(self.timeseries.t, dtype=float)
        return timeline.percentiles_from_columns(columns, starts, self.bucket_s, self.start, self.end)


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; :class:`RunDirectoryError` says which file is missing or bad."""
    directory = RunDirectory(run_dir)
    summary = directory.summary()
    distributions, distribution_counts = _distributions(directory.histograms())
    scenario_text = directory.scenario_text()
    warnings: list[str] = []
    scenario = _scenario(scenario_text, directory.scenario_path, warnings)
    limits, limit_warnings = limits_of_run(directory, scenario)
    warnings += limit_warnings
    return RunData(
        directory=directory,
        summary=summary,
        timeseries=directory.timeseries(),
        distributions=distributions,
        distribution_counts=distribution_counts,
        health=directory.health(),
        verdicts=directory.verdicts(),
        scenario_text=scenario_text,
        scenario=scenario,
        limits=limits,
        warnings=warnings,
        ground_truth=_ground_truth(directory, warnings),
    )


def _ground_truth(directory: RunDirectory, warnings: list[str]) -> GroundTruth | None:
    try:
        return directory.ground_truth()
    except RunDirectoryError as exc:
        warnings.append(str(exc))
        return None


def _scenario(text: str | None, where: Path, warnings: list[str]) -> ScenarioData | None:
    """The run's ``scenario.yaml`` as data, read with the scenario reader's limits (size, depth, aliases);
    a file that cannot be read is a warning (the report stands without it), not a failure."""
    if text is None:
        return None
    from loadtest.scenario.source import YamlFileError, load_yaml_text

    try:
        document: object = load_yaml_text(text, where, "the run's scenario")
    except YamlFileError as exc:
        warnings.append(f"{exc}; limits the run did not record are drawn as documented")
        return None
    if not isinstance(document, dict):
        warnings.append(f"{where}: not a mapping; limits the run did not record are drawn as documented")
        return None
    return {str(key): value for key, value in document.items()}


def _distributions(histograms: Histograms) -> tuple[dict[str, list[tuple[float, float]]], dict[str, int]]:
    parts: dict[str, list[hdr.Sparse]] = {}
    for entry in histograms.entries:
        if entry.metric not in DISTRIBUTION_METRICS:
            continue
        decoded = hdr.decode(entry.encoded)
        sparse = hdr.sparse_of(decoded)
        hdr.release(decoded)
        metric = entry.metric
        names = [metric, f"{metric}{{flow={entry.flow}}}"] + ([f"{metric}{{op={entry.op}}}"] if entry.op else [])
        for name in names:
            parts.setdefault(name, []).append(sparse)
    merged = {name: hdr.sparse_sum(pieces) for name, pieces in sorted(parts.items())}
    return ({name: hdr.distribution(sparse) for name, sparse in merged.items()},
            {name: int(sparse[1].sum()) for name, sparse in merged.items()})
