"""Scenario errors as people read them: ``file:line:column: path: message``, with a did-you-mean.

Pydantic reports a location such as ``('mix', 1, 'runsync', 'poll', 'intervl')`` that mixes document
keys with union tags. :func:`translate` walks the model types along that location to tell the two apart,
finds the node in the :class:`~loadtest.scenario.source.SourceMap`, and rewrites the message to say what
was expected and what was found.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ForwardRef, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from typing_extensions import TypeAliasType

from loadtest.errors import InvalidInput
from loadtest.scenario import model as model_module
from loadtest.scenario.source import SourceMap
from loadtest.units import shown

__all__ = ["ScenarioError", "ScenarioIssue", "did_you_mean", "document_paths", "format_path", "translate"]


@dataclass(frozen=True, slots=True)
class ScenarioIssue:
    """One mistake in one file: where it is (1-based line/column, document path) and what is wrong."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class ScenarioError(InvalidInput):
    """A scenario that cannot be used; ``errors`` lists every mistake found, in file order (each printed at
    file:line:col before the one sentence that counts them)."""

    def __init__(self, errors: list[ScenarioIssue]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.file, e.line, e.column, e.path))
        super().__init__("\n".join(str(error) for error in self.errors))

    @property
    def file(self) -> str:
        return self.errors[0].file if self.errors else "scenario"

    def details(self) -> list[str]:
        return [str(error) for error in self.errors]

    def sentences(self) -> list[str]:
        count = len(self.errors)
        return [f"{self.file}: invalid scenario ({count} error{'s' if count != 1 else ''})"]


_PATH_PART_MAX = 40


def format_path(path: Iterable[str | int]) -> str:
    """``("mix", 2, "poll", "interval")`` -> ``mix[2].poll.interval`` (very long keys cut short)."""
    text = ""
    for part in path:
        if isinstance(part, str) and len(part) > _PATH_PART_MAX:
            part = f"{part[:_PATH_PART_MAX - 3]}..."
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``word``, else an empty string."""
    if not isinstance(word, str):
        return ""
    pool = list(choices)
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {choice.lower(): choice for choice in pool}
        matches = [lowered[word.lower()]] if word.lower() in lowered else []
    return f"; did you mean {matches[0]!r}?" if matches else ""


# ------------------------------------------------------------------------------------ walking types


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Strip ``Annotated`` and type aliases; return the bare type and the collected metadata."""
    metadata: list[Any] = []
    while True:
        if isinstance(tp, TypeAliasType):
            tp = tp.__value__
        elif isinstance(tp, ForwardRef | str):
            name = tp.__forward_arg__ if isinstance(tp, ForwardRef) else tp
            tp = getattr(model_module, name)
        elif get_origin(tp) is typing.Annotated:
            metadata.extend(tp.__metadata__)
            tp = get_args(tp)[0]
        else:
            return tp, metadata


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _tag_of(member: Any) -> str | None:
    """The tag pydantic puts in a location for this union member."""
    bare, metadata = _unwrap(member)
    for item in metadata:
        tag = getattr(item, "tag", None)
        if isinstance(tag, str) and type(item).__name__ == "Tag":
            return tag
    if isinstance(bare, type) and issubclass(bare, BaseModel) and "flow" in bare.model_fields:
        flow_type = bare.model_fields["flow"].annotation
        if get_origin(flow_type) is Literal:
            return get_args(flow_type)[0]
    return None


def _label_matches(member: Any, label: str) -> bool:
    bare, _ = _unwrap(member)
    name = getattr(bare, "__name__", None) or str(bare)
    return label == name or label.startswith(f"{name}[") or label.endswith(f", {name}]") or f"[{name}]" in label


