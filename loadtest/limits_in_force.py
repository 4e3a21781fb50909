"""The rate and concurrency limits in force per operation, each figure with its source, and the one rule
that decides between sources.

Four sources can say what an operation's limit is. The rule: **a later source replaces an earlier one**,
figure by figure (an operation's rate and its concurrency are decided apart):

1. ``documented``: RunPod's documented table (:mod:`loadtest.contract`);
2. ``emulator``: when the target is the built-in emulator, its configuration (``target.emulator.limits``,
   or ``loadtest emulate --config``) for every operation: overrides, windows, window kind, per-worker
   budgets and switches (``rate: false`` says "no rate limit"). It is what the emulator enforces, whether a
   figure was changed or left at the documented value;
3. ``discovered``: the limits a discovery found (``loadtest limits``), for the operations and limits it
   found, when the scenario names its ``limits.json`` in ``rate_limits.limits_from``;
4. ``scenario``: the scenario's own ``rate_limits.operations`` (requests per second, counted over the
   window of the figure it replaces; requests in flight).

Each step is more particular to the run than the one before it: the emulator is configured for it, a
discovery measured the target, the scenario's author set the last word. Every reader takes its figures
from here and never decides again: the emulator's admission control (sources 1 and 2, the only ones it
has), the ``respect`` limiters, the scenario's respect-fit checks, the run directory's
``limits_in_force.json`` (:mod:`loadtest.rundir`) and the report.

A source "has a say" on a figure when it names it, as a limit or as "no limit" (``None``): the documented
table has a say on every operation, the emulator on every operation of an emulator target, a discovery
and a scenario only on what they name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Final, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadtest import contract
from loadtest.contract import OPERATIONS, Op
from loadtest.emulator_config import LimitsConfig, WindowKind

FORMAT: Final = 1
"""Version of :meth:`LimitsInForce.model_dump`'s shape (``limits_in_force.json``)."""


class Source(StrEnum):
    """Where a figure comes from; declared in the rule's order (a later one replaces an earlier one)."""

    DOCUMENTED = "documented"
    EMULATOR = "emulator"
    DISCOVERED = "discovered"
    SCENARIO = "scenario"


PRECEDENCE: Final[tuple[Source, ...]] = tuple(Source)
"""The rule: the source that comes last here, of those that have a say, decides."""

Interval = tuple[float, float]


def _ordered(interval: Interval | None, what: str) -> None:
    if interval is not None and not (0 <= interval[0] <= interval[1] and math.isfinite(interval[1])):
        raise ValueError(f"{what} must be [low, high] with 0 <= low <= high, found {list(interval)}")


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


class _Figure(BaseModel):
    # extra keys are ignored: a discovery's limits.json carries more per figure (per_second, ...)
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class RateLimit(_Figure):
    """``value`` requests per ``window_s`` seconds; with ``per_worker``, ``max(value, running × per_worker)``."""

    value: float = Field(ge=0)
    window_s: float = Field(gt=0)
    source: Source
    window_kind: WindowKind | None = None
    """``fixed`` or ``rolling`` where known (the emulator's, or what a discovery saw)."""
    per_worker: float | None = Field(default=None, gt=0)
    """The emulator's dynamic budget per running worker (``rate_per_worker``)."""
    interval: Interval | None = None
    """What ``value`` could be, as far as a discovery could tell."""
    window_interval: Interval | None = None
    """Bounds a discovery put on the window: longer than ``low``, at most ``high``."""

    @model_validator(mode="after")
    def _intervals(self) -> RateLimit:
        _ordered(self.interval, "interval")
        _ordered(self.window_interval, "window_interval")
        return self

    @property
    def per_second(self) -> float:
        return self.value / self.window_s

    @property
    def safe_value(self) -> float:
        """The fewest requests per window the figure allows (what a client may count on)."""
        return self.interval[0] if self.interval is not None else self.value

    @property
    def safe_window_s(self) -> float:
        """The longest window the figure allows (a client spacing its budget over it stays under)."""
        return self.window_interval[1] if self.window_interval is not None else self.window_s

    @property
    def safe_per_second(self) -> float:
        return self.safe_value / self.safe_window_s

    def budget(self, running_workers: float) -> float:
        """Requests allowed per window with ``running_workers`` workers running."""
        return max(self.value, running_workers * self.per_worker) if self.per_worker else self.value

    @property
    def label(self) -> str:
        """``emulator limit 20 per 1 s fixed window`` (with the per-worker rule and interval when known)."""
        count = f"max({_num(self.value)}, {_num(self.per_worker)} × running workers)" if self.per_worker \
            else _num(self.value)
        kind = f" {self.window_kind}" if self.window_kind else ""
        text = f"{self.source} limit {count} per {_num(self.window_s)} s{kind} window"
        if self.window_s != 1 and not self.per_worker:
            text += f" (= {_num(self.per_second)}/s)"
        if self.interval and self.interval[0] != self.interval[1]:  # a point interval adds nothing
            text += f", interval {_num(self.interval[0])}–{_num(self.interval[1])}"
        return text


