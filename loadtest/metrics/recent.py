"""The last few minutes of a live run in windows: what the web UI charts while a test runs.

Each window (``window_s``, aligned to the recorder's buckets) gives p50/p95 and the job count of queue
delay, execution time and end to end, and the share of requests answered 429. A window whose buckets
are all closed never changes, so it is computed once and kept (:class:`RecentWindows` is per test); only
the newest window is recomputed on each poll, so a poll costs the same an hour into a run as at its
start and never stalls the load generator that serves it. Percentiles are of finished jobs only (a live
view; the run directory carries the censored figures), and a window shows a percentile only when it
holds enough jobs (:data:`MIN_JOBS`), with the count beside it.
"""

from __future__ import annotations

import math
import time
from typing import Any

from loadtest.metrics import hdr
from loadtest.metrics.classify import RequestClass, classify_request
from loadtest.metrics.recorder import Recorder

TIME_METRICS: tuple[str, ...] = ("queue_delay", "execution_time", "end_to_end")
STATS: tuple[str, ...] = ("p50", "p95")
MIN_JOBS: dict[str, int] = {"p50": 5, "p95": 20}
"""A window shows a percentile only when it holds at least this many jobs."""


class RecentWindows:
    """Windowed live figures of one recorder (make a new one when the recorder is replaced)."""

    def __init__(self, recorder: Recorder, window_s: float = 5.0, span_s: float = 300.0) -> None:
        self.recorder = recorder
        self.per = max(1, round(window_s / recorder.bucket_s))
        self.windows = max(1, math.ceil(span_s / (self.per * recorder.bucket_s)))
        self._done: dict[int, dict[str, Any]] = {}

    def document(self, now: float | None = None) -> dict[str, Any]:
        """``{"window_s", "t": [window starts, s since the run's start], "series": {metric: {p50, p95,
        count}, "rate_429": [...], "requests": [...]}}`` over the last ``span_s``."""
        recorder = self.recorder
        bucket_s = recorder.bucket_s
        now = time.time() if now is None else now
        newest = int(now // bucket_s) // self.per
        oldest = max(newest - self.windows + 1, int(recorder.start // bucket_s) // self.per)
        settled = int((now - 2 * bucket_s) // bucket_s) // self.per  # windows whose buckets are all closed
        rows = []
        for window in range(oldest, newest + 1):
            row = self._done.get(window)
            if row is None:
                row = self._window(window)
                if window < settled:
                    self._done[window] = row
            rows.append(row)
        for stale in [w for w in self._done if w < oldest]:
            del self._done[stale]
        series: dict[str, Any] = {metric: {stat: [r[metric][stat] for r in rows] for stat in (*STATS, "count")}
                                  for metric in TIME_METRICS}
        series["rate_429"] = [r["rate_429"] for r in rows]
        series["requests"] = [r["requests"] for r in rows]
        return {"window_s": self.per * bucket_s,
                "t": [round(w * self.per * bucket_s - recorder.start, 3) for w in range(oldest, newest + 1)],
                "series": series}

    def _window(self, window: int) -> dict[str, Any]:
        first, last = window * self.per, window * self.per + self.per - 1
        row: dict[str, Any] = {}
        for metric in TIME_METRICS:
            sparse = self.recorder.metric_sparse(metric, first, last)
            stats = hdr.statistics(sparse, (*STATS, "count")) if sparse is not None else {}
            count = int(stats.get("count") or 0)
            row[metric] = {stat: (round(stats[stat], 1) if count >= MIN_JOBS[stat] else None) for stat in STATS}
            row[metric]["count"] = count
        requests = throttled = 0
        for bucket, _op, _flow, status, n in self.recorder.request_counts(since_bucket=first):
            if bucket <= last:
                requests += n
                throttled += n if classify_request(status) is RequestClass.THROTTLED else 0
        row["requests"] = requests
        row["rate_429"] = round(throttled / requests, 4) if requests else None
        return row
