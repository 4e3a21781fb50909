"""Broken scenarios, one mistake each: the validator must name the line, the path and the problem.

Each case is a whole small file so the expected line numbers can be read off the text. Every case must
raise ScenarioError (never another exception) and report the expected error among its errors.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from loadtest.scenario.loader import ScenarioError, load_scenario_text
from loadtest.scenario.source import LIBYAML, PARSER_ENV, ParserName

ENV = {"ENDPOINT": "abc123", "EMPTY": ""}

# (case id, scenario text, expected line, expected path, expected message fragment)
CASES: list[tuple[str, str, int, str, str]] = [
    (
        "misspelt-top-level-key",
        """
        name: t
        durration: 10s
        mix: [{flow: run_poll}]
        """,
        2, "durration", "unknown key 'durration'; did you mean 'duration'?",
    ),
    (
        "misspelt-nested-key",
        """
        name: t
        duration: 10s
        mix:
          - flow: run_poll
            poll:
              intervl: 1s
        """,
        6, "mix[0].poll.intervl", "did you mean 'interval'?",
    ),
    (
        "unknown-flow-kind",
        """
        name: t
        duration: 10s
        mix:
          - flow: run_pol
        """,
        4, "mix[0].flow", "unknown flow 'run_pol'; did you mean 'run_poll'?",
    ),
    (
        "flow-without-kind",
        """
        name: t
        duration: 10s
        mix:
          - weight: 2
        """,
        4, "mix[0]", "missing key 'flow'",
    ),
    (
        "duration-without-unit-word",
        """
        name: t
        duration: 10 fortnights
        mix: [{flow: run_poll}]
        """,
        2, "duration", "unknown duration unit 'fortnights' in '10 fortnights'; the units are ms, millisecond",
    ),
    (
        "zero-users",
        """
        name: t
        duration: 10s
        load:
          users: 0
        mix: [{flow: run_poll}]
        """,
        4, "load.users", "greater than or equal to 1, found '0'",
    ),
    (
        "bad-arrival-rate",
        """
        name: t
        duration: 10s
        load:
          arrival_rate: fast
        mix: [{flow: run_poll}]
        """,
        4, "load.arrival_rate", "expected a rate such as '50/s'",
    ),
    (
        "misspelt-policy",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        rate_limits:
          policy: respekt
        """,
        5, "rate_limits.policy", "unknown value 'respekt'; did you mean 'respect'?",
    ),
    (
        "unknown-operation-override",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        rate_limits:
          operations:
            rnu: {rate: 5/s}
        """,
        6, "rate_limits.operations.rnu", "unknown operation 'rnu'; did you mean 'run'?",
    ),
    (
        "literal-api-key",
        """
        name: t
        duration: 10s
        target:
          endpoint_id: abc
          api_key: rpa_SECRET
        mix: [{flow: run_poll}]
        """,
        5, "target.api_key", "a literal API key does not belong in a scenario file",
    ),
    (
        "endpoint-without-id",
        """
        name: t
        duration: 10s
        target:
          api_key_env: MY_KEY
        mix: [{flow: run_poll}]
        """,
        4, "target.endpoint_id", "missing required key 'endpoint_id'",
    ),
    (
        "unset-environment-variable",
        """
        name: t
        duration: 10s
        target:
          endpoint_id: ${NOT_SET_ANYWHERE}
        mix: [{flow: run_poll}]
        """,
        4, "target.endpoint_id", "environment variable NOT_SET_ANYWHERE is not set",
    ),
    (
        "yaml-syntax-error",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}
        thresholds: []
        """,
        4, "", "YAML syntax error",
    ),
    (
        "duplicate-key",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        duration: 20s
        """,
        4, "duration", "duplicate key 'duration' (first given at line 2)",
    ),
    (
        "weights-sum-to-zero",
        """
        name: t
        duration: 10s
        mix:
          - {flow: run_poll, weight: 0}
          - {flow: runsync, weight: 0}
        """,
        4, "mix", "the weights of the mix add up to 0",
    ),
    (
        "stages-do-not-add-up",
        """
        name: t
        duration: 60s
        load:
          stages:
            - {duration: 20s, users: 2}
            - {duration: 20s, users: 4}
        mix: [{flow: run_poll}]
        """,
        2, "duration", "duration is 1m but load.stages add up to 40s",
    ),
    (
        "respect-rate-cannot-fit",
        """
        name: t
        duration: 10s
        load:
          arrival_rate: 200/s
        mix: [{flow: run_poll}]
        rate_limits:
          policy: respect
        """,
        4, "load.arrival_rate", "policy respect can never fit: at its peak the arrival rate needs 200/s of /run",
    ),
    (
        "respect-override-above-limit",
        """
        name: t
        duration: 10s
        target:
          endpoint_id: abc
        mix: [{flow: run_cancel}]
        rate_limits:
          operations:
            cancel: {rate: 50/s}
        """,
        8, "rate_limits.operations.cancel.rate", "50/s is above the limit of /cancel (10/s, documented",
    ),
    (
        "respect-concurrency-above-the-emulators",
        """
        name: t
        duration: 10s
        target: {emulator: {limits: {concurrency_overrides: {status: 5}}}}
        mix: [{flow: run_poll}]
        rate_limits:
          operations:
            status: {concurrency: 6}
        """,
        7, "rate_limits.operations.status.concurrency",
        "6 in flight is above the emulator limit of /status (5)",
    ),
    (
        "respect-rate-above-the-emulators",
        """
        name: t
        duration: 10s
        target: {emulator: {limits: {window: 1s, rate_overrides: {run: 4}}}}
        mix: [{flow: run_poll}]
        rate_limits:
          operations:
            run: {rate: 5/s}
        """,
        7, "rate_limits.operations.run.rate", "5/s is above the limit of /run (4/s, emulator: 4 per 1s)",
    ),
    (
        "threshold-never-measured",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - metric: first_chunk.p95
            max: 1s
        """,
        5, "thresholds[0].metric", "no flow in the mix measures first_chunk",
    ),
    (
        "misspelt-metric",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - metric: queue_dealy.p95
            max: 1s
        """,
        5, "thresholds[0].metric", "did you mean 'queue_delay'",
    ),
    (
        "unknown-statistic",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - metric: end_to_end.p96
            max: 1s
        """,
        5, "thresholds[0].metric", "has no statistic 'p96'",
    ),
    (
        "threshold-unknown-flow-name",
        """
        name: t
        duration: 10s
        mix:
          - {flow: run_poll, name: chat}
        thresholds:
          - metric: end_to_end.p95
            flow: caht
            max: 1s
        """,
        7, "thresholds[0].flow", "no flow named 'caht' in the mix; did you mean 'chat'?",
    ),
    (
        "threshold-without-bound",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - metric: end_to_end.p95
        """,
        5, "thresholds[0]", "a threshold needs max or min",
    ),
    (
        "ratio-above-one",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - metric: rate_429
            max: 150%
        """,
        6, "thresholds[0].max", "a fraction lies between 0 and 1",
    ),
    (
        "runsync-wait-out-of-range",
        """
        name: t
        duration: 10s
        mix:
          - flow: runsync
            wait: 10m
        """,
        5, "mix[0].wait", "a wait must be between 1s and 300s",
    ),
    (
        "misspelt-generator",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        payload:
          input:
            prompt: {$txt: 20}
        """,
        6, "payload.input.prompt.$txt", "unknown key '$txt'; did you mean '$text'?",
    ),
    (
        "choice-weights-mismatch",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        payload:
          input:
            size:
              $choice: {values: [s, m, l], weights: [1, 2]}
        """,
        7, "payload.input.size.$choice", "2 weights for 3 values",
    ),
    (
        "values-file-missing",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        payload:
          input:
            prompt: {$file: no-such-prompts.txt}
        """,
        6, "payload.input.prompt.$file", "values file 'no-such-prompts.txt' not found",
    ),
    (
        "emulator-failure-rate-above-one",
        """
        name: t
        duration: 10s
        target:
          emulator:
            failure_rate: 2
        mix: [{flow: run_poll}]
        """,
        5, "target.emulator.failure_rate", "must be at most 1, found '2'",
    ),
    (
        "misspelt-arrivals",
        """
        name: t
        duration: 10s
        load:
          arrival_rate: 5/s
          arrivals: poison
        mix: [{flow: run_poll}]
        """,
        5, "load.arrivals", "did you mean 'poisson'?",
    ),
    (
        "no-length",
        """
        name: t
        mix: [{flow: run_poll}]
        """,
        1, "", "the run has no length",
    ),
    (
        "users-and-stages",
        """
        name: t
        load:
          users: 3
          stages:
            - {duration: 10s, users: 2}
        mix: [{flow: run_poll}]
        """,
        3, "load.users", "give either users or stages, not both",
    ),
    (
        "mix-not-a-list",
        """
        name: t
        duration: 10s
        mix: run_poll
        """,
        3, "mix", "expected a list, found 'run_poll'",
    ),
    (
        "duplicate-flow-names",
        """
        name: t
        duration: 10s
        mix:
          - {flow: run_poll, name: a}
          - {flow: runsync, name: a}
        """,
        5, "mix[1].name", "flow name 'a' is already used by mix[0]",
    ),
    (
        "health-gauge-without-health-flow",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - {metric: queue_length.max, max: 10}
        """,
        5, "thresholds[0].metric", "comes from /health samples",
    ),
    (
        "dropped-in-closed-model",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - {metric: dropped, max: 0}
        """,
        5, "thresholds[0].metric", "this scenario uses a closed model",
    ),
    (
        "missing-name",
        """
        duration: 10s
        mix: [{flow: run_poll}]
        """,
        1, "name", "missing required key 'name'",
    ),
    (
        "op-scope-never-called",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - {metric: rate_429, op: cancel, max: 1%}
        """,
        5, "thresholds[0].op", "no flow in the mix calls /cancel",
    ),
    (
        "baseline-unknown-metric",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        baseline:
          name: main
          tolerances:
            end_to_end.p99: 10%
            qeue_delay.p95: 10%
        """,
        8, "baseline.tolerances.qeue_delay.p95", "did you mean 'queue_delay'",
    ),
    (
        "counter-format-without-placeholder",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        payload:
          input:
            id: {$counter: {format: job}}
        """,
        6, "payload.input.id.$counter.format", "needs the placeholder {n}",
    ),
    (
        "ttl-below-documented-minimum",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        payload:
          policy:
            ttl: 1s
        """,
        6, "payload.policy.ttl", "ttl must be between 10s and 7d (the emulator's policy bounds), found 1s",
    ),
    (
        "scenario-is-a-list",
        """
        - name: t
        """,
        1, "", "a scenario is a mapping",
    ),
    (
        "distribution-missing-parameter",
        """
        name: t
        duration: 10s
        target:
          emulator:
            execution_time: {kind: uniform, min: 1s}
        mix: [{flow: run_poll}]
        """,
        5, "target.emulator.execution_time", "a uniform distribution needs min, max; missing max",
    ),
    (
        "misspelt-429-action",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        rate_limits:
          on_429:
            action: cont
        """,
        6, "rate_limits.on_429.action", "did you mean 'count'?",
    ),
    (
        "threshold-window-longer-than-run",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        thresholds:
          - {metric: end_to_end.p95, max: 1s, window: 1m}
        """,
        5, "thresholds[0].window", "window 1m is longer than the run (10s)",
    ),
    (
        "unknown-distribution-kind",
        """
        name: t
        duration: 10s
        target:
          emulator:
            cold_start: {kind: lognormall, median: 1s, sigma: 0.3}
        mix: [{flow: run_poll}]
        """,
        5, "target.emulator.cold_start.kind", "did you mean 'lognormal'?",
    ),
    (
        "misspelt-endpoint-key-suggests-across-target-kinds",
        """
        name: t
        duration: 10s
        target:
          endpoint_ud: abc
        mix: [{flow: run_poll}]
        """,
        4, "target.endpoint_ud", "did you mean 'endpoint_id'?",
    ),
    (
        "threshold-flow-of-the-wrong-kind",
        """
        name: t
        duration: 10s
        mix:
          - {flow: run_stream, name: chat}
          - {flow: run_poll, name: batch}
        thresholds:
          - {metric: first_chunk.p95, flow: batch, max: 1s}
        """,
        7, "thresholds[0].flow", "flow 'batch' is a run_poll flow, which does not measure first_chunk",
    ),
    (
        "key-of-another-flow-kind",
        """
        name: t
        duration: 10s
        mix:
          - flow: run_poll
            cancel_after: 1s
        """,
        5, "mix[0].cancel_after", "does not belong to a run_poll flow; it belongs to a run_cancel flow",
    ),
    (
        "emulator-and-endpoint-together",
        """
        name: t
        duration: 10s
        target:
          emulator: {workers_max: 2}
          endpoint_id: abc
        mix: [{flow: run_poll}]
        """,
        5, "target.endpoint_id", "does not belong to an emulator target; it belongs to a real-endpoint target",
    ),
    (
        "closed-key-in-open-model",
        """
        name: t
        duration: 10s
        load:
          arrival_rate: 5/s
          users: 3
        mix: [{flow: run_poll}]
        """,
        5, "load.users", "does not belong to an open-model load; it belongs to a closed-model load",
    ),
    (
        "generated-size-typo",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        payload:
          input:
            blob: {$bytes: 500MB}
        """,
        6, "payload.input.blob.$bytes", "is more than the 80 MiB a generator may make",
    ),
    (
        "integer-range-without-integers",
        """
        name: t
        duration: 10s
        mix: [{flow: run_poll}]
        payload:
          input:
            n: {$number: {min: 1.2, max: 1.8, integer: true}}
        """,
        6, "payload.input.n.$number", "no whole number lies between 1.2 and 1.8",
    ),
]


