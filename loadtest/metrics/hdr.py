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
from typing import TYPE_CHECKING

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


def statistics(h: HdrHistogram | Sparse, names: tuple[str, ...] | None = None) -> dict[str, float]:
    """Statistics of one histogram (or its sparse counts) in milliseconds; empty dict when empty.

    Percentiles follow HdrHistogram's definition (the highest value equivalent to the one at the target
    count), min is the lowest equivalent and max the highest equivalent of the extreme recorded values,
    and the mean weighs each count by its median equivalent value.
    """
    import numpy as np

    wanted = names or ("p50", "p90", "p95", "p99", "p999", "min", "max", "mean", "count")
    index, counts = h if isinstance(h, tuple) else sparse_of(h)
    if len(index) == 0:
        return {}
    lowest, highest, median = _index_values()
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    out: dict[str, float] = {}
    for name in wanted:
        if name == "count":
            out[name] = float(total)
        elif name == "min":
            out[name] = float(lowest[index[0]]) / US_PER_MS
        elif name == "max":
            out[name] = float(highest[index[-1]]) / US_PER_MS
        elif name == "mean":
            out[name] = float(np.dot(counts.astype(np.float64), median[index])) / total / US_PER_MS
        else:
            target = max(int(HISTOGRAM_PERCENTILES[name] * total / 100 + 0.5), 1)
            pos = min(int(np.searchsorted(cumulative, target, side="left")), len(index) - 1)
            out[name] = float(highest[index[pos]]) / US_PER_MS
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