class ConcurrencyLimit(_Figure):
    """``value`` requests in flight at once."""

    value: float = Field(ge=0)
    source: Source
    interval: Interval | None = None

    @model_validator(mode="after")
    def _interval(self) -> ConcurrencyLimit:
        _ordered(self.interval, "interval")
        return self

    @property
    def safe_value(self) -> int:
        """The fewest requests in flight the figure allows, as a whole number (at least 1)."""
        return max(1, math.floor(self.interval[0] if self.interval is not None else self.value))

    @property
    def label(self) -> str:
        text = f"{self.source} limit {_num(self.value)} in flight"
        if self.interval and self.interval[0] != self.interval[1]:
            text += f" (interval {_num(self.interval[0])}–{_num(self.interval[1])})"
        return text


class QueueSizeLimit(_Figure):
    """Queue length above which ``/run`` and ``/runsync`` are answered 429 (the emulator's rule)."""

    value: int = Field(ge=0)
    source: Source
    """``documented`` (``max(50, workers_max × 500)``) or ``emulator`` (``queue_size_limit``)."""


def deciding(says: Mapping[Source, object], below: Source | None = None) -> Source | None:
    """The rule: of the sources in ``says`` (ranked below ``below``, when given), the last in
    :data:`PRECEDENCE`; None when none has a say."""
    ranked = PRECEDENCE if below is None else PRECEDENCE[:PRECEDENCE.index(below)]
    return next((source for source in reversed(ranked) if source in says), None)


class OperationLimits(BaseModel):
    """One operation's figures from every source that has a say (``None``: that source says "no limit"),
    and which source is in force for its rate and its concurrency (decided by :func:`deciding`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rates: dict[Source, RateLimit | None] = Field(default_factory=dict)
    concurrencies: dict[Source, ConcurrencyLimit | None] = Field(default_factory=dict)
    rate_in_force: Source | None = None
    concurrency_in_force: Source | None = None

    @model_validator(mode="after")
    def _known_sources(self) -> OperationLimits:
        for name, says, chosen in (("rate", self.rates, self.rate_in_force),
                                   ("concurrency", self.concurrencies, self.concurrency_in_force)):
            if chosen is not None and chosen not in says:
                raise ValueError(f"{name}_in_force: {chosen} has no figure here")
            for source, figure in says.items():
                if figure is not None and figure.source != source:
                    raise ValueError(f"{name}s.{source}: the figure says its source is {figure.source}")
        return self

    @classmethod
    def decided(cls, rates: Mapping[Source, RateLimit | None],
                concurrencies: Mapping[Source, ConcurrencyLimit | None]) -> OperationLimits:
        """The figures with the rule's choice made."""
        return cls(rates=dict(rates), concurrencies=dict(concurrencies),
                   rate_in_force=deciding(rates), concurrency_in_force=deciding(concurrencies))

    @property
    def rate(self) -> RateLimit | None:
        """The rate limit in force (None: no rate limit)."""
        return _said(self.rates, self.rate_in_force)

    @property
    def concurrency(self) -> ConcurrencyLimit | None:
        """The concurrency limit in force (None: no concurrency limit)."""
        return _said(self.concurrencies, self.concurrency_in_force)

    def rate_below(self, source: Source) -> RateLimit | None:
        """The rate limit that would be in force without ``source`` and the sources after it (e.g. the
        target's limit that the scenario's own figure replaces)."""
        return _said(self.rates, deciding(self.rates, below=source))

    def concurrency_below(self, source: Source) -> ConcurrencyLimit | None:
        return _said(self.concurrencies, deciding(self.concurrencies, below=source))

    def replaced_rate(self, source: Source) -> RateLimit | None:
        """``source``'s rate limit when a later source replaced it (e.g. what the emulator enforced beside a
        discovered limit in force); None when it is in force or has no say."""
        return self.rates.get(source) if _later(self.rate_in_force, source) else None

    def replaced_concurrency(self, source: Source) -> ConcurrencyLimit | None:
        return self.concurrencies.get(source) if _later(self.concurrency_in_force, source) else None


_Said = TypeVar("_Said", RateLimit, ConcurrencyLimit)


def _said(says: Mapping[Source, _Said | None], source: Source | None) -> _Said | None:
    return says[source] if source is not None else None


def _later(chosen: Source | None, source: Source) -> bool:
    return chosen is not None and PRECEDENCE.index(chosen) > PRECEDENCE.index(source)


class ClientLimit(Protocol):
    """A scenario's own figures for one operation (``rate_limits.operations.<op>``); None: not set."""

    @property
    def rate(self) -> float | None:
        """Requests per second."""

    @property
    def concurrency(self) -> int | None:
        """Requests in flight."""


class DiscoveredFigures(Protocol):
    """What a discovery found for one operation (``limits.json``'s ``operations.<op>``)."""

    @property
    def rate_limit(self) -> RateLimit | None: ...

    @property
    def concurrency_limit(self) -> ConcurrencyLimit | None: ...


