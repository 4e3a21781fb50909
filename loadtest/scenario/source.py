"""YAML text to plain Python data plus the line and column of every node, safely, with ``${VAR}`` interpolation.

A scenario file may come from anyone, so reading it is bounded in every direction before any model sees
it: at most :data:`MAX_FILE_BYTES` of text, :data:`MAX_DEPTH` levels of nesting and :data:`MAX_NODES`
values *after* aliases are expanded (a "billion laughs" file stops at the alias that crosses the
budget, never after). Every problem comes back as a :class:`Located` (line, column, sentence), never as
an exception.

The events come from libyaml's parser when it is installed (fast) and from PyYAML's pure-Python parser
otherwise; both feed one composer, written here, so the nodes, their positions and every error past the
syntax are the same whichever parser ran. A file on which libyaml fails is read again by the pure-Python
parser (when the failure comes early enough for that to be quick), so syntax errors are worded alike too.

The composer records, for each document path (``("mix", 2, "poll", "interval")``), where its key and its
value start. That map is what turns a pydantic error location back into ``file:line:column``.
Interpolation happens here, on scalar values, so an unset variable is reported at the line that uses it.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from loadtest.units import shown

_CParser: type | None
try:  # libyaml's parser, when PyYAML was built with it
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was installed
    _CParser = None

__all__ = [
    "LIBYAML",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "PARSER_ENV",
    "SECRET_NAME_RE",
    "Located",
    "Parsed",
    "Position",
    "SourceMap",
    "parse_yaml",
    "read_source",
]

MAX_FILE_BYTES: Final = 1 << 20
"""Largest scenario file: 1 MiB (real scenarios are a few KB; bulk data belongs in a ``$file``)."""
MAX_NODES: Final = 50_000
"""Most values (scalars, lists, mappings) a scenario may hold, counted after aliases are expanded."""
MAX_DEPTH: Final = 100
"""Deepest nesting of lists and mappings, counted after aliases are expanded."""
LIBYAML: Final = _CParser is not None
"""Whether libyaml's parser is available (it is used when it is)."""
PARSER_ENV: Final = "LOADTEST_YAML_PARSER"
"""Set to ``python`` to read scenarios with PyYAML's pure-Python parser even when libyaml is installed
(the tests run every broken-scenario case through both)."""

_REPARSE_EVENTS_MAX: Final = 20_000
"""A file on which libyaml's parser fails within this many events is read again by PyYAML's parser (half
a second at most), whose answer is given, so both parsers answer alike; beyond, libyaml's own wording of
the syntax error is reported."""

Path_ = tuple[str | int, ...]
ParserName = Literal["auto", "libyaml", "python"]

