"""The rate and concurrency limits in force during a run, and where each figure comes from.

A plot that draws a limit must draw the one the target enforced, labelled with its source:

* **emulator**: the run's target was the built-in emulator; its ``target.emulator.limits`` in the run's
  ``scenario.yaml`` (overrides, windows, window kind, per-worker budgets, switches) is the truth, read
  through :class:`loadtest.emulator_config.LimitsConfig` (which owns the rules). A section this version
  cannot validate (a run directory written by another version) is read key by key, with a warning.
* **discovered**: the run directory holds ``limits.json`` (a limit discovery's result, copied in for a
  run whose scenario names it in ``rate_limits.limits_from``); read by
  :meth:`loadtest.rundir.read.RunDirectory.limits` through :mod:`loadtest.discovered_limits`, which owns
  its shape (``docs/run-directory.md``). On a real endpoint
  it replaces the documented figures; beside the emulator's it is drawn as a second line.
* **documented**: otherwise, the figures of :mod:`loadtest.contract`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from loadtest import contract
from loadtest.contract import OPERATIONS, Op
from loadtest.discovered_limits import DiscoveredLimits
from loadtest.emulator_config import EndpointConfig, LimitsConfig
from loadtest.units import UnitError, parse_duration

_DEFAULT_WORKERS_MAX: int = EndpointConfig.model_fields["workers_max"].default
EMULATOR = "emulator"
DISCOVERED = "discovered"
DOCUMENTED = "documented"


@dataclass(frozen=True)
class RateLimit:
    """``value`` requests per ``window_s`` seconds; with ``per_worker``, ``max(value, running × per_worker)``."""

    value: float
    window_s: float
    source: str
    window_kind: str | None = None
    """``fixed`` or ``rolling`` when known."""
    per_worker: float | None = None
    interval: tuple[float, float] | None = None

    @property
    def per_second(self) -> float:
        return self.value / self.window_s

    def budget(self, running_workers: float) -> float:
        """Requests allowed per window with ``running_workers`` workers running."""
        return max(self.value, running_workers * self.per_worker) if self.per_worker else self.value

    @property
    def label(self) -> str:
        """``emulator limit 20 per 1 s`` (with the window kind, per-worker rule and interval when known)."""
        count = f"max({_num(self.value)}, {_num(self.per_worker)} × running workers)" if self.per_worker \
            else _num(self.value)
        kind = f" {self.window_kind}" if self.window_kind else ""
        text = f"{self.source} limit {count} per {_num(self.window_s)} s{kind} window"
        if self.window_s != 1 and not self.per_worker:
            text += f" (= {_num(self.per_second)}/s)"
        if self.interval and self.interval[0] != self.interval[1]:  # a point interval adds nothing
            text += f", interval {_num(self.interval[0])}–{_num(self.interval[1])}"
        return text


@dataclass(frozen=True)
class ConcurrencyLimit:
    value: float
    source: str
    interval: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        text = f"{self.source} limit {_num(self.value)} in flight"
        if self.interval and self.interval[0] != self.interval[1]:
            text += f" (interval {_num(self.interval[0])}–{_num(self.interval[1])})"
        return text


@dataclass(frozen=True)
class OpLimits:
    """One operation's limits: the ones in force, and a discovered one drawn beside the emulator's."""

    op: str
    rate: RateLimit | None
    concurrency: ConcurrencyLimit | None
    discovered_rate: RateLimit | None = None
    discovered_concurrency: ConcurrencyLimit | None = None
    documented_rate: RateLimit | None = None
    documented_concurrency: ConcurrencyLimit | None = None


@dataclass
class LimitsInForce:
    """Per operation, what was enforced; where it comes from; and anything that could not be read."""

    source: str
    """``emulator``, ``discovered`` or ``documented``: where the figures in force come from."""
    ops: dict[str, OpLimits] = field(default_factory=dict)
    queue_size: int | None = None
    """Queue length above which submissions got 429 (None: the rule is off or unknown)."""
    queue_size_source: str = DOCUMENTED
    workers_max: int | None = None
    """The emulated endpoint's ``workers_max`` (None when the target was not the emulator)."""
    warnings: list[str] = field(default_factory=list)

    def get(self, op: str) -> OpLimits:
        return self.ops.get(op) or OpLimits(op, None, None)


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def documented(op: Op) -> tuple[RateLimit | None, ConcurrencyLimit | None]:
    operation = OPERATIONS[op]
    rate = (RateLimit(float(operation.rate_limit), contract.RATE_WINDOW_S, DOCUMENTED)
            if operation.rate_limit is not None else None)
    conc = (ConcurrencyLimit(float(operation.concurrency_limit), DOCUMENTED)
            if operation.concurrency_limit is not None else None)
    return rate, conc


