"""A run's measurements per time bucket, and any figure of it over any weighting of buckets.

One engine serves three jobs: a threshold over time windows (weights: one row per window, 1 inside it),
the noise estimate of a baseline comparison (weights: one row per bootstrap resample of blocks of
buckets) and the live evaluation during a run. A figure is computed for every row at once with numpy:
histograms become a (buckets × histogram cells) count matrix, so a weighted merge is one matrix product,
and percentiles follow HdrHistogram's definition exactly as ``summary.json`` does (see
``loadtest.metrics.hdr``): with all weights 1 the engine gives the summary's figure.

The input is the recorder snapshot (``recorder.json`` in a run directory, or a live ``Recorder``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from loadtest.metrics import hdr
from loadtest.metrics.catalog import Kind, MetricRef, Scope
from loadtest.metrics.recorder import final_status_class, is_error, is_throttled
from loadtest.metrics.summary import HEALTH_GAUGES

_JOB_COUNTERS = {
    "jobs.completed": ("completed",),
    "jobs.failed": ("failed",),
    "jobs.cancelled": ("cancelled",),
    "jobs.timed_out": ("timed_out",),
    "jobs.in_flight": ("in_flight",),
    "jobs.submitted": ("completed", "failed", "cancelled", "timed_out", "in_flight"),
}


class Figure:
    """One statistic of one metric, computable for each row of a bucket-weight matrix."""

    def values(self, weights: np.ndarray) -> np.ndarray:
        """The figure for each row of ``weights`` (rows × buckets); NaN where it is undefined."""
        raise NotImplementedError


@dataclass
class HistogramFigure(Figure):
    cells: np.ndarray
    """Sorted HDR counts indices present anywhere in the run."""
    counts: np.ndarray
    """buckets × cells."""
    stat: str

    def values(self, weights: np.ndarray) -> np.ndarray:
        merged = weights @ self.counts if self.counts.size else np.zeros((weights.shape[0], 0))
        return histogram_statistic(self.cells, merged, self.stat)


@dataclass
class SumFigure(Figure):
    """A count, a rate (count over seconds) or a ratio (count over count)."""

    numerator: np.ndarray
    denominator: np.ndarray | None = None

    def values(self, weights: np.ndarray) -> np.ndarray:
        top = weights @ self.numerator
        if self.denominator is None:
            return top
        bottom = weights @ self.denominator
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


@dataclass
class GaugeFigure(Figure):
    """A /health level: min, max, mean or last of the samples in the weighted buckets."""

    low: np.ndarray
    high: np.ndarray
    total: np.ndarray
    samples: np.ndarray
    last: np.ndarray
    stat: str

    def values(self, weights: np.ndarray) -> np.ndarray:
        present = (weights > 0) & (self.samples > 0)
        if self.stat == "min":
            out = np.where(present, self.low, np.inf).min(axis=1)
        elif self.stat == "max":
            out = np.where(present, self.high, -np.inf).max(axis=1)
        elif self.stat == "mean":
            n = weights @ self.samples
            with np.errstate(divide="ignore", invalid="ignore"):
                out = np.where(n > 0, (weights @ self.total) / np.where(n > 0, n, 1.0), np.nan)
        else:  # last: the latest bucket with a sample
            positions = np.arange(len(self.last))
            latest = np.where(present, positions, -1).max(axis=1)
            out = np.where(latest >= 0, self.last[np.maximum(latest, 0)], np.nan)
        return np.where(np.isfinite(out), out, np.nan)


def histogram_statistic(cells: np.ndarray, merged: np.ndarray, stat: str) -> np.ndarray:
    """``stat`` (ms, or a count) of each row of merged HDR counts, as ``hdr.statistics`` defines it."""
    rows = merged.shape[0]
    if merged.shape[1] == 0:
        return np.full(rows, 0.0 if stat == "count" else np.nan)
    lowest, highest, median = hdr._index_values()  # the per-cell values summary.json uses
    cumulative = np.cumsum(merged, axis=1)
    total = cumulative[:, -1]
    empty = total <= 0
    if stat == "count":
        return total.astype(float)
    if stat == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = (merged @ median[cells]) / np.where(empty, 1.0, total) / hdr.US_PER_MS
    elif stat == "min":
        first = np.argmax(merged > 0, axis=1)
        mean = lowest[cells[first]] / hdr.US_PER_MS
    elif stat == "max":
        last = merged.shape[1] - 1 - np.argmax(merged[:, ::-1] > 0, axis=1)
        mean = highest[cells[last]] / hdr.US_PER_MS
    else:
        from loadtest.metrics.catalog import HISTOGRAM_PERCENTILES

        target = np.maximum(np.floor(HISTOGRAM_PERCENTILES[stat] * total / 100.0 + 0.5), 1.0)
        position = np.minimum((cumulative < target[:, None]).sum(axis=1), merged.shape[1] - 1)
        mean = highest[cells[position]] / hdr.US_PER_MS
    return np.where(empty, np.nan, mean)


def _sparse(encoded: str) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero cells of an encoded histogram, scanning only between its lowest and highest value."""
    h = hdr.decode(encoded)
    if h.get_total_count() == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    low, high = h.get_counts_array_index(h.min_value), h.get_counts_array_index(h.max_value)
    counts = np.frombuffer(h.counts, dtype=np.uint64, count=h.counts_len)[low:high + 1]
    index = np.flatnonzero(counts)
    return index + low, counts[index]