_VAR_RE = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What YAML allows in a stream (PyYAML's Reader.NON_PRINTABLE), checked once for both parsers.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_PARSERS_DISAGREE = re.compile(r"[\t?]|(?:^|[\s\[\]{},])!|[\s\S]\ufeff")
"""What libyaml and PyYAML read differently: tabs (``a\tb: 1``, ``key\t: 1``), ``?`` (inside a flow
collection PyYAML ends a plain scalar there, libyaml does not), tags (inside a flow collection libyaml
ends one at ``,``, PyYAML does not) and a byte-order mark past the start (libyaml skips it). A file
holding any of them is read by PyYAML's parser: its reading decides, and such files are rare."""

SECRET_NAME_RE = re.compile(r"KEY|TOKEN|SECRET|PASS|AUTH|CREDENTIAL", re.IGNORECASE)
"""Environment variable names whose values are redacted from the resolved scenario."""

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (f"{_TAG}{name}" for name in ("str", "null", "bool", "int", "float"))
_MAP, _SEQ, _MERGE = f"{_TAG}map", f"{_TAG}seq", f"{_TAG}merge"
_AS_TEXT = {f"{_TAG}timestamp", f"{_TAG}value", _MERGE}
"""Tags resolved from plain text that a scenario keeps as the text written (JSON has no dates)."""


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


@dataclass
class Parsed:
    """The result of reading one file: data (``None`` when unreadable), its map, and problems found."""

    data: Any
    source_map: SourceMap
    problems: list[Located]
    secrets: dict[str, str]


class SourceError(Exception):
    """The file cannot be read as text at all; ``problem`` says where and why."""

    def __init__(self, problem: Located) -> None:
        super().__init__(problem.message)
        self.problem = problem


# ------------------------------------------------------------------------------------------ reading


def read_source(path: Path) -> str:
    """The text of a scenario file, read at most :data:`MAX_FILE_BYTES` (+1) bytes deep.

    UTF-8 (with or without a byte-order mark) and UTF-16 with a byte-order mark are read; anything else
    raises :class:`SourceError` with the line of the first byte that cannot be decoded.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SourceError(_at_start("file not found")) from None
    except IsADirectoryError:
        raise SourceError(_at_start("this is a directory, not a scenario file")) from None
    except OSError as exc:
        raise SourceError(_at_start(f"cannot read the file: {exc.strerror or exc}")) from None
    if len(data) > MAX_FILE_BYTES:
        raise SourceError(_at_start(_too_big()))
    return decode_source(data)


def decode_source(data: bytes) -> str:
    """``data`` as text (see :func:`read_source`); :class:`SourceError` when it is not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not data.startswith(codecs.BOM_UTF32_LE):
        encoding, name = "utf-16", "UTF-16"
    else:
        encoding, name = "utf-8-sig", "UTF-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = data[exc.start: exc.start + 1].hex()
        message = f"the file is not {name} text: byte 0x{byte} cannot be decoded (is it a binary file?)"
        raise SourceError(Located((), Position(line, column), message)) from None


def _at_start(message: str) -> Located:
    return Located((), Position(1, 1), message)


def _too_big() -> str:
    return (
        f"the file is larger than {MAX_FILE_BYTES // (1 << 20)} MiB, the most a scenario may be "
        "(keep bulk data such as prompts in a values file: {$file: prompts.txt})"
    )


# ------------------------------------------------------------------------------------------ parsing


class _PyParser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event parser (what ``yaml.SafeLoader`` parses with)."""

    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


def _event_source(text: str, parser: ParserName) -> Any:
    """An object whose ``get_event()`` gives the events of ``text`` (libyaml's or PyYAML's parser)."""
    return _CParser(text) if parser != "python" and _CParser is not None else _PyParser(text)


def _syntax_problem(exc: yaml.YAMLError, text: str) -> Located:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark else Position(1, 1)
        context = exc.context
        if context and exc.context_mark and exc.problem_mark and exc.context_mark.line != exc.problem_mark.line:
            context = f"{context} (started at line {exc.context_mark.line + 1})"
        message = ": ".join(part for part in (context, exc.problem) if part) or "invalid YAML"
        return Located((), position, f"YAML syntax error: {message}")
    if isinstance(exc, yaml.reader.ReaderError):  # pragma: no cover - control characters are refused earlier
        return Located((), _position_of(text, exc.position), f"YAML error: {exc.reason}")
    return Located((), Position(1, 1), f"YAML error: {exc}")  # pragma: no cover - parsers raise the above


def _position_of(text: str, index: int) -> Position:
    line = text.count("\n", 0, index) + 1
    return Position(line, index - (text.rfind("\n", 0, index) + 1) + 1)


# ---------------------------------------------------------------------------------------- composing


class _Node:
    """A composed YAML node: a scalar (``value`` is its text), a list (``items``) or a mapping (``pairs``,
    merges already resolved). ``size`` counts the values it stands for once aliases are expanded;
    ``height`` its levels of nesting."""

    __slots__ = (
        "explicit", "height", "items", "kind", "pairs", "position", "problems", "size", "style", "tag", "value",
    )

    def __init__(self, kind: str, tag: str, position: Position) -> None:
        self.kind = kind
        self.tag = tag
        self.position = position
        self.value = ""
        self.style: str | None = None
        self.explicit = False
        self.items: list[_Node] = []
        self.pairs: list[tuple[_Node, _Node]] = []
        self.problems: list[tuple[Position, str]] = []
        """What is wrong with the node as written (an unsupported tag, a bad merge), reported by the builder
        at the node's document path."""
        self.size = 1
        self.height = 0


class _Stop(Exception):
    """Composition cannot go on (a limit was crossed, a document is malformed)."""

    def __init__(self, problem: Located) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _too_deep() -> str:
    return f"nesting is deeper than {MAX_DEPTH} levels of lists and mappings, the most a scenario may have"


def _mark(event: yaml.Event) -> Position:
    mark = event.start_mark
    if mark is None:  # pragma: no cover - every parsed event carries its mark
        return Position(1, 1)
    return Position(mark.line + 1, mark.column + 1)


_IMPLICIT = Resolver.yaml_implicit_resolvers
_WILDCARD = tuple(_IMPLICIT.get(None, ()))


def _resolve(value: str, implicit: tuple[bool, bool]) -> str:
    """The tag of an untagged scalar, as PyYAML's ``Resolver.resolve`` gives it (without its per-call
    overhead: a scenario may hold many thousand scalars)."""
    if implicit[0]:
        for tag, regexp in (*_IMPLICIT.get(value[:1], ()), *_WILDCARD):
            if regexp.match(value):
                return tag
    return _STR


_SCALAR, _ALIAS = yaml.ScalarEvent, yaml.AliasEvent
_OPENS = {yaml.SequenceStartEvent: "seq", yaml.MappingStartEvent: "map"}
_CLOSES = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


class _Composer:
    """Builds :class:`_Node` trees from parser events without recursion, within the budgets."""

    def __init__(self, source: Any) -> None:
        self.next_event = source.get_event
        self.events = 0
        """Events read so far (a syntax error after few of them is cheap to re-parse)."""
        self.anchors: dict[str, _Node] = {}
        self.open_anchors: set[str] = set()
        self.expanded = 0
        self.aliases_used = False

    def _next(self) -> yaml.Event:
        self.events += 1
        return self.next_event()

    def compose(self) -> _Node | None:
        """The document's root node (``None`` for an empty stream)."""
        self._next()  # StreamStart
        event = self._next()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        root = self._document()
        event = self._next()
        if isinstance(event, yaml.DocumentStartEvent):
            raise _Stop(Located((), _mark(event), (
                "a second YAML document starts here; a scenario file holds exactly one (remove the '---' "
                "and what follows, or put each scenario in its own file)"
            )))
        return root

    def _document(self) -> _Node:
        stack: list[tuple[_Node, str | None, list[_Node], list[Position]]] = []
        root: _Node | None = None
        next_event = self.next_event
        while True:
            event = next_event()
            self.events += 1
            kind = type(event)
            if kind is _SCALAR:
                self.expanded += 1
                if self.expanded > MAX_NODES:
                    raise _Stop(Located((), _mark(event), self._too_many()))
                node = self._scalar(event)
                if event.anchor is not None:
                    self.anchors[event.anchor] = node  # a later anchor of a name replaces it (YAML 1.2)
            elif kind is _ALIAS:
                node = self._alias(event, len(stack))
                if stack:
                    stack[-1][2].append(node)
                    stack[-1][3].append(_mark(event))  # where the alias is written, not its anchor
                    continue
            elif kind in _OPENS:
                self.expanded += 1
                if self.expanded > MAX_NODES:
                    raise _Stop(Located((), _mark(event), self._too_many()))
                if len(stack) + 1 > MAX_DEPTH:
                    raise _Stop(Located((), _mark(event), _too_deep()))
                collection = _Node(_OPENS[kind], _MAP, _mark(event))
                self._collection_tag(event, collection)
                if event.anchor is not None:
                    self.open_anchors.add(event.anchor)
                stack.append((collection, event.anchor, [], []))
                continue
            elif kind in _CLOSES:
                node, anchor, children, written = stack.pop()
                if node.kind == "seq":
                    self._finish_sequence(node, children)
                else:
                    self._finish_mapping(node, children, written)
                if anchor is not None:
                    self.open_anchors.discard(anchor)
                    self.anchors[anchor] = node
            elif kind is yaml.DocumentEndEvent:
                assert root is not None
                return root
            else:  # pragma: no cover - a document holds nothing else
                continue
            if stack:
                stack[-1][2].append(node)
                stack[-1][3].append(node.position)
            else:
                root = node

    def _too_many(self) -> str:
        if self.aliases_used:
            return (f"the document passes {MAX_NODES:,} values here once aliases are expanded (each *alias "
                    "repeats the whole value of its anchor), the most a scenario may hold")
        return (f"the file holds more than {MAX_NODES:,} values (scalars, lists and mappings), the most a "
                "scenario may hold; keep bulk data in a values file ({$file: prompts.txt})")

    def _alias(self, event: yaml.AliasEvent, depth: int) -> _Node:
        name = event.anchor or ""
        if name in self.open_anchors:
            raise _Stop(Located((), _mark(event), (
                f"alias *{shown(name)[1:-1]} is used inside the value it names (a cycle), which no scenario can mean"
            )))
        target = self.anchors.get(name)
        if target is None:
            raise _Stop(Located((), _mark(event), f"unknown alias *{shown(name)[1:-1]}: no anchor &{shown(name)[1:-1]} "
                                                  "is defined before it"))
        self.aliases_used = True
        self.expanded += target.size
        if self.expanded > MAX_NODES:
            raise _Stop(Located((), _mark(event), self._too_many()))
        if depth + target.height > MAX_DEPTH:
            raise _Stop(Located((), _mark(event), (
                f"alias *{shown(name)[1:-1]} nests its value deeper than {MAX_DEPTH} levels of lists and "
                "mappings, the most a scenario may have"
            )))
        return target

    def _scalar(self, event: yaml.ScalarEvent) -> _Node:
        tag = event.tag
        explicit = tag is not None and tag != "!"
        if tag is None or not explicit:
            tag = _resolve(event.value, event.implicit)
        node = _Node("scalar", tag, _mark(event))
        node.value = event.value
        node.style = event.style or None  # libyaml writes "" for plain, PyYAML None
        node.explicit = explicit
        return node

    def _collection_tag(self, event: yaml.CollectionStartEvent, node: _Node) -> None:
        default = _SEQ if node.kind == "seq" else _MAP
        node.tag = default
        tag = event.tag
        if tag is not None and tag != "!" and tag != default:
            noun = "list" if node.kind == "seq" else "mapping"
            node.problems.append((node.position, (
                f"unsupported tag {shown(tag.replace(_TAG, '!!'))} on a {noun}; a scenario is plain YAML "
                "(remove the tag)"
            )))

    def _finish_sequence(self, node: _Node, children: list[_Node]) -> None:
        node.items = children
        node.size = 1 + sum(child.size for child in children)
        node.height = 1 + max((child.height for child in children), default=0)

    def _finish_mapping(self, node: _Node, children: list[_Node], written: list[Position]) -> None:
        own: list[tuple[_Node, _Node]] = []
        sources: list[_Node] = []
        for key, value, where in zip(children[::2], children[1::2], written[1::2], strict=True):
            if key.kind == "scalar" and key.tag == _MERGE and not key.explicit:
                sources.extend(self._merge_sources(node, value, where))
            else:
                own.append((key, value))
        merged: list[tuple[_Node, _Node]] = []
        if sources:
            seen = {key.value for key, _ in own if key.kind == "scalar"}
            for source in sources:  # earlier mappings of a merge list win (YAML merge key spec)
                for key, value in source.pairs:
                    if key.kind == "scalar" and key.value not in seen:
                        seen.add(key.value)
                        merged.append((key, value))
        node.pairs = merged + own
        node.size = 1 + sum(key.size + value.size for key, value in node.pairs)
        node.height = 1 + max((value.height for _, value in node.pairs), default=0)

    def _merge_sources(self, node: _Node, value: _Node, where: Position) -> list[_Node]:
        """The mappings a ``<<`` key of ``node`` merges in: a mapping, or a list of mappings (``where`` is
        the merge value's position as written)."""
        if value.kind == "map":
            return [value]
        if value.kind == "seq" and value.items and all(item.kind == "map" for item in value.items):
            return value.items
        found = "text" if value.kind == "scalar" else (
            "an empty list" if not value.items else "a list holding something other than mappings"
        )
        node.problems.append((where, (
            f"a merge key (<<) takes a mapping (<<: *defaults) or a list of mappings (<<: [*a, *b]), found {found}"
        )))
        return []


# ------------------------------------------------------------------------------------------ building


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
                problems.append(f"bad variable name {shown(name)} in {shown(whole)}; use letters, digits and _")
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


_CONSTRUCTOR = SafeConstructor()
_NUMBER_WORDS = {_INT: "a whole number", _FLOAT: "a number", _BOOL: "true or false", _NULL: "null"}


class _Builder:
    """Turns composed nodes into plain data, filling the :class:`SourceMap` (nodes reached through
    aliases are visited once per use: the composer already bounded how many that makes)."""

    def __init__(self, environ: Mapping[str, str], *, interpolate: bool = True) -> None:
        self.interpolator = _Interpolator(environ)
        self.interpolate = interpolate
        self.map = SourceMap()
        self.problems: list[Located] = []

    def build(self, node: _Node, path: Path_) -> Any:
        self.map.values[path] = node.position
        for position, message in node.problems:
            self.problems.append(Located(path, position, message))
        if node.kind == "map":
            return self._mapping(node, path)
        if node.kind == "seq":
            return [self.build(item, (*path, index)) for index, item in enumerate(node.items)]
        return self._scalar(node, path)

    def _mapping(self, node: _Node, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        keys: list[str] = []
        for key_node, value_node in node.pairs:
            if key_node.kind != "scalar":
                problem = "a key must be a plain word, not a list or mapping"
                self.problems.append(Located(path, key_node.position, problem))
                continue
            key = key_node.value  # keys are names: "on", "yes", "1" stay text, not YAML 1.1 booleans or numbers
            child = (*path, key)
            if key in first_seen:
                seen = first_seen[key]
                self.problems.append(
                    Located(child, key_node.position, f"duplicate key {shown(key)} (first given at line {seen.line})")
                )
                continue
            first_seen[key] = key_node.position
            self.map.keys[child] = key_node.position
            keys.append(key)
            result[key] = self.build(value_node, child)
        self.map.mapping_keys[path] = keys
        return result

    def _scalar(self, node: _Node, path: Path_) -> Any:
        text = node.value
        self.map.source_text[path] = text
        tag = node.tag
        if tag == _STR and "$" in text and self.interpolate:
            text, problems = self.interpolator.substitute(text)
            for problem in problems:
                self.problems.append(Located(path, node.position, problem))
            if text != node.value and node.style is None and not node.explicit:
                tag = _resolve(text, (True, False))  # "${PORT}" may stand for a number
        if tag == _STR or tag in _AS_TEXT:
            return text
        if tag in _NUMBER_WORDS:
            try:
                return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, text))
            except (yaml.YAMLError, ValueError, ArithmeticError, IndexError, KeyError, TypeError) as exc:
                reason = str(exc).split(";")[0] if isinstance(exc, ValueError) and "digits" in str(exc) else None
                detail = f" ({reason})" if reason else ""
                self.problems.append(Located(path, node.position, (
                    f"cannot read {shown(text)} as {_NUMBER_WORDS[tag]}{detail}"
                )))
                return text
        self.problems.append(Located(path, node.position, (
            f"unsupported tag {shown(tag.replace(_TAG, '!!'))}; a scenario is plain YAML (remove the tag, or quote "
            "the value to keep it as text)"
        )))
        return text


