"""Run-wide control shared by every flow in a Locust process: the drain and stop signals, bounded sleeps.

When a run's duration ends, it first *drains* (``start_draining()``): no new job is submitted and no new
flow starts, but flows follow the jobs they have until those end or the drain time runs out, so a
loaded endpoint's slow jobs are measured instead of dropped. Then ``stop()``: flows notice it at their
next pause or request boundary, record their job as still in flight, and return; only stragglers past
the grace period are killed.
"""

from __future__ import annotations

from gevent.event import Event


class RunControl:
    """The stop signal of one run."""

    def __init__(self) -> None:
        self._stopping = Event()
        self._draining = Event()

    @property
    def event(self) -> Event:
        """The underlying event, for code that waits on it directly (the arrival dispatcher)."""
        return self._stopping

    @property
    def stopping(self) -> bool:
        return bool(self._stopping.is_set())

    @property
    def draining(self) -> bool:
        return bool(self._draining.is_set())

    @property
    def accepting(self) -> bool:
        """Whether new flows may start and new jobs may be submitted (not draining, not stopping)."""
        return not self._stopping.is_set() and not self._draining.is_set()

    def start_draining(self) -> None:
        self._draining.set()

    def stop(self) -> None:
        self._stopping.set()

    def reset(self) -> None:
        """Arm again for a new run in the same process (Locust's web UI can start several)."""
        self._stopping.clear()
        self._draining.clear()

    def sleep(self, seconds: float) -> bool:
        """Sleep cooperatively; False (at once) when the run is stopping, True after a full sleep."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

