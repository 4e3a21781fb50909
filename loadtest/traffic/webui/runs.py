"""The start form of Locust's web UI for a scenario, and where each test started there writes its files.

* The scenario's choices become Locust *custom parameters* (shown under "Custom parameters" on the start
  form): the rate-limit policy and what to do on a 429. They apply to the next test started.
* :func:`prefill_arguments`: the users, spawn rate and run time the start form shows, from the scenario.
* :func:`test_run_directory`: every test that stops writes its own run directory (``loadtest ui``'s
  ``--run-dir`` for the first, then new ones beside it as ``loadtest run`` would).

The session itself (fresh measurements per test, judging and writing each one, the report links of
:mod:`loadtest.traffic.webui.tabs`) is ``loadtest.pipeline.locust_session``.
"""

from __future__ import annotations

import logging
from argparse import ArgumentParser, Namespace
from pathlib import Path

from loadtest.scenario.model import ClosedLoad, EndpointTarget, Scenario
from loadtest.traffic.runtime import TrafficRuntime

logger = logging.getLogger("loadtest")

POLICY_ARG = "rate_limit_policy"
ON_429_ARG = "on_429"


def policies_for(scenario: Scenario) -> list[str]:
    """Rate-limit policies offered in the UI: never ``probe`` against a real endpoint (it is billed and
    goes past the limits on purpose; ``loadtest run --confirm-probe`` is the way to do that)."""
    if isinstance(scenario.target, EndpointTarget):
        return ["respect", "ignore"]
    return ["respect", "probe", "ignore"]


def add_ui_arguments(parser: ArgumentParser, scenario: Scenario | None) -> None:
    """Declare the scenario's choices as Locust custom parameters (``init_command_line_parser``)."""
    if scenario is None:
        return
    parser.add_argument(f"--{POLICY_ARG.replace('_', '-')}", type=str, choices=policies_for(scenario),
                        default=scenario.rate_limits.policy,
                        help="loadtest: client-side rate limits (respect: stay under them; probe: go past them "
                             "and measure 429s; ignore: no client limits)")
    parser.add_argument(f"--{ON_429_ARG.replace('_', '-')}", type=str, choices=["retry", "count"],
                        default=scenario.rate_limits.on_429.action,
                        help="loadtest: on a 429, retry with backoff or count it and move on")


def prefill_arguments(scenario: Scenario) -> list[str]:
    """Locust options that pre-fill the start form: users, spawn rate and run time from the scenario."""
    load = scenario.load
    if isinstance(load, ClosedLoad):
        users = load.peak_users
        spawn_rate = float(load.spawn_rate) if load.spawn_rate else float(users)
    else:
        users, spawn_rate = 1, 1.0  # the open model's one arrival dispatcher
    return ["--users", str(users), "--spawn-rate", f"{spawn_rate:g}", "--run-time", f"{scenario.total_duration:g}s"]


def apply_choices(runtime: TrafficRuntime, options: Namespace | None) -> None:
    """Apply the custom parameters of the start form to the runtime (before the test's users start)."""
    scenario = runtime.scenario
    policy = getattr(options, POLICY_ARG, None) or scenario.rate_limits.policy
    action = getattr(options, ON_429_ARG, None) or scenario.rate_limits.on_429.action
    if policy not in policies_for(scenario):
        logger.warning("rate_limit_policy %r is not allowed here; keeping %r", policy, scenario.rate_limits.policy)
        policy = scenario.rate_limits.policy
    if action not in ("retry", "count"):
        action = scenario.rate_limits.on_429.action
    if (policy, action) != (scenario.rate_limits.policy, scenario.rate_limits.on_429.action):
        runtime.choose_rate_limits(policy, action)
        logger.info("loadtest: rate_limit_policy=%s, on_429=%s for this test", policy, action)


def test_run_directory(first: Path, scenario_name: str, number: int) -> Path:
    """Test 1 writes ``first`` (what ``loadtest ui`` made); later ones get new directories beside it."""
    if number <= 1:
        return first
    from loadtest.rundir.layout import new_run_directory

    return new_run_directory(scenario_name, first.parent.parent)
