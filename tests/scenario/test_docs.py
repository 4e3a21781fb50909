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


def test_the_unit_words_are_exactly_the_documented_ones() -> None:
    from loadtest.units import DURATION_UNITS, SIZE_UNITS

    section = DOC[DOC.index("The unit words are exactly these"):DOC.index("A duration may chain parts")]
    documented = {word.lower() for word in re.findall(r"`([A-Za-z]+)`", section)}
    assert documented == set(DURATION_UNITS) | set(SIZE_UNITS)


def test_every_bound_is_documented_with_its_value() -> None:
    from loadtest import fields, units
    from loadtest.scenario import loader, payload, source

    section = DOC[DOC.index("## Bounds"):DOC.index("## Top level")]
    stated = {
        "units.MAX_DURATION_S": ("7 days", units.MAX_DURATION_S == 7 * 86400),
        "units.MAX_RATE_PER_S": ("100,000 per second", units.MAX_RATE_PER_S == 100_000),
        "units.MAX_SIZE_BYTES": ("1 GiB", units.MAX_SIZE_BYTES == 1 << 30),
        "fields.MAX_USERS": (f"{fields.MAX_USERS:,}", True),
        "fields.MAX_CONCURRENCY": (f"{fields.MAX_CONCURRENCY:,}", True),
        "fields.MAX_WORKERS": (f"{fields.MAX_WORKERS:,}", True),
        "fields.MAX_COUNT": (f"{fields.MAX_COUNT:,}", True),
        "fields.MAX_RETRIES": (f"{fields.MAX_RETRIES:,}", True),
        "fields.MAX_WEIGHT": (f"{fields.MAX_WEIGHT:,.0f}", True),
        "fields.MAX_MULTIPLIER": (f"{fields.MAX_MULTIPLIER:g}", True),
        "fields.MAX_INTEGER": (f"{fields.MAX_INTEGER:,}", True),
        "fields.MAX_GENERATED_NUMBER": ("10^15", fields.MAX_GENERATED_NUMBER == 1e15),
        "model.MAX_GENERATED_CHARS": (f"{model.MAX_GENERATED_CHARS >> 20} MiB", True),
        "fields.MAX_TOKENS": (f"{fields.MAX_TOKENS:,}", True),
        "payload.MAX_VALUES_FILE_BYTES": (f"{payload.MAX_VALUES_FILE_BYTES >> 20} MiB", True),
        "source.MAX_FILE_BYTES": (f"{source.MAX_FILE_BYTES >> 20} MiB", True),
        "source.MAX_NODES": (f"{source.MAX_NODES:,}", True),
        "source.MAX_DEPTH": (f"{source.MAX_DEPTH} levels", True),
        "loader.MAX_ISSUES": (f"{loader.MAX_ISSUES}", True),
    }
    for name, (value, consistent) in stated.items():
        rows = [line for line in section.splitlines() if f"`{name}`" in line]
        assert rows, f"{name} is not in the Bounds tables"
        assert any(value in row for row in rows), f"{name}: the docs do not say {value}"
        assert consistent, f"{name} changed; update the Bounds tables"