# ------------------------------------------------------------------------------------------- entry


def parse_yaml(
    text: str, environ: Mapping[str, str] | None = None, *, parser: ParserName = "auto", interpolate: bool = True
) -> Parsed:
    """Parse ``text``; every problem (syntax, limits, tags, merges, interpolation) comes back in
    :attr:`Parsed.problems` with its line, never raised. ``parser`` picks the event parser: ``auto``
    (libyaml when installed), ``libyaml`` or ``python``; the result is the same either way.
    ``interpolate=False`` leaves ``${VAR}`` as written (files that are not scenarios)."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return _failed(_at_start(_too_big()))
    bad = _NON_PRINTABLE.search(text)
    if bad:
        character = f"U+{ord(bad.group()):04X}"
        return _failed(Located((), _position_of(text, bad.start()), (
            f"the file holds the control character {character}, which YAML does not allow (is it a binary file?)"
        )))
    if parser == "auto":
        chosen = os.environ.get(PARSER_ENV, "auto")
        parser = "libyaml" if chosen == "libyaml" else "python" if chosen == "python" else "auto"
    if _PARSERS_DISAGREE.search(text):
        parser = "python"  # where libyaml and PyYAML read YAML differently, PyYAML's reading decides
    use_libyaml = parser != "python" and _CParser is not None
    source = _event_source(text, parser)
    composer = _Composer(source)
    try:
        root = composer.compose()
    except _Stop as stop:
        return _failed(stop.problem)
    except yaml.YAMLError as exc:
        if use_libyaml and composer.events <= _REPARSE_EVENTS_MAX:
            # Early in the file: let PyYAML's parser give the answer, so both parsers answer alike.
            return parse_yaml(text, environ, parser="python", interpolate=interpolate)
        problem = _syntax_problem(exc, text)
        if "maximum nesting depth" in str(exc):  # libyaml's own limit (1000 levels), far past ours
            problem = Located((), problem.position, _too_deep())
        return _failed(problem)
    finally:
        source.dispose()
    if root is None or (root.kind == "scalar" and root.tag == _NULL):
        if root is None:
            where, what = Position(1, 1), "the file is empty (no YAML document, at most comments)"
        elif root.value.strip() == "":
            where, what = root.position, "the document is empty"
        else:
            where, what = root.position, f"the document is null ({shown(root.value)})"
        message = f"no scenario here: {what}; a scenario is a mapping of keys (name, duration, mix, ...)"
        return _failed(Located((), where, message))
    builder = _Builder(os.environ if environ is None else environ, interpolate=interpolate)
    data = builder.build(root, ())
    # A node reached through many aliases is reported once, where it is written.
    once = {(problem.position, problem.message): problem for problem in reversed(builder.problems)}
    problems = sorted(once.values(), key=lambda problem: (problem.position.line, problem.position.column))
    return Parsed(data, builder.map, problems, builder.interpolator.secrets)


class YamlFileError(ValueError):
    """A YAML file (not a scenario) that cannot be read; the message is ``file:line:col: what``."""


def load_yaml_file(path: Path, what: str = "YAML file") -> Any:
    """The data of a YAML file that is not a scenario (an emulator config, a run's scenario.yaml), read with
    this module's limits (size, depth, alias budget, safe tags) and no ``${VAR}`` interpolation. Raises
    :class:`YamlFileError` naming the file, line and problem; an empty file gives ``None``."""
    try:
        text = read_source(path)
    except SourceError as exc:
        raise YamlFileError(f"{path}:{exc.problem.position.line}:{exc.problem.position.column}: {what}: "
                            f"{exc.problem.message}") from None
    return load_yaml_text(text, path, what)


def load_yaml_text(text: str, where: Path | str, what: str = "YAML file") -> Any:
    """Like :func:`load_yaml_file`, for text already read from ``where`` (named in errors)."""
    if not text.strip():
        return None
    parsed = parse_yaml(text, {}, interpolate=False)
    if parsed.problems:
        first = parsed.problems[0]
        more = f" (and {len(parsed.problems) - 1} more)" if len(parsed.problems) > 1 else ""
        message = first.message.replace("no scenario here: ", "")
        raise YamlFileError(f"{where}:{first.position.line}:{first.position.column}: {what}: {message}{more}")
    return parsed.data


def _failed(problem: Located) -> Parsed:
    return Parsed(None, SourceMap(), [problem], {})
