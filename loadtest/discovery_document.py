"""``limits.json``: the limits a discovery run found, as written by ``loadtest limits`` and read back for
``rate_limits.limits_from`` (the ``respect`` policy) and the report.

One owner for the file's shape (documented in ``docs/run-directory.md``, format 1). Only the keys a reader
needs are modelled strictly, as the figures of :mod:`loadtest.limits_in_force` (source ``discovered``);
everything else a discovery writes (evidence, steps, notes) passes through as plain data, so a newer file
still loads. Per operation::

    "run": {"rate_limit": {"value": 20, "interval": [20, 20], "window_s": 1.0,
                           "window_interval": [0.98, 1.04], "window_kind": "fixed"},
            "concurrency_limit": {"value": 8, "interval": [8, 8]}, ...}

``value`` is requests per window (``rate_limit``) or requests in flight (``concurrency_limit``); the
intervals are what the discovery could prove. A key is present only when that limit was found.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadtest.contract import Op
from loadtest.limits_in_force import ConcurrencyLimit, RateLimit, Source

FORMAT: Final = 1
KIND: Final = "limit-discovery"


class LimitsFileError(ValueError):
    """``limits.json`` is missing, not JSON, or not a discovery's document; the message says which and where."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class DiscoveredOperation(_Lenient):
    """One operation's entry: the limits found (a key only when found), and evidence kept as plain data."""

    rate_limit: RateLimit | None = None
    concurrency_limit: ConcurrencyLimit | None = None

    @model_validator(mode="before")
    @classmethod
    def _discovered(cls, data: Any) -> Any:
        """The file's figures carry no source: every one of them was discovered."""
        if isinstance(data, dict):
            data = {key: {**value, "source": Source.DISCOVERED}
                    if key in ("rate_limit", "concurrency_limit") and isinstance(value, dict) else value
                    for key, value in data.items()}
        return data


class DiscoveryDocument(_Lenient):
    """The whole ``limits.json`` (format 1)."""

    format: Literal[1] = FORMAT
    kind: Literal["limit-discovery"] = KIND
    operations: dict[Op, DiscoveredOperation] = Field(default_factory=dict)


def read_limits_file(path: Path | str) -> DiscoveryDocument:
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
        return DiscoveryDocument.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}" for error in exc.errors()
        )
        raise LimitsFileError(f"{file}: {problems}") from None
