"""Command-line overrides of a scenario (``--duration``, ``--users``, ``--rate``, ...), checked like the file.

An override that does not fit the scenario (``--users`` for an open-model scenario) is an error that says
so, never silently ignored. Each flag is one :class:`_Rule` (the load model it needs, how its value is read,
what it replaces); :func:`apply_overrides` checks them all and reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

from loadtest.errors import UsageError
from loadtest.fields import MAX_CONCURRENCY, MAX_USERS
from loadtest.scenario.model import ClosedLoad, OpenLoad, Scenario
from loadtest.units import UnitError, parse_duration, parse_rate


class OverrideError(UsageError):
    """Overrides that are malformed or do not apply; one sentence per problem, each naming the flag."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """What the command line replaces in the scenario, as typed (None: keep the scenario's)."""

    duration: str | None = None
    users: int | None = None
    rate: str | None = None
    max_in_flight: int | None = None
    seed: int | None = None
    drain: str | None = None

    def given(self) -> dict[str, str | int]:
        """The overrides given, by name (recorded in summary.json and sent to load generators)."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_given(cls, given: Mapping[str, object]) -> Overrides:
        """Back from :meth:`given` (a master's message); a name or a value of the wrong kind is refused."""
        unknown = sorted(set(given) - set(cls.__dataclass_fields__))
        wrong = [f"{name}={value!r}" for name, value in given.items() if name not in unknown
                 and not isinstance(value, int if name in ("users", "max_in_flight", "seed") else str)]
        if unknown or wrong:
            raise OverrideError([f"overrides: not understood: {', '.join(unknown + wrong)}"])
        return cls(**given)  # type: ignore[arg-type]  # names and kinds checked above


class _Problem(Exception):
    """One override that does not fit; the message completes ``--flag: ``."""


def _positive(parse: Callable[[str], float], what: str) -> Callable[[object], float]:
    def read(value: object) -> float:
        try:
            number = parse(str(value))
        except UnitError as exc:
            raise _Problem(str(exc)) from None
        if number <= 0:
            raise _Problem(f"{what}, found {value!r}")
        return number

    return read


def _between(low: int, high: int) -> Callable[[object], int]:
    def read(value: object) -> int:
        if not isinstance(value, int) or not low <= value <= high:
            raise _Problem(f"must be between {low} and {high:,}, found {value}")
        return value

    return read


def _duration(value: object) -> float:
    try:
        return parse_duration(str(value))
    except UnitError as exc:
        raise _Problem(str(exc)) from None


@dataclass(frozen=True)
class _Rule:
    """One flag: the load model it needs (and what to say otherwise), how it is read, what it replaces."""

    name: str
    read: Callable[[object], object] = lambda value: value
    into: str = ""
    """``key`` of the scenario, or ``load.key`` of its load section."""
    needs: type[ClosedLoad] | type[OpenLoad] | None = None
    otherwise: str = ""
    also: Mapping[str, object] = field(default_factory=dict)
    """More keys of the same section replaced with it (``--users`` drops the stages)."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


_RULES: tuple[_Rule, ...] = (
    _Rule("duration", _positive(parse_duration, "must be longer than zero"), "duration"),
    _Rule("users", _between(1, MAX_USERS), "load.users", ClosedLoad,
          "the scenario uses the open model (arrival_rate); use --rate instead", {"stages": []}),
    _Rule("rate", _positive(parse_rate, "must be above zero"), "load.arrival_rate", OpenLoad,
          "the scenario uses the closed model (users); use --users instead"),
    _Rule("max_in_flight", _between(1, MAX_CONCURRENCY), "load.max_in_flight", OpenLoad,
          "only the open model has a cap on flows in flight"),
    _Rule("seed", into="seed"),
    _Rule("drain", _duration, "drain"),
)


def apply_overrides(scenario: Scenario, overrides: Overrides) -> Scenario:
    """The scenario with the overrides applied; raises :class:`OverrideError` listing every problem."""
    problems: list[str] = []
    update: dict[str, object] = {}
    load_update: dict[str, object] = {}
    for rule in _RULES:
        value = getattr(overrides, rule.name)
        if value is None:
            continue
        if rule.needs is not None and not isinstance(scenario.load, rule.needs):
            problems.append(f"{rule.flag}: {rule.otherwise}")
            continue
        try:
            read = rule.read(value)
        except _Problem as exc:
            problems.append(f"{rule.flag}: {exc}")
            continue
        section, _, key = rule.into.rpartition(".")
        target = load_update if section == "load" else update
        target.update({key: read, **rule.also})
    if problems:
        raise OverrideError(problems)

    if load_update:
        update["load"] = scenario.load.model_copy(update=load_update)
        replaces_stages = "stages" in load_update or "arrival_rate" in load_update
        if replaces_stages and scenario.duration is None and "duration" not in update:
            update["duration"] = scenario.total_duration  # the stages' length stays the run's length
    if not update:
        return scenario
    return scenario.model_copy(update=update)
