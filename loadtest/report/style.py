"""How the report's charts look: one palette, line styles, units and tick labels, shared by the PNG and
the interactive renderers so a series looks the same in ``plots/*.png`` and in ``report.html``.

Every series of a panel gets a distinct (colour, dash, marker) triple; colours come from a colour-blind
safe palette of eight (after Okabe & Ito), dashes vary after the eighth series, markers after the
thirty-second. Black is kept for limit lines and red for 429 answers, so neither can be mistaken for a
series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#8C564B",  # brown
    "#6A3D9A",  # violet
    "#B8A000",  # olive yellow
    "#56B4E9",  # sky blue (last: nearest to the first)
)
"""Ordered so that the first five, the usual number of flows, differ most in hue."""
DASHES: tuple[str, ...] = ("solid", "dashed", "dotted", "dashdot")
MARKERS: tuple[str, ...] = ("", "o", "s", "^", "D")
LIMIT_COLOUR = "#000000"
DISCOVERED_COLOUR = "#6A1B9A"
THROTTLED_COLOUR = "#C62828"
ACCEPTED_COLOUR = "#0072B2"
COUNT_COLOUR = "#9E9E9E"
STAT_COLOURS: dict[str, str] = {"p50": "#0072B2", "p90": "#009E73", "p95": "#E69F00", "p99": "#C62828",
                                "max": "#6A3D9A"}
STAT_DASHES: dict[str, str] = {"p50": "solid", "p90": "dashdot", "p95": "dashed", "p99": "dotted", "max": "dashdot"}
STATUS_COLOURS: dict[str, str] = {
    "COMPLETED": "#2E7D32", "FAILED": "#C62828", "TIMED_OUT": "#EF6C00", "CANCELLED": "#6A1B9A",
    "IN_FLIGHT": "#9E9E9E", "IN_QUEUE": "#90A4AE", "IN_PROGRESS": "#607D8B",
}
WORKER_STATE_COLOURS: dict[str, str] = {
    "running": "#0072B2", "idle": "#56B4E9", "initializing": "#E69F00", "ready": "#009E73",
    "throttled": "#C62828", "unhealthy": "#6A3D9A",
}
RUN_DASHES: tuple[str, ...] = ("solid", "dashed", "dotted", "dashdot")
"""In a comparison, run A's series are solid and run B's dashed, in the colour of what they show."""

MS_TO_S_ABOVE = 10_000.0
"""A time axis whose largest value passes 10 s is drawn in seconds."""


@dataclass(frozen=True)
class Style:
    """How one series is drawn. ``dash`` is one of :data:`DASHES`; ``marker`` one of :data:`MARKERS`."""

    colour: str
    dash: str = "solid"
    marker: str = ""
    width: float = 1.6

    @property
    def key(self) -> tuple[str, str, str]:
        """What tells two series apart; two series of one panel never share it."""
        return (self.colour.lower(), self.dash, self.marker)


def nth_style(index: int) -> Style:
    """The ``index``-th distinct style: colours first, then dashes, then markers."""
    colour = PALETTE[index % len(PALETTE)]
    dash = DASHES[(index // len(PALETTE)) % len(DASHES)]
    marker = MARKERS[(index // (len(PALETTE) * len(DASHES))) % len(MARKERS)]
    return Style(colour, dash, marker)


def run_style(index: int, run_index: int, runs: int) -> Style:
    """Series ``index`` of run ``run_index``: one run → :func:`nth_style`; several → the series' colour,
    the run's dash (A solid, B dashed), markers telling apart series past the eighth."""
    if runs <= 1:
        return nth_style(index)
    colour = PALETTE[index % len(PALETTE)]
    marker = MARKERS[(index // len(PALETTE)) % len(MARKERS)]
    return Style(colour, RUN_DASHES[run_index % len(RUN_DASHES)], marker)


def time_unit(largest_ms: float) -> tuple[str, float]:
    """(unit, divisor) for times whose largest value is ``largest_ms``: seconds past 10 s, else ms."""
    return ("s", 1000.0) if largest_ms > MS_TO_S_ABOVE else ("ms", 1.0)


def elapsed_unit(duration_s: float) -> tuple[str, float]:
    """(unit, divisor) of a time-since-start axis: minutes for runs longer than 15 min, else seconds."""
    return ("min", 60.0) if duration_s > 900 else ("s", 1.0)


def nines(percentile: float) -> float:
    """Position of a percentile on a "nines" axis: p90 → 1, p99 → 2, p99.9 → 3."""
    return -math.log10(max(1e-9, 1 - percentile / 100))


NINES_TICKS: tuple[tuple[float, str], ...] = (
    (0.0, "p0"), (math.log10(2), "p50"), (1.0, "p90"), (2.0, "p99"), (3.0, "p99.9"), (4.0, "p99.99"),
    (5.0, "p99.999"), (6.0, "p99.9999"),
)
"""The labelled percentiles of a nines axis (only round ones: never ``p99.49``)."""


def nines_ticks(top: float) -> list[tuple[float, str]]:
    """The ticks of :data:`NINES_TICKS` up to ``top`` (the right end of the axis)."""
    return [(v, label) for v, label in NINES_TICKS if v <= top + 1e-9]
