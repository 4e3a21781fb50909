"""Figures as people read them in a verdict table: ``153 ms``, ``2.10 s``, ``1.2%``, ``20.3/s``, ``42``."""

from __future__ import annotations

import math

from loadtest.metrics import catalog


def format_value(value: float | None, unit: str) -> str:
    """``value`` (in the catalogue ``unit``) for a table cell; ``n/a`` when not measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == catalog.UNIT_MS:
        if abs(value) >= 10_000:
            return f"{value / 1000:.1f} s"
        if abs(value) >= 1000:
            return f"{value / 1000:.2f} s"
        return f"{value:.3g} ms" if abs(value) < 100 else f"{value:.0f} ms"
    if unit == catalog.UNIT_RATIO:
        return f"{value * 100:.3g}%"
    if unit in (catalog.UNIT_REQ_PER_S, catalog.UNIT_JOBS_PER_S):
        return f"{value:.3g}/s" if abs(value) < 1000 else f"{value:.0f}/s"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}"


def format_delta(value: float, unit: str) -> str:
    """A signed difference in ``unit`` (``+12 ms``, ``-0.4%``)."""
    sign = "+" if value >= 0 else "-"
    return sign + format_value(abs(value), unit)


def format_percent(fraction: float) -> str:
    """A relative change (``0.123`` → ``+12.3%``)."""
    return f"{fraction * 100:+.1f}%"