def model_fields_by_key(cls: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by the key written in YAML (the alias when there is one)."""
    return {(info.alias or name): info for name, info in cls.model_fields.items() if not _hidden(info)}


def _hidden(info: Any) -> bool:
    return info.exclude is True


@dataclass
class _Walk:
    clean: list[str | int]
    """The location with union tags removed: the document path."""
    leaf: Any
    """The type expected at the end of the location (``None`` when unknown)."""
    parent: Any
    """The type that holds the last element (the model, for an unknown key)."""
    union_point: tuple[str | int, ...] | None = None
    union_branch: str | None = None
    bad_key: bool = False
    siblings: list[Any] = field(default_factory=list)
    sibling_tags: list[str] = field(default_factory=list)
    chosen_tag: str | None = None
    """Other models of the tagged union the parent was chosen from (their keys feed did-you-mean:
    ``endpoint_ud`` under an emulator target still suggests ``endpoint_id``)."""


_SCALAR_LABELS = ("str", "float", "int", "bool", "none")


def walk(loc: tuple[str | int, ...]) -> _Walk:
    """Follow ``loc`` through the model types from :class:`Scenario`."""
    result = _Walk([], None, None)
    tp: Any = model_module.Scenario
    index = 0
    while True:
        tp, _ = _unwrap(tp)
        if index >= len(loc):
            result.leaf = tp
            return result
        element = loc[index]
        if _is_union(tp):
            members = get_args(tp)
            tagged = [m for m in members if _tag_of(m) == element]
            if tagged:
                result.siblings = [_unwrap(m)[0] for m in members]
                result.sibling_tags = [_tag_of(m) or "" for m in members]
                result.chosen_tag = str(element)
                tp, index = tagged[0], index + 1
                continue
            labelled = [m for m in members if isinstance(element, str) and _label_matches(m, element)]
            is_label = isinstance(element, str) and ("[" in element or element in _SCALAR_LABELS)
            if labelled or is_label:
                result.union_point = tuple(result.clean)
                result.union_branch = str(element)
                tp, index = (labelled[0] if labelled else members[0]), index + 1
                continue
            non_none = [m for m in members if m is not type(None)]
            tp = non_none[0]
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if result.parent is not None and tp not in result.siblings:
                result.siblings, result.sibling_tags, result.chosen_tag = [], [], None
            result.parent = tp
            fields = model_fields_by_key(tp)
            by_name = {name: info for name, info in tp.model_fields.items()}
            info = fields.get(element) or by_name.get(element)  # type: ignore[arg-type]
            result.clean.append(element)
            if info is None:
                result.leaf = None
                return result
            tp, index = info.annotation, index + 1
            if info.metadata:
                tp = typing.Annotated[tp, *info.metadata]
            continue
        origin = get_origin(tp)
        if origin is list:
            result.parent = tp
            result.clean.append(element)
            tp, index = get_args(tp)[0], index + 1
            continue
        if origin is dict:
            result.parent = tp
            result.clean.append(element)
            key_type, value_type = get_args(tp)
            if index + 1 < len(loc) and loc[index + 1] == "[key]":
                result.bad_key = True
                result.leaf = _unwrap(key_type)[0]
                return result
            tp, index = value_type, index + 1
            continue
        # A scalar type followed by validator labels: the rest of the location is not the document's.
        result.leaf = tp
        return result


def _choices_of(tp: Any) -> list[str]:
    """The allowed words when ``tp`` is a Literal or an Enum (for did-you-mean)."""
    tp, _ = _unwrap(tp)
    if get_origin(tp) is Literal:
        return [str(arg) for arg in get_args(tp)]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return [str(member.value) for member in tp]
    if _is_union(tp):
        return [choice for member in get_args(tp) for choice in _choices_of(member)]
    return []


# --------------------------------------------------------------------------------------- translating


_TYPE_WORDS = {
    "float_type": "a number", "float_parsing": "a number", "int_type": "a whole number",
    "int_parsing": "a whole number", "int_from_float": "a whole number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "text", "list_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
}


_UNION_NOUNS = {"mix": "flow", "target": "target", "load": "load"}
_TAG_NAMES = {"endpoint": "real-endpoint", "open": "open-model", "closed": "closed-model"}


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _found(value: Any, source: SourceMap, path: tuple[str | int, ...]) -> str:
    """What the file says at ``path``, as written (never for an ``api_key*`` key: a key pasted where a
    variable name belongs must not be echoed into terminals and CI logs)."""
    if path and isinstance(path[-1], str) and path[-1].startswith("api_key"):
        return ("a value not repeated here (if it is the key itself, put it in an environment variable "
                "and give that variable's name)")
    if source.source_text.get(path) == "" and value is None:
        return "an empty value"
    for end in range(len(path), 0, -1):  # a shorthand such as "$bytes: 10GB" stands for a deeper key
        if path[:end] in source.source_text:
            return shown(source.source_text[path[:end]])
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return shown(value)


def _message(error: dict[str, Any], step: _Walk, source: SourceMap) -> tuple[str, tuple[str | int, ...], bool]:
    """(message, document path to point at, whether to point at the key rather than the value)."""
    kind = error["type"]
    path = tuple(step.clean)
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = path[-1] if path else "?"
        allowed = sorted(model_fields_by_key(step.parent)) if isinstance(step.parent, type) else []
        owners = [
            tag for model, tag in zip(step.siblings, step.sibling_tags, strict=True)
            if isinstance(model, type) and key in model_fields_by_key(model)
        ]
        if owners and step.chosen_tag:
            noun = _UNION_NOUNS.get(next((p for p in reversed(path[:-1]) if isinstance(p, str)), ""), "entry")
            chosen = _TAG_NAMES.get(step.chosen_tag, step.chosen_tag)
            owner = " or ".join(_TAG_NAMES.get(tag, tag) for tag in owners)
            return (
                f"key {key!r} does not belong to {_a(chosen)} {noun}; it belongs to {_a(owner)} {noun} "
                f"(allowed here: {', '.join(allowed)})"
            ), path, True
        related = {k for model in step.siblings if isinstance(model, type) for k in model_fields_by_key(model)}
        hint = did_you_mean(key, allowed) or did_you_mean(key, sorted(related - set(allowed)))
        known = f" (allowed here: {', '.join(allowed)})" if allowed and not hint else ""
        return f"unknown key {shown(key)}{hint}{known}", path, True
    if kind == "missing":
        return f"missing required key {path[-1]!r}", path, True
    if kind == "union_tag_invalid":
        tags = [tag.strip().strip("'") for tag in str(ctx.get("expected_tags", "")).split(",")]
        field = str(ctx.get("discriminator", "")).strip("'")
        hint = did_you_mean(str(ctx.get("tag")), tags)
        found = shown(ctx.get("tag"))
        return f"unknown {field} {found}{hint} (expected one of: {', '.join(tags)})", (*path, field), False
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "")).strip("'")
        kinds = ", ".join(model_module.FLOW_KINDS)
        return f"missing key {field!r}: each entry names its kind (one of: {kinds})", path, False
    if kind == "literal_error" or kind == "enum":
        choices = _choices_of(step.leaf)
        hint = did_you_mean(value, choices)
        what = "operation" if step.bad_key else "value"
        return f"unknown {what} {shown(value)}{hint} (expected one of: {', '.join(choices)})", path, step.bad_key
    if kind == "value_error":
        text = str(ctx.get("error") or error["msg"]).removeprefix("Value error, ")
        return text, path, False
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        word = "at most" if kind == "less_than_equal" else "less than"
        text = f"{bound:,}" if isinstance(bound, int) else f"{bound:g}"
        return f"must be {word} {text}, found {_found(value, source, path)}", path, False
    if kind == "finite_number":
        return f"must be a finite number (not infinity or NaN), found {_found(value, source, path)}", path, False
    if kind in ("too_short", "too_long"):
        return str(error["msg"]).replace(" after validation", "").lower(), path, False
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, found {_found(value, source, path)}", path, False
    message = error["msg"]
    message = message[0].lower() + message[1:] if message else kind
    return f"{message}, found {_found(value, source, path)}", path, False


TRANSLATED_MAX = 1000
"""Most pydantic errors of one file turned into messages (each may run a did-you-mean search)."""


def translate(exc: ValidationError, source: SourceMap, file: str) -> list[ScenarioIssue]:
    """The pydantic errors of ``exc`` (the first :data:`TRANSLATED_MAX`) as issues located in ``file``."""
    raw: list[dict[str, Any]] = [dict(error) for error in exc.errors(include_url=False)[:TRANSLATED_MAX]]
    steps = [walk(tuple(error["loc"])) for error in raw]
    chosen = _without_typo_consequences(_merge_union_branches(raw, steps, source))
    issues: dict[tuple[int, int, str, str], ScenarioIssue] = {}
    for error, step in chosen:
        message, path, at_key = _message(error, step, source)
        position, existing = source.locate(path, key=at_key)
        if error["type"] != "missing" and not at_key and existing and existing != path:
            path = existing  # the key the message is about is implied by a shorthand: point at what is written
        issue = ScenarioIssue(file, position.line, position.column, format_path(path), message)
        issues[(issue.line, issue.column, issue.path, issue.message)] = issue
    return list(issues.values())


def _without_typo_consequences(chosen: list[tuple[dict[str, Any], _Walk]]) -> list[tuple[dict[str, Any], _Walk]]:
    """Drop "missing required key 'users'" when the same mapping has an unknown key ``usres`` whose
    did-you-mean is ``users``: one typo, one error (the unknown key, which says what to write)."""
    unknown: dict[tuple[str | int, ...], list[str]] = {}
    for error, step in chosen:
        if error["type"] == "extra_forbidden" and step.clean and isinstance(step.clean[-1], str):
            unknown.setdefault(tuple(step.clean[:-1]), []).append(step.clean[-1])
    if not unknown:
        return chosen

    def consequence(error: dict[str, Any], step: _Walk) -> bool:
        if error["type"] != "missing" or not step.clean:
            return False
        missing = str(step.clean[-1])
        return any(did_you_mean(word, [missing]) for word in unknown.get(tuple(step.clean[:-1]), []))

    return [(error, step) for error, step in chosen if not consequence(error, step)]


def document_paths(exc: ValidationError) -> list[tuple[str | int, ...]]:
    """The document path of each error of ``exc`` (union tags removed), for callers that act on them."""
    return [tuple(walk(tuple(error["loc"])).clean) for error in exc.errors(include_url=False)]


def _merge_union_branches(
    raw: list[dict[str, Any]], steps: list[_Walk], source: SourceMap
) -> list[tuple[dict[str, Any], _Walk]]:
    """A value that fits no branch of a plain union yields one error per branch; keep the useful ones.

    Errors from a branch that got past the type check (a rate that did not parse, a list with a bad item)
    win over "should be a valid list" from the other branches; when every branch failed its type check,
    a single "expected X or Y" message replaces them.
    """
    kept: list[tuple[dict[str, Any], _Walk]] = []
    groups: dict[tuple[str | int, ...], list[tuple[dict[str, Any], _Walk]]] = {}
    for error, step in zip(raw, steps, strict=True):
        if step.union_point is None:
            kept.append((error, step))
        else:
            groups.setdefault(step.union_point, []).append((error, step))
    for point, members in groups.items():
        useful = [
            (error, step) for error, step in members
            if error["type"] not in _TYPE_WORDS or len(step.clean) > len(point)
        ]
        if useful:
            kept.extend(useful)
            continue
        expected = sorted({_TYPE_WORDS.get(error["type"], error["type"]) for error, _ in members})
        error, step = members[0]
        merged = dict(error, type="merged_union", msg=f"expected {' or '.join(expected)}")
        kept.append((merged, step))
    return kept
