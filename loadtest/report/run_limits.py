"""The limits in force during a run, as its directory records them.

A run directory written by this version holds ``limits_in_force.json``: the pipeline's record of every
operation's figures, each with its source, and which one was in force
(:class:`loadtest.limits_in_force.LimitsInForce`); the report draws exactly that, deciding nothing.

A run directory written before that file existed is read as before, through the same model: its
``scenario.yaml`` gives the emulator's configuration (``target.emulator.limits``; a section this version
cannot validate is read key by key, with a warning) and the scenario's own ``rate_limits.operations``,
its ``limits.json`` (a discovery's findings, copied in for ``rate_limits.limits_from``) what was
discovered; :meth:`LimitsInForce.resolve` decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from loadtest.contract import Op
from loadtest.discovery_document import DiscoveryDocument
from loadtest.emulator_config import EndpointConfig, LimitsConfig
from loadtest.limits_in_force import LimitsInForce
from loadtest.rundir.read import RunDirectory
from loadtest.scenario.model import OperationLimit

_DEFAULT_WORKERS_MAX: int = EndpointConfig.model_fields["workers_max"].default


def limits_of_run(directory: RunDirectory, scenario: Mapping[str, Any] | None) -> tuple[LimitsInForce, list[str]]:
    """The run's limits in force and warnings about what could not be read (``scenario``: its
    ``scenario.yaml`` as data, for a run directory without ``limits_in_force.json``). A file that cannot
    be read is a :class:`~loadtest.rundir.errors.RunDirectoryError` naming it and the key."""
    recorded = directory.limits_in_force()
    if recorded is not None:
        return recorded, []
    return from_scenario_copy(scenario, directory.discovered_limits())


def from_scenario_copy(scenario: Mapping[str, Any] | None,
                       discovered: DiscoveryDocument | None) -> tuple[LimitsInForce, list[str]]:
    """What was in force, from a run's ``scenario.yaml`` (as data) and ``limits.json``."""
    warnings: list[str] = []
    emulator = _emulator_section(scenario)
    config = workers_max = None
    if emulator is not None:
        config = _lenient_config(_mapping(emulator.get("limits")), warnings)
        given = emulator.get("workers_max")
        workers_max = given if isinstance(given, int) and not isinstance(given, bool) and given >= 0 \
            else _DEFAULT_WORKERS_MAX
    rate_limits = _mapping(scenario.get("rate_limits")) if scenario is not None else {}
    limits = LimitsInForce.resolve(
        emulator=config, workers_max=workers_max,
        discovered=discovered.operations if discovered is not None else None,
        client=_client_limits(_mapping(rate_limits.get("operations")), warnings),
    )
    return limits, warnings


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


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or '(section)'}: {first['msg']}"


def _lenient_config(section: Mapping[str, Any], warnings: list[str]) -> LimitsConfig:
    """The section as the emulator read it when this version can validate it; else the keys (and entries of
    per-operation keys) this version can validate, one by one, with a warning."""
    try:
        return LimitsConfig.model_validate(dict(section))
    except ValidationError as exc:
        warnings.append(f"target.emulator.limits.{_first_error(exc)} (a run directory of another version?); "
                        "the limits are read key by key")
    kept: dict[str, Any] = {}
    for key, value in section.items():
        if _validates({key: value}):
            kept[key] = value
        elif isinstance(value, Mapping):
            entries = {name: entry for name, entry in value.items() if _validates({key: {name: entry}})}
            if entries:
                kept[key] = entries
    return LimitsConfig.model_validate(kept)


def _validates(section: Mapping[str, Any]) -> bool:
    try:
        LimitsConfig.model_validate(dict(section))
    except ValidationError:
        return False
    return True


def _client_limits(operations: Mapping[str, Any], warnings: list[str]) -> dict[Op, OperationLimit]:
    """``rate_limits.operations`` as written, each entry this version can read."""
    client: dict[Op, OperationLimit] = {}
    for name, entry in operations.items():
        try:
            client[Op(name)] = OperationLimit.model_validate(entry)
        except (ValueError, ValidationError) as exc:
            reason = _first_error(exc) if isinstance(exc, ValidationError) else f"unknown operation {name!r}"
            warnings.append(f"rate_limits.operations.{name}: {reason}; left out of the limits in force")
    return client
