"""Run-wide control shared by every flow in a Locust process: the stop signal and bounded sleeps.

When a run ends we want every accepted job accounted for and every request we sent answered, so flows
do not get killed mid-request: ``stop()`` is signalled first, flows notice it at their next pause or
request boundary, record their job as still in flight, and return; only stragglers past the grace
period are killed.
"""

from __future__ import annotations

from gevent.event import Event


class RunControl:
    """The stop signal of one run."""

    def __init__(self) -> None:
        self._stopping = Event()

    @property
    def event(self) -> Event:
        """The underlying event, for code that waits on it directly (the arrival dispatcher)."""
        return self._stopping

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        self._stopping.set()

    def reset(self) -> None:
        """Arm again for a new run in the same process (Locust's web UI can start several)."""
        self._stopping.clear()

    def sleep(self, seconds: float) -> bool:
        """Sleep cooperatively; False (at once) when the run is stopping, True after a full sleep."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)
