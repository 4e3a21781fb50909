"""What a client knows of its target before it sends anything: the endpoint id, the base URL of a real
endpoint, and the API key with where it comes from (read from the environment, never from a file).

Every entry point (``loadtest run``, ``loadtest ui``, ``locust -f``, a distributed worker, ``loadtest
limits``) learns them here, so a missing key is refused with the same sentence everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from loadtest.scenario.model import EndpointTarget, Scenario

EMULATOR_PLACEHOLDER_KEY: Final = "loadtest-emulator"
"""Sent to an emulator that demands no particular key (one must be sent, as on the platform)."""


class TargetError(ValueError):
    """The target cannot be used as configured (e.g. the API key variable is unset); says which and why."""


@dataclass(frozen=True)
class TargetFacts:
    """The target as the client sees it (the key itself is never shown: not in ``repr``, not in messages)."""

    kind: Literal["emulator", "endpoint"]
    endpoint_id: str
    api_key: str = field(repr=False)
    key_source: str
    """Where the key comes from, for messages: ``the environment variable RUNPOD_API_KEY``."""
    base_url: str | None
    """A real endpoint's base URL (``https://api.runpod.ai/v2``, no trailing slash); None for the emulator,
    whose URL is known once it listens."""


def key_from_environment(name: str, *, setting: str, remedy: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of the variable ``name``; :class:`TargetError` naming ``setting`` when it is not set or is
    set but empty (``remedy`` says what to do)."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None:
        raise TargetError(f"{setting}: environment variable {name} is not set; {remedy}")
    if not value:
        raise TargetError(f"{setting}: environment variable {name} is set but empty; {remedy}")
    return value


def target_facts(scenario: Scenario, environ: Mapping[str, str] | None = None) -> TargetFacts:
    """The scenario's target facts; :class:`TargetError` when its key variable is not set or empty."""
    target = scenario.target
    if isinstance(target, EndpointTarget):
        key = key_from_environment(target.api_key_env, setting="target.api_key_env",
                                   remedy="export it with the endpoint's API key", environ=environ)
        return TargetFacts("endpoint", target.endpoint_id, key, f"the environment variable {target.api_key_env}",
                           target.base_url.rstrip("/"))
    emulator = target.emulator
    if emulator.api_key_env:
        key = key_from_environment(emulator.api_key_env, setting="target.emulator.api_key_env",
                                   remedy="export it with the key the emulator demands", environ=environ)
        return TargetFacts("emulator", emulator.id, key, f"the environment variable {emulator.api_key_env}", None)
    return TargetFacts("emulator", emulator.id, EMULATOR_PLACEHOLDER_KEY,
                       "loadtest's placeholder (target.emulator.api_key_env is not set)", None)
