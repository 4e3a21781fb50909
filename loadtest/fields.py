"""Pydantic field types for quantities, shared by the scenario model and the emulator config, with the
upper bound of every quantity stated once.

Each unit type accepts the human form (``"250ms"``, ``"50/s"``, ``"10MB"``) or a bare number, stores plain
SI floats (seconds, per second, bytes), and describes itself in JSON Schema so editors can check it. Every
quantity has a finite upper bound (generous for real use); infinity and NaN are refused everywhere.
docs/scenarios.md ("Bounds") lists them; a test keeps that list and these constants in step.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BeforeValidator, Field, WithJsonSchema

from loadtest.units import (
    DURATION_UNITS,
    MAX_DURATION_S,
    MAX_RATE_PER_S,
    MAX_SIZE_BYTES,
    SIZE_UNITS,
    parse_duration,
    parse_rate,
    parse_size,
)

__all__ = [
    "MAX_CONCURRENCY",
    "MAX_COUNT",
    "MAX_GENERATED_NUMBER",
    "MAX_INTEGER",
    "MAX_MULTIPLIER",
    "MAX_RETRIES",
    "MAX_TOKENS",
    "MAX_USERS",
    "MAX_WEIGHT",
    "MAX_WORKERS",
    "Concurrency",
    "Count",
    "Duration",
    "Finite",
    "GeneratedNumber",
    "Integer",
    "Multiplier",
    "Probability",
    "Rate",
    "Retries",
    "Size",
    "Users",
    "Weight",
    "Workers",
]

MAX_USERS: Final = 100_000
"""Most users of a closed model (and in any of its stages)."""
MAX_WORKERS: Final = 10_000
"""Most workers of an emulated endpoint (``workers_min``, ``workers_max``)."""
MAX_CONCURRENCY: Final = 100_000
"""Most flows in flight (``max_in_flight``) and most requests in flight of a client limit."""
MAX_COUNT: Final = 1_000_000_000
"""Most of a plain count (``max_jobs``)."""
MAX_RETRIES: Final = 1_000
"""Most retries of one request or job (``retries``, ``on_429.max_retries``)."""
MAX_WEIGHT: Final = 1_000_000.0
"""Largest weight of a flow or of a ``$choice`` value."""
MAX_MULTIPLIER: Final = 100.0
"""Largest growth factor of a backoff (``poll.backoff``, ``on_429.backoff.multiplier``)."""
MAX_INTEGER: Final = 2**53
"""Largest magnitude of a free whole number (``seed``, ``$counter`` start and step): the largest a JSON
number holds exactly."""
MAX_GENERATED_NUMBER: Final = 1e15
"""Largest magnitude of a ``$number`` generator's ``min``/``max``."""
MAX_TOKENS: Final = 100_000
"""Most tokens of a ``$tokens`` generator (the chunks of one streamed answer)."""


def _case_free(word: str) -> str:
    """``ms`` -> ``[mM][sS]``: JSON Schema patterns have no ignore-case flag."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() and c.lower() != c.upper() else c for c in word)


_NUMBER_PATTERN = r"[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?"
_DURATION_WORDS_PATTERN = "|".join(_case_free(word) for word in sorted(DURATION_UNITS, key=len, reverse=True))
_SIZE_WORDS_PATTERN = "|".join(_case_free(word) for word in sorted(SIZE_UNITS, key=len, reverse=True))


def _quantity_schema(json_type: str, maximum: float, pattern: str, description: str) -> WithJsonSchema:
    """A quantity's JSON Schema: a bare number up to ``maximum``, or the human form ``pattern`` matches."""
    return WithJsonSchema({
        "anyOf": [
            {"type": json_type, "minimum": 0, "maximum": maximum},
            {"type": "string", "pattern": pattern},
        ],
        "description": description,
    })


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    _quantity_schema(
        "number", MAX_DURATION_S,
        rf"^\s*({_NUMBER_PATTERN}\s*|({_NUMBER_PATTERN}\s*({_DURATION_WORDS_PATTERN})\s*)+)$",
        "A duration: '250ms', '30s', '5 minutes', '1h30m', or a number of seconds; at most 7 days.",
    ),
]
"""Seconds, 0 to :data:`~loadtest.units.MAX_DURATION_S`."""

Rate = Annotated[
    float,
    BeforeValidator(parse_rate),
    _quantity_schema(
        "number", MAX_RATE_PER_S,
        rf"^\s*{_NUMBER_PATTERN}\s*((/|\s*[pP][eE][rR]\s+)\s*({_DURATION_WORDS_PATTERN}))?\s*$",
        "A rate: '50/s', '600/min', '10 per minute', or a number per second; at most 100000/s.",
    ),
]
"""Events per second, 0 to :data:`~loadtest.units.MAX_RATE_PER_S`."""

Size = Annotated[
    int,
    BeforeValidator(parse_size),
    _quantity_schema(
        "integer", MAX_SIZE_BYTES, rf"^\s*{_NUMBER_PATTERN}\s*({_SIZE_WORDS_PATTERN})?\s*$",
        "A size: '512B', '64KB', '10MB', '1MiB', or a number of bytes; at most 1 GiB.",
    ),
]
"""Bytes, 0 to :data:`~loadtest.units.MAX_SIZE_BYTES`."""

# A field with a lower bound of its own writes ``Annotated[Users, Field(ge=1)]``: with ``Field(ge=1)`` as
# the default instead, the type's own ``ge`` would be applied last and win.
Finite = Annotated[float, Field(allow_inf_nan=False)]
"""A plain number: infinity and NaN are refused."""
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Users = Annotated[int, Field(ge=0, le=MAX_USERS)]
Concurrency = Annotated[int, Field(ge=1, le=MAX_CONCURRENCY)]
Workers = Annotated[int, Field(ge=0, le=MAX_WORKERS)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Retries = Annotated[int, Field(ge=0, le=MAX_RETRIES)]
Weight = Annotated[float, Field(ge=0.0, le=MAX_WEIGHT, allow_inf_nan=False)]
Multiplier = Annotated[float, Field(ge=1.0, le=MAX_MULTIPLIER, allow_inf_nan=False)]
Integer = Annotated[int, Field(ge=-MAX_INTEGER, le=MAX_INTEGER)]
GeneratedNumber = Annotated[
    float, Field(ge=-MAX_GENERATED_NUMBER, le=MAX_GENERATED_NUMBER, allow_inf_nan=False)
]
