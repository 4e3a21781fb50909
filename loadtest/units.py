"""Quantities with units, as people write them in YAML: ``250ms``, ``30s``, ``5m``, ``50/s``, ``10MB``.

Parsers return plain SI floats (seconds, per-second, bytes) and raise :class:`UnitError` with a message
that says what was expected, so the scenario validator can show it next to the line.
"""

from __future__ import annotations

import re

__all__ = ["UnitError", "format_duration", "parse_duration", "parse_rate", "parse_size"]


class UnitError(ValueError):
    """A quantity that could not be read; the message says what was expected."""


_NUMBER = r"(?P<num>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

_DURATION_UNITS = {
    "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0,
    "h": 3600.0, "d": 86400.0,
}
_DURATION_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[a-zµ]+)?\s*$", re.IGNORECASE)
_DURATION_PART_RE = re.compile(r"([0-9]*\.?[0-9]+)\s*(us|µs|ms|h|min|m|sec|s|d)", re.IGNORECASE)

_RATE_UNITS = {"s": 1.0, "sec": 1.0, "m": 1 / 60.0, "min": 1 / 60.0, "h": 1 / 3600.0}
_RATE_RE = re.compile(rf"^\s*{_NUMBER}\s*(?:/|per\s+)\s*(?P<unit>[a-z]+)\s*$", re.IGNORECASE)

_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}
_SIZE_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[a-z]+)?\s*$", re.IGNORECASE)


def parse_duration(value: object, *, default_unit: str = "s") -> float:
    """Seconds from ``250ms``, ``1.5s``, ``5m``, ``1h30m`` or a bare number (in ``default_unit``)."""
    if isinstance(value, bool):
        raise UnitError(f"expected a duration such as '250ms', '30s' or '5m', found {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) * _DURATION_UNITS[default_unit]
    elif isinstance(value, str):
        seconds = _parse_duration_text(value, default_unit)
    else:
        raise UnitError(f"expected a duration such as '250ms', '30s' or '5m', found {value!r}")
    if seconds < 0:
        raise UnitError(f"a duration cannot be negative, found {value!r}")
    return seconds


def _parse_duration_text(text: str, default_unit: str) -> float:
    match = _DURATION_RE.match(text)
    if match:
        unit = (match.group("unit") or default_unit).lower()
        if unit not in _DURATION_UNITS:
            raise UnitError(
                f"unknown duration unit {unit!r} in {text!r}; use one of ms, s, m, h (e.g. '30s')"
            )
        return float(match.group("num")) * _DURATION_UNITS[unit]
    compact = text.replace(" ", "")
    parts = _DURATION_PART_RE.findall(compact)
    if parts and "".join(n + u for n, u in parts).lower() == compact.lower():
        return sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in parts)
    raise UnitError(f"expected a duration such as '250ms', '30s', '5m' or '1h30m', found {text!r}")


def parse_rate(value: object) -> float:
    """Events per second from ``50/s``, ``600/m``, ``10 per min`` or a bare number (per second)."""
    if isinstance(value, bool):
        raise UnitError(f"expected a rate such as '50/s' or '600/m', found {value!r}")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str):
        match = _RATE_RE.match(value)
        if not match:
            raise UnitError(f"expected a rate such as '50/s' or '600/m', found {value!r}")
        unit = match.group("unit").lower()
        if unit not in _RATE_UNITS:
            raise UnitError(f"unknown rate unit {unit!r} in {value!r}; use /s, /m or /h")
        rate = float(match.group("num")) * _RATE_UNITS[unit]
    else:
        raise UnitError(f"expected a rate such as '50/s' or '600/m', found {value!r}")
    if rate < 0:
        raise UnitError(f"a rate cannot be negative, found {value!r}")
    return rate


def parse_size(value: object) -> int:
    """Bytes from ``512``, ``64KB``, ``10MB``, ``1MiB`` (KB/MB/GB decimal, KiB/MiB/GiB binary)."""
    if isinstance(value, bool):
        raise UnitError(f"expected a size such as '64KB' or '10MB', found {value!r}")
    if isinstance(value, int | float):
        size = float(value)
    elif isinstance(value, str):
        match = _SIZE_RE.match(value)
        if not match:
            raise UnitError(f"expected a size such as '64KB' or '10MB', found {value!r}")
        unit = (match.group("unit") or "b").lower()
        if unit not in _SIZE_UNITS:
            raise UnitError(f"unknown size unit {unit!r} in {value!r}; use B, KB, MB, GB, KiB, MiB or GiB")
        size = float(match.group("num")) * _SIZE_UNITS[unit]
    else:
        raise UnitError(f"expected a size such as '64KB' or '10MB', found {value!r}")
    if size < 0:
        raise UnitError(f"a size cannot be negative, found {value!r}")
    return int(size)


def format_duration(seconds: float) -> str:
    """A short human form: ``250ms``, ``1.5s``, ``2m30s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:g}s" if rest else f"{int(minutes)}m"
