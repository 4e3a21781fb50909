"""Command-line overrides of a scenario (``--duration``, ``--users``, ``--rate``, ...), checked like the file.

An override that does not fit the scenario (``--users`` for an open-model scenario) is an error that says
so, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.fields import MAX_CONCURRENCY, MAX_USERS
from loadtest.scenario.model import ClosedLoad, OpenLoad, Scenario
from loadtest.units import UnitError, parse_duration, parse_rate


class OverrideError(ValueError):
    """An override that is malformed or does not apply; the message names the flag."""


@dataclass(frozen=True, slots=True)
class Overrides:
    duration: str | None = None
    users: int | None = None
    rate: str | None = None
    max_in_flight: int | None = None
    seed: int | None = None
    drain: str | None = None


def apply_overrides(scenario: Scenario, overrides: Overrides) -> Scenario:
    """The scenario with the overrides applied; raises :class:`OverrideError` listing every problem."""
    problems: list[str] = []
    update: dict[str, object] = {}
    load = scenario.load
    load_update: dict[str, object] = {}

    if overrides.duration is not None:
        try:
            seconds = parse_duration(overrides.duration)
        except UnitError as exc:
            problems.append(f"--duration: {exc}")
        else:
            if seconds <= 0:
                problems.append(f"--duration: must be longer than zero, found {overrides.duration!r}")
            else:
                update["duration"] = seconds
    if overrides.users is not None:
        if not isinstance(load, ClosedLoad):
            problems.append("--users: the scenario uses the open model (arrival_rate); use --rate instead")
        elif not 1 <= overrides.users <= MAX_USERS:
            problems.append(f"--users: must be between 1 and {MAX_USERS:,}, found {overrides.users}")
        else:
            load_update.update(users=overrides.users, stages=[])
    if overrides.rate is not None:
        if not isinstance(load, OpenLoad):
            problems.append("--rate: the scenario uses the closed model (users); use --users instead")
        else:
            try:
                rate = parse_rate(overrides.rate)
            except UnitError as exc:
                problems.append(f"--rate: {exc}")
            else:
                if rate <= 0:
                    problems.append(f"--rate: must be above zero, found {overrides.rate!r}")
                else:
                    load_update["arrival_rate"] = rate
    if overrides.max_in_flight is not None:
        if not isinstance(load, OpenLoad):
            problems.append("--max-in-flight: only the open model has a cap on flows in flight")
        elif not 1 <= overrides.max_in_flight <= MAX_CONCURRENCY:
            problems.append(
                f"--max-in-flight: must be between 1 and {MAX_CONCURRENCY:,}, found {overrides.max_in_flight}"
            )
        else:
            load_update["max_in_flight"] = overrides.max_in_flight
    if overrides.seed is not None:
        update["seed"] = overrides.seed
    if overrides.drain is not None:
        try:
            update["drain"] = parse_duration(overrides.drain)
        except UnitError as exc:
            problems.append(f"--drain: {exc}")
    if problems:
        raise OverrideError("\n".join(problems))

    if load_update:
        update["load"] = load.model_copy(update=load_update)
        replaces_stages = "stages" in load_update or "arrival_rate" in load_update
        if replaces_stages and scenario.duration is None and "duration" not in update:
            update["duration"] = scenario.total_duration  # the stages' length stays the run's length
    if not update:
        return scenario
    return scenario.model_copy(update=update)
