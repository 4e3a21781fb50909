"""Figures over time, in windows wide enough to mean something and few enough to draw fast.

The recorder keeps one-second buckets. Drawn as they are, a one-hour run gives 3600 points per series
(a heavy page), and a percentile of a bucket holding two jobs is just one of those two jobs. So:

* **counts** (requests, 429s) are summed over windows of whole buckets, at most :data:`MAX_POINTS` per
  series, and divided by the seconds of the run each window covered;
* **percentiles** come from the buckets' histograms merged over each window (``recorder.json``, through
  the figure engine), the window widened until a typical window holds :data:`TARGET_JOBS` jobs, and each
  percentile is drawn only where its window holds enough jobs for it (:func:`min_samples`). Without
  ``recorder.json`` the per-bucket percentiles of ``timeseries.json`` are used, with the same rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from loadtest.metrics.figures import HistogramFigure
from loadtest.metrics.hdr import StatisticRows

MAX_POINTS = 600
"""Most windows a series is drawn with (a one-hour run at 1 s buckets: 6 s windows)."""
TARGET_JOBS = 20
"""A percentile window is widened until the median window with jobs holds this many (p95 needs 20)."""
TARGET_COUNT = 10
"""A rate window is widened until the typical window counts this many (a rate of 1 or 2 is noise)."""
MIN_WINDOWS = 6
"""...but never so wide that fewer windows than this cover the run (a trend needs a few points)."""
LADDER_S: tuple[float, ...] = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
"""Window widths tried, in seconds (each rounded to whole buckets)."""
PERCENTILE_STATS: tuple[str, ...] = ("p50", "p95", "p99")


def min_samples(stat: str) -> int:
    """Jobs a window must hold for its ``stat`` to be drawn: at least one job above the percentile
    (p95: 20, p99: 100), and never fewer than 5 (a median of two jobs is not a trend)."""
    if stat.startswith("p"):
        q = float(stat[1:]) / 100
        return max(5, math.ceil(1 / (1 - q) - 1e-9))
    return 1


@dataclass(frozen=True)
class Windows:
    """Consecutive groups of ``per`` buckets over a bucket axis, and what of the run each covers."""

    per: int
    bucket_s: float
    middles: np.ndarray
    """Each window's middle (of the part the run covered), seconds since the run's start."""
    covered: np.ndarray
    """Seconds of the run inside each window."""
    edges: np.ndarray
    """Window boundaries, seconds since the run's start, clipped to the run (one more than windows): a
    window's figure is drawn as a level from its left edge to its right one."""

    @property
    def width_s(self) -> float:
        return self.per * self.bucket_s

    def held(self, values: np.ndarray) -> tuple[list[float], list[float]]:
        """(x, y) drawing each window's value as a level across the window (steps held from each left
        edge, the last value repeated at the right end)."""
        y = [float(v) for v in values]
        return [float(e) for e in self.edges], [*y, y[-1]] if y else []

    def sum(self, per_bucket: np.ndarray) -> np.ndarray:
        """Per-bucket values summed over each window."""
        return _group_sum(per_bucket, self.per)[: len(self.covered)]

    def rate(self, per_bucket: np.ndarray) -> np.ndarray:
        """Per-bucket counts as a rate per second of each window; NaN where the run covered under a
        quarter of it (a sliver at either end would draw a false spike)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.covered >= self.width_s / 4, self.sum(per_bucket) / self.covered, np.nan)


def _group_sum(values: np.ndarray, per: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    padded = np.zeros(math.ceil(len(values) / per) * per)
    padded[: len(values)] = np.nan_to_num(values)
    return padded.reshape(-1, per).sum(axis=1)


def windows_over(bucket_starts: np.ndarray, bucket_s: float, run_start: float, run_end: float,
                 per: int) -> Windows:
    """Windows of ``per`` buckets over buckets starting at ``bucket_starts`` (Unix seconds, consecutive)."""
    starts = np.asarray(bucket_starts, dtype=float)
    lows = np.maximum(starts, run_start)
    highs = np.minimum(starts + bucket_s, run_end)
    covered_b = np.clip(highs - lows, 0.0, None)
    covered = _group_sum(covered_b, per)
    # Middle of the covered span of each window: weighted by covered seconds of its buckets.
    centre_b = np.where(covered_b > 0, (lows + highs) / 2 - run_start, 0.0)
    real = _group_sum(np.ones(len(starts)), per)  # buckets in each window (the last may hold fewer)
    with np.errstate(divide="ignore", invalid="ignore"):
        middles = np.where(covered > 0, _group_sum(centre_b * covered_b, per) / covered,
                           _group_sum(starts - run_start + bucket_s / 2, per) / np.maximum(real, 1))
    bounds = np.append(starts[::per], starts[-1] + bucket_s if len(starts) else run_start) - run_start
    edges = np.clip(bounds, 0.0, max(0.0, run_end - run_start))
    return Windows(per, bucket_s, middles, covered, edges)


def counter_width(buckets: int, bucket_s: float) -> int:
    """Buckets per window for counts: the narrowest ladder width keeping to :data:`MAX_POINTS` windows."""
    for width in LADDER_S:
        per = max(1, round(width / bucket_s))
        if math.ceil(buckets / per) <= MAX_POINTS:
            return per
    return max(1, math.ceil(buckets / MAX_POINTS))


def percentile_width(jobs_per_bucket: np.ndarray, bucket_s: float) -> int:
    """Buckets per window for percentiles: wide enough that a typical window holds :data:`TARGET_JOBS`
    jobs, and at most :data:`MAX_POINTS` windows, but keeping :data:`MIN_WINDOWS` where that allows."""
    return typical_width([jobs_per_bucket], bucket_s, TARGET_JOBS)


def typical_width(per_bucket: list[np.ndarray], bucket_s: float, target: float) -> int:
    """Buckets per window such that, for the median of the given count series, the median window with
    any count holds ``target``; never more than :data:`MAX_POINTS` windows, never (by widening) fewer
    than :data:`MIN_WINDOWS`."""
    buckets = max((len(a) for a in per_bucket), default=0)
    floor = counter_width(buckets, bucket_s)
    candidates = sorted({per for width in LADDER_S if (per := max(1, round(width / bucket_s))) >= floor})
    chosen = candidates[0] if candidates else floor
    for per in candidates:
        if per > chosen and math.ceil(buckets / per) < MIN_WINDOWS:
            break
        chosen = per
        typical = []
        for counts in per_bucket:
            sums = _group_sum(counts, per)
            busy = sums[sums > 0]
            if len(busy):
                typical.append(float(np.median(busy)))
        if not typical or float(np.median(typical)) >= target:
            break
    return chosen


@dataclass(frozen=True)
class PercentileSeries:
    """One metric's percentiles per window: ``values[stat]`` (NaN where the window held too few jobs)."""

    windows: Windows
    counts: np.ndarray
    values: dict[str, np.ndarray]
    lower: dict[str, np.ndarray] | None = None
    """Per stat, where the value is only a lower bound (unfinished jobs' times so far went in); None: all
    exact."""

    @property
    def width_s(self) -> float:
        return self.windows.width_s


