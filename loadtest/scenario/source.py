"""YAML text to plain Python data plus the line and column of every node, with ``${VAR}`` interpolation.

PyYAML's composer keeps a start mark on every node; we walk the node tree ourselves, build the data and
record, for each document path (``("mix", 2, "poll", "interval")``), where its key and its value start.
That map is what turns a pydantic error location back into ``file:line:column``. Interpolation happens
here, on scalar values, so an unset variable is reported at the line that uses it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["SECRET_NAME_RE", "Located", "Position", "SourceMap", "parse_yaml"]

Path_ = tuple[str | int, ...]

_VAR_RE = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

SECRET_NAME_RE = re.compile(r"KEY|TOKEN|SECRET|PASS|AUTH|CREDENTIAL", re.IGNORECASE)
"""Environment variable names whose values are redacted from the resolved scenario."""


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Located:
    """A problem found while reading the text, before the model sees it."""

    path: Path_
    position: Position
    message: str


@dataclass
class SourceMap:
    """Where each document path's key and value start in the file."""

    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)
    mapping_keys: dict[Path_, list[str]] = field(default_factory=dict)
    """The keys written at each mapping path, in file order."""
    source_text: dict[Path_, str] = field(default_factory=dict)
    """The scalar text as written (before interpolation), for "found ..." in messages."""

    def locate(self, path: Path_, *, key: bool = False) -> tuple[Position, Path_]:
        """The position of ``path`` (its key when ``key``), or of its deepest existing ancestor.

        Returns the position and the part of the path that exists in the file.
        """
        if key and path in self.keys:
            return self.keys[path], path
        probe = tuple(path)
        while probe:
            if probe in self.values:
                return self.values[probe], probe
            probe = probe[:-1]
        return self.values.get((), Position(1, 1)), ()


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Interpolator:
    """Replaces ``${VAR}`` and ``${VAR:-default}`` from the environment; ``$$`` is a literal ``$``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.secrets: dict[str, str] = {}
        """Values taken from secret-looking variables, by variable name (to redact later)."""

    def substitute(self, text: str) -> tuple[str, list[str]]:
        problems: list[str] = []

        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if whole == "$$":
                return "$"
            if match.group(1) is None:
                problems.append("'${' without a closing '}'; write ${NAME} or ${NAME:-default} ($$ for a literal $)")
                return whole
            name, has_default, default = match.group(1).partition(":-")
            name = name.strip()
            if not _VAR_NAME_RE.match(name):
                problems.append(f"bad variable name {name!r} in {whole}; use letters, digits and _")
                return whole
            value = self.environ.get(name)
            if value is None or value == "":
                if has_default:
                    return default
                state = "is not set" if value is None else "is empty"
                problems.append(f"environment variable {name} {state} (write ${{{name}:-default}} for a fallback)")
                return ""
            if SECRET_NAME_RE.search(name):
                self.secrets[name] = value
            return value

        if "$" not in text:
            return text, problems
        return _VAR_RE.sub(replace, text), problems


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, environ: Mapping[str, str]) -> None:
        self.loader = loader
        self.interpolator = _Interpolator(environ)
        self.map = SourceMap()
        self.problems: list[Located] = []

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.map.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        own = {id(key) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"}
        own_names = {key.value for key, _ in node.value if id(key) in own and isinstance(key, yaml.ScalarNode)}
        self.loader.flatten_mapping(node)  # resolves "<<: *anchor" merge keys (explicit keys win)
        result: dict[Any, Any] = {}
        first_seen: dict[Any, Position] = {}
        keys: list[str] = []
        for key_node, value_node in node.value:
            if id(key_node) not in own and getattr(key_node, "value", None) in own_names:
                continue  # a merged-in key that the mapping sets itself
            if not isinstance(key_node, yaml.ScalarNode):
                problem = "a key must be a plain word, not a list or mapping"
                self.problems.append(Located(path, _mark(key_node), problem))
                continue
            key = key_node.value  # keys are names: "on", "yes", "1" stay text, not YAML 1.1 booleans or numbers
            child = (*path, key)
            if key in first_seen:
                seen = first_seen[key]
                self.problems.append(
                    Located(child, _mark(key_node), f"duplicate key {key!r} (first given at line {seen.line})")
                )
                continue
            first_seen[key] = _mark(key_node)
            self.map.keys[child] = _mark(key_node)
            keys.append(str(key))
            result[key] = self.build(value_node, child)
        self.map.mapping_keys[path] = keys
        return result

    def _scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        self.map.source_text[path] = node.value
        if node.tag == "tag:yaml.org,2002:str" and "$" in node.value:
            text, problems = self.interpolator.substitute(node.value)
            for problem in problems:
                self.problems.append(Located(path, _mark(node), problem))
            if text != node.value:
                tag = node.tag
                if node.style is None:  # plain scalar: "${PORT}" may stand for a number
                    tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))
                node = yaml.ScalarNode(tag, text, node.start_mark, node.end_mark, node.style)
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self.problems.append(Located(path, _mark(node), f"cannot read this value: {exc.problem}"))
            return node.value


@dataclass
class Parsed:
    """The result of reading one file: data (``None`` when unreadable), its map, and problems found."""

    data: Any
    source_map: SourceMap
    problems: list[Located]
    secrets: dict[str, str]


def parse_yaml(text: str, environ: Mapping[str, str] | None = None) -> Parsed:
    """Parse ``text``; YAML syntax errors come back as problems with their line, never raised."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        message = " ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        return Parsed(None, SourceMap(), [Located((), position, f"YAML syntax error: {message}")], {})
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML raises marked errors for text input
        return Parsed(None, SourceMap(), [Located((), Position(1, 1), f"YAML error: {exc}")], {})
    finally:
        loader.dispose()
    if node is None:
        empty = Located((), Position(1, 1), "the file is empty; a scenario is a mapping")
        return Parsed(None, SourceMap(), [empty], {})
    builder = _Builder(loader, os.environ if environ is None else environ)
    data = builder.build(node, ())
    return Parsed(data, builder.map, builder.problems, builder.interpolator.secrets)