def limits_in_force(scenario: Mapping[str, Any] | None, discovered: DiscoveredLimits | None) -> LimitsInForce:
    """The limits of every documented operation during the run (see the module docstring)."""
    warnings: list[str] = []
    emulator = _emulator_section(scenario)
    found = _discovered(discovered) if discovered is not None else {}
    source = EMULATOR if emulator is not None else (DISCOVERED if found else DOCUMENTED)
    result = LimitsInForce(source, warnings=warnings)
    limits = _mapping(emulator.get("limits")) if emulator is not None else {}
    model = _emulator_model(limits, warnings) if emulator is not None else None
    for op in Op:
        doc_rate, doc_conc = documented(op)
        found_rate, found_conc = found.get(op.value, (None, None))
        if emulator is not None:
            rate, conc = _emulator_limits(op, limits, model, doc_rate, doc_conc, warnings)
        else:
            rate = found_rate or doc_rate
            conc = found_conc or doc_conc
        result.ops[op.value] = OpLimits(
            op.value, rate, conc,
            discovered_rate=found_rate if emulator is not None else None,
            discovered_concurrency=found_conc if emulator is not None else None,
            documented_rate=doc_rate, documented_concurrency=doc_conc,
        )
    if emulator is not None:
        workers_max = _number(emulator.get("workers_max"))
        result.workers_max = int(workers_max) if workers_max is not None else _DEFAULT_WORKERS_MAX
        if (model.queue_size if model is not None else limits.get("queue_size", True) is not False):
            explicit = model.queue_size_limit if model is not None else _number(limits.get("queue_size_limit"))
            if explicit is not None:
                result.queue_size, result.queue_size_source = int(explicit), EMULATOR
            else:
                result.queue_size = contract.queue_size_limit(result.workers_max)
                result.queue_size_source = DOCUMENTED
    return result


def _mapping(value: object) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _emulator_section(scenario: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The scenario's ``target.emulator`` (``{}`` when the scenario names no target: the default emulator);
    None when the target was something else or the scenario is unknown."""
    if scenario is None:
        return None
    if scenario.get("target") is None:
        return {}
    target = _mapping(scenario.get("target"))
    return _mapping(target.get("emulator")) if "emulator" in target else None


def _seconds(value: object, what: str, warnings: list[str]) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except (UnitError, ValueError, TypeError):
        warnings.append(f"{what}: {value!r} is not a duration; ignored")
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        warnings.append(f"{what}: {value!r} is not a positive duration; ignored")
        return None
    return seconds


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _emulator_model(limits: Mapping[str, Any], warnings: list[str]) -> LimitsConfig | None:
    """The section as the emulator reads it, when this version can read it; else None (read key by key)."""
    try:
        return LimitsConfig.model_validate(dict(limits))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(section)"
        warnings.append(f"target.emulator.limits.{where}: {first['msg']} (a run directory of another version?); "
                        "the limits are read key by key")
        return None


def _emulator_limits(op: Op, limits: Mapping[str, Any], model: LimitsConfig | None, doc_rate: RateLimit | None,
                     doc_conc: ConcurrencyLimit | None,
                     warnings: list[str]) -> tuple[RateLimit | None, ConcurrencyLimit | None]:
    """What the emulator enforces for ``op``: from :class:`LimitsConfig` (the owner of these rules) when
    the section validates, else from the keys this version knows, read one by one."""
    value: float | None
    if model is not None:
        value = model.rate_limit(op)
        rate = (RateLimit(float(value), model.window_for(op), EMULATOR, window_kind=model.window_kind,
                          per_worker=model.rate_per_worker.get(op)) if value is not None else None)
        in_flight = model.concurrency_limit(op)
        return rate, ConcurrencyLimit(float(in_flight), EMULATOR) if in_flight is not None else None
    rate = None
    if limits.get("rate", True) is not False:
        override = _number(_mapping(limits.get("rate_overrides")).get(op.value))
        value = override if override is not None else (doc_rate.value if doc_rate else None)
        per_worker = _number(_mapping(limits.get("rate_per_worker")).get(op.value))
        if value is not None:  # the emulator applies a per-worker budget only to a rate-limited operation
            window = (_seconds(_mapping(limits.get("window_overrides")).get(op.value),
                               f"limits.window_overrides.{op}", warnings)
                      or _seconds(limits.get("window"), "limits.window", warnings) or contract.RATE_WINDOW_S)
            kind = limits.get("window_kind")
            rate = RateLimit(value, window, EMULATOR, window_kind=kind if isinstance(kind, str) else None,
                             per_worker=per_worker or None)
    conc = None
    if limits.get("concurrency", True) is not False:
        override = _number(_mapping(limits.get("concurrency_overrides")).get(op.value))
        value = override if override is not None else (doc_conc.value if doc_conc else None)
        if value is not None:
            conc = ConcurrencyLimit(value, EMULATOR)
    return rate, conc


def _discovered(document: DiscoveredLimits) -> dict[str, tuple[RateLimit | None, ConcurrencyLimit | None]]:
    out: dict[str, tuple[RateLimit | None, ConcurrencyLimit | None]] = {}
    for op, found in document.operations.items():
        rate = found.rate_limit
        conc = found.concurrency_limit
        out[op.value] = (
            RateLimit(rate.value, rate.window_s, DISCOVERED, window_kind=rate.window_kind,
                      interval=rate.interval) if rate is not None else None,
            ConcurrencyLimit(conc.value, DISCOVERED, interval=conc.interval) if conc is not None else None,
        )
    return out
