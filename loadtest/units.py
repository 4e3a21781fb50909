"""Quantities with units, as people write them in YAML: ``250ms``, ``30 seconds``, ``5m``, ``50/s``, ``10MB``.

Parsers return plain SI floats (seconds, per-second, bytes) and raise :class:`UnitError` with a message
that says what was expected, so the scenario validator can show it next to the line. The unit words and
the upper bounds are stated here once; docs/scenarios.md ("How values are written", "Bounds") lists them
and a test keeps the two in step.
"""

from __future__ import annotations

import math
import re
from typing import Final

from loadtest.errors import InvalidInput

__all__ = [
    "DURATION_UNITS",
    "MAX_DURATION_S",
    "MAX_RATE_PER_S",
    "MAX_SIZE_BYTES",
    "SIZE_UNITS",
    "UnitError",
    "duration_unit_words",
    "format_duration",
    "parse_duration",
    "parse_rate",
    "parse_size",
    "shown",
    "size_unit_words",
]


class UnitError(InvalidInput, ValueError):
    """A quantity that could not be read; the message says what was expected."""


MAX_DURATION_S: Final = 7 * 86_400.0
"""Longest duration anywhere in a scenario (a run, a stage, a wait, a timeout): 7 days, the longest
duration the API itself accepts (a job's ``ttl``/``executionTimeout``)."""

MAX_RATE_PER_S: Final = 100_000.0
"""Highest rate anywhere in a scenario (arrivals, spawn, client limits): 100,000 per second, far above
what a Locust cluster drives against one endpoint (whose documented /run limit is 100 per second)."""

MAX_SIZE_BYTES: Final = 1 << 30
"""Largest size anywhere in a scenario: 1 GiB (generators have a lower bound of their own)."""

# Each unit: its size and the words that name it (case does not matter). Rates use the same words
# after "/" or "per": 50/s, 600/min, 10 per minute.
_DURATION_WORDS: Final[tuple[tuple[float, tuple[str, ...]], ...]] = (
    (1e-3, ("ms", "millisecond", "milliseconds")),
    (1.0, ("s", "sec", "secs", "second", "seconds")),
    (60.0, ("m", "min", "mins", "minute", "minutes")),
    (3600.0, ("h", "hr", "hrs", "hour", "hours")),
    (86_400.0, ("d", "day", "days")),
)
DURATION_UNITS: Final[dict[str, float]] = {word: size for size, words in _DURATION_WORDS for word in words}
"""Seconds per duration unit word (lowercase)."""

SIZE_UNITS: Final[dict[str, int]] = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}
"""Bytes per size unit word (lowercase; written ``B``, ``KB``, ``MiB``...; case does not matter)."""
_SIZE_SPELLING: Final = ("B", "KB", "MB", "GB", "KiB", "MiB", "GiB")


def duration_unit_words() -> str:
    """The accepted duration (and rate) unit words, for messages and docs."""
    return ", ".join(word for _, words in _DURATION_WORDS for word in words)


def size_unit_words() -> str:
    """The accepted size unit words, for messages and docs."""
    return ", ".join(_SIZE_SPELLING)


_NUMBER: Final = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_BARE_RE: Final = re.compile(rf"^\s*({_NUMBER})\s*$")
_DURATION_RE: Final = re.compile(rf"^\s*(?:{_NUMBER}\s*[^\W\d_]+\s*)+$")
_DURATION_PART_RE: Final = re.compile(rf"({_NUMBER})\s*([^\W\d_]+)")
_RATE_RE: Final = re.compile(rf"^\s*({_NUMBER})\s*(?:/|\s+per\s+|per\s+)\s*([^\W\d_]+)\s*$", re.IGNORECASE)
_SIZE_RE: Final = re.compile(rf"^\s*({_NUMBER})\s*([^\W\d_]+)?\s*$")

_SHOWN_MAX: Final = 40


