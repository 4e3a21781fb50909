"""HDR histogram helpers: one histogram configuration for every measurement, and fast statistics.

Values are recorded as integer microseconds (so sub-millisecond loopback latencies keep their precision)
at 3 significant digits; statistics are reported in milliseconds. Every statistic is derived from the
histogram's counts alone, so a histogram rebuilt by merging encoded pieces reports exactly what the one
that saw every sample reports. ``hdrhistogram``'s own percentile and mean walk all 32k counts in Python;
here the counts array is read through numpy, which is ~20x faster and matters for per-second series.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from hdrh.histogram import HdrHistogram

from loadtest.contract import POLICY_MAX_MS
from loadtest.metrics.catalog import HISTOGRAM_PERCENTILES

if TYPE_CHECKING:
    import numpy as np

SIGNIFICANT_DIGITS = 3
LOWEST_US = 1
HIGHEST_US = 2 * POLICY_MAX_MS * 1000
"""Twice the longest job policy the API allows; larger values are clamped (and counted)."""
US_PER_MS = 1000.0

SERIES_STATS: tuple[str, ...] = ("count", "mean", "p50", "p90", "p95", "p99", "max")
"""The statistics kept per time bucket (the time series); full statistics exist for the whole run."""


def new_histogram() -> HdrHistogram:
    """An empty histogram in the one configuration every part of loadtest uses (so they all merge)."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def to_us(value_ms: float) -> tuple[int, bool]:
    """Milliseconds to recordable microseconds, and whether the value had to be clamped into range."""
    if not value_ms > 0:  # also catches NaN
        return 0, value_ms != 0
    us = round(value_ms * US_PER_MS)
    if us > HIGHEST_US:
        return HIGHEST_US, True
    return us, False


def decode(encoded: str) -> HdrHistogram:
    return HdrHistogram.decode(encoded)


@lru_cache(maxsize=1)
def _index_values() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lowest, highest and median equivalent value (µs) of every counts index, computed once.

    HdrHistogram's index → value layout, vectorised: index i lies in bucket ``(i >> half_magnitude) - 1``
    (bucket 0 also holds the lower half), and every value in a bucket's sub-bucket shares a range of
    ``1 << (unit_magnitude + bucket)``. ``tests/metrics`` checks this against hdrhistogram's own methods.
    """
    import numpy as np

    h = new_histogram()
    index = np.arange(h.counts_len, dtype=np.int64)
    bucket = (index >> h.sub_bucket_half_count_magnitude) - 1
    sub_bucket = (index & (h.sub_bucket_half_count - 1)) + h.sub_bucket_half_count
    first = bucket < 0
    sub_bucket[first] -= h.sub_bucket_half_count
    bucket[first] = 0
    lowest = sub_bucket << (bucket + h.unit_magnitude)
    size = np.left_shift(1, h.unit_magnitude + bucket)
    return lowest.astype(np.float64), (lowest + size - 1).astype(np.float64), (lowest + (size >> 1)).astype(np.float64)


Sparse = tuple["np.ndarray", "np.ndarray"]
"""(sorted counts indices, their counts): a histogram's non-zero part, cheap to add and to read."""


def sparse_of(h: HdrHistogram) -> Sparse:
    """The non-zero part of a histogram's counts (a copy; the histogram may change afterwards)."""
    import numpy as np

    counts = np.frombuffer(h.counts, dtype=np.uint64, count=h.counts_len)
    index = np.flatnonzero(counts)
    return index, counts[index]


def sparse_sum(parts: list[Sparse]) -> Sparse:
    """The sum of several sparse histograms."""
    import numpy as np

    if len(parts) == 1:
        return parts[0]
    index = np.concatenate([p[0] for p in parts])
    counts = np.concatenate([p[1] for p in parts])
    unique, inverse = np.unique(index, return_inverse=True)
    sums = np.zeros(len(unique), dtype=np.uint64)
    np.add.at(sums, inverse, counts)
    return unique, sums


