"""docs/scenarios.md is the complete reference: every key of every scenario model is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from loadtest.scenario import model
from loadtest.scenario.loader import ScenarioError, load_scenario_text

DOC = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text(encoding="utf-8")


def _scenario_models() -> list[type[BaseModel]]:
    found = []
    for name in model.__all__:
        value = getattr(model, name)
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == model.__name__:
            found.append(value)
    return found


def test_every_key_is_documented() -> None:
    missing = []
    for cls in _scenario_models():
        for name, info in cls.model_fields.items():
            if info.exclude:
                continue  # api_key: refused, documented in prose
            key = info.alias or name
            if f"`{key}`" not in DOC and f".{key}`" not in DOC:
                missing.append(f"{cls.__name__}.{key}")
    assert missing == []


def test_every_flow_kind_and_example_is_documented() -> None:
    for kind in model.FLOW_KINDS:
        assert f"`{kind}`" in DOC
    for path in (Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"):
        assert f"`{path.name}`" in DOC, path.name


def test_the_documented_validate_output_is_what_validate_prints() -> None:
    section = DOC[DOC.index("For this file:"):]
    yaml_text, output = re.findall(r"```(?:yaml)?\n(.*?)```", section, re.DOTALL)[:2]
    expected = [line for line in output.splitlines()[1:] if not line.endswith("errors)")]
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(yaml_text, file="scenarios/typos.yaml")
    assert [str(issue) for issue in caught.value.errors] == expected
