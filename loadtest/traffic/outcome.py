"""What a run loop hands back, without Locust: its outcome and the watchers it calls.

Kept apart from :mod:`loadtest.traffic.drive` (which imports Locust and so monkey-patches the process) so
the pipeline's reporting side and the tests can read an outcome without Locust.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from loadtest.traffic.arrivals import DispatchFigures

Watcher = Callable[[], str | None]
"""Called every tick while the run goes on; a reason (a sentence) stops the run early."""


@dataclass
class RunOutcome:
    """What happened: the measured window and how the run ended."""

    started_at: float
    """Start of the measured window (Unix seconds)."""
    duration_s: float
    interrupted: bool
    stop_reason: str | None
    dispatch: DispatchFigures | None = None
    """What the open-model dispatcher(s) did; None for the closed model."""
    in_flight_at_end: int = 0
    workers: dict[str, object] = field(default_factory=dict)
    """A distributed run's workers (``run.settings.distributed`` in summary.json); empty otherwise."""
    drained_s: float = 0.0
    """Of ``duration_s``, the seconds spent draining after the load's duration (following jobs in flight)."""
    problems: list[str] = field(default_factory=list)
    """Files that could not be written during the run (Locust's own, on a full disk), one sentence each."""
