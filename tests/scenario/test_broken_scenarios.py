"""Broken scenarios, one mistake each: the validator must name the line, the path and the problem.

Each case is a whole small file so the expected line numbers can be read off the text. Every case must
raise ScenarioError (never another exception) and report the expected error among its errors.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from loadtest.scenario.loader import ScenarioError, load_scenario_text

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


def _load(text: str, tmp_path: Path) -> ScenarioError:
    source = textwrap.dedent(text).lstrip("\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(source, file="case.yaml", base_dir=tmp_path, environ=ENV)
    return caught.value


def test_there_are_at_least_25_distinct_mistakes() -> None:
    assert len({case[0] for case in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize(("text", "line", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_scenario_is_reported_where_it_is(
    text: str, line: int, path: str, fragment: str, tmp_path: Path
) -> None:
    error = _load(text, tmp_path)
    rendered = "\n".join(str(issue) for issue in error.errors)
    matching = [issue for issue in error.errors if fragment in issue.message]
    assert matching, f"no error mentions {fragment!r}; got:\n{rendered}"
    issue = matching[0]
    assert (issue.line, issue.path) == (line, path), f"wrong place; got:\n{rendered}"
    assert issue.file == "case.yaml"
    assert str(issue).startswith(f"case.yaml:{line}:{issue.column}: ")
