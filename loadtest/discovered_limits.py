"""``limits.json``: the limits a discovery run found, as written by ``loadtest limits`` and read back by
``rate_limits.limits_from`` (the ``respect`` policy) and the report.

One owner for the file's shape (documented in ``docs/run-directory.md``, format 1). Only the keys a reader
needs are modelled strictly; everything else a discovery writes (evidence, steps, notes) passes through
as plain data, so a newer file still loads. Per operation::

    "run": {"rate_limit": {"value": 20, "interval": [20, 20], "window_s": 1.0,
                           "window_interval": [0.98, 1.04], "window_kind": "fixed"},
            "concurrency_limit": {"value": 8, "interval": [8, 8]}, ...}

``value`` is requests per window (``rate_limit``) or requests in flight (``concurrency_limit``); the
intervals are what the discovery could prove. A key is present only when that limit was found.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadtest.contract import Op

FORMAT: Final = 1
KIND: Final = "limit-discovery"

WindowKind = Literal["fixed", "rolling"]


class LimitsFileError(ValueError):
    """``limits.json`` is missing, not JSON, or not a discovery's document; the message says which and where."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


def _ordered(interval: tuple[float, float] | None, what: str) -> None:
    if interval is not None and not (0 <= interval[0] <= interval[1] and math.isfinite(interval[1])):
        raise ValueError(f"{what} must be [low, high] with 0 <= low <= high, found {list(interval)}")


class RateLimitFound(_Lenient):
    """Requests admitted per window at saturation, and the window."""

    value: float = Field(gt=0)
    interval: tuple[float, float] | None = None
    """What the requests admitted per window could be (lowest and highest seen over clean windows)."""
    window_s: float = Field(gt=0)
    window_interval: tuple[float, float] | None = None
    """Bounds the evidence put on the window's length: longer than ``low``, at most ``high``."""
    window_kind: WindowKind | None = None
    per_second: float | None = None
    per_second_interval: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _intervals(self) -> RateLimitFound:
        _ordered(self.interval, "interval")
        _ordered(self.window_interval, "window_interval")
        return self

    @property
    def safe_budget(self) -> float:
        """The fewest requests per window the evidence allows (what a client may count on)."""
        return self.interval[0] if self.interval is not None else self.value

    @property
    def safe_window(self) -> float:
        """The longest window the evidence allows (a client spacing its budget over it stays under)."""
        return self.window_interval[1] if self.window_interval is not None else self.window_s


class ConcurrencyLimitFound(_Lenient):
    """Requests admitted in flight at once."""

    value: float = Field(gt=0)
    interval: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _interval(self) -> ConcurrencyLimitFound:
        _ordered(self.interval, "interval")
        return self

    @property
    def safe_value(self) -> int:
        """The lowest concurrency the evidence allows, as a whole number of requests (at least 1)."""
        low = self.interval[0] if self.interval is not None else self.value
        return max(1, math.floor(low))


class OperationFound(_Lenient):
    rate_limit: RateLimitFound | None = None
    concurrency_limit: ConcurrencyLimitFound | None = None


class DiscoveredLimits(_Lenient):
    """The whole ``limits.json`` (format 1)."""

    format: Literal[1] = FORMAT
    kind: Literal["limit-discovery"] = KIND
    operations: dict[Op, OperationFound] = Field(default_factory=dict)

    def found(self, op: Op) -> OperationFound | None:
        return self.operations.get(op)


def read_limits_file(path: Path | str) -> DiscoveredLimits:
    """The document at ``path`` (a ``limits.json``: :func:`loadtest.rundir.layout.limits_file` finds the one
    in a discovery's directory)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LimitsFileError(f"{file}: no such file (write one with 'loadtest limits')") from None
    except OSError as exc:
        raise LimitsFileError(f"{file}: cannot read it: {exc.strerror or exc}") from None
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise LimitsFileError(f"{file}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise LimitsFileError(f"{file}: not a limit discovery's limits.json (its 'kind' is not {KIND!r})")
    try:
        return DiscoveredLimits.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()
        )
        raise LimitsFileError(f"{file}: {problems}") from None
