"""Plain JSON data, checked into typed values with the file and key of anything wrong.

A run directory may come from another machine or another version: every value read from it is checked
once, here, so a reader gets either a typed document or a :class:`RunDirectoryError` saying
``summary.json: run.duration_s: expected a number, found "abc"``, never a ``KeyError`` three calls later.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import NoReturn, TypeAlias, cast

from loadtest.atomic import json_default
from loadtest.rundir.errors import RunDirectoryError

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
"""Any value a JSON document holds."""
JsonObject: TypeAlias = "dict[str, JsonValue]"


def plain(value: object) -> JsonValue:
    """Plain JSON data from pydantic models, paths, tuples and numpy scalars (infinities and NaN, which JSON
    cannot hold, as the strings ``inf``/``nan``)."""
    return _finite(cast(JsonValue, json.loads(json.dumps(value, default=json_default))))


def _finite(value: JsonValue) -> JsonValue:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _shown(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class Node:
    """One value of a document and where it sits (``summary.json: run.settings``)."""

    __slots__ = ("file", "path", "value")

    def __init__(self, value: object, file: str, path: str = "") -> None:
        self.value = value
        self.file = file
        self.path = path

    def fail(self, expected: str) -> NoReturn:
        where = f"{self.file}: {self.path}" if self.path else self.file
        raise RunDirectoryError(f"{where}: expected {expected}, found {_shown(self.value)}")

    def _child(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    # ------------------------------------------------------------------------------------- containers

    def mapping(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            self.fail("an object")
        return cast(dict[str, object], self.value)

    def has(self, key: str) -> bool:
        return key in self.mapping()

    def __getitem__(self, key: str) -> Node:
        """The value at ``key`` (a missing key reads as null, which the typed getters then refuse or default)."""
        return Node(self.mapping().get(key), self.file, self._child(key))

    def entries(self) -> Iterator[tuple[str, Node]]:
        """An object's keys and values, in order; null reads as an empty object."""
        if self.value is None:
            return
        for key, value in self.mapping().items():
            yield key, Node(value, self.file, self._child(key))

    def items(self) -> Iterator[Node]:
        """A list's items; null reads as an empty list."""
        if self.value is None:
            return
        if not isinstance(self.value, list):
            self.fail("a list")
        for index, value in enumerate(self.value):
            yield Node(value, self.file, self._child(index))

    # ---------------------------------------------------------------------------------------- scalars

    @property
    def null(self) -> bool:
        return self.value is None

    def number(self, default: float | None = None) -> float:
        """A number, kept as written (an ``int`` stays one, so a document reads back unchanged)."""
        if self.value is None and default is not None:
            return default
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            self.fail("a number")
        return self.value

    def optional_number(self) -> float | None:
        return None if self.value is None else self.number()

    def integer(self, default: int | None = None) -> int:
        if self.value is None and default is not None:
            return default
        if isinstance(self.value, float) and self.value.is_integer():
            return int(self.value)
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail("a whole number")
        return self.value

    def optional_integer(self) -> int | None:
        return None if self.value is None else self.integer()

    def text(self, default: str | None = None) -> str:
        if self.value is None and default is not None:
            return default
        if not isinstance(self.value, str):
            self.fail("a string")
        return self.value

    def optional_text(self) -> str | None:
        return None if self.value is None else self.text()

    def flag(self, default: bool | None = None) -> bool:
        if self.value is None and default is not None:
            return default
        if not isinstance(self.value, bool):
            self.fail("true or false")
        return self.value

    def json(self) -> JsonValue:
        """The value as it is (JSON data, read as JSON)."""
        return cast(JsonValue, self.value)

    def json_object(self) -> JsonObject:
        """An object of any JSON values; null reads as an empty one."""
        return {} if self.value is None else cast(JsonObject, self.mapping())