def percentiles_from_histograms(figure: HistogramFigure, bucket_starts: np.ndarray, bucket_s: float,
                                run_start: float, run_end: float,
                                stats: tuple[str, ...] = PERCENTILE_STATS) -> PercentileSeries:
    """Per-window percentiles of a histogram figure of the engine (one merge per window, exact)."""
    per_bucket = figure.counts.sum(axis=1) if figure.counts.size else np.zeros(len(bucket_starts))
    per = percentile_width(per_bucket, bucket_s)
    windows = windows_over(bucket_starts, bucket_s, run_start, run_end, per)
    finished = merge_rows(figure.counts, per, len(windows.covered))
    censored = merge_rows(figure.censored, per, len(windows.covered)) if figure.censored is not None else None
    rows = StatisticRows(figure.cells, finished, censored)
    counts = rows.total.astype(float) if finished.size else np.zeros(len(windows.covered))
    values, lower = {}, {}
    for stat in stats:
        bounded = rows.value(stat)
        values[stat] = np.where(counts >= min_samples(stat), bounded.values, np.nan)
        lower[stat] = bounded.lower & np.isfinite(values[stat])
    return PercentileSeries(windows, counts, values, lower)


def percentiles_from_columns(columns: Mapping[str, Sequence[float | None]], bucket_starts: np.ndarray, bucket_s: float,
                             run_start: float, run_end: float,
                             stats: tuple[str, ...] = PERCENTILE_STATS) -> PercentileSeries:
    """Per-bucket percentiles from ``timeseries.json`` (no histograms to merge: windows of one bucket)."""
    windows = windows_over(bucket_starts, bucket_s, run_start, run_end, 1)
    counts = np.array([0.0 if v is None else float(v) for v in columns.get("count", [])])
    counts = _fit(counts, len(windows.covered), 0.0)
    values = {}
    for stat in stats:
        raw = np.array([math.nan if v is None else float(v) for v in columns.get(stat, [])], dtype=float)
        raw = _fit(raw, len(windows.covered), math.nan)
        values[stat] = np.where(counts >= min_samples(stat), raw, np.nan)
    return PercentileSeries(windows, counts, values)



def merge_rows(counts: np.ndarray, per: int, windows: int) -> np.ndarray:
    """(buckets × cells) histogram counts summed over consecutive groups of ``per`` buckets: the same as
    the engine's weighted merge with one row per window, without a (windows × buckets) matrix product."""
    padded = np.zeros((windows * per, counts.shape[1]))
    rows = min(len(counts), windows * per)
    padded[:rows] = counts[:rows]
    return padded.reshape(windows, per, counts.shape[1]).sum(axis=1)


def _fit(values: np.ndarray, length: int, fill: float) -> np.ndarray:
    out = np.full(length, fill, dtype=float)
    out[: min(length, len(values))] = values[:length]
    return out
