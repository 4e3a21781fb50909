"""Read scenario files: YAML with ``${VAR}`` interpolation -> validated :class:`Scenario`, or every error.

``load_scenario(path)`` returns the model or raises :class:`ScenarioError` whose ``errors`` lists every
mistake as ``file:line:column: path: message``. ``validate_files(paths)`` returns those lists without
raising. ``resolved_dict(scenario)`` is the scenario as plain JSON data with secrets removed, for the run
directory.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from loadtest.scenario import semantics
from loadtest.scenario.errors import (
    TRANSLATED_MAX,
    ScenarioError,
    ScenarioIssue,
    document_paths,
    format_path,
    translate,
)
from loadtest.scenario.model import Scenario
from loadtest.scenario.source import Parsed, ParserName, Position, SourceError, parse_yaml, read_source
from loadtest.units import shown

__all__ = [
    "ScenarioError",
    "ScenarioIssue",
    "load_scenario",
    "load_scenario_text",
    "resolved_dict",
    "validate_files",
]


MAX_ISSUES = 100
"""Most mistakes listed for one file; beyond, one line says how many more there are (a generated file
with a hundred thousand bad keys gets a readable answer, quickly)."""


def load_scenario(
    path: str | Path, *, environ: Mapping[str, str] | None = None, parser: ParserName = "auto"
) -> Scenario:
    """The validated scenario in ``path``; raises :class:`ScenarioError` listing every mistake.

    ``parser`` picks the YAML event parser (see :func:`~loadtest.scenario.source.parse_yaml`)."""
    file = Path(path)
    try:
        text = read_source(file)
    except SourceError as exc:
        problem = exc.problem
        raise ScenarioError([ScenarioIssue(str(path), problem.position.line, problem.position.column, "",
                                           problem.message)]) from None
    return load_scenario_text(text, file=str(path), base_dir=file.resolve().parent, environ=environ, parser=parser)


def load_scenario_text(
    text: str,
    *,
    file: str = "<scenario>",
    base_dir: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    parser: ParserName = "auto",
) -> Scenario:
    """Like :func:`load_scenario` for text already in memory (``base_dir`` resolves ``$file`` paths)."""
    parsed = parse_yaml(text, environ, parser=parser)
    issues = [_issue(file, parsed, problem.path, problem.position, problem.message) for problem in parsed.problems]
    if parsed.data is None:
        raise _error(issues)
    if not isinstance(parsed.data, dict):
        found = "a list" if isinstance(parsed.data, list) else f"the single value {shown(parsed.data)}"
        position = parsed.source_map.values.get((), Position(1, 1))
        issues.append(ScenarioIssue(file, position.line, position.column, "",
                                    f"a scenario is a mapping of keys (name, duration, mix, ...), found {found}"))
        raise _error(issues)
    base = Path(base_dir) if base_dir is not None else None
    try:
        scenario = Scenario.model_validate(parsed.data)
    except ValidationError as exc:
        # A value left empty by an unset variable was already reported; do not report it twice.
        unset = {format_path(problem.path) for problem in parsed.problems if problem.path}
        issues.extend(issue for issue in translate(exc, parsed.source_map, file) if issue.path not in unset)
        if exc.error_count() <= MAX_ISSUES:
            issues.extend(_semantics_despite_errors(parsed, exc, file, base))
        raise _error(issues, untranslated=max(0, exc.error_count() - TRANSLATED_MAX)) from None
    scenario.loaded_from(base / Path(file).name if base is not None else None, parsed.secrets)
    issues.extend(_located(parsed, file, semantics.check(scenario, base)))
    if issues:
        raise _error(issues)
    semantics.normalise(scenario)
    semantics.resolve_paths(scenario)
    return scenario


def _error(issues: list[ScenarioIssue], untranslated: int = 0) -> ScenarioError:
    """The error for ``issues``, listing at most :data:`MAX_ISSUES` of them (the first in the file);
    ``untranslated`` more were found but not put into words."""
    # A value reached through several aliases is one mistake, where it is written: say it once.
    once = {(issue.file, issue.line, issue.column, issue.message): issue for issue in reversed(issues)}
    ordered = sorted(once.values(), key=lambda e: (e.file, e.line, e.column, e.path))
    if len(ordered) <= MAX_ISSUES and not untranslated:
        return ScenarioError(ordered)
    shown_issues = ordered[:MAX_ISSUES]
    rest = ordered[MAX_ISSUES] if len(ordered) > MAX_ISSUES else ordered[-1]
    more = ScenarioIssue(rest.file, rest.line, rest.column, "", (
        f"... and {len(ordered) - len(shown_issues) + untranslated:,} more mistakes, not listed; "
        "fix the ones above first"
    ))
    return ScenarioError([*shown_issues, more])


def _located(parsed: Parsed, file: str, mistakes: Iterable[semantics.ScenarioMistake]) -> list[ScenarioIssue]:
    issues = []
    for mistake in mistakes:
        position, _ = parsed.source_map.locate(mistake.path, key=mistake.at_key)
        issues.append(ScenarioIssue(file, position.line, position.column, format_path(mistake.path), mistake.message))
    return issues


def _semantics_despite_errors(
    parsed: Parsed, exc: ValidationError, file: str, base_dir: Path | None
) -> list[ScenarioIssue]:
    """Whole-scenario findings for a file that also has key-level errors, so both come out together.

    The keys in error are removed (their defaults take over) and the rest validated again; when that
    works, findings that do not touch a removed key are reported too. When it cannot work (an error on
    a list item or a required key), only the key-level errors are reported.
    """
    pruned = copy.deepcopy(parsed.data)
    removed: list[tuple[str | int, ...]] = []
    for path in document_paths(exc):
        if not path or isinstance(path[-1], int):
            return []
        parent: Any = pruned
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return []
        if not isinstance(parent, dict):
            return []
        parent.pop(path[-1], None)
        removed.append(path)
    try:
        scenario = Scenario.model_validate(pruned)
    except ValidationError:
        return []

    def touches(path: tuple[str | int, ...]) -> bool:
        return any(path[: len(gone)] == gone for gone in removed)

    findings = [finding for finding in semantics.check(scenario, base_dir) if not touches(finding.path)]
    return _located(parsed, file, findings)


def _issue(file: str, parsed: Parsed, path: tuple[str | int, ...], position: Any, message: str) -> ScenarioIssue:
    return ScenarioIssue(file, position.line, position.column, format_path(path), message)


def validate_files(paths: Iterable[str | Path], *, environ: Mapping[str, str] | None = None) -> list[ScenarioIssue]:
    """Every mistake in every file (an empty list when all are valid)."""
    issues: list[ScenarioIssue] = []
    for path in paths:
        try:
            load_scenario(path, environ=environ)
        except ScenarioError as exc:
            issues.extend(exc.errors)
    return issues


def resolved_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario with every default filled in, as JSON-ready data (durations in seconds, rates per
    second, sizes in bytes), with values that came from secret-looking environment variables replaced by
    ``${NAME}``. The API key itself is never part of a scenario."""
    data = scenario.model_dump(mode="json", by_alias=True)
    secrets = {value: name for name, value in scenario.secret_values.items() if value}

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        if isinstance(value, list):
            return [scrub(item) for item in value]
        if isinstance(value, str):
            for secret, name in secrets.items():
                if secret in value:
                    value = value.replace(secret, f"${{{name}}}")
        return value

    return scrub(data)
