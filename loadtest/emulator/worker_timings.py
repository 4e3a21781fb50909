"""What real workers' timings looked like, in constant memory: the ground truth's ``real_workers.timings_ms``."""

from __future__ import annotations

import math

from loadtest.emulator.jobstore import Job


class TimingStats:
    """Count, mean, extremes and percentiles (within 1 %) of millisecond values, in constant memory."""

    _LOG_STEP = math.log(1.01)

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0
        self._buckets: dict[int, int] = {}

    def add(self, ms: float) -> None:
        ms = max(0.0, ms)
        self.count += 1
        self.total += ms
        self.min = min(self.min, ms)
        self.max = max(self.max, ms)
        index = int(math.log1p(ms) / self._LOG_STEP)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def _quantile(self, q: float) -> float:
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                return min(self.max, max(self.min, math.expm1((index + 0.5) * self._LOG_STEP)))
        return self.max

    def snapshot(self) -> dict[str, float | int | None]:
        if not self.count:
            return {"count": 0, "mean": None, "min": None, "p50": None, "p90": None, "p99": None, "max": None}
        return {
            "count": self.count, "mean": round(self.total / self.count, 1), "min": round(self.min, 1),
            "p50": round(self._quantile(0.5), 1), "p90": round(self._quantile(0.9), 1),
            "p99": round(self._quantile(0.99), 1), "max": round(self.max, 1),
        }


class WorkerTimings:
    """The timings of a pool of real workers: cold starts, the jobs' queue delay and execution time, and
    streamed chunks (the first after hand-out, the gaps between them)."""

    def __init__(self) -> None:
        self.cold_start = TimingStats()
        self.queue_delay = TimingStats()
        self.execution = TimingStats()
        self.first_chunk = TimingStats()
        self.chunk_gap = TimingStats()

    def job_ended(self, job: Job) -> None:
        """A job ended on a worker (done, failed, timed out): its ``delayTime`` and ``executionTime``."""
        if job.delay_ms is not None:
            self.queue_delay.add(job.delay_ms)
        if job.exec_ms is not None:
            self.execution.add(job.exec_ms)

    def snapshot(self) -> dict[str, dict[str, float | int | None]]:
        return {
            "cold_start": self.cold_start.snapshot(),
            "queue_delay": self.queue_delay.snapshot(),
            "execution": self.execution.snapshot(),
            "first_chunk": self.first_chunk.snapshot(),
            "chunk_gap": self.chunk_gap.snapshot(),
        }
