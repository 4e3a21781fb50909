"""A run's figures as typed values: every catalogue metric's headline figures (``summary.json``'s
``metrics``) and the per-bucket series (``timeseries.json``).

:mod:`loadtest.metrics.summary` derives them from a recorder; the run directory (:mod:`loadtest.rundir`)
stores them and reads them back into these same types; the check and the report ask them for one figure
by its :class:`~loadtest.metrics.catalog.MetricRef`. Where a figure sits (``metrics[<metric>]["overall" |
"by_flow"[<flow>] | "by_op"[<op>]][<stat>]``) and which of them are lower bounds is answered here, once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from loadtest.metrics.catalog import Direction, Kind, MetricRef, Scope


@dataclass(frozen=True)
class ScopeFigures:
    """One metric's statistics in one scope (the whole run, a flow or an operation).

    ``stats``: statistic → value: ``p50 p90 p95 p99 p999 min max mean count`` for a histogram (ms),
    ``value`` for a counter, rate or ratio (None: not measured, e.g. a ratio over nothing), ``min max mean
    last`` for a gauge. A histogram into which unfinished jobs went (censored samples) also says how many
    (``censored``), which statistics are only lower bounds, and the cap of those that have one.
    """

    stats: Mapping[str, float | None]
    censored: float | None = None
    """How many of ``count`` are censored samples (unfinished jobs' times so far); None: none were."""
    lower_bounds: tuple[str, ...] = ()
    upper_bounds: Mapping[str, float] = field(default_factory=dict)

    def get(self, stat: str) -> float | None:
        value = self.stats.get(stat)
        return None if value is None else float(value)

    def is_lower_bound(self, stat: str) -> bool:
        return stat in self.lower_bounds

    def upper_bound(self, stat: str) -> float | None:
        """The highest ``stat`` can truly be: its value when exact, the cap of a capped lower bound, None for
        an uncapped lower bound (or a statistic not measured)."""
        value = self.get(stat)
        if value is None or not self.is_lower_bound(stat):
            return value
        cap = self.upper_bounds.get(stat)
        return None if cap is None else float(cap)


@dataclass(frozen=True)
class MetricFigures:
    """One catalogue metric over the whole run: overall, per flow and per operation (None: not measured)."""

    unit: str
    kind: Kind
    direction: Direction
    overall: ScopeFigures | None
    by_flow: Mapping[str, ScopeFigures | None] = field(default_factory=dict)
    by_op: Mapping[str, ScopeFigures | None] = field(default_factory=dict)

    def scoped(self, scope: Scope | None, name: str | None = None) -> ScopeFigures | None:
        """The figures overall (``scope`` None) or of flow/operation ``name``."""
        if scope is None:
            return self.overall
        return self.by(scope).get(name or "")

    def by(self, scope: Scope) -> Mapping[str, ScopeFigures | None]:
        return self.by_flow if scope is Scope.FLOW else self.by_op


class RunFigures(Mapping[str, MetricFigures]):
    """Every metric's figures by name, in the catalogue's order; asked for one figure by reference."""

    def __init__(self, metrics: Mapping[str, MetricFigures]) -> None:
        self._metrics = dict(metrics)

    def __getitem__(self, name: str) -> MetricFigures:
        return self._metrics[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def __repr__(self) -> str:
        return f"RunFigures({self._metrics!r})"

    def figures(self, ref: MetricRef) -> ScopeFigures | None:
        """The statistics of ``ref``'s metric in ``ref``'s scope (None: not measured there)."""
        metric = self._metrics.get(ref.metric)
        return None if metric is None else metric.scoped(ref.scope, ref.scope_value)

    def value(self, ref: MetricRef) -> float | None:
        """The figure ``ref`` names, or None when the run did not measure it."""
        figures = self.figures(ref)
        return None if figures is None else figures.get(ref.stat)

    def is_lower_bound(self, ref: MetricRef) -> bool:
        """Whether the figure is only a lower bound (unfinished jobs' times so far went into it)."""
        figures = self.figures(ref)
        return figures is not None and figures.is_lower_bound(ref.stat)

    def upper_bound(self, ref: MetricRef) -> float | None:
        """The highest the figure can truly be: see :meth:`ScopeFigures.upper_bound`."""
        figures = self.figures(ref)
        return None if figures is None else figures.upper_bound(ref.stat)

    def censored_count(self, ref: MetricRef) -> int:
        """How many censored samples (unfinished jobs) the figure's histogram holds (0 for other figures)."""
        figures = self.figures(ref)
        return int(figures.censored or 0) if figures is not None else 0


Column = list[float | None]


@dataclass(frozen=True)
class Timeseries:
    """Per-bucket figures, columnar: each bucket's start (``t``, Unix seconds, without gaps) and per series
    (``latency{op=run}``, ``queue_delay``, ``requests{op=run}``...) its statistics' columns (histograms:
    ``count mean p50 p90 p95 p99 max``, None where a bucket had no sample; counters: ``count``)."""

    bucket_s: float
    t: list[float] = field(default_factory=list)
    series: Mapping[str, Mapping[str, Column]] = field(default_factory=dict)

    def column(self, name: str, stat: str) -> Column | None:
        columns = self.series.get(name)
        return None if columns is None else columns.get(stat)