class RunBuckets:
    """Per-bucket measurements of one run over a gap-free axis of buckets."""

    def __init__(self, snapshot: Mapping[str, Any], start: float | None = None, end: float | None = None) -> None:
        self.bucket_s = float(snapshot["bucket_s"])
        self.start = float(snapshot["start"] if start is None else start)
        last_t = snapshot.get("last_t")
        self.end = float(end if end is not None else (last_t if last_t is not None else self.start))
        indices: set[int] = {math.floor(self.start / self.bucket_s)}
        indices.add(math.floor(max(self.end - 1e-9, self.start) / self.bucket_s))
        for entry in snapshot.get("histograms", []):
            indices.add(int(entry[0]))
        for name in ("requests", "jobs", "dropped"):
            indices.update(int(entry[0]) for entry in snapshot.get(name, []))
        health = [(float(t), sample) for t, sample in snapshot.get("health", [])]
        indices.update(math.floor(t / self.bucket_s) for t, _ in health)
        self.first = min(indices)
        self.count = max(indices) - self.first + 1
        self._encoded: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
        for bucket, metric, flow, op, encoded in snapshot.get("histograms", []):
            self._encoded[(metric, flow, op)].append((int(bucket) - self.first, encoded))
        self._decoded: dict[tuple[str, str, str], list[tuple[int, np.ndarray, np.ndarray]]] = {}
        self._requests = [(int(b) - self.first, op, flow, int(status), int(n))
                          for b, op, flow, status, n in snapshot.get("requests", [])]
        self._jobs = [(int(b) - self.first, flow, final_status_class(status), int(n))
                      for b, flow, status, n in snapshot.get("jobs", [])]
        self._dropped = [(int(b) - self.first, flow, int(n)) for b, flow, n in snapshot.get("dropped", [])]
        self._health = sorted(health, key=lambda item: item[0])

    @classmethod
    def from_recorder(cls, recorder: Any, *, end: float | None = None) -> RunBuckets:
        """From a live ``Recorder`` (its snapshot; the recorder keeps running)."""
        return cls(recorder.snapshot(), start=recorder.start, end=end)

    # ------------------------------------------------------------------------------------------- axis

    def lengths(self) -> np.ndarray:
        """Seconds of each bucket inside the measured period [start, end] (0 outside it)."""
        lows = (self.first + np.arange(self.count)) * self.bucket_s
        return np.clip(np.minimum(lows + self.bucket_s, self.end) - np.maximum(lows, self.start), 0.0, None)

    def full_buckets(self) -> np.ndarray:
        """Positions of buckets lying wholly inside the measured period."""
        return np.flatnonzero(self.lengths() >= self.bucket_s - 1e-9)

    # ---------------------------------------------------------------------------------------- figures

    def figure(self, ref: MetricRef) -> Figure | None:
        """The engine's view of ``ref``, or None when the run keeps no per-bucket data for it."""
        spec = ref.spec
        if spec.kind is Kind.HISTOGRAM:
            return self._histogram(ref)
        if spec.kind is Kind.GAUGE:
            return self._gauge(ref)
        return self._scalar(ref)

    def _matches(self, ref: MetricRef, flow: str, op: str) -> bool:
        if ref.scope is Scope.FLOW:
            return flow == ref.scope_value
        if ref.scope is Scope.OP:
            return op == ref.scope_value
        return True

    def _pieces(self, key: tuple[str, str, str]) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Per-bucket sparse counts of one (metric, flow, op), decoded on first use (long runs hold many)."""
        pieces = self._decoded.get(key)
        if pieces is None:
            pieces = self._decoded[key] = [(position, *_sparse(encoded)) for position, encoded in self._encoded[key]]
        return pieces

    def _histogram(self, ref: MetricRef) -> HistogramFigure:
        pieces = [
            piece for key in self._encoded
            if key[0] == ref.metric and self._matches(ref, key[1], key[2]) for piece in self._pieces(key)
        ]
        cells = np.unique(np.concatenate([p[1] for p in pieces])) if pieces else np.zeros(0, dtype=np.int64)
        counts = np.zeros((self.count, len(cells)), dtype=np.float64)
        for position, piece_cells, piece_counts in pieces:
            counts[position, np.searchsorted(cells, piece_cells)] += piece_counts
        return HistogramFigure(cells, counts, ref.stat)

    def _vector(self) -> np.ndarray:
        return np.zeros(self.count, dtype=np.float64)

    def _request_vectors(self, ref: MetricRef) -> dict[str, np.ndarray]:
        out = {name: self._vector() for name in ("requests", "throttled", "errors", "accepted")}
        for position, op, flow, status, n in self._requests:
            if not self._matches(ref, flow, op):
                continue
            out["requests"][position] += n
            if is_throttled(status):
                out["throttled"][position] += n
            elif status != 0:
                out["accepted"][position] += n
            if is_error(status):
                out["errors"][position] += n
        return out

    def _job_vector(self, ref: MetricRef, classes: tuple[str, ...]) -> np.ndarray:
        vector = self._vector()
        for position, flow, status_class, n in self._jobs:
            if status_class in classes and self._matches(ref, flow, ""):
                vector[position] += n
        return vector

    def _scalar(self, ref: MetricRef) -> SumFigure | None:
        name = ref.metric
        if name in ("requests", "throttled", "errors"):
            return SumFigure(self._request_vectors(ref)[name])
        if name in ("throughput", "accepted_rate"):
            vectors = self._request_vectors(ref)
            return SumFigure(vectors["requests" if name == "throughput" else "accepted"], self.lengths())
        if name in ("rate_429", "error_rate"):
            vectors = self._request_vectors(ref)
            return SumFigure(vectors["throttled" if name == "rate_429" else "errors"], vectors["requests"])
        if name in _JOB_COUNTERS:
            return SumFigure(self._job_vector(ref, _JOB_COUNTERS[name]))
        if name == "job_throughput":
            return SumFigure(self._job_vector(ref, ("completed",)), self.lengths())
        if name == "job_failure_rate":
            bad = self._job_vector(ref, ("failed", "timed_out"))
            return SumFigure(bad, bad + self._job_vector(ref, ("completed",)))
        if name == "dropped":
            vector = self._vector()
            for position, flow, n in self._dropped:
                if self._matches(ref, flow, ""):
                    vector[position] += n
            return SumFigure(vector)
        return None  # e.g. jobs.retried: kept per flow for the whole run only

    def _gauge(self, ref: MetricRef) -> GaugeFigure:
        key = HEALTH_GAUGES[ref.metric]
        low = np.full(self.count, np.inf)
        high = np.full(self.count, -np.inf)
        total, samples, last = self._vector(), self._vector(), np.full(self.count, np.nan)
        for t, sample in self._health:
            if key not in sample:
                continue
            position = math.floor(t / self.bucket_s) - self.first
            value = float(sample[key])
            low[position] = min(low[position], value)
            high[position] = max(high[position], value)
            total[position] += value
            samples[position] += 1
            last[position] = value
        return GaugeFigure(low, high, total, samples, last, ref.stat)

    # ---------------------------------------------------------------------------------------- weights

    def whole_run(self) -> np.ndarray:
        """One row weighting every bucket once: the whole run."""
        return np.ones((1, self.count))

    def windows(self, window_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Sliding windows of ``window_s`` over whole buckets inside the run, one bucket apart.

        Returns (weights, window start times); no rows when the run holds no complete window.
        """
        width = max(1, round(window_s / self.bucket_s))
        full = self.full_buckets()
        rows, starts = [], []
        for i in range(len(full) - width + 1):
            span = full[i:i + width]
            if span[-1] - span[0] != width - 1:
                continue  # not contiguous (cannot happen on a gap-free axis, kept for safety)
            row = np.zeros(self.count)
            row[span] = 1.0
            rows.append(row)
            starts.append((self.first + span[0]) * self.bucket_s)
        if not rows:
            return np.zeros((0, self.count)), np.zeros(0)
        return np.vstack(rows), np.asarray(starts)

    def block_bootstrap(self, resamples: int, rng: np.random.Generator, max_blocks: int = 50) -> np.ndarray:
        """Bucket weights of ``resamples`` block-bootstrap resamples (rows × buckets).

        The run's buckets inside the measured period are cut into at most ``max_blocks`` consecutive
        blocks (so slow drifts and bursts stay together, and a long run stays cheap); each resample
        draws as many blocks as there are, with replacement; a bucket's weight is how often its block
        was drawn. Buckets outside the measured period keep weight 1 (they hold the run's last answers).
        """
        inside = np.flatnonzero(self.lengths() > 0)
        if len(inside) == 0:
            inside = np.arange(self.count)
        block_len = max(1, math.ceil(len(inside) / max_blocks))
        blocks = [inside[i:i + block_len] for i in range(0, len(inside), block_len)]
        draws = rng.integers(0, len(blocks), size=(resamples, len(blocks)))
        multiplicity = np.zeros((resamples, len(blocks)))
        np.add.at(multiplicity, (np.repeat(np.arange(resamples), len(blocks)), draws.ravel()), 1.0)
        weights = np.ones((resamples, self.count))
        for b, members in enumerate(blocks):
            weights[:, members] = multiplicity[:, [b]]
        return weights
