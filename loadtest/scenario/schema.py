"""The JSON Schema of scenario files, generated from the models so it can never disagree with them.

``scenarios/schema.json`` holds this text; a test fails when it drifts (regenerate with
``loadtest schema -o scenarios/schema.json``).
"""

from __future__ import annotations

import json
from typing import Any

from loadtest.scenario.model import Scenario

SCHEMA_ID = "https://github.com/loadtest/loadtest/scenarios/schema.json"


def scenario_schema() -> dict[str, Any]:
    """The schema as a dict (draft 2020-12, as pydantic writes it), with a title and description."""
    schema = Scenario.model_json_schema(mode="validation", by_alias=True)
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
