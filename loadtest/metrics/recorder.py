"""The recorder: every request, job, dropped arrival and /health sample of a run, in mergeable form.

Locust calls it from every user greenlet, so recording a request is a few dictionary operations and one
list ``append`` (no I/O, no locks, nothing that yields to gevent): one recording per request. Each load
generator ``drain()``s its recorder every second or two and ships the JSON-serialisable snapshot to the
master, which ``merge()``s it; merging snapshots gives exactly the figures one recorder fed every sample
would give, because histograms merge losslessly and counters add.

What is kept, per time bucket (``bucket_s``, aligned to the Unix epoch so every process agrees):

* HDR histograms (µs, 3 significant digits) per ``(metric, flow, op)``: request ``latency`` (flow, op),
  the job metrics (flow, op ``""``): queue_delay, execution_time, end_to_end, first_chunk, chunk_gap,
  observe_interval, and after 429s ``retry_after`` / ``backoff_wait`` (flow, op). Job samples are
  bucketed by when the job was recorded (its outcome time). Unfinished jobs' times so far go to
  ``<metric>.censored`` histograms (lower bounds, see :mod:`loadtest.metrics.hdr` ``StatisticRows``).
  While a bucket is open its samples wait in plain lists and are put into histograms in one vectorised
  step (:func:`hdr.record_many`) when the bucket is read or closed.
* counters: requests by (op, flow, status code), jobs by (flow, final status), dropped arrivals by flow,
  streamed chunks by flow (bucketed by when they arrived).

Besides: whole-run histograms per key (each bucket is added when it closes, so exact run-wide
percentiles cost nothing per request), per-flow job totals (retried jobs, retries, 429s met, chunks), the
first ``keep_jobs`` job rows (for ``jobs.csv``), up to ``keep_health`` /health samples (halved in density
when full) and each process's event-loop lag (:class:`loadtest.looplag.LoopLag`, by process name).

Memory: independent of the request rate. Buckets more than ``grace_buckets`` behind the newest one are
closed: their histograms are encoded (typically 0.2-2 KB each) and their per-second statistics cached.
So memory grows with run length × active series (22 series: about 25 MB per hour at 1 s buckets);
pick a larger ``bucket_s`` for multi-day soak runs.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtest.looplag import LoopLag, LoopLagDict
from loadtest.metrics import hdr
from loadtest.metrics.catalog import CENSORED_SUFFIX, censored_name
from loadtest.metrics.classify import IN_FLIGHT as IN_FLIGHT  # re-exported: flows and tests name it from here
from loadtest.metrics.classify import JobOutcome, job_outcome

SNAPSHOT_FORMAT = 1
DEFAULT_KEEP_JOBS = 100_000
"""Job rows kept for jobs.csv (about 300 bytes each in memory); later jobs are counted but not listed."""
DEFAULT_KEEP_HEALTH = 20_000
"""/health samples kept; when full, every other sample is dropped (density halves, the span stays)."""
DEFAULT_GRACE_BUCKETS = 5
"""Buckets this far behind the newest stay open (cheap to merge into; ~256 KiB per open series). Covers
Locust's 3 s report interval of a load generator at 1 s buckets; later drains still merge exactly, at the cost of a
decode and re-encode per series."""

LATENCY = "latency"
RETRY_AFTER = "retry_after"
"""Histogram of the ``Retry-After`` values 429 answers carried (ms), by (flow, op)."""
BACKOFF_WAIT = "backoff_wait"
"""Histogram of the time actually spent waiting after a 429 before sending again (ms), by (flow, op)."""
JOB_HISTOGRAMS: tuple[str, ...] = (
    "queue_delay",
    "execution_time",
    "end_to_end",
    "first_chunk",
    "chunk_gap",
    "observe_interval",
)

HistKey = tuple[str, str, str]
"""(metric, flow, op); job metrics have op ``""``."""
RequestKey = tuple[str, str, int]
"""(op, flow, status code)."""


@dataclass(slots=True)
class JobRecord:
    """What the traffic side learnt about one submitted job (times in ms, submitted_at in Unix seconds).

    ``end_to_end_ms`` is client-observed, so it is late by up to ``observe_interval_ms`` (the polling
    interval, or 0 for runsync/stream). ``final_status`` is a :class:`JobStatus` value or ``IN_FLIGHT``.
    For an unfinished job the last three fields say how long it had waited, so far, as lower bounds.
    """

    job_id: str
    flow: str
    submitted_at: float
    final_status: str
    delay_ms: float | None = None
    execution_ms: float | None = None
    end_to_end_ms: float | None = None
    observe_interval_ms: float | None = None
    first_chunk_ms: float | None = None
    chunk_gaps_ms: list[float] = field(default_factory=list)
    chunks: int = 0
    retries: int = 0
    throttled: int = 0
    chunk_batches: list[tuple[float, int]] = field(default_factory=list)
    """Answers that brought chunks: (ms after submission it arrived, chunks in it)."""
    streams: bool = False
    """The flow streams the job's output (so a job without a first chunk yet is waiting for one)."""
    last_status: str | None = None
    """The last job status the client saw (``IN_QUEUE``, ``IN_PROGRESS``, ``NOT_FOUND``...)."""
    unfinished_ms: float | None = None
    """Unfinished jobs: how long the client had followed the job when it was recorded (from just before
    the submission was sent); its end-to-end time (and, while streaming without a chunk, its first chunk)
    is at least this."""
    queued_ms: float | None = None
    """Unfinished jobs never seen started: how long the job is known to have waited in the queue (from the
    arrival of the submission's answer to the sending of the last request whose answer still showed it
    ``IN_QUEUE``); its queue delay is at least this."""

    def row(self) -> list[Any]:
        """The job as a flat list in :data:`JOB_ROW_FIELDS` order (chunk gaps summarised by count)."""
        return [
            self.job_id, self.flow, self.submitted_at, str(self.final_status), self.delay_ms, self.execution_ms,
            self.end_to_end_ms, self.observe_interval_ms, self.first_chunk_ms, self.chunks, self.retries,
            self.throttled, self.last_status, self.unfinished_ms, self.queued_ms,
        ]


