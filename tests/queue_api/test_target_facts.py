"""Target facts: the key from the environment (unset and empty told apart), where it comes from, the
endpoint id and base URL; learnt without Locust or gevent."""

from __future__ import annotations

import subprocess
import sys

import pytest

from loadtest.queue_api.target_facts import EMULATOR_PLACEHOLDER_KEY, TargetError, target_facts
from loadtest.scenario.loader import load_scenario_text

REAL = """
name: r
duration: 1s
target: {endpoint_id: ep, base_url: "https://api.example.test/v2/", api_key_env: LT_UNIT_KEY}
mix: [{flow: run_poll}]
"""


def test_the_emulator_without_a_key_variable_gets_the_placeholder() -> None:
    facts = target_facts(load_scenario_text("name: e\nduration: 1s\nmix: [{flow: run_poll}]\n"))
    assert (facts.kind, facts.endpoint_id, facts.api_key, facts.base_url) == (
        "emulator", "emulated", EMULATOR_PLACEHOLDER_KEY, None)
    assert "placeholder" in facts.key_source


def test_a_real_endpoints_key_comes_from_its_variable() -> None:
    scenario = load_scenario_text(REAL)
    facts = target_facts(scenario, environ={"LT_UNIT_KEY": "secret-value"})
    assert (facts.kind, facts.endpoint_id, facts.base_url) == ("endpoint", "ep", "https://api.example.test/v2")
    assert facts.api_key == "secret-value" and facts.key_source == "the environment variable LT_UNIT_KEY"
    assert "secret-value" not in repr(facts)


def test_an_unset_and_an_empty_variable_are_told_apart() -> None:
    scenario = load_scenario_text(REAL)
    with pytest.raises(TargetError, match=r"^target\.api_key_env: environment variable LT_UNIT_KEY is not set; "):
        target_facts(scenario, environ={})
    with pytest.raises(TargetError, match=r"LT_UNIT_KEY is set but empty; export it with the endpoint's API key"):
        target_facts(scenario, environ={"LT_UNIT_KEY": ""})
    emulated = load_scenario_text("name: e\nduration: 1s\ntarget: {emulator: {api_key_env: LT_EMU_KEY}}\n"
                                  "mix: [{flow: run_poll}]\n")
    with pytest.raises(TargetError, match=r"target\.emulator\.api_key_env: environment variable LT_EMU_KEY is set "
                                          "but empty"):
        target_facts(emulated, environ={"LT_EMU_KEY": ""})
    assert target_facts(emulated, environ={"LT_EMU_KEY": "k"}).api_key == "k"


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario_text(REAL)
    monkeypatch.delenv("LT_UNIT_KEY", raising=False)
    with pytest.raises(TargetError, match="LT_UNIT_KEY is not set"):
        target_facts(scenario)
    monkeypatch.setenv("LT_UNIT_KEY", "secret-value")
    assert target_facts(scenario).api_key == "secret-value"


def test_queue_api_needs_neither_locust_nor_gevent() -> None:
    code = ("import sys; import loadtest.queue_api.target_facts, loadtest.queue_api.wire, "
            "loadtest.queue_api.reachability; "
            "assert not {'locust', 'gevent'} & set(sys.modules), sorted(m for m in sys.modules if 'gevent' in m)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
