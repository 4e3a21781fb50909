"""The JSON Schema of scenario files, generated from the models so it can never disagree with them.

``scenarios/schema.json`` holds this text; a test fails when it drifts (regenerate with
``loadtest schema -o scenarios/schema.json``).
"""

from __future__ import annotations

import json
from typing import Any

from loadtest.fields import MAX_TOKENS
from loadtest.scenario.model import Scenario

SCHEMA_ID = "https://github.com/loadtest/loadtest/scenarios/schema.json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


def _describe_shorthands(defs: dict[str, Any]) -> None:
    """Add what the validators accept beyond the models' object form: ``$text: 200`` for
    ``$text: {length: 200}``, a bare duration for a constant distribution, and so on."""
    size = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]}
    shorthands = {
        "$text": {"anyOf": [_ref("TextGen"), {"type": "integer", "minimum": 0}]},
        "$choice": {"anyOf": [_ref("ChoiceGen"), {"type": "array", "minItems": 1}]},
        "$counter": {"anyOf": [_ref("CounterGen"), {"type": "integer"}]},
        "$bytes": {"anyOf": [_ref("BytesGen"), size]},
        "$tokens": {"anyOf": [_ref("TokensGen"), {"type": "integer", "minimum": 0, "maximum": MAX_TOKENS}]},
        "$number": _ref("NumberGen"),
        "$file": {"anyOf": [_ref("FileGen"), {"type": "string", "minLength": 1}]},
        "$uuid": {"const": True},
    }
    generator = defs["GeneratorNode"]
    for key, schema in shorthands.items():
        description = generator["properties"][key].get("description")
        generator["properties"][key] = {**schema, **({"description": description} if description else {})}
    generator["minProperties"] = generator["maxProperties"] = 1
    for branch in defs["Template"]["oneOf"]:
        if branch.get("type") == "object":
            branch["propertyNames"] = {"pattern": "^[^$]"}  # a "$" key makes it a generator
    constants: dict[str, dict[str, Any]] = {
        "Distribution": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}]},
        "CountDistribution": {"type": "number", "minimum": 0},
    }
    for name, constant in constants.items():
        distribution = defs.get(name)
        if distribution is None:
            continue
        shorthand = {**constant, "description": "shorthand for a constant distribution"}
        defs[name] = {"anyOf": [shorthand, {k: v for k, v in distribution.items() if k != "description"}],
                      "description": distribution.get("description", "")}


def scenario_schema() -> dict[str, Any]:
    """The schema as a dict (draft 2020-12, as pydantic writes it), with a title and description."""
    schema = Scenario.model_json_schema(mode="validation", by_alias=True)
    _describe_shorthands(schema["$defs"])
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "loadtest scenario",
        "description": "A load test of a RunPod-style serverless queue endpoint. Reference: docs/scenarios.md",
    }
    return schema


def schema_text() -> str:
    """The schema as the committed file holds it (sorted keys, two-space indent, final newline)."""
    return json.dumps(scenario_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
