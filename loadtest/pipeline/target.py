"""Where a run's traffic goes: the built-in emulator (started for the run) or a real endpoint.

The emulator runs in its own process (asyncio); this side only starts and stops it through
``loadtest.emulator.process`` and speaks HTTP to it, never importing its server code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.scenario.model import EndpointTarget, Scenario


class TargetStartError(RuntimeError):
    """The target could not be started or reached; the message says why (exit code TARGET_ERROR)."""


def start_emulator(scenario: Scenario, *, log_path: Path | None) -> Any:
    """Start an emulator serving the scenario's ``target.emulator`` endpoint on a free loopback port.

    Returns the running :class:`loadtest.emulator.process.EmulatorProcess` (``base_url``, ``ground_truth()``,
    ``stop()``); its log goes to ``log_path`` when given.
    """
    from loadtest.emulator.process import EmulatorProcess

    if isinstance(scenario.target, EndpointTarget):
        raise TargetStartError("the scenario's target is a real endpoint, not the emulator")
    process = EmulatorProcess(scenario.target.emulator, host="127.0.0.1", port=0, log_file=log_path)
    try:
        process.start()
    except Exception as exc:  # the emulator reports why it could not start
        process.stop()
        raise TargetStartError(f"the emulator did not start: {exc}") from exc
    return process


def api_base_url(scenario: Scenario, emulator: Any | None) -> str:
    """The base URL requests are built on (``{base}/{endpoint_id}/{operation}``)."""
    if isinstance(scenario.target, EndpointTarget):
        return scenario.target.base_url.rstrip("/")
    if emulator is None:
        raise TargetStartError("no emulator is running for this scenario")
    return emulator.base_url.rstrip("/")
