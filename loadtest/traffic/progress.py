"""The live progress line of ``loadtest run``: elapsed/total, requests/s, jobs in flight, 429 rate.

On a terminal it rewrites one line in place every second; into a file or pipe it prints a full line every
``PIPE_EVERY_S`` seconds so CI logs stay short. Requests/s and the 429 rate are over the same interval
(since the previous line); errors are counted over the whole run. Counts come from the recorder through
the figure engine (:class:`loadtest.metrics.figures.LiveTotals`), classified as every figure is; in a
distributed run that is the master's recorder, into which the load generators' drains are merged.
"""

from __future__ import annotations

import time
from typing import TextIO

from loadtest.metrics.figures import LiveTotals
from loadtest.traffic.runtime import TrafficRuntime

TTY_EVERY_S = 1.0
PIPE_EVERY_S = 5.0


class ProgressLine:
    """Prints the run's progress from the runtime's live counters."""

    def __init__(self, runtime: TrafficRuntime, total_s: float, stream: TextIO) -> None:
        self.runtime = runtime
        self.total_s = total_s
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.every = TTY_EVERY_S if self.tty else PIPE_EVERY_S
        self._last_print = 0.0
        self._totals: LiveTotals | None = None
        self._last: dict[str, int] = {}
        self._last_t = time.monotonic()

    def _counts(self) -> dict[str, int]:
        recorder = self.runtime.recorder
        if self._totals is None or self._totals.recorder is not recorder:  # a new test, a new recorder
            self._totals = LiveTotals(recorder)
            self._last = {}
        return self._totals.counts()

    def line(self, elapsed: float) -> str:
        counts = self._counts()
        now = time.monotonic()
        span = max(now - self._last_t, 1e-6)
        requests = counts["requests"] - self._last.get("requests", 0)
        throttled = counts["throttled"] - self._last.get("throttled", 0)
        self._last, self._last_t = counts, now
        rate_429 = 100.0 * throttled / requests if requests > 0 else 0.0
        dropped = self.runtime.dispatcher.stats.dropped if self.runtime.dispatcher is not None else 0
        jobs = self.runtime.job_counts
        return (
            f"[{elapsed:5.0f}s/{self.total_s:.0f}s] {requests / span:7.1f} req/s | 429 {rate_429:5.1f}%"
            f" | jobs in flight {jobs.in_flight:4d} | submitted {jobs.submitted:6d} | errors {counts['errors']}"
            + (f" | dropped {dropped}" if dropped else "")
            + (" | draining: no new jobs, following those in flight" if self.runtime.control.draining else "")
        )

    def maybe_print(self, elapsed: float) -> None:
        if elapsed - self._last_print < self.every:
            return
        self._last_print = elapsed
        text = self.line(elapsed)
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, elapsed: float) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(elapsed) + "\x1b[K\n")
            self.stream.flush()
