"""A scenario's sources of limits gathered: its emulator's configuration (when the target is the emulator),
the discovery it names (``rate_limits.limits_from``) and its own ``rate_limits.operations``; resolved by
the one rule of :mod:`loadtest.limits_in_force`.

The client's limiters, the respect-fit checks and the run directory's record of the limits in force all
start here, so they cannot disagree about which limit was in force.
"""

from __future__ import annotations

from loadtest.discovery_document import LimitsFileError, read_limits_file
from loadtest.limits_in_force import LimitsInForce
from loadtest.rundir.layout import limits_file
from loadtest.scenario.model import EmulatorTarget, Scenario


def scenario_limits(scenario: Scenario, *, skip_unreadable: bool = False) -> LimitsInForce:
    """The limits in force for a run of ``scenario``. A ``limits_from`` file that cannot be read raises
    :class:`LimitsFileError`, or with ``skip_unreadable`` is left out (for checks that report it apart)."""
    discovered = None
    if scenario.rate_limits.limits_from is not None:
        try:
            discovered = read_limits_file(limits_file(scenario.base_dir / scenario.rate_limits.limits_from)).operations
        except LimitsFileError:
            if not skip_unreadable:
                raise
    target = scenario.target
    emulator = target.emulator if isinstance(target, EmulatorTarget) else None
    return LimitsInForce.resolve(
        emulator=emulator.limits if emulator is not None else None,
        workers_max=emulator.workers_max if emulator is not None else None,
        discovered=discovered,
        client=scenario.rate_limits.operations,
    )