TargetKind = Literal["emulator", "endpoint"]


class LimitsInForce(BaseModel):
    """Every operation's limits in force for one run (or one emulated endpoint), with their sources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = FORMAT
    target: TargetKind
    """``emulator``: the built-in emulator enforced the ``emulator`` figures; ``endpoint``: a real endpoint."""
    operations: dict[Op, OperationLimits]
    queue_size: QueueSizeLimit | None = None
    """The emulator's queue-size rule (None: switched off, or the target was not the emulator)."""
    workers_max: int | None = None
    """The emulated endpoint's ``workers_max`` (None when the target was not the emulator)."""

    def get(self, op: Op | str) -> OperationLimits:
        """``op``'s limits (none at all for an operation this version does not know)."""
        try:
            return self.operations[Op(op)]
        except (ValueError, KeyError):
            return OperationLimits()

    @classmethod
    def resolve(
        cls,
        *,
        emulator: LimitsConfig | None = None,
        workers_max: int | None = None,
        discovered: Mapping[Op, DiscoveredFigures] | None = None,
        client: Mapping[Op, ClientLimit] | None = None,
    ) -> LimitsInForce:
        """The limits in force from the sources at hand: ``emulator`` (the emulated endpoint's configuration
        and its ``workers_max``; None: the target is a real endpoint), what a discovery found, and the
        scenario's own figures."""
        operations: dict[Op, OperationLimits] = {}
        for op, spec in OPERATIONS.items():
            rates: dict[Source, RateLimit | None] = {Source.DOCUMENTED: None}
            concurrencies: dict[Source, ConcurrencyLimit | None] = {Source.DOCUMENTED: None}
            if spec.rate_limit is not None:
                rates[Source.DOCUMENTED] = RateLimit(value=spec.rate_limit, window_s=contract.RATE_WINDOW_S,
                                                     source=Source.DOCUMENTED)
            if spec.concurrency_limit is not None:
                concurrencies[Source.DOCUMENTED] = ConcurrencyLimit(value=spec.concurrency_limit,
                                                                    source=Source.DOCUMENTED)
            if emulator is not None:
                rates[Source.EMULATOR] = _emulator_rate(emulator, op)
                concurrencies[Source.EMULATOR] = _emulator_concurrency(emulator, op)
            found = discovered.get(op) if discovered is not None else None
            if found is not None and found.rate_limit is not None:
                rates[Source.DISCOVERED] = found.rate_limit
            if found is not None and found.concurrency_limit is not None:
                concurrencies[Source.DISCOVERED] = found.concurrency_limit
            own = client.get(op) if client is not None else None
            if own is not None and own.rate is not None:
                replaced = rates[deciding(rates) or Source.DOCUMENTED]
                window = replaced.safe_window_s if replaced is not None else (
                    _emulator_window(emulator, op) if emulator is not None else contract.RATE_WINDOW_S)
                rates[Source.SCENARIO] = RateLimit(value=own.rate * window, window_s=window, source=Source.SCENARIO)
            if own is not None and own.concurrency is not None:
                concurrencies[Source.SCENARIO] = ConcurrencyLimit(value=own.concurrency, source=Source.SCENARIO)
            operations[op] = OperationLimits.decided(rates, concurrencies)
        queue_size = None
        if emulator is not None and emulator.queue_size:
            if emulator.queue_size_limit is not None:
                queue_size = QueueSizeLimit(value=emulator.queue_size_limit, source=Source.EMULATOR)
            elif workers_max is not None:
                queue_size = QueueSizeLimit(value=contract.queue_size_limit(workers_max), source=Source.DOCUMENTED)
        return cls(target="emulator" if emulator is not None else "endpoint", operations=operations,
                   queue_size=queue_size, workers_max=workers_max if emulator is not None else None)


def _emulator_rate(config: LimitsConfig, op: Op) -> RateLimit | None:
    """What the emulator enforces: the documented count unless overridden, over its window (per operation
    when overridden), its window kind; a per-worker budget only on a rate-limited operation."""
    if not config.rate:
        return None
    value = config.rate_overrides.get(op, OPERATIONS[op].rate_limit)
    if value is None:
        return None
    return RateLimit(value=value, window_s=_emulator_window(config, op), source=Source.EMULATOR,
                     window_kind=config.window_kind, per_worker=config.rate_per_worker.get(op) or None)


def _emulator_window(config: LimitsConfig, op: Op) -> float:
    """The length of ``op``'s rate window on the emulator (its own, or the endpoint's)."""
    return float(config.window_overrides.get(op, config.window))


def _emulator_concurrency(config: LimitsConfig, op: Op) -> ConcurrencyLimit | None:
    if not config.concurrency:
        return None
    value = config.concurrency_overrides.get(op, OPERATIONS[op].concurrency_limit)
    return ConcurrencyLimit(value=value, source=Source.EMULATOR) if value is not None else None
