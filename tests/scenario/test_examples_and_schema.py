"""The example scenarios validate, carry the schema modeline, and the committed schema matches the models."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from loadtest.scenario.loader import load_scenario, resolved_dict
from loadtest.scenario.model import Scenario
from loadtest.scenario.schema import schema_text

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
EXAMPLES = sorted(SCENARIOS.glob("*.yaml"))
REQUIRED = {
    "smoke", "mixed", "rate-limit-probe", "streaming", "cancel-storm", "retry-failed", "cold-start", "soak",
    "real-endpoint",
}
ENV = {"RUNPOD_ENDPOINT_ID": "abc123example"}
MODELINE = "# yaml-language-server: $schema=./schema.json"


def test_every_required_example_exists() -> None:
    assert {path.stem for path in EXAMPLES} >= REQUIRED


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_valid_and_documented(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == MODELINE
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 3, "examples explain themselves"
    scenario = load_scenario(path, environ=ENV)
    assert scenario.name == path.stem
    assert scenario.description


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_the_committed_json_schema(path: Path) -> None:
    schema = json.loads((SCENARIOS / "schema.json").read_text(encoding="utf-8"))
    errors = [f"{list(e.path)}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(
        yaml.safe_load(path.read_text(encoding="utf-8"))
    )]
    assert errors == []


def test_smoke_is_small_and_closed() -> None:
    scenario = load_scenario(SCENARIOS / "smoke.yaml")
    assert scenario.total_duration <= 15
    assert scenario.load.model == "closed"
    assert scenario.is_emulated


def test_real_endpoint_reads_id_and_key_name_from_environment() -> None:
    scenario = load_scenario(SCENARIOS / "real-endpoint.yaml", environ=ENV)
    assert scenario.target.endpoint_id == "abc123example"
    assert scenario.target.api_key_env == "RUNPOD_API_KEY"
    assert scenario.target.base_url == "https://api.runpod.ai/v2"


def test_committed_schema_matches_the_models() -> None:
    committed = (SCENARIOS / "schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(), "scenarios/schema.json is stale: run `loadtest schema -o scenarios/schema.json`"


def test_schema_rejects_what_the_models_reject() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    good = {"name": "t", "duration": "10s", "mix": [{"flow": "run_poll", "poll": {"interval": "250ms"}}],
            "payload": {"input": {"p": {"$text": 10}, "plain": {"a": 1}}}}
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {**good, "durration": "1s"},
        {**good, "mix": [{"flow": "run_pol"}]},
        {**good, "mix": [{"flow": "run_poll", "poll": {"intervl": "1s"}}]},
        {**good, "payload": {"input": {"p": {"$txt": 10}}}},
        {**good, "rate_limits": {"policy": "respekt"}},
    ):
        assert list(validator.iter_errors(bad)), bad


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_resolved_dict_round_trips_through_the_model(path: Path) -> None:
    scenario = load_scenario(path, environ=ENV)
    data = json.loads(json.dumps(resolved_dict(scenario)))
    again = Scenario.model_validate(data)
    assert again.model_dump() == scenario.model_dump()