PARSERS = ["libyaml", "python"]
"""Every case is read by both YAML parsers; the answers must be the same, word for word."""


def _load(text: str, tmp_path: Path, parser: ParserName = "auto") -> ScenarioError:
    source = textwrap.dedent(text).lstrip("\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(source, file="case.yaml", base_dir=tmp_path, environ=ENV, parser=parser)
    return caught.value


def test_there_are_at_least_25_distinct_mistakes() -> None:
    assert len({case[0] for case in CASES}) == len(CASES) >= 25


def test_libyaml_is_installed_here() -> None:
    """The parity tests below compare libyaml's parser with PyYAML's; without libyaml they compare one
    parser with itself and prove nothing, so say so loudly."""
    assert LIBYAML, "PyYAML was built without libyaml: reinstall it (pip install --force-reinstall pyyaml)"


@pytest.mark.parametrize(("text", "line", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_scenario_is_reported_where_it_is(
    text: str, line: int, path: str, fragment: str, tmp_path: Path
) -> None:
    """... by both parsers, word for word."""
    error = _load(text, tmp_path, "libyaml")
    rendered = "\n".join(str(issue) for issue in error.errors)
    matching = [issue for issue in error.errors if fragment in issue.message]
    assert matching, f"no error mentions {fragment!r}; got:\n{rendered}"
    issue = matching[0]
    assert (issue.line, issue.path) == (line, path), f"wrong place; got:\n{rendered}"
    assert issue.file == "case.yaml"
    assert str(issue).startswith(f"case.yaml:{line}:{issue.column}: ")
    assert [str(issue) for issue in _load(text, tmp_path, "python").errors] == rendered.splitlines()


# ------------------------------------------------------------------------------------- hostile files
#
# Files nobody writes by hand: built to exhaust a reader (alias bombs, deep nesting, megabytes) or to
# reach a corner of YAML (merges of scalars, tags, null documents, unbounded numbers). Each class has
# several members, because the next hostile file will not be one of these. Every one must give a
# ScenarioError whose issue names a line and says what is wrong, the same with either parser.

HEAD = "name: t\nduration: 10s\nmix: [{flow: run_poll}]\n"


def _billion_laughs(levels: int = 9, width: int = 10) -> str:
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"lol{level}: &lol{level} [{', '.join([f'*lol{level - 1}'] * width)}]")
    return HEAD + "payload:\n  input:\n" + "".join(f"    {line}\n" for line in lines)


def _merge_bomb() -> str:
    """Each level merges the previous one and holds ten more of it: ten times bigger per line."""
    lines = ["m0: &m0 {a: [x, x, x, x, x, x, x, x, x, x]}"]
    for level in range(1, 9):
        lines.append(f"m{level}: &m{level} {{<<: *m{level - 1}, b{level}: [{', '.join([f'*m{level - 1}'] * 10)}]}}")
    return HEAD + "payload:\n  input:\n" + "".join(f"    {line}\n" for line in lines)


def _merge_chain(length: int = 3000) -> str:
    lines = ["m0: &m0 {a0: 1}"] + [f"m{i}: &m{i} {{<<: *m{i - 1}, a{i}: 1}}" for i in range(1, length)]
    return HEAD + "payload:\n  input:\n" + "".join(f"    {line}\n" for line in lines)


def _nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return HEAD + "payload:\n  input:\n    x: " + open_ * depth + close * depth + "\n"


def _nested_mappings(depth: int) -> str:
    return HEAD + "payload:\n  input:\n    x: " + "{a: " * depth + "1" + "}" * depth + "\n"


def _deep_through_aliases() -> str:
    inner = "[" * 60 + "]" * 60
    return HEAD + f"payload:\n  input:\n    a: &deep {inner}\n    b: " + "[" * 50 + "*deep" + "]" * 50 + "\n"


def _block_nesting(depth: int) -> str:
    return HEAD + "payload:\n  input:\n" + "".join("  " * (level + 2) + f"k{level}:\n" for level in range(depth)) + (
        "  " * (depth + 2) + "leaf: 1\n")


def _many_values(count: int) -> str:
    return HEAD + "payload:\n  input:\n    x: [" + ",".join(["0"] * count) + "]\n"


def _many_keys(count: int) -> str:
    return HEAD + "".join(f"k{i}: 1\n" for i in range(count))


# (case id, text, expected line, expected fragment); the path is "" or whatever the line names.
HOSTILE: list[tuple[str, str, int, str]] = [
    # aliases: expansion budget, cycles, unknown names
    ("billion-laughs", _billion_laughs(), 10, "the document passes 50,000 values here once aliases are expanded"),
    ("wide-alias-bomb", HEAD + "a: &a [" + ", ".join(["x"] * 2000) + "]\nb: [" + ", ".join(["*a"] * 40) + "]\n",
     5, "once aliases are expanded"),
    ("merge-key-bomb", _merge_bomb(), 10, "once aliases are expanded"),
    ("merge-chain", _merge_chain(), 227, "once aliases are expanded"),
    ("alias-cycle", HEAD + "payload:\n  input:\n    x: &loop [1, *loop]\n", 6, "used inside the value it names"),
    ("alias-cycle-in-mapping", HEAD + "load: &me {users: 1, again: *me}\n", 4, "used inside the value it names"),
    ("unknown-alias", HEAD + "load: *nowhere\n", 4, "unknown alias *nowhere: no anchor &nowhere"),
    # depth
    ("nested-lists-500", _nested(500), 6, "nesting is deeper than 100 levels"),
    ("nested-mappings-500", _nested_mappings(500), 6, "nesting is deeper than 100 levels"),
    ("nested-lists-100000", _nested(100_000), 6, "nesting is deeper than 100 levels"),
    ("nested-blocks-150", _block_nesting(150), 104, "nesting is deeper than 100 levels"),
    ("deep-through-aliases", _deep_through_aliases(), 7, "alias *deep nests its value deeper than 100 levels"),
    # merge keys
    ("merge-list-of-scalars", HEAD + "load:\n  <<: [1, 2]\n", 5, "a merge key (<<) takes a mapping"),
    ("merge-scalar", HEAD + "load:\n  <<: 5\n  users: 2\n", 5, "found text"),
    ("merge-alias-of-list", HEAD + "l: &l [1]\nload:\n  <<: *l\n", 6, "a list holding something other than mappings"),
    ("merge-empty-list", HEAD + "load:\n  <<: []\n", 5, "found an empty list"),
    ("merge-mixed-list", HEAD + "d: &d {users: 2}\nload:\n  <<: [*d, 3]\n", 6, "a merge key (<<) takes a mapping"),
    # null, empty, not a mapping, several documents
    ("null-tilde", "~\n", 1, "no scenario here: the document is null ('~')"),
    ("null-word", "# nothing yet\n\nnull\n", 3, "the document is null ('null')"),
    ("empty-file", "", 1, "no scenario here: the file is empty"),
    ("only-comments", "# a scenario, one day\n# not yet\n", 1,
     "the file is empty (no YAML document, at most comments)"),
    ("only-document-marker", "---\n", 2, "the document is empty"),
    ("explicit-null-document", "--- ~\n...\n", 1, "the document is null"),
    ("list-document", "- name: t\n- mix: []\n", 1,
     "a scenario is a mapping of keys (name, duration, mix, ...), found a list"),
    ("scalar-document", "# a scenario:\n  just some words\n", 2, "found the single value 'just some words'"),
    ("two-documents", HEAD + "---\n" + HEAD, 4, "a second YAML document starts here"),
    # size and count
    ("over-a-mebibyte", HEAD + "description: " + "x" * (1 << 20) + "\n", 1, "the file is larger than 1 MiB"),
    ("too-many-values", _many_values(60_000), 6, "the file holds more than 50,000 values"),
    ("too-many-keys", _many_keys(30_000), 24_999, "the file holds more than 50,000 values"),
    # characters and scalars
    ("nul-character", HEAD + "description: a\x00b\n", 4, "the control character U+0000, which YAML does not allow"),
    ("escape-character", HEAD + "\x1b[31mdescription: red\n", 4, "the control character U+001B"),
    ("integer-of-5000-digits", HEAD + "seed: " + "7" * 5000 + "\n", 4, "as a whole number (Exceeds the limit"),
    ("explicit-int-tag-on-text", HEAD + "seed: !!int abc\n", 4, "cannot read 'abc' as a whole number"),
    ("explicit-int-tag-on-nothing", HEAD + "seed: !!int ''\n", 4, "cannot read '' as a whole number"),
    ("explicit-float-tag-on-text", HEAD + "description: !!float x\n", 4, "cannot read 'x' as a number"),
    ("python-object-tag", HEAD + "description: !!python/object/apply:os.system [echo]\n", 4,
     "unsupported tag '!!python/object/apply:os.system' on a list"),
    ("python-name-tag", HEAD + "description: !!python/name:os.system ''\n", 4,
     "unsupported tag '!!python/name:os.system'"),
    ("binary-tag", HEAD + "description: !!binary aGVsbG8=\n", 4, "unsupported tag '!!binary'"),
    ("local-tag", HEAD + "description: !secret value\n", 4, "unsupported tag '!secret'"),
    ("set-tag", HEAD + "payload: {input: {s: !!set {a, b}}}\n", 4, "unsupported tag '!!set' on a mapping"),
    ("complex-key", HEAD + "? [a, b]\n: 1\n", 4, "a key must be a plain word, not a list or mapping"),
    # bounds: infinity, NaN, absurd magnitudes
    ("duration-infinite", "name: t\nduration: .inf\nmix: [{flow: run_poll}]\n", 2,
     "a duration must be a finite number"),
    ("duration-nan", "name: t\nduration: .NaN\nmix: [{flow: run_poll}]\n", 2, "a duration must be a finite number"),
    ("duration-21-digit-days", "name: t\nduration: 999999999999999999999d\nmix: [{flow: run_poll}]\n", 2,
     "a duration may be at most 7d (the upper bound), found '999999999999999999999d'"),
    ("duration-8-days", "name: t\nduration: 8 days\nmix: [{flow: run_poll}]\n", 2, "a duration may be at most 7d"),
    ("duration-overflows-float", "name: t\nduration: 1e400s\nmix: [{flow: run_poll}]\n", 2,
     "a duration must be a finite number"),
    ("duration-huge-bare-integer", "name: t\nduration: " + "9" * 400 + "\nmix: [{flow: run_poll}]\n", 2,
     "a duration is too large"),
    ("stages-add-up-past-7-days", "name: t\nmix: [{flow: run_poll}]\nload:\n  stages:\n" + "".join(
        "    - {duration: 7d, users: 1}\n" for _ in range(3)), 5, "a run may last at most 7d"),
    ("users-1e32", HEAD + "load: {users: 1e32}\n", 4, "expected a whole number, found '1e32'"),
    ("users-a-million", HEAD + "load: {users: 1000000}\n", 4, "must be at most 100,000, found '1000000'"),
    ("stage-users-huge",
     "name: t\nmix: [{flow: run_poll}]\nload:\n  stages:\n    - {duration: 1s, users: 99999999999}\n", 5,
     "must be at most 100,000"),
    ("arrival-rate-infinite", HEAD + "load: {arrival_rate: .inf}\n", 4, "a rate must be a finite number"),
    ("arrival-rate-a-billion", HEAD + "load: {arrival_rate: 1e9/s}\n", 4, "a rate may be at most 100,000/s"),
    ("ramp-to-a-billion", HEAD + "load:\n  arrival_rate:\n    - {duration: 1s, from: 1/s, to: 1000000000}\n", 6,
     "a rate may be at most 100,000/s"),
    ("spawn-rate-nan", HEAD + "load: {users: 2, spawn_rate: .nan}\n", 4, "a rate must be a finite number"),
    ("weight-nan", "name: t\nduration: 1s\nmix: [{flow: run_poll, weight: .nan}]\n", 3,
     "must be a finite number (not infinity or NaN)"),
    ("weight-infinite-text", "name: t\nduration: 1s\nmix: [{flow: run_poll, weight: inf}]\n", 3,
     "must be a finite number (not infinity or NaN), found 'inf'"),
    ("max-in-flight-huge", HEAD + "load: {arrival_rate: 1/s, max_in_flight: 10000000000}\n", 4,
     "must be at most 100,000"),
    ("seed-beyond-2-53", HEAD + "seed: 18446744073709551616\n", 4, "must be at most 9,007,199,254,740,992"),
    ("retries-a-million", "name: t\nduration: 1s\nmix: [{flow: retry_failed, retries: 1000000}]\n", 3,
     "must be at most 1,000"),
    ("backoff-multiplier-1e300", HEAD + "rate_limits: {on_429: {backoff: {multiplier: 1e300}}}\n", 4,
     "must be at most 100"),
    ("poll-interval-infinite", "name: t\nduration: 1s\nmix: [{flow: run_poll, poll: {interval: .inf}}]\n", 3,
     "a duration must be a finite number"),
    ("bytes-of-2-gib", HEAD + "payload: {input: {b: {$bytes: 2GiB}}}\n", 4, "a size may be at most 1 GiB"),
    ("text-of-a-billion", HEAD + "payload: {input: {b: {$text: 1000000000}}}\n", 4, "a generator may make"),
    ("tokens-of-a-billion", HEAD + "payload: {input: {b: {$tokens: 1000000000}}}\n", 4, "must be at most 100,000"),
    ("number-range-1e300", HEAD + "payload: {input: {n: {$number: {min: -1e300, max: 1e300}}}}\n", 4,
     "must be at most 1e+15"),
    ("counter-start-1e30", HEAD + "payload: {input: {n: {$counter: 1000000000000000000000000000000}}}\n", 4,
     "must be at most 9,007,199,254,740,992"),
    ("payload-value-infinite", HEAD + "payload: {input: {x: -.inf}}\n", 4, "must be a finite number"),
    ("threshold-max-infinite", HEAD + "thresholds: [{metric: end_to_end.p95, max: .inf}]\n", 4,
     "must be a finite number"),
    ("threshold-max-1e400-text", HEAD + "thresholds: [{metric: end_to_end.p95, max: '1e400'}]\n", 4,
     "expected a finite number"),
    ("emulator-workers-huge", HEAD + "target: {emulator: {workers_max: 10000000000}}\n", 4, "must be at most 10,000"),
    ("emulator-sigma-infinite", HEAD + "target: {emulator: {cold_start: {kind: lognormal, median: 1s, sigma: .inf}}}\n",
     4, "must be a finite number"),
    ("emulator-scaler-nan", HEAD + "target: {emulator: {scaler: {value: .nan}}}\n", 4, "must be a finite number"),
    # unit words: exactly the documented ones
    ("duration-unit-parsecs", "name: t\nduration: 10 parsecs\nmix: [{flow: run_poll}]\n", 2,
     "the units are ms, millisecond, milliseconds, s, sec, secs, second, seconds, m, min, mins, minute, minutes, "
     "h, hr, hrs, hour, hours, d, day, days"),
    ("duration-unit-microseconds", "name: t\nduration: 500us\nmix: [{flow: run_poll}]\n", 2,
     "unknown duration unit 'us'"),
    ("duration-unit-weeks", "name: t\nduration: 1 week\nmix: [{flow: run_poll}]\n", 2, "unknown duration unit 'week'"),
    ("duration-negative", "name: t\nduration: -5 minutes\nmix: [{flow: run_poll}]\n", 2,
     "a duration cannot be negative"),
    ("rate-unit-fortnight", HEAD + "load: {arrival_rate: 5 per fortnight}\n", 4, "unknown rate unit 'fortnight'"),
    ("rate-without-unit-word", HEAD + "load: {arrival_rate: 5 per}\n", 4, "expected a rate such as '50/s'"),
    ("size-unit-terabytes", HEAD + "payload: {input: {b: {$bytes: 1TB}}}\n", 4,
     "unknown size unit 'TB' in '1TB'; the units are B, KB, MB, GB, KiB, MiB, GiB"),
    # one mistake, one error
    ("unknown-key-in-arrival-stage", HEAD.replace("duration: 10s\n", "") + "load:\n  arrival_rate:\n"
     "    - {duration: 10s, rate: 1/s, sped: 2}\n", 5, "unknown key 'sped'"),
    ("stage-with-rate-and-ramp-ends", HEAD + "load:\n  arrival_rate:\n    - {duration: 10s, rate: 1/s, to: 2/s}\n", 6,
     "give rate (a constant rate) or from/to (a ramp), not both"),
    ("stage-from-without-to", HEAD + "load:\n  arrival_rate:\n    - {duration: 10s, from: 1/s}\n", 6,
     "a ramp needs to as well as from"),
]

# Cases with exactly one mistake: exactly one error must come out.
SINGLE_MISTAKE = {
    "unknown-key-in-arrival-stage", "merge-list-of-scalars", "users-1e32", "weight-nan", "duration-infinite",
    "billion-laughs", "nested-lists-500", "null-tilde", "over-a-mebibyte", "duration-unit-parsecs",
    "stage-with-rate-and-ramp-ends",
}


@pytest.mark.parametrize(("text", "line", "fragment"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_file_is_answered_with_a_line_and_a_sentence(
    text: str, line: int, fragment: str, tmp_path: Path
) -> None:
    """... by both parsers, word for word."""
    error = _load(text, tmp_path, "libyaml")
    rendered = "\n".join(str(issue)[:300] for issue in error.errors)
    matching = [issue for issue in error.errors if fragment in issue.message]
    assert matching, f"no error mentions {fragment!r}; got:\n{rendered}"
    assert matching[0].line == line, f"wrong line; got:\n{rendered}"
    assert len(error.errors) <= 101
    for issue in error.errors:
        assert issue.line >= 1 and issue.column >= 1
        assert len(issue.message) > 15 and len(str(issue)) < 1000, "a sentence, not a dump of the file"
    assert [str(issue) for issue in _load(text, tmp_path, "python").errors] == [str(issue) for issue in error.errors]


@pytest.mark.parametrize(("case_id", "text"), [(c[0], c[1]) for c in HOSTILE if c[0] in SINGLE_MISTAKE],
                         ids=[c[0] for c in HOSTILE if c[0] in SINGLE_MISTAKE])
def test_one_mistake_gives_one_error(case_id: str, text: str, tmp_path: Path) -> None:
    error = _load(text, tmp_path)
    assert len(error.errors) == 1, "\n".join(str(issue)[:300] for issue in error.errors)


def test_the_hostile_classes_are_all_covered() -> None:
    ids = " ".join(case[0] for case in HOSTILE)
    for word in ("alias", "bomb", "nested", "merge", "null", "empty", "mebibyte", "many", "tag", "infinite", "nan",
                 "huge", "unit", "negative", "character"):
        assert word in ids, word
    assert len(HOSTILE) >= 70


# ------------------------------------------------------------------------ the command, as a process
#
# `loadtest validate` on each class of hostile file, in its own process: exit 2, the file, a line and a
# sentence on stderr, no traceback, and bounded resources. Time is judged as the child's CPU time
# (what the work costs, robust to a busy machine) with a loose wall-clock ceiling that only catches a
# hang (an alias bomb used to run forever); memory as the child's peak RSS.

ROOT = Path(__file__).resolve().parents[2]
CPU_SECONDS_MAX = {"libyaml": 2.0, "python": 4.0}
"""Generous ceilings: a quiet run takes 0.3-0.6 s with libyaml (most of it starting Python), up to
about 1.5 s with the pure-Python parser on the largest files."""
WALL_SECONDS_MAX = 30.0
RSS_MIB_MAX = 200


PROCESS_FILES: dict[str, Callable[[], bytes]] = {
    "alias-bomb": lambda: _billion_laughs(levels=12).encode(),
    "merge-bomb": lambda: _merge_bomb().encode(),
    "deep-nesting": lambda: _nested(200_000).encode()[: (1 << 20) - 10] + b"\n",
    "deep-blocks": lambda: _block_nesting(300).encode(),
    "merge-of-scalars": lambda: (HEAD + "load:\n  <<: [1, 2]\n").encode(),
    "null-document": lambda: b"~\n",
    "twenty-megabytes": lambda: (HEAD + "description: >\n" + "  lorem ipsum dolor sit amet\n" * 700_000).encode(),
    "too-many-values": lambda: (HEAD + "payload:\n  input:\n    x: [" + ",".join(["0"] * 400_000) + "]\n").encode(),
    "many-mistakes": lambda: _many_keys(24_000).encode(),
    "bounds": lambda: b"name: t\nduration: .inf\nmix: [{flow: run_poll}]\nload: {users: 1e32}\n",
    "units": lambda: b"name: t\nduration: 10 parsecs\nmix: [{flow: run_poll}]\n",
    "not-utf8": lambda: HEAD.encode() + b"description: caf\xe9\n",
    "binary": lambda: bytes(range(256)) * 100,
    "long-line": lambda: (HEAD + "x" * ((1 << 20) - 200) + ": 1\n").encode(),
    # valid, and as large as a scenario may be: the answer is "ok", as quickly
    "valid-many-values": lambda: _many_values(45_000).encode(),
    "valid-many-aliased-values": lambda: (
        HEAD + "payload:\n  input:\n    a: &a [" + ", ".join(["word"] * 1000) + "]\n    b: ["
        + ", ".join(["*a"] * 45) + "]\n"
    ).encode(),
}


# The command is started by a small helper process that measures it with wait4: on Linux a child's peak
# RSS includes the memory of the process that forked it (the pages it shared until exec), and pytest is
# large; the helper is small, so what is measured is the command's own peak.
_MEASURE = """
import json, os, subprocess, sys, time
started = time.monotonic()
with open(sys.argv[1], "wb") as err:
    process = subprocess.Popen(sys.argv[3:], stdout=subprocess.DEVNULL, stderr=err)
    deadline = started + float(sys.argv[2])
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.005)
process.returncode = os.waitstatus_to_exitcode(status)
print(json.dumps({"code": process.returncode, "wall": time.monotonic() - started,
                  "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024}))
"""


def _run_measured(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str, float, float, float]:
    """Run ``args``; return (exit code, stderr, wall seconds, CPU seconds, peak RSS in MiB) of that process."""
    stderr_file = tmp_path / "stderr.txt"
    helper = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(stderr_file), str(WALL_SECONDS_MAX), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=WALL_SECONDS_MAX + 30,
    )
    assert helper.returncode == 0, helper.stderr
    result = json.loads(helper.stdout)
    stderr = stderr_file.read_text(encoding="utf-8", errors="replace")
    if result["wall"] >= WALL_SECONDS_MAX:
        pytest.fail(f"no answer after {WALL_SECONDS_MAX:.0f} s: {args}")
    return result["code"], stderr, result["wall"], result["cpu"], result["rss_mib"]


PARSER_BOUND = {"alias-bomb", "merge-bomb", "deep-nesting", "deep-blocks", "too-many-values", "many-mistakes",
                "long-line", "valid-many-values", "valid-many-aliased-values"}
"""The cases whose cost depends on the parser (the others are answered before parsing, or in a few events):
these run with both parsers, the rest with the default one."""


@pytest.mark.parametrize(("case", "parser"), [
    (case, parser) for case in PROCESS_FILES for parser in PARSERS if parser == "libyaml" or case in PARSER_BOUND
])
def test_validate_answers_any_file_quickly_in_little_memory(case: str, parser: str, tmp_path: Path) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(PROCESS_FILES[case]())
    env = {**os.environ, PARSER_ENV: parser}
    command = [sys.executable, "-m", "loadtest.cli", "validate", str(path)]
    code, stderr, wall, cpu, rss = _run_measured(command, env, tmp_path)
    assert "Traceback" not in stderr
    if case.startswith("valid-"):
        assert code == 0, stderr
    else:
        assert code == 2, stderr
        first = stderr.splitlines()[0]
        assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: .{{20,}}", first), first
        assert len(first) < 1000, "a sentence, not a dump of the file"
        assert stderr.splitlines()[-1].startswith(f"{path}: invalid (")
    assert cpu < CPU_SECONDS_MAX[parser], f"{cpu:.2f} s of CPU (wall {wall:.2f} s)"
    assert rss < RSS_MIB_MAX, f"peak RSS {rss:.0f} MiB"
