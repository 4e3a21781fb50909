"""Charts drawn in the page: hover to read a value and the samples behind it, click a legend entry to
hide or show its series, drag across a time range to zoom (double-click to zoom out).

The page stays one file that opens offline: the charting library (uPlot 1.6.32, MIT licence, 51 KB
minified; ``loadtest/vendor/uplot/uPlot.LICENSE``), its stylesheet and our glue (``chart.js``) are inlined
once, and each chart's data is a JSON block beside it. Series arrive already thinned to at most
:data:`loadtest.report.timeline.MAX_POINTS` windows, and numbers are rounded to 4 significant digits, so a
one-hour run's page stays small. Bar charts stay images (they hold a handful of labelled values).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from functools import cache
from html import escape
from importlib import resources

from loadtest.report.chart_model import Chart, Panel, Series

UPLOT_VERSION = "1.6.32"
DIGITS = 4
"""Significant digits kept for plotted values (the tables carry the exact figures)."""


@cache
def _asset(name: str) -> str:
    package = "loadtest.vendor" if name.startswith("uplot/") else "loadtest.report"
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def assets() -> str:
    """The library, its stylesheet and the glue, inlined (once per page)."""
    licence = f"/* uPlot {UPLOT_VERSION}, (c) Leon Sorokin, MIT licence: see loadtest/vendor/uplot/uPlot.LICENSE */"
    return (f"<style>{_asset('uplot/uPlot.min.css')}</style>\n"
            f"<script>{licence}\n{_script(_asset('uplot/uPlot.iife.min.js'))}</script>\n"
            f"<script>{_script(_asset('chart.js'))}</script>")


def _script(text: str) -> str:
    """Script text made safe inside a ``<script>`` element."""
    return text.replace("</script", "<\\/script")


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{DIGITS}g}")


def _rounded(values: Sequence[float | None] | None) -> list[float | None] | None:
    return None if values is None else [_round(v) for v in values]


def _positions(values: Sequence[float]) -> list[float]:
    """x positions: seconds or minutes since the start, or nines; 4 decimals are finer than any window."""
    return [round(float(v), 4) + 0.0 for v in values]


Column = list[float | None]


def _post(series: Series) -> tuple[list[float], Column, Column | None, Column | None]:
    """(x, y, value, counts) of a series as the page draws it. Steps centred on their windows
    (``where="mid"``) become steps held from each window's left edge, which is what the library draws;
    the edges are the midpoints between neighbours, as in the PNG."""
    x = [float(v) for v in series.x]
    y: Column = list(series.y)
    value: Column | None = list(series.value) if series.value is not None else None
    counts: Column | None = list(series.counts) if series.counts is not None else None
    if series.where != "mid" or series.kind not in ("area", "step", "limit") or len(x) < 2:
        return x, y, value, counts
    edges = [x[0] - (x[1] - x[0]) / 2] + [(a + b) / 2 for a, b in itertools.pairwise(x)]
    edges.append(x[-1] + (x[-1] - x[-2]) / 2)

    def held(column: Column | None) -> Column | None:
        return None if column is None else [*column, column[-1]]

    return edges, [*y, y[-1]], held(value), held(counts)


def _same(a: Sequence[float | None], b: Sequence[float | None]) -> bool:
    def norm(v: float | None) -> float:
        return 0.0 if v is None or not math.isfinite(v) else float(v)

    return len(a) == len(b) and all(abs(norm(p) - norm(q)) <= 1e-9 * max(1.0, abs(norm(p))) for p, q in zip(a, b,
                                                                                                             strict=True))


def panel_json(panel: Panel) -> dict[str, object]:
    series_out: list[dict[str, object]] = []
    for index, series in enumerate(panel.series):
        x, y, value, counts = _post(series)
        stack_on = None
        if series.kind == "area" and series.base is not None:
            for j in range(index - 1, -1, -1):
                below = panel.series[j]
                if below.kind == "area" and _same(below.y, series.base):
                    stack_on = j
                    break
        series_out.append({
            "label": series.label, "kind": series.kind, "colour": series.style.colour, "dash": series.style.dash,
            "marker": series.style.marker, "width": series.style.width, "points": series.points,
            "alpha": series.fill_alpha, "x": _positions(x), "y": _rounded(y),
            "value": _rounded(value) if series.value is not None else None,
            "counts": _rounded(counts), "countLabel": series.count_label, "stackOn": stack_on,
            "lower": list(series.lower) if series.lower is not None and series.where != "mid" else None,
        })
    return {
        "title": panel.title, "note": panel.note, "yLabel": panel.y_label, "xLabel": panel.x_label,
        "unit": panel.unit, "xTime": panel.x_is_time, "xTicks": panel.x_ticks, "yMax": panel.y_max,
        "xRange": list(panel.x_range) if panel.x_range is not None else None,
        "height": panel.height, "series": series_out,
    }


def chart_json(chart: Chart) -> str:
    """The chart's data for the page, as JSON safe inside a ``<script type="application/json">``."""
    document = {"slug": chart.slug, "panels": [panel_json(p) for p in chart.panels]}
    return json.dumps(document, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def figure_html(chart: Chart, fallback_png: str | None) -> str:
    """A chart's ``<figure>``: the drawing area, its data, and the PNG for readers without scripts."""
    slug = escape(chart.slug)
    noscript = (f'<noscript><img alt="{escape(chart.title)}" src="{escape(fallback_png)}"></noscript>'
                if fallback_png else "")
    return (f'<figure class="chart" id="plot-{slug}"><div class="chart-title">{escape(chart.title)}</div>'
            f'<div class="chart-panels" data-chart="{slug}"></div>'
            f'<script type="application/json" class="chart-data" data-for="{slug}">{chart_json(chart)}</script>'
            f"{noscript}<figcaption>{escape(chart.caption)}</figcaption></figure>")
