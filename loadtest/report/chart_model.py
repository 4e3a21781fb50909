"""The chart model: what a chart shows, apart from how it is drawn. The PNG renderer (``png.py``) and the
interactive one (``interactive.py``) both draw from this, so a series has the same data, label and style in
both; the report's own charts are built in ``run_charts.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from loadtest.report.style import Style

SeriesKind = Literal["line", "step", "area", "limit"]
PanelKind = Literal["xy", "bars", "hbars"]


@dataclass
class Series:
    """One labelled series of a panel.

    * ``line``: points joined (gaps where y is None/NaN); ``points`` adds a marker at each point, so a
      point with no neighbour still shows.
    * ``step``: a level held until the next sample (states, queue length): never interpolated.
    * ``area``: filled from ``base`` (default 0) up to ``y``; stacked areas give each its base. Drawn as
      steps centred on their window.
    * ``limit``: a limit line (constant or stepped), drawn above everything.

    ``value`` is what the series measures at each point (for a stacked area: its own share, not the top
    of the stack); ``counts`` the samples behind each point, shown on hover.
    """

    label: str
    x: Sequence[float]
    y: Sequence[float | None]
    style: Style
    kind: SeriesKind = "line"
    base: Sequence[float] | None = None
    value: Sequence[float | None] | None = None
    counts: Sequence[float | None] | None = None
    count_label: str = "jobs"
    lower: Sequence[bool] | None = None
    """Points that are only lower bounds (shown as "≥ value" on hover)."""
    points: bool = False
    where: Literal["mid", "post"] = "mid"
    """Steps and areas: ``mid`` for a window's figure (centred on it), ``post`` for a sampled level
    (held from one sample to the next)."""
    fill_alpha: float = 0.55


@dataclass
class Panel:
    """One set of axes. ``kind`` ``bars``: grouped vertical bars over ``categories`` (one series per group,
    ``y`` per category); ``hbars``: stacked horizontal bars. Bars are drawn in the PNG only."""

    title: str
    y_label: str
    series: list[Series]
    x_label: str = ""
    unit: str = ""
    """Unit of the y values, for hover text (``ms``, ``s``, ``/s``, ``jobs``, ``workers``)."""
    kind: PanelKind = "xy"
    categories: list[str] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] | None = None
    """Fixed, labelled x ticks (a nines axis); None: automatic."""
    x_is_time: bool = False
    """x is time since the run's start (such panels zoom together in the page)."""
    x_range: tuple[float, float] | None = None
    """The x axis's extent (a time axis: the whole run, whatever the series cover); None: fit the data."""
    y_max: float | None = None
    """Top of the y axis when a limit line must stay in view; None: fit the data."""
    height: float = 1.0
    """Relative height in a multi-panel chart."""
    note: str = ""
    """A short line under the panel title (e.g. the concurrency limit in force)."""
    bar_labels: bool = True

    @property
    def top(self) -> float:
        """Largest y drawn (limits included), 0 when empty."""
        values = [v for s in self.series for v in s.y if v is not None and not math.isnan(v)]
        return max(values, default=0.0)


@dataclass
class Chart:
    """A titled chart of one or more panels stacked vertically, sharing x."""

    slug: str
    title: str
    caption: str
    panels: list[Panel]

    @property
    def interactive(self) -> bool:
        """Whether the page draws it with the charting library (bars stay images)."""
        return all(panel.kind == "xy" for panel in self.panels)