def shown(value: object) -> str:
    """``repr(value)``, cut short for a message when long (a hostile file may hold a megabyte of text)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_SHOWN_MAX:
        return f"a number of {len(str(abs(value))) if abs(value) < 10**4000 else 'over 4000'} digits"
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else f"{text[:_SHOWN_MAX - 5]}...{text[-1]} ({len(text)} characters)"


def _finite(number: float | int, what: str, value: object) -> float:
    """``number`` as a float; infinity, NaN and numbers too big for a float are refused."""
    try:
        result = float(number)
    except OverflowError:
        raise UnitError(f"{what} is too large, found {shown(value)}") from None
    if not math.isfinite(result):
        raise UnitError(f"{what} must be a finite number, found {shown(value)}")
    return result


def _at_most(amount: float, bound: float, what: str, bound_text: str, value: object) -> float:
    if amount < 0:
        raise UnitError(f"{what} cannot be negative, found {shown(value)}")
    if amount > bound:
        raise UnitError(f"{what} may be at most {bound_text} (the upper bound), found {shown(value)}")
    return amount


def parse_duration(value: object, *, default_unit: str = "s") -> float:
    """Seconds from ``250ms``, ``1.5s``, ``5 minutes``, ``1h30m`` or a bare number (in ``default_unit``).

    Raises :class:`UnitError` for anything else, for infinity and NaN, and above :data:`MAX_DURATION_S`.
    """
    expected = f"expected a duration such as '250ms', '30s', '5m' or '1h30m', found {shown(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnitError(expected)
    if isinstance(value, str):
        seconds = _duration_text(value, default_unit, expected)
    else:
        seconds = _finite(value, "a duration", value) * DURATION_UNITS[default_unit]
    return _at_most(seconds, MAX_DURATION_S, "a duration", format_duration(MAX_DURATION_S), value)


def _duration_text(text: str, default_unit: str, expected: str) -> float:
    bare = _BARE_RE.match(text)
    if bare:
        return _finite(float(bare.group(1)), "a duration", text) * DURATION_UNITS[default_unit]
    if text.lstrip().startswith("-") and _DURATION_RE.match(text.lstrip()[1:]):
        raise UnitError(f"a duration cannot be negative, found {shown(text)}")
    if not _DURATION_RE.match(text):
        raise UnitError(expected)
    total = 0.0
    for number, unit in _DURATION_PART_RE.findall(text):
        size = DURATION_UNITS.get(unit.lower())
        if size is None:
            raise UnitError(
                f"unknown duration unit {shown(unit)} in {shown(text)}; the units are {duration_unit_words()}"
            )
        total += _finite(float(number), "a duration", text) * size
    return _finite(total, "a duration", text)


def parse_rate(value: object) -> float:
    """Events per second from ``50/s``, ``600/min``, ``10 per minute`` or a bare number (per second).

    The unit after ``/`` or ``per`` is any duration unit word. Raises :class:`UnitError` for anything
    else, for infinity and NaN, and above :data:`MAX_RATE_PER_S`.
    """
    expected = f"expected a rate such as '50/s', '600/min' or '10 per minute', found {shown(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnitError(expected)
    if isinstance(value, str):
        bare = _BARE_RE.match(value)
        if bare:
            rate = _finite(float(bare.group(1)), "a rate", value)
        else:
            match = _RATE_RE.match(value)
            if not match:
                if value.lstrip().startswith("-") and _RATE_RE.match(value.lstrip()[1:]):
                    raise UnitError(f"a rate cannot be negative, found {shown(value)}")
                raise UnitError(expected)
            unit = match.group(2).lower()
            if unit not in DURATION_UNITS:
                raise UnitError(
                    f"unknown rate unit {shown(match.group(2))} in {shown(value)}; write a count per unit of time "
                    f"(50/s, 600/min), the units being {duration_unit_words()}"
                )
            rate = _finite(float(match.group(1)) / DURATION_UNITS[unit], "a rate", value)
    else:
        rate = _finite(value, "a rate", value)
    return _at_most(rate, MAX_RATE_PER_S, "a rate", f"{MAX_RATE_PER_S:,.0f}/s", value)


def parse_size(value: object) -> int:
    """Bytes from ``512``, ``64KB``, ``10MB``, ``1MiB`` (KB/MB/GB decimal, KiB/MiB/GiB binary).

    Raises :class:`UnitError` for anything else, for infinity and NaN, and above :data:`MAX_SIZE_BYTES`.
    """
    expected = f"expected a size such as '64KB' or '10MB', found {shown(value)}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UnitError(expected)
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            if value.lstrip().startswith("-") and _SIZE_RE.match(value.lstrip()[1:]):
                raise UnitError(f"a size cannot be negative, found {shown(value)}")
            raise UnitError(expected)
        unit = (match.group(2) or "b").lower()
        if unit not in SIZE_UNITS:
            raise UnitError(f"unknown size unit {shown(match.group(2))} in {shown(value)}; the units are "
                            f"{size_unit_words()}")
        size = _finite(float(match.group(1)), "a size", value) * SIZE_UNITS[unit]
    else:
        size = _finite(value, "a size", value)
    return int(_at_most(size, MAX_SIZE_BYTES, "a size", "1 GiB", value))


def format_duration(seconds: float) -> str:
    """A short human form: ``250ms``, ``1.5s``, ``2m30s``, ``1h30m``, ``7d``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    text = ""
    rest = seconds
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if rest >= size:
            count, rest = divmod(rest, size)
            text += f"{int(count)}{unit}"
    if rest:
        text += f"{rest:g}s" if rest >= 1 or not text else f"{rest * 1000:.0f}ms"
    return text
