"""Pydantic field types for quantities with units, shared by the scenario model and the emulator config.

Each accepts the human form (``"250ms"``, ``"50/s"``, ``"10MB"``) or a bare number, stores plain SI
floats (seconds, per second, bytes), and describes itself in JSON Schema so editors can check it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema

from loadtest.units import parse_duration, parse_rate, parse_size

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*([0-9]*\.?[0-9]+\s*(us|µs|ms|s|sec|m|min|h|d)?\s*)+$"},
            ],
            "description": "A duration: '250ms', '30s', '5m', '1h30m', or a number of seconds.",
        }
    ),
]
"""Seconds."""

Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9]*\.?[0-9]+\s*(/|per\s+)\s*(s|sec|m|min|h)\s*$"},
            ],
            "description": "A rate: '50/s', '600/m', or a number per second.",
        }
    ),
]
"""Events per second."""

Size = Annotated[
    int,
    BeforeValidator(parse_size),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^\s*[0-9]*\.?[0-9]+\s*([KMG]i?B|B)?\s*$"},
            ],
            "description": "A size: '512B', '64KB', '10MB', '1MiB', or a number of bytes.",
        }
    ),
]
"""Bytes."""

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
