"""Threshold bounds and baseline tolerances, read in the unit of the metric they apply to.

A scenario writes ``max: 2s`` for a time, ``max: 5%`` for a ratio, ``min: 10/s`` for a rate; the check
compares against ``summary.json`` figures, which are in the catalogue's units (milliseconds, ratios
0..1, per second, counts). These functions convert once, so both sides agree. A bare number is taken in
the catalogue's unit (milliseconds for times).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from loadtest.metrics import catalog
from loadtest.units import UnitError, parse_duration, parse_rate, shown

__all__ = ["Tolerance", "parse_bound", "parse_tolerance"]

_PERCENT_RE = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+)\s*%\s*$")
_NUMBER_RE = re.compile(r"^\s*[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?\s*$")


def parse_bound(unit: str, value: float | str) -> float:
    """``value`` in ``unit`` (a catalogue unit). Raises ``ValueError`` saying what was expected."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, found {value!r}")
    if isinstance(value, str) and _NUMBER_RE.match(value):
        value = float(value)
    if isinstance(value, int | float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, found {shown(value)}")
    if unit == catalog.UNIT_MS:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(value) * 1000.0
        except UnitError as exc:
            raise ValueError(f"{exc} (a time; a bare number means milliseconds)") from None
    if unit == catalog.UNIT_RATIO:
        if isinstance(value, str):
            match = _PERCENT_RE.match(value)
            if not match:
                raise ValueError(f"expected a fraction such as '5%' or 0.05, found {value!r}")
            value = float(match.group(1)) / 100.0
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"a fraction lies between 0 and 1 (0% and 100%), found {value:g}")
        return float(value)
    if unit in (catalog.UNIT_REQ_PER_S, catalog.UNIT_JOBS_PER_S):
        try:
            return parse_rate(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
    if isinstance(value, str):
        raise ValueError(f"expected a number of {unit}, found {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How much worse than the baseline a figure may be: a fraction (``relative``) or an amount."""

    relative: bool
    amount: float
    """A fraction of the baseline value (0.1 = 10 %) when ``relative``, else in the metric's unit."""


def parse_tolerance(unit: str, value: float | str) -> Tolerance:
    """``"10%"`` -> relative 0.1; anything else is an absolute amount in ``unit`` (see :func:`parse_bound`)."""
    if isinstance(value, str):
        match = _PERCENT_RE.match(value)
        if match and unit != catalog.UNIT_RATIO:
            amount = float(match.group(1)) / 100.0
            if amount < 0:
                raise ValueError(f"a tolerance cannot be negative, found {value!r}")
            return Tolerance(True, amount)
        if match and unit == catalog.UNIT_RATIO:
            return Tolerance(False, parse_bound(unit, value))
    amount = parse_bound(unit, value)
    if amount < 0:
        raise ValueError(f"a tolerance cannot be negative, found {value!r}")
    return Tolerance(False, amount)