JOB_ROW_FIELDS: tuple[str, ...] = (
    "job_id", "flow", "submitted_at", "final_status", "delay_ms", "execution_ms", "end_to_end_ms",
    "observe_interval_ms", "first_chunk_ms", "chunks", "retries", "throttled", "last_status", "unfinished_ms",
    "queued_ms",
)
JOB_RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(JobRecord))


MAX_ERROR_MESSAGES = 200
"""Distinct (operation, status) error messages kept; a run meets a handful."""
ERROR_MESSAGE_CHARS = 300


_PackedSeries = tuple[tuple[str, ...], "array[float]"]
"""(series names, their statistics flattened in :data:`hdr.SERIES_STATS` order)."""


def _unpack(packed: _PackedSeries) -> dict[str, tuple[float, ...]]:
    names, values = packed
    width = len(hdr.SERIES_STATS)
    return {name: tuple(values[i * width:(i + 1) * width]) for i, name in enumerate(names)}


@dataclass(slots=True)
class _ClosedBucket:
    encoded: dict[HistKey, str]
    series: _PackedSeries | None  # cached per-bucket statistics, None when stale


@dataclass(slots=True)
class _OpenBucket:
    values: dict[HistKey, list[float]] = field(default_factory=dict)
    """Raw samples (ms) not yet in a histogram: what recording a request appends to."""
    hists: dict[HistKey, HdrHistogram] = field(default_factory=dict)
    """Histograms of samples already folded in or merged from other recorders."""


@dataclass(slots=True)
class JobTotals:
    """Per-flow sums over jobs that have no time dimension worth keeping."""

    retried_jobs: int = 0
    retries: int = 0
    throttled: int = 0
    chunks: int = 0

    def add(self, other: JobTotals) -> None:
        self.retried_jobs += other.retried_jobs
        self.retries += other.retries
        self.throttled += other.throttled
        self.chunks += other.chunks