def record_many(h: HdrHistogram, values_ms: list[float]) -> int:
    """Record many millisecond values at once (what :func:`to_us` and ``record_value`` would do one by one,
    vectorised); returns how many had to be clamped into range.

    The recorder keeps each time bucket's raw samples in a list (one ``append`` per request) and records
    them here when the bucket is read or closed, so the per-request cost stays a fraction of a
    ``record_value`` call.
    """
    import numpy as np

    if not values_ms:
        return 0
    ms = np.asarray(values_ms, dtype=np.float64)
    positive = ms > 0  # also False for NaN
    us = np.where(positive, np.rint(ms * US_PER_MS), 0.0)  # rint: ties to even, as round() does
    too_big = us > HIGHEST_US
    clamped = int(np.count_nonzero(~positive & (ms != 0)) + np.count_nonzero(too_big))
    values = np.where(too_big, HIGHEST_US, us).astype(np.int64)
    # HdrHistogram's index of a value, vectorised: the bucket is the bit length of (value | sub_bucket_mask)
    # less the magnitudes; frexp gives bit lengths exactly for values below 2**53.
    bits = np.frexp((values | h.sub_bucket_mask).astype(np.float64))[1]
    bucket = bits - h.unit_magnitude - (h.sub_bucket_half_count_magnitude + 1)
    sub_bucket = values >> (bucket + h.unit_magnitude)
    index = ((bucket + 1) << h.sub_bucket_half_count_magnitude) + sub_bucket - h.sub_bucket_half_count
    cells, counts = np.unique(index, return_counts=True)
    np.frombuffer(h.counts, dtype=np.uint64, count=h.counts_len)[cells] += counts.astype(np.uint64)
    h.total_count += len(values)
    h.min_value = min(h.min_value, int(values.min()))
    h.max_value = max(h.max_value, int(values.max()))
    return clamped


class Bounded(NamedTuple):
    """A statistic per row and how far the truth can be from it (censored samples make it a range)."""

    values: np.ndarray
    """The statistic of the union of finished samples and censored ones at their bounds: never above the
    truth. NaN for a row without samples."""
    lower: np.ndarray
    """Whether each value is only a lower bound (censored samples could raise the truth above it)."""
    upper: np.ndarray
    """The highest the truth can be: the value itself where it is exact, ``inf`` where nothing caps it."""


class StatisticRows:
    """Statistics of each row of HDR counts, with censored samples taken as lower bounds.

    ``cells`` are sorted counts indices and ``merged`` the counts (rows × cells) of finished samples;
    ``censored`` (same shape), when given, counts censored samples at their lower bounds (an unfinished
    job's time so far). A statistic is taken over the union, censored samples at their bound: raising a
    censored sample can only raise the union's order statistics, so it is never above the truth, and it
    is marked a lower bound where censored samples could move it (docs/run-directory.md, "Censored
    samples"):

    * a percentile at rank ``k`` of the union (and ``min``, rank 1): the truth lies between the union's
      ``k``-th value and the ``k``-th smallest *finished* sample (adding samples never raises an order
      statistic), so it is exact when both lie in the same histogram cell, a lower bound capped by the
      ``k``-th finished sample otherwise, and uncapped when fewer than ``k`` samples finished;
    * ``max`` and ``mean``: an uncapped lower bound whenever a censored sample is present;
    * ``count``: exact (finished and censored samples together).

    Percentiles follow HdrHistogram's definition (the highest value equivalent to the one at rank
    ``max(floor(p * count / 100 + 0.5), 1)``), ``min`` is the lowest equivalent and ``max`` the highest
    equivalent of the extreme samples, the mean weighs each count by its median equivalent value. This is
    the one implementation every histogram figure uses.
    """

    def __init__(self, cells: np.ndarray, merged: np.ndarray, censored: np.ndarray | None = None) -> None:
        import numpy as np

        self.cells = cells
        self.finished = merged
        self.censored = censored
        self.union = merged if censored is None else merged + censored
        self.rows = merged.shape[0]
        self.cumulative = np.cumsum(self.union, axis=1)
        self.total = self.cumulative[:, -1] if self.union.shape[1] else np.zeros(self.rows)
        self.empty = self.total <= 0
        self.has_censored = (censored.sum(axis=1) > 0) & ~self.empty if censored is not None else None
        self._finished_cumulative: np.ndarray | None = None

    def value(self, stat: str) -> Bounded:
        """``stat`` of each row (ms, or a count) with its bounds."""
        import numpy as np

        exact = np.zeros(self.rows, dtype=bool)
        if self.union.shape[1] == 0:
            values = np.full(self.rows, 0.0 if stat == "count" else np.nan)
            return Bounded(values, exact, values)
        lowest, highest, median = _index_values()
        if stat == "count":
            values = self.total.astype(float)
            return Bounded(values, exact, values)
        censored = self.has_censored if self.has_censored is not None else exact
        if stat in ("mean", "max"):
            if stat == "mean":
                union = self.union
                weighted = np.dot(union[0], median[self.cells])[None] if self.rows == 1 else union @ median[self.cells]
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = weighted / np.where(self.empty, 1.0, self.total) / US_PER_MS
            else:
                last = self.union.shape[1] - 1 - np.argmax(self.union[:, ::-1] > 0, axis=1)
                values = highest[self.cells[last]] / US_PER_MS
            values = np.where(self.empty, np.nan, values)
            return Bounded(values, censored, np.where(censored, np.inf, values))
        if stat == "min":
            target = np.ones(self.rows)
        else:
            target = np.maximum(np.floor(HISTOGRAM_PERCENTILES[stat] * self.total / 100.0 + 0.5), 1.0)
        equivalent = lowest if stat == "min" else highest
        position = np.minimum((self.cumulative < target[:, None]).sum(axis=1), self.union.shape[1] - 1)
        values = np.where(self.empty, np.nan, equivalent[self.cells[position]] / US_PER_MS)
        if self.has_censored is None:
            return Bounded(values, exact, values)
        if self._finished_cumulative is None:
            self._finished_cumulative = np.cumsum(self.finished, axis=1)
        finished = self._finished_cumulative
        reaches = finished[:, -1] >= target
        finished_position = np.minimum((finished < target[:, None]).sum(axis=1), self.union.shape[1] - 1)
        lower = self.has_censored & ~(reaches & (finished_position == position))
        cap = np.where(reaches, equivalent[self.cells[finished_position]] / US_PER_MS, np.inf)
        return Bounded(values, lower, np.where(lower, cap, values))


