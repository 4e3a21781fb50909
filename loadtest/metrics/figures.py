"""The figure engine: any catalogue figure of a run, over any weighting of its time buckets.

Every consumer derives its figures here, from the catalogue's declarations (``catalog.METRICS``: a
counter, a rate or a ratio names its numerator and denominator counters, ``catalog.COUNTERS`` the
request classes or job outcomes each counter counts): the summary (the whole run as one bucket), the
thresholds over time windows, the noise estimate of a baseline comparison (weights: one row per
bootstrap resample of blocks of buckets), the live thresholds during a run, the web UI tabs and the
progress line (:func:`run_counts`, :class:`LiveTotals`). A figure is computed for every row of a
bucket-weight matrix at once with numpy: counters become per-bucket vectors and histograms a
(buckets × histogram cells) count matrix, so a weighted merge is one matrix product; histogram
statistics are :class:`loadtest.metrics.hdr.StatisticRows`'s, so with all weights 1 the engine gives
the summary's figure.

The input is a recorder snapshot (``recorder.json`` in a run directory) or a live ``Recorder``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from loadtest.metrics import hdr
from loadtest.metrics.catalog import (
    COUNTERS,
    DURATION,
    CounterSpec,
    Derivation,
    Kind,
    MetricRef,
    Scope,
    Table,
    censored_name,
)
from loadtest.metrics.classify import JobOutcome, RequestClass, classify_request, job_outcome

if TYPE_CHECKING:
    from loadtest.metrics.recorder import Recorder

EntryKey = tuple[Any, ...]
"""What identifies a count within its table: (op, flow, status) for requests, (flow, final status) for
jobs, (flow,) for dropped arrivals and chunks."""


def _flow_op(table: Table, key: EntryKey) -> tuple[str, str | None]:
    if table is Table.REQUESTS:
        return key[1], key[0]
    return key[0], None


def _class_of(table: Table, key: EntryKey) -> str | None:
    """The class a counter's ``classes`` are matched against (None: the table has no classes)."""
    if table is Table.REQUESTS:
        return classify_request(int(key[2]))
    if table is Table.JOBS:
        return job_outcome(str(key[1]))
    return None


class CountTable:
    """One count table of a run in columns (bucket position, entry, count): cheap to filter and to sum.

    ``first``/``length`` define the bucket axis; with ``whole_run`` every entry falls in one bucket.
    """

    def __init__(
        self, table: Table, entries: Iterable[tuple[int, EntryKey, int]], first: int, length: int,
        *, whole_run: bool = False,
    ) -> None:
        self.table = table
        self.length = 1 if whole_run else length
        index: dict[EntryKey, int] = {}
        positions: list[int] = []
        keys: list[int] = []
        counts: list[int] = []
        for bucket, key, n in entries:
            i = index.get(key)
            if i is None:
                i = index[key] = len(index)
            positions.append(0 if whole_run else bucket - first)
            keys.append(i)
            counts.append(n)
        self.keys: list[EntryKey] = list(index)
        self._positions = np.asarray(positions, dtype=np.intp)
        self._keys = np.asarray(keys, dtype=np.intp)
        self._counts = np.asarray(counts, dtype=np.float64)

    def chosen(self, keep: Callable[[EntryKey], bool]) -> np.ndarray:
        """Which distinct entries pass ``keep``."""
        return np.fromiter((keep(key) for key in self.keys), dtype=bool, count=len(self.keys))

    def vector(self, keep: Callable[[EntryKey], bool]) -> np.ndarray:
        """Per-bucket sum of the counts whose entry passes ``keep`` (zeros when none does)."""
        mask = self.chosen(keep)[self._keys] if len(self.keys) else np.zeros(0, dtype=bool)
        return np.bincount(self._positions[mask], weights=self._counts[mask], minlength=self.length)

    def flows(self) -> set[str]:
        return {_flow_op(self.table, key)[0] for key in self.keys}

    def ops(self) -> set[str]:
        return {op for key in self.keys if (op := _flow_op(self.table, key)[1]) is not None}