class Recorder:
    """Collects one run's measurements; see the module docstring for what is kept and why."""

    def __init__(
        self,
        bucket_s: float = 1.0,
        start: float | None = None,
        keep_jobs: int = DEFAULT_KEEP_JOBS,
        *,
        keep_health: int = DEFAULT_KEEP_HEALTH,
        grace_buckets: int = DEFAULT_GRACE_BUCKETS,
    ) -> None:
        if not bucket_s > 0:
            raise ValueError(f"bucket_s must be positive, got {bucket_s!r}")
        self.bucket_s = float(bucket_s)
        self.start: float = time.time() if start is None else float(start)
        self.keep_jobs = int(keep_jobs)
        self.keep_health = max(2, int(keep_health))
        self.grace_buckets = int(grace_buckets)
        self._reset()

    def _reset(self) -> None:
        self.first_t: float | None = None
        self.last_t: float | None = None
        self._newest_bucket: int | None = None
        self._open: dict[int, _OpenBucket] = {}
        self._closed: dict[int, _ClosedBucket] = {}
        self._totals: dict[HistKey, HdrHistogram] = {}
        """Whole-run histograms of every closed bucket (open buckets are added when read)."""
        self._requests: dict[int, dict[RequestKey, int]] = {}
        """Requests per bucket by (op, flow, status): the request counters."""
        self._hot_bucket: int | None = None
        self._hot_counts: dict[RequestKey, int] = {}
        self._hot_values: dict[HistKey, list[float]] = {}
        """The newest bucket's request counts and raw samples, reached without a lookup."""
        self.jobs: defaultdict[tuple[int, str, str], int] = defaultdict(int)
        self.dropped: defaultdict[tuple[int, str], int] = defaultdict(int)
        self.chunks: defaultdict[tuple[int, str], int] = defaultdict(int)
        self.job_totals: defaultdict[str, JobTotals] = defaultdict(JobTotals)
        self.job_rows: list[list[Any]] = []
        self.job_rows_omitted = 0
        self.health: list[tuple[float, dict[str, float]]] = []
        self.health_stride = 1
        self._clamped = 0
        self._loop_lag: dict[str, LoopLag] = {}
        self.error_messages: dict[tuple[str, int], str] = {}
        """The target's words for each (operation, error status) met: the first answer's, kept once."""
        self._series_names: dict[tuple[str, ...], tuple[str, ...]] = {}

    # ----------------------------------------------------------------------------------------- recording

    def _bucket(self, t: float | None) -> tuple[float, int]:
        now = time.time() if t is None else t
        if self.first_t is None or now < self.first_t:
            self.first_t = now
        if self.last_t is None or now > self.last_t:
            self.last_t = now
        bucket = int(now // self.bucket_s)
        if self._newest_bucket is None or bucket > self._newest_bucket:
            self._newest_bucket = bucket
            self._close_old_buckets()
        return now, bucket

    def _open_bucket(self, bucket: int) -> _OpenBucket:
        opened = self._open.get(bucket)
        if opened is None:
            opened = self._open[bucket] = _OpenBucket()
            if bucket in self._closed:
                self._closed[bucket].series = None  # late sample: cached statistics are stale
        return opened

    def _record(self, bucket: int, key: HistKey, value_ms: float) -> None:
        values = self._open_bucket(bucket).values
        pending = values.get(key)
        if pending is None:
            pending = values[key] = []
        pending.append(value_ms)

    def note_error(self, op: str, status_code: int, message: str) -> None:
        """What the target said for an error answer (or why there was none), once per operation and status."""
        key = (op, int(status_code))
        if key not in self.error_messages and len(self.error_messages) < MAX_ERROR_MESSAGES:
            self.error_messages[key] = message[:ERROR_MESSAGE_CHARS]

    def record_request(self, op: str, flow: str, status_code: int, latency_ms: float, t: float | None = None) -> None:
        """One HTTP request: operation name, flow name, status (0 = connection error/timeout), latency.

        ``t`` is when the response arrived (Unix seconds, default now). The hot path of every run: a
        request in the newest bucket costs two dictionary updates and a list append.
        """
        now = time.time() if t is None else t
        bucket = int(now // self.bucket_s)
        if bucket == self._hot_bucket:
            if now > self.last_t:  # type: ignore[operator]  # set when the hot bucket was entered
                self.last_t = now
            elif now < self.first_t:  # type: ignore[operator]
                self.first_t = now
            counts, values = self._hot_counts, self._hot_values
        else:
            counts, values = self._enter(bucket, now)
        key = (op, flow, status_code)
        counts[key] = counts.get(key, 0) + 1
        series = (LATENCY, flow, op)
        pending = values.get(series)
        if pending is None:
            pending = values[series] = []
        pending.append(latency_ms)

    def _enter(self, bucket: int, now: float) -> tuple[dict[RequestKey, int], dict[HistKey, list[float]]]:
        """The request counts and raw samples of ``bucket`` (making it the hot one when it is the newest)."""
        self._bucket(now)
        counts = self._requests.get(bucket)
        if counts is None:
            counts = self._requests[bucket] = {}
        values = self._open_bucket(bucket).values
        if bucket == self._newest_bucket:
            self._hot_bucket, self._hot_counts, self._hot_values = bucket, counts, values
        return counts, values

    def record_job(self, job: JobRecord, t: float | None = None) -> None:
        """One job's outcome (call once per job, when it ends or when the run ends with it unfinished).

        An unfinished job (``IN_FLIGHT``) with ``unfinished_ms`` set adds censored samples: its
        end-to-end time so far, its queue wait so far when it was never seen started (``queued_ms``) and,
        for a stream still waiting for its first chunk, the time so far to the first chunk.
        """
        _, bucket = self._bucket(t)
        flow = job.flow
        self.jobs[(bucket, flow, str(job.final_status))] += 1
        for metric, value in (
            ("queue_delay", job.delay_ms),
            ("execution_time", job.execution_ms),
            ("end_to_end", job.end_to_end_ms),
            ("first_chunk", job.first_chunk_ms),
            ("observe_interval", job.observe_interval_ms),
        ):
            if value is not None:
                self._record(bucket, (metric, flow, ""), value)
        for gap in job.chunk_gaps_ms:
            self._record(bucket, ("chunk_gap", flow, ""), gap)
        if job.unfinished_ms is not None and job_outcome(str(job.final_status)) is JobOutcome.IN_FLIGHT:
            self._record(bucket, (censored_name("end_to_end"), flow, ""), job.unfinished_ms)
            if job.delay_ms is None and job.queued_ms is not None:
                self._record(bucket, (censored_name("queue_delay"), flow, ""), job.queued_ms)
            if job.streams and job.first_chunk_ms is None:
                self._record(bucket, (censored_name("first_chunk"), flow, ""), job.unfinished_ms)
        for offset_ms, count in job.chunk_batches:
            arrived = job.submitted_at + offset_ms / 1000.0
            self.chunks[(int(arrived // self.bucket_s), flow)] += count
        totals = self.job_totals[flow]
        totals.retried_jobs += 1 if job.retries > 0 else 0
        totals.retries += job.retries
        totals.throttled += job.throttled
        totals.chunks += job.chunks
        if len(self.job_rows) < self.keep_jobs:
            self.job_rows.append(job.row())
        else:
            self.job_rows_omitted += 1

    def record_throttle(
        self, op: str, flow: str, retry_after_ms: float | None, waited_ms: float | None, t: float | None = None
    ) -> None:
        """A 429 answer (also counted by :meth:`record_request`): the wait its ``Retry-After`` header asked for
        (None when it had none or it could not be read) and the time the client then actually waited before
        sending again (None when it did not send again); ``t`` is when that wait ended (default now)."""
        _, bucket = self._bucket(t)
        if retry_after_ms is not None:
            self._record(bucket, (RETRY_AFTER, flow, op), retry_after_ms)
        if waited_ms is not None:
            self._record(bucket, (BACKOFF_WAIT, flow, op), waited_ms)

    def record_dropped(self, flow: str, t: float | None = None) -> None:
        """An open-model arrival that could not start (no free user to run it)."""
        _, bucket = self._bucket(t)
        self.dropped[(bucket, flow)] += 1

    def record_health(self, sample: dict[str, Any], t: float | None = None) -> None:
        """One raw ``/health`` answer (``{"jobs": {...}, "workers": {...}}``), flattened to numbers."""
        now, _ = self._bucket(t)
        flat = flatten_health(sample)
        self._add_health(now, flat)

    def _add_health(self, t: float, flat: dict[str, float]) -> None:
        self.health.append((t, flat))
        if len(self.health) >= self.keep_health:
            self.health.sort(key=lambda item: item[0])
            self.health = self.health[::2]
            self.health_stride *= 2

    def record_loop_lag(self, process: str, woke_at: float, lateness_s: float) -> None:
        """How late ``process``'s event loop woke a ticker (see :mod:`loadtest.looplag`)."""
        lag = self._loop_lag.get(process)
        if lag is None:
            lag = self._loop_lag[process] = LoopLag()
        lag.record(woke_at, lateness_s)

    def loop_lag(self) -> dict[str, LoopLagDict]:
        """Each process's event-loop lag so far, by process name (merged from every load generator)."""
        return {name: lag.snapshot() for name, lag in sorted(self._loop_lag.items())}

    @property
    def requests(self) -> dict[tuple[int, str, str, int], int]:
        """Requests by (bucket, op, flow, status code): a flat copy of the counters, for reading."""
        return {(b, *key): n for b, counts in self._requests.items() for key, n in counts.items()}

    def request_counts(self, since_bucket: int | None = None) -> Iterator[tuple[int, str, str, int, int]]:
        """(bucket, op, flow, status, count) of every request counter, or of the buckets from ``since_bucket``
        on (cheap for the newest few buckets whatever the run's length)."""
        for bucket, counts in self._requests.items():
            if since_bucket is None or bucket >= since_bucket:
                for (op, flow, status), n in counts.items():
                    yield bucket, op, flow, status, n

    @property
    def newest_bucket(self) -> int | None:
        """The newest bucket anything was recorded in (or merged into), None before the first sample."""
        return self._newest_bucket

    @property
    def clamped(self) -> int:
        """Values that had to be clamped into the histograms' range (0, or twice the longest job policy)."""
        for opened in self._open.values():
            self._fold(opened)
        return self._clamped

    # ---------------------------------------------------------------------------------------- buckets

    def _fold(self, opened: _OpenBucket) -> None:
        """Put an open bucket's raw samples into its histograms (lists are emptied in place: the hot bucket's
        dictionary of lists stays the one recording appends to)."""
        for key, pending in opened.values.items():
            if not pending:
                continue
            h = opened.hists.get(key)
            if h is None:
                h = opened.hists[key] = hdr.new_histogram()
            self._clamped += hdr.record_many(h, pending)
            pending.clear()

    def _close_old_buckets(self) -> None:
        if self._newest_bucket is None:  # nothing recorded or merged yet: nothing to close
            return
        limit = self._newest_bucket - self.grace_buckets
        for bucket in [b for b in self._open if b < limit]:
            self._close(bucket)

    def _close(self, bucket: int) -> None:
        opened = self._open.pop(bucket)
        if bucket == self._hot_bucket:
            self._hot_bucket = None
        self._fold(opened)
        hists = opened.hists
        for key, h in hists.items():  # only what is new in this bucket: earlier closes added the rest
            total = self._totals.get(key)
            if total is None:
                total = self._totals[key] = hdr.new_histogram()
            total.add(h)
        closed = self._closed.get(bucket)
        if closed is not None:  # late samples for an already closed bucket: fold them in
            for key, encoded in closed.encoded.items():
                _add_into(hists, key, hdr.decode(encoded))
        series = self._pack(bucket_series(hists))
        self._closed[bucket] = _ClosedBucket({k: hdr.encode(h) for k, h in hists.items()}, series)
        for h in hists.values():
            hdr.release(h)

    def close_all(self) -> None:
        """Close every open bucket (at the end of a run, before reading the time series)."""
        for bucket in list(self._open):
            self._close(bucket)

    def buckets(self) -> list[int]:
        """Indices of every bucket holding anything (index × bucket_s = its start, Unix seconds)."""
        keys: set[int] = set(self._open) | set(self._closed)
        keys.update(b for b, counts in self._requests.items() if counts)
        keys.update(k[0] for k in self.jobs)
        keys.update(k[0] for k in self.dropped)
        keys.update(k[0] for k in self.chunks)
        return sorted(keys)

    def series_of_bucket(self, bucket: int) -> dict[str, tuple[float, ...]]:
        """Per-bucket histogram statistics (:data:`hdr.SERIES_STATS` order) keyed by series name."""
        closed = self._closed.get(bucket)
        opened = self._open.get(bucket)
        if opened is not None:
            self._fold(opened)
        open_hists = opened.hists if opened is not None else {}
        if closed is not None and closed.series is not None and not open_hists:
            return _unpack(closed.series)
        hists: dict[HistKey, HdrHistogram] = {}
        if closed is not None:
            hists = {key: hdr.decode(encoded) for key, encoded in closed.encoded.items()}
        for key, h in open_hists.items():
            if key in hists:
                hists[key].add(h)
            else:
                hists[key] = h  # only read below, never modified
        series = bucket_series(hists)
        if closed is not None:
            for key, h in hists.items():
                if open_hists.get(key) is not h:
                    hdr.release(h)  # decoded here, used only here
        if closed is not None and not open_hists:
            closed.series = self._pack(series)
        return series

    def metric_sparse(self, metric: str, first: int, last: int) -> hdr.Sparse | None:
        """One metric's samples (every flow and operation) in buckets ``first``..``last``, merged; None when
        there are none. For live views of the newest buckets: each bucket is decoded, not the whole run."""
        parts: list[hdr.Sparse] = []
        for bucket in range(first, last + 1):
            opened = self._open.get(bucket)
            if opened is not None:
                self._fold(opened)
                parts += [hdr.sparse_of(h) for key, h in opened.hists.items() if key[0] == metric]
            closed = self._closed.get(bucket)
            if closed is not None:
                for key, encoded in closed.encoded.items():
                    if key[0] == metric:
                        decoded = hdr.decode(encoded)
                        parts.append(hdr.sparse_of(decoded))
                        hdr.release(decoded)
        return hdr.sparse_sum(parts) if parts else None

    def _pack(self, series: dict[str, tuple[float, ...]]) -> _PackedSeries:
        """Per-bucket statistics in ~1/5 of the memory of a dict of tuples (one name tuple shared by all)."""
        names = tuple(series)
        shared = self._series_names.setdefault(names, names)
        return shared, array("d", [v for stats in series.values() for v in stats])

    def totals(self) -> dict[HistKey, HdrHistogram]:
        """Whole-run histograms per (metric, flow, op), for reading only.

        After :meth:`close_all` these are the recorder's own; while buckets are open, keys with open
        samples get a merged copy (prefer :meth:`total_counts` for a live read: no histogram is built).
        """
        out = dict(self._totals)
        for opened in self._open.values():
            self._fold(opened)
            for key, h in opened.hists.items():
                merged = out.get(key)
                if merged is None or merged is self._totals.get(key):
                    fresh = hdr.new_histogram()
                    if merged is not None:
                        fresh.add(merged)
                    merged = out[key] = fresh
                merged.add(h)
        return out

    def total_counts(self) -> dict[HistKey, hdr.Sparse]:
        """Whole-run histograms per (metric, flow, op) as sparse counts, open buckets included."""
        parts: dict[HistKey, list[hdr.Sparse]] = defaultdict(list)
        for key, h in self._totals.items():
            parts[key].append(hdr.sparse_of(h))
        for opened in self._open.values():
            self._fold(opened)
            for key, h in opened.hists.items():
                parts[key].append(hdr.sparse_of(h))
        return {key: hdr.sparse_sum(pieces) for key, pieces in parts.items()}

    # ------------------------------------------------------------------------------ snapshot and merge

    def _histogram_entries(self) -> Iterator[list[Any]]:
        for opened in self._open.values():
            self._fold(opened)
        for bucket, closed in self._closed.items():
            still_open = self._open.get(bucket)
            open_hists = still_open.hists if still_open is not None else {}
            for key, encoded in closed.encoded.items():
                if key in open_hists:
                    merged = hdr.decode(encoded)
                    merged.add(open_hists[key])
                    encoded = hdr.encode(merged)
                    hdr.release(merged)
                yield [bucket, *key, encoded]
            for key, h in open_hists.items():
                if key not in closed.encoded:
                    yield [bucket, *key, hdr.encode(h)]
        for bucket, opened in self._open.items():
            if bucket in self._closed:
                continue
            for key, h in opened.hists.items():
                yield [bucket, *key, hdr.encode(h)]

    def snapshot(self) -> dict[str, Any]:
        """Everything recorded, as plain JSON-serialisable data (histograms HDR-encoded, V2 base64)."""
        histograms = list(self._histogram_entries())
        return {
            "format": SNAPSHOT_FORMAT,
            "bucket_s": self.bucket_s,
            "start": self.start,
            "first_t": self.first_t,
            "last_t": self.last_t,
            "histograms": histograms,
            "requests": [list(entry) for entry in self.request_counts()],
            "jobs": [[*k, n] for k, n in self.jobs.items()],
            "dropped": [[*k, n] for k, n in self.dropped.items()],
            "chunks": [[*k, n] for k, n in self.chunks.items()],
            "job_totals": {flow: asdict(t) for flow, t in self.job_totals.items()},
            "job_rows": self.job_rows,
            "job_rows_omitted": self.job_rows_omitted,
            "health": [[t, s] for t, s in self.health],
            "health_stride": self.health_stride,
            "clamped": self._clamped,
            "loop_lag": self.loop_lag(),
            "error_messages": [[op, status, message] for (op, status), message in self.error_messages.items()],
        }

    def drain(self) -> dict[str, Any]:
        """Snapshot and reset (the start time and settings stay), for shipping from a load generator to the master."""
        snap = self.snapshot()
        self._release_all()
        self._reset()
        return snap

    def _release_all(self) -> None:
        for opened in self._open.values():
            for h in opened.hists.values():
                hdr.release(h)
        for h in self._totals.values():
            hdr.release(h)

    def merge(self, snap: dict[str, Any]) -> None:
        """Add another recorder's snapshot (or drain) into this one; the result is exact (see module doc)."""
        if snap.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"cannot merge snapshot format {snap.get('format')!r} (expected {SNAPSHOT_FORMAT})")
        ratio = float(snap["bucket_s"]) / self.bucket_s

        def rebucket(bucket: int) -> int:
            return bucket if ratio == 1.0 else int((bucket * ratio) // 1)

        self.start = min(self.start, float(snap["start"]))
        for name in ("first_t", "last_t"):
            value = snap.get(name)
            if value is not None:
                self._bucket(float(value))
        for bucket, metric, flow, op, encoded in snap["histograms"]:
            _add_into(self._open_bucket(rebucket(int(bucket))).hists, (metric, flow, op), hdr.decode(encoded))
        for bucket, op, flow, status, n in snap["requests"]:
            b = rebucket(int(bucket))
            counts = self._requests.get(b)
            if counts is None:
                counts = self._requests[b] = {}
            key = (op, flow, int(status))
            counts[key] = counts.get(key, 0) + int(n)
        for bucket, flow, status, n in snap["jobs"]:
            self.jobs[(rebucket(int(bucket)), flow, status)] += int(n)
        for bucket, flow, n in snap["dropped"]:
            self.dropped[(rebucket(int(bucket)), flow)] += int(n)
        for bucket, flow, n in snap.get("chunks", []):
            self.chunks[(rebucket(int(bucket)), flow)] += int(n)
        for flow, values in snap["job_totals"].items():
            self.job_totals[flow].add(JobTotals(**values))
        room = max(0, self.keep_jobs - len(self.job_rows))
        rows = snap["job_rows"]
        self.job_rows.extend(rows[:room])
        self.job_rows_omitted += int(snap["job_rows_omitted"]) + max(0, len(rows) - room)
        for t, sample in snap["health"]:
            self._add_health(float(t), sample)
        self.health_stride = max(self.health_stride, int(snap.get("health_stride", 1)))
        self._clamped += int(snap["clamped"])
        for op, status, message in snap.get("error_messages", []):
            self.note_error(op, int(status), str(message))
        for process, lag in snap.get("loop_lag", {}).items():
            mine = self._loop_lag.get(process)
            if mine is None:
                mine = self._loop_lag[process] = LoopLag(tick_s=float(lag["tick_s"]), stall_s=float(lag["stall_s"]))
            mine.merge(lag)
        self._close_old_buckets()

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any], *, keep_jobs: int | None = None) -> Recorder:
        """A recorder holding exactly what ``snap`` holds (e.g. the master's, read back from disk)."""
        rows = len(snap.get("job_rows", []))
        recorder = cls(
            bucket_s=float(snap["bucket_s"]),
            start=float(snap["start"]),
            keep_jobs=max(rows, DEFAULT_KEEP_JOBS) if keep_jobs is None else keep_jobs,
        )
        recorder.merge(snap)
        return recorder

    # ---------------------------------------------------------------------------------------- reading

    def span(self) -> tuple[float, float]:
        """(start, end) of the measured period in Unix seconds: from ``start`` to the last sample."""
        end = self.last_t if self.last_t is not None else self.start
        return self.start, max(end, self.start)

    def job_rows_as_records(self) -> Iterable[dict[str, Any]]:
        for row in self.job_rows:
            yield dict(zip(JOB_ROW_FIELDS, row, strict=False))


def _add_into(hists: dict[HistKey, HdrHistogram], key: HistKey, decoded: HdrHistogram) -> None:
    """Add a freshly decoded histogram to ``hists[key]`` (or keep it there when the key is new)."""
    if key in hists:
        hists[key].add(decoded)
        hdr.release(decoded)
    else:
        hists[key] = decoded


def flatten_health(sample: dict[str, Any]) -> dict[str, float]:
    """``{"jobs": {"inQueue": 3}, "workers": {"idle": 1}}`` → ``{"jobs.inQueue": 3, "workers.idle": 1}``."""
    flat: dict[str, float] = {}
    for section in ("jobs", "workers"):
        values = sample.get(section)
        if isinstance(values, dict):
            for key, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    flat[f"{section}.{key}"] = value
    return flat


def series_name(metric: str, flow: str | None = None, op: str | None = None) -> str:
    """A time series' name, in metric-reference syntax: ``latency{op=run}``, ``queue_delay{flow=chat}``."""
    if flow:
        return f"{metric}{{flow={flow}}}"
    if op:
        return f"{metric}{{op={op}}}"
    return metric


def aggregate(hists: Mapping[HistKey, HdrHistogram | hdr.Sparse]) -> dict[str, hdr.Sparse]:
    """Fold (metric, flow, op) histograms into overall, per-flow and per-op ones, keyed by series name.

    Request metrics are broken down by op and by flow; job metrics by flow only. The values are sparse
    counts (see :func:`hdr.sparse_of`), which add far faster than fresh HDR histograms allocate.
    """
    parts: dict[str, list[hdr.Sparse]] = defaultdict(list)
    for (metric, flow, op), h in hists.items():
        sparse = h if isinstance(h, tuple) else hdr.sparse_of(h)
        parts[series_name(metric)].append(sparse)
        parts[series_name(metric, flow=flow)].append(sparse)
        if op:
            parts[series_name(metric, op=op)].append(sparse)
    return {name: hdr.sparse_sum(pieces) for name, pieces in parts.items()}


def bucket_series(hists: dict[HistKey, HdrHistogram]) -> dict[str, tuple[float, ...]]:
    """Per-bucket statistics (:data:`hdr.SERIES_STATS` order) for every aggregated series (censored samples,
    which all land at the end of a run, are left out of the time series)."""
    result: dict[str, tuple[float, ...]] = {}
    kept = {key: h for key, h in hists.items() if not key[0].endswith(CENSORED_SUFFIX)}
    for name, sparse in aggregate(kept).items():
        stats = hdr.statistics(sparse, hdr.SERIES_STATS)
        if stats:
            result[name] = tuple(stats[s] for s in hdr.SERIES_STATS)
    return result