ALL_STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p999", "min", "max", "mean", "count")


def statistics(h: HdrHistogram | Sparse, names: tuple[str, ...] | None = None) -> dict[str, float]:
    """Statistics of one histogram (or its sparse counts) in milliseconds; empty dict when empty.

    See :class:`StatisticRows` for the definitions.
    """
    return censored_statistics(h if isinstance(h, tuple) else sparse_of(h), None, names).stats


class CensoredStatistics(NamedTuple):
    stats: dict[str, float]
    """Each statistic (never above the truth)."""
    lower_bounds: list[str]
    """The statistics that are lower bounds only."""
    upper_bounds: dict[str, float]
    """For lower bounds that are capped: the highest the truth can be."""


def censored_statistics(
    finished: Sparse | None, censored: Sparse | None, names: tuple[str, ...] | None = None
) -> CensoredStatistics:
    """Statistics of finished samples together with censored ones (lower bounds): see :class:`StatisticRows`.
    All empty when there is no sample at all."""
    import numpy as np

    wanted = names or ALL_STATS
    if finished is None:
        finished = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64))
    if censored is not None and len(censored[0]) == 0:
        censored = None
    if censored is None:
        cells = finished[0]
        merged = finished[1].astype(np.float64)[None, :]
        censored_counts = None
    else:
        cells = np.union1d(finished[0], censored[0])
        merged = np.zeros((1, len(cells)))
        merged[0, np.searchsorted(cells, finished[0])] = finished[1]
        censored_counts = np.zeros((1, len(cells)))
        censored_counts[0, np.searchsorted(cells, censored[0])] = censored[1]
    out = CensoredStatistics({}, [], {})
    if len(cells) == 0:
        return out
    rows = StatisticRows(cells, merged, censored_counts)
    for name in wanted:
        bounded = rows.value(name)
        out.stats[name] = float(bounded.values[0])
        if bounded.lower[0]:
            out.lower_bounds.append(name)
            if np.isfinite(bounded.upper[0]):
                out.upper_bounds[name] = float(bounded.upper[0])
    return out


def distribution(h: HdrHistogram | Sparse, points: int = 200) -> list[tuple[float, float]]:
    """(percentile, value ms) pairs spaced evenly in "nines" (log of 1/(1-p)), for a distribution plot."""
    import numpy as np

    index, counts = h if isinstance(h, tuple) else sparse_of(h)
    if len(index) == 0:
        return []
    _, highest, _ = _index_values()
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    top = 1 - 1 / max(total, 10)
    nines = np.linspace(0.0, -math.log10(1 - top), points)
    percentiles = 100.0 * (1 - 10.0 ** (-nines))
    targets = np.maximum((percentiles * total / 100 + 0.5).astype(np.int64), 1)
    positions = np.minimum(np.searchsorted(cumulative, targets, side="left"), len(index) - 1)
    values = highest[index[positions]] / US_PER_MS
    return [(float(p), float(v)) for p, v in zip(percentiles, values, strict=True)]


def encode(h: HdrHistogram) -> str:
    """The histogram as a V2 compressed, base64 string (what snapshots and histograms.json carry)."""
    encoded = h.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else encoded


def release(h: HdrHistogram) -> None:
    """Break hdrhistogram's histogram ↔ encoder reference cycle so the 256 KiB counts array is freed now.

    Without this a discarded histogram waits for the cyclic garbage collector, which counts objects, not
    bytes: a long run would pile up hundreds of megabytes of dead counts arrays between collections.
    Only call it on a histogram that is no longer used.
    """
    encoder = getattr(h, "encoder", None)
    if encoder is not None and getattr(encoder, "histogram", None) is h:
        encoder.histogram = None