def _matches(table: Table, key: EntryKey, scope: Scope | None, value: str | None) -> bool:
    flow, op = _flow_op(table, key)
    if scope is Scope.FLOW:
        return flow == value
    if scope is Scope.OP:
        return op == value
    return True


class CountTables:
    """Every count table of a run over one bucket axis: what counters, rates and ratios are made of."""

    def __init__(
        self,
        rows: Mapping[Table, Iterable[tuple[int, EntryKey, int]]],
        job_totals: Mapping[str, Mapping[str, int]],
        first: int,
        length: int,
        *,
        whole_run: bool = False,
    ) -> None:
        self.whole_run = whole_run
        self.length = 1 if whole_run else length
        self.tables = {
            table: CountTable(table, rows.get(table, ()), first, length, whole_run=whole_run)
            for table in (Table.REQUESTS, Table.JOBS, Table.DROPPED, Table.CHUNKS)
        }
        self.job_totals = job_totals

    @classmethod
    def of_recorder(cls, recorder: Recorder) -> CountTables:
        """A live or finished recorder's counts over the whole run (one bucket)."""
        rows: dict[Table, Iterable[tuple[int, EntryKey, int]]] = {
            Table.REQUESTS: ((b, (op, flow, status), n) for b, op, flow, status, n in recorder.request_counts()),
            Table.JOBS: ((b, (flow, status), n) for (b, flow, status), n in recorder.jobs.items()),
            Table.DROPPED: ((b, (flow,), n) for (b, flow), n in recorder.dropped.items()),
            Table.CHUNKS: ((b, (flow,), n) for (b, flow), n in recorder.chunks.items()),
        }
        totals = {flow: {"retried_jobs": t.retried_jobs, "retries": t.retries, "throttled": t.throttled,
                         "chunks": t.chunks} for flow, t in recorder.job_totals.items()}
        return cls(rows, totals, 0, 1, whole_run=True)

    @classmethod
    def of_snapshot(cls, snapshot: Mapping[str, Any], first: int, length: int) -> CountTables:
        """A recorder snapshot's counts per bucket, bucket ``first`` at position 0."""
        rows: dict[Table, Iterable[tuple[int, EntryKey, int]]] = {
            Table.REQUESTS: ((int(b), (op, flow, int(status)), int(n))
                             for b, op, flow, status, n in snapshot.get("requests", [])),
            Table.JOBS: ((int(b), (flow, status), int(n)) for b, flow, status, n in snapshot.get("jobs", [])),
            Table.DROPPED: ((int(b), (flow,), int(n)) for b, flow, n in snapshot.get("dropped", [])),
            Table.CHUNKS: ((int(b), (flow,), int(n)) for b, flow, n in snapshot.get("chunks", [])),
        }
        return cls(rows, snapshot.get("job_totals", {}), first, length)

    def counter(self, spec: CounterSpec, scope: Scope | None = None, value: str | None = None) -> np.ndarray | None:
        """Per-bucket counts of ``spec`` in one scope (None when the run keeps it for the whole run only
        and this is a per-bucket axis)."""
        if spec.table is Table.JOB_TOTALS:
            if not self.whole_run or spec.field is None:
                return None
            if scope is Scope.OP:
                return np.zeros(1)
            total = sum(float(values.get(spec.field, 0)) for flow, values in self.job_totals.items()
                        if scope is None or flow == value)
            return np.array([total])
        table = spec.table

        def keep(key: EntryKey) -> bool:
            if spec.classes and _class_of(table, key) not in spec.classes:
                return False
            return _matches(table, key, scope, value)

        return self.tables[table].vector(keep)

    def present(self, spec: CounterSpec, scope: Scope | None = None, value: str | None = None) -> bool:
        """Whether any entry counts towards ``spec`` in that scope (a time series exists for it)."""
        counts = self.tables.get(spec.table)
        if counts is None:
            return False
        return bool(counts.chosen(
            lambda key: (not spec.classes or _class_of(spec.table, key) in spec.classes)
            and _matches(spec.table, key, scope, value)
        ).any())

    def scope_values(self, table: Table) -> tuple[list[str], list[str]]:
        """(flows, operations) the table has entries for, sorted."""
        counts = self.tables[Table.JOBS if table is Table.JOB_TOTALS else table]
        return sorted(counts.flows()), sorted(counts.ops())


