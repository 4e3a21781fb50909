"""Charts drawn as PNG files with matplotlib (Agg, no pyplot state): ``plots/*.png``, ``summary.md``, GitHub.

Legends sit outside the axes, to the right, so they never cover data. Each drawn legend entry's look
(colour, dash, marker, fill, hatch) is kept in :attr:`Plot.legend`, so a test can check that no two
series of one panel look alike in the image itself.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, MaxNLocator

from loadtest.report.chart_model import Chart, Panel, Series

WIDTH_IN, HEIGHT_IN, PANEL_IN, DPI = 10.0, 4.2, 3.0, 100
"""A single-panel plot is 1000 × 420 pixels; n stacked panels of relative heights h are
1000 × (sum(h) × 300 + 120)."""
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0, "fontsize": 8,
          "frameon": False}

Signature = tuple[str, ...]
POINTS_UP_TO = 150
"""A series asking for points gets them up to this many (an isolated point must show; a dense one is a line)."""


@dataclass(frozen=True)
class Plot:
    """A rendered chart: its PNG bytes and size, and every legend entry's look per panel."""

    chart: Chart
    png: bytes
    width_px: int
    height_px: int
    legend: tuple[tuple[int, str, Signature], ...]
    """(panel index, label, look) of every legend entry drawn."""

    @property
    def slug(self) -> str:
        return self.chart.slug

    @property
    def title(self) -> str:
        return self.chart.title

    @property
    def caption(self) -> str:
        return self.chart.caption


def render(chart: Chart) -> Plot:
    """Draw ``chart`` into a PNG."""
    heights = [panel.height for panel in chart.panels]
    total_in = HEIGHT_IN if heights == [1.0] else sum(heights) * PANEL_IN + HEIGHT_IN - PANEL_IN
    fig = Figure(figsize=(WIDTH_IN, total_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    shared_time = len(chart.panels) > 1 and all(p.x_is_time for p in chart.panels)
    axes = fig.subplots(len(chart.panels), 1, squeeze=False, sharex=shared_time,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    legend: list[tuple[int, str, Signature]] = []
    for index, (ax, panel) in enumerate(zip(axes, chart.panels, strict=True)):
        if panel.kind == "bars":
            _bars(ax, panel)
        elif panel.kind == "hbars":
            _hbars(ax, panel)
        else:
            _xy(ax, panel)
        _decorate(ax, panel, last=index == len(chart.panels) - 1 or not shared_time)
        handles, labels = ax.get_legend_handles_labels()
        legend += [(index, label, signature(handle)) for handle, label in zip(handles, labels, strict=True)]
    fig.suptitle(chart.title, fontsize=13, fontweight="bold")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    width, height = (round(float(v)) for v in fig.get_size_inches() * DPI)
    return Plot(chart, buffer.getvalue(), width, height, tuple(legend))


def signature(handle: object) -> Signature:
    """How a legend entry looks: what a reader tells series apart by."""
    if isinstance(handle, Line2D):
        marker = handle.get_marker()
        return ("line", to_hex(handle.get_color()), str(handle.get_linestyle()),
                "" if marker in (None, "None", "", " ") else str(marker))
    if isinstance(handle, BarContainer):
        handle = handle.patches[0]
    if isinstance(handle, Patch):
        return ("fill", to_hex(handle.get_facecolor(), keep_alpha=False), str(handle.get_hatch() or ""),
                str(handle.get_linestyle()))
    face = getattr(handle, "get_facecolor", None)
    if face is not None:  # a fill_between collection
        colours = face()
        colour = to_hex(colours[0], keep_alpha=False) if len(colours) else ""
        return ("fill", colour, str(getattr(handle, "get_hatch", lambda: "")() or ""), "")
    return ("other", type(handle).__name__)


def _array(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def _xy(ax: Axes, panel: Panel) -> None:
    for series in panel.series:
        _draw(ax, series)


def _draw(ax: Axes, series: Series) -> None:
    x, y = np.asarray(series.x, dtype=float), _array(series.y)
    style = series.style
    marker = style.marker or ("o" if series.points and len(x) <= POINTS_UP_TO else "")
    line: dict[str, Any] = {"color": style.colour, "linestyle": style.dash, "linewidth": style.width,
                            "label": series.label}
    if series.kind == "area":
        base = _array(series.base) if series.base is not None else np.zeros(len(y))
        ax.fill_between(x, base, y, step=series.where, color=style.colour, alpha=series.fill_alpha,
                        linewidth=0, label=series.label)
    elif series.kind in ("step", "limit"):
        drawstyle = "steps-post" if series.where == "post" else "steps-mid"
        ax.plot(x, y, drawstyle=drawstyle, marker=marker or None, markersize=3,
                zorder=5 if series.kind == "limit" else 2, **line)
    else:
        ax.plot(x, y, marker=marker or None, markersize=3, **line)


def _bars(ax: Axes, panel: Panel) -> None:
    groups = len(panel.series)
    width = 0.8 / max(1, groups)
    for g, series in enumerate(panel.series):
        positions = [i + (g - (groups - 1) / 2) * width for i in range(len(panel.categories))]
        bars = ax.bar(positions, _array(series.y), width, color=series.style.colour, label=series.label,
                      hatch="//" if series.style.dash != "solid" else None, edgecolor="white", linewidth=0.5)
        if panel.bar_labels:
            ax.bar_label(bars, labels=[_short(v) for v in _array(series.y)], fontsize=7, padding=1)
    ax.set_xticks(range(len(panel.categories)), panel.categories)


def _hbars(ax: Axes, panel: Panel) -> None:
    left = np.zeros(len(panel.categories))
    for series in panel.series:
        values = np.nan_to_num(_array(series.y))
        bars = ax.barh(panel.categories, values, left=left, color=series.style.colour, label=series.label)
        if panel.bar_labels:
            ax.bar_label(bars, labels=[f"{int(v):,}" if v else "" for v in values], label_type="center",
                         fontsize=7, color="white")
        left = left + values
    ax.invert_yaxis()


def _short(value: float) -> str:
    if math.isnan(value):
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _decorate(ax: Axes, panel: Panel, last: bool) -> None:
    title = panel.title + (f"\n{panel.note}" if panel.note else "")
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(panel.y_label)
    if panel.kind == "hbars":
        ax.set_xlabel(panel.x_label)
        ax.grid(True, axis="x", alpha=0.3)
    elif panel.kind == "bars":
        ax.set_xlabel(panel.x_label)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_ylim(bottom=0)
    else:
        if last:
            ax.set_xlabel(panel.x_label)
        ax.grid(True, alpha=0.3)
        bottom, top = 0.0, max(panel.top, panel.y_max or 0.0)
        ax.set_ylim(bottom, top * 1.08 if top > 0 else 1.0)
        if panel.x_ticks:
            ax.xaxis.set_major_locator(FixedLocator([v for v, _ in panel.x_ticks]))
            ax.set_xticklabels([label for _, label in panel.x_ticks])
        if panel.x_range is not None:
            ax.set_xlim(*panel.x_range)
        elif panel.x_is_time:
            ax.set_xlim(left=0)
        if panel.unit in ("jobs", "workers"):
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4 if panel.height < 0.8 else "auto", integer=True))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**LEGEND)