def divide(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom`` element-wise, NaN where ``bottom`` is not positive (the figure is undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


class Figure:
    """One statistic of one metric, computable for each row of a bucket-weight matrix."""

    def evaluate(self, weights: np.ndarray) -> hdr.Bounded:
        """The figure for each row of ``weights`` (rows × buckets), NaN where it is undefined, with how far
        the truth can be from it (unfinished jobs' times so far make a histogram statistic a range)."""
        values = self.values(weights)
        return hdr.Bounded(values, np.zeros(len(values), dtype=bool), values)

    def values(self, weights: np.ndarray) -> np.ndarray:
        """The figure for each row of ``weights`` (rows × buckets); NaN where it is undefined."""
        return self.evaluate(weights).values


@dataclass
class HistogramFigure(Figure):
    cells: np.ndarray
    """Sorted HDR counts indices present anywhere in the run."""
    counts: np.ndarray
    """buckets × cells: finished samples."""
    stat: str
    censored: np.ndarray | None = None
    """buckets × cells: censored samples (unfinished jobs' times so far), or None when there are none."""

    def evaluate(self, weights: np.ndarray) -> hdr.Bounded:
        def merge(counts: np.ndarray) -> np.ndarray:
            return weights @ counts if counts.size else np.zeros((weights.shape[0], counts.shape[1]))

        censored = merge(self.censored) if self.censored is not None else None
        return hdr.StatisticRows(self.cells, merge(self.counts), censored).value(self.stat)

    def values(self, weights: np.ndarray) -> np.ndarray:
        return self.evaluate(weights).values


@dataclass
class SumFigure(Figure):
    """A count, a rate (count over seconds) or a ratio (count over count), as the catalogue derives it."""

    numerator: np.ndarray
    denominator: np.ndarray | None = None

    @classmethod
    def derive(cls, derivation: Derivation, count: Callable[[CounterSpec], np.ndarray | None],
               seconds: np.ndarray) -> SumFigure | None:
        """The figure ``derivation`` describes, from per-bucket counter vectors and bucket lengths; None
        when a counter it needs is not kept on this axis."""
        top = count(derivation.counter)
        if top is None:
            return None
        if derivation.denominator is None:
            return cls(top)
        if derivation.denominator == DURATION:
            return cls(top, seconds)
        bottom = count(COUNTERS[derivation.denominator])
        return None if bottom is None else cls(top, bottom)

    def values(self, weights: np.ndarray) -> np.ndarray:
        top = weights @ self.numerator
        if self.denominator is None:
            return top
        return divide(top, weights @ self.denominator)


@dataclass
class GaugeFigure(Figure):
    """A /health level: min, max, mean or last of the samples in the weighted buckets."""

    low: np.ndarray
    high: np.ndarray
    total: np.ndarray
    samples: np.ndarray
    last: np.ndarray
    stat: str

    @classmethod
    def of_samples(cls, health: Iterable[tuple[float, Mapping[str, float]]], key: str, stat: str,
                   position: Callable[[float], int], length: int) -> GaugeFigure:
        """Per-bucket extremes, sums and last values of one /health field (samples in time order)."""
        low = np.full(length, np.inf)
        high = np.full(length, -np.inf)
        total, samples, last = np.zeros(length), np.zeros(length), np.full(length, np.nan)
        for t, sample in health:
            if key not in sample:
                continue
            i = position(t)
            value = float(sample[key])
            low[i] = min(low[i], value)
            high[i] = max(high[i], value)
            total[i] += value
            samples[i] += 1
            last[i] = value
        return cls(low, high, total, samples, last, stat)

    def values(self, weights: np.ndarray) -> np.ndarray:
        present = (weights > 0) & (self.samples > 0)
        if self.stat == "min":
            out = np.where(present, self.low, np.inf).min(axis=1)
        elif self.stat == "max":
            out = np.where(present, self.high, -np.inf).max(axis=1)
        elif self.stat == "mean":
            out = divide(weights @ self.total, weights @ self.samples)
        else:  # last: the latest bucket with a sample
            positions = np.arange(len(self.last))
            latest = np.where(present, positions, -1).max(axis=1)
            out = np.where(latest >= 0, self.last[np.maximum(latest, 0)], np.nan)
        return np.where(np.isfinite(out), out, np.nan)


def _sparse(encoded: str) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero cells of an encoded histogram, scanning only between its lowest and highest value."""
    h = hdr.decode(encoded)
    if h.get_total_count() == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    low, high = h.get_counts_array_index(h.min_value), h.get_counts_array_index(h.max_value)
    counts = np.frombuffer(h.counts, dtype=np.uint64, count=h.counts_len)[low:high + 1]
    index = np.flatnonzero(counts)
    hdr.release(h)
    return index + low, counts[index].copy()


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
        for name in ("requests", "jobs", "dropped", "chunks"):
            indices.update(int(entry[0]) for entry in snapshot.get(name, []))
        health = [(float(t), sample) for t, sample in snapshot.get("health", [])]
        indices.update(math.floor(t / self.bucket_s) for t, _ in health)
        self.first = min(indices)
        self.count = max(indices) - self.first + 1
        self._encoded: dict[tuple[str, str, str], list[tuple[int, str]]] = defaultdict(list)
        for bucket, metric, flow, op, encoded in snapshot.get("histograms", []):
            self._encoded[(metric, flow, op)].append((int(bucket) - self.first, encoded))
        self._decoded: dict[tuple[str, str, str], list[tuple[int, np.ndarray, np.ndarray]]] = {}
        self.counts = CountTables.of_snapshot(snapshot, self.first, self.count)
        self._health = sorted(health, key=lambda item: item[0])

    @classmethod
    def from_recorder(cls, recorder: Recorder, *, end: float | None = None) -> RunBuckets:
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
            assert spec.health_key is not None
            return GaugeFigure.of_samples(
                self._health, spec.health_key, ref.stat,
                lambda t: math.floor(t / self.bucket_s) - self.first, self.count,
            )
        assert spec.derivation is not None
        return SumFigure.derive(
            spec.derivation, lambda counter: self.counts.counter(counter, ref.scope, ref.scope_value),
            self.lengths(),
        )

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

    def _pieces_of(self, metric: str, ref: MetricRef) -> list[tuple[int, np.ndarray, np.ndarray]]:
        return [
            piece for key in self._encoded
            if key[0] == metric and self._matches(ref, key[1], key[2]) for piece in self._pieces(key)
        ]

    def _histogram(self, ref: MetricRef) -> HistogramFigure:
        pieces = self._pieces_of(ref.metric, ref)
        censored = self._pieces_of(censored_name(ref.metric), ref) if ref.spec.censored else []
        every = pieces + censored
        cells = np.unique(np.concatenate([p[1] for p in every])) if every else np.zeros(0, dtype=np.int64)

        def matrix(parts: list[tuple[int, np.ndarray, np.ndarray]]) -> np.ndarray:
            counts = np.zeros((self.count, len(cells)), dtype=np.float64)
            for position, piece_cells, piece_counts in parts:
                counts[position, np.searchsorted(cells, piece_cells)] += piece_counts
            return counts

        return HistogramFigure(cells, matrix(pieces), ref.stat, matrix(censored) if censored else None)

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


# ------------------------------------------------------------------------------ whole-run counts, live


@dataclass(frozen=True, slots=True)
class RunCounts:
    """Whole-run counts of a recorder (what the end-of-run lines, the web UI and the progress line show).

    ``errors`` are HTTP errors and connection failures (``no_answer``), never 429s (``throttled``).
    """

    requests: int
    throttled: int
    errors: int
    no_answer: int
    by_status: dict[int, int]
    """Requests by HTTP status code (0: no answer), every code seen."""
    jobs: dict[JobOutcome, int]
    """Jobs by outcome (every outcome, 0 when none); ``IN_FLIGHT``: unfinished when recorded."""
    dropped: int
    requests_by_op_status: dict[str, dict[int, int]] = field(default_factory=dict)
    """Requests per operation per status code."""

    @property
    def jobs_submitted(self) -> int:
        return sum(self.jobs.values())

    @property
    def in_flight(self) -> int:
        return self.jobs[JobOutcome.IN_FLIGHT]

    @property
    def rate_429(self) -> float | None:
        """Throttled requests over all requests (None before the first request)."""
        return _ratio(self.throttled, self.requests)


def _ratio(top: float, bottom: float) -> float | None:
    value = float(divide(np.array([top], dtype=float), np.array([bottom], dtype=float))[0])
    return None if math.isnan(value) else value


def _count(tables: CountTables, name: str) -> int:
    vector = tables.counter(COUNTERS[name])
    return int(vector.sum()) if vector is not None else 0


def run_counts(recorder: Recorder) -> RunCounts:
    """The recorder's whole-run counts, classified as every figure is (:mod:`loadtest.metrics.classify`)."""
    tables = CountTables.of_recorder(recorder)
    by_op: defaultdict[str, defaultdict[int, int]] = defaultdict(lambda: defaultdict(int))
    by_status: defaultdict[int, int] = defaultdict(int)
    for _, op, _flow, status, n in recorder.request_counts():
        by_op[op][int(status)] += n
        by_status[int(status)] += n
    return RunCounts(
        requests=_count(tables, "requests"),
        throttled=_count(tables, "throttled"),
        errors=_count(tables, "errors"),
        no_answer=_count(tables, "no_answer"),
        by_status=dict(sorted(by_status.items())),
        jobs={outcome: _count(tables, f"jobs.{outcome.value}") for outcome in JobOutcome},
        dropped=_count(tables, "dropped"),
        requests_by_op_status={op: dict(sorted(codes.items())) for op, codes in sorted(by_op.items())},
    )


class LiveTotals:
    """Request counts of a live recorder, cheap to read every second however long the run.

    Buckets more than ``settle_buckets`` behind the newest are summed once and kept; only the newer ones
    are read again. (A drain merged later than that into an old bucket is missed here, which a progress
    line can afford; the run directory's figures are exact.)
    """

    def __init__(self, recorder: Recorder, settle_buckets: int = 60) -> None:
        self.recorder = recorder
        self.settle_buckets = settle_buckets
        self._settled: dict[RequestClass, int] = dict.fromkeys(RequestClass, 0)
        self._settled_below: int | None = None

    def by_class(self) -> dict[RequestClass, int]:
        """Requests so far by :class:`RequestClass`."""
        newest = self.recorder.newest_bucket
        if newest is None:
            return dict.fromkeys(RequestClass, 0)
        horizon = newest - self.settle_buckets
        if self._settled_below is None or horizon > self._settled_below:
            for bucket, _, _, status, n in self.recorder.request_counts(self._settled_below):
                if bucket < horizon:
                    self._settled[classify_request(status)] += n
            self._settled_below = horizon
        out = dict(self._settled)
        for _, _, _, status, n in self.recorder.request_counts(self._settled_below):
            out[classify_request(status)] += n
        return out

    def counts(self) -> dict[str, int]:
        """Requests so far per catalogue request counter (``requests``, ``throttled``, ``errors``, ...)."""
        classes = self.by_class()
        return {name: sum(classes[RequestClass(c)] for c in spec.classes) for name, spec in COUNTERS.items()
                if spec.table is Table.REQUESTS}
