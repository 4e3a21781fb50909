"""Reading scenario files: every error at once, interpolation, YAML details, secrets, normalisation."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from loadtest.scenario.loader import (
    ScenarioError,
    load_scenario,
    load_scenario_text,
    resolved_dict,
    validate_files,
)
from loadtest.scenario.model import EndpointTarget, OpenLoad
from loadtest.scenario.source import parse_yaml


def _text(source: str) -> str:
    return textwrap.dedent(source).lstrip("\n")


def _write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(_text(source), encoding="utf-8")
    return path


def test_all_errors_of_a_file_are_reported_together(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "many.yaml",
        """
        name: many
        durration: 10s
        load:
          users: -1
        mix:
          - flow: run_pol
          - flow: runsync
            wiat: 5s
        rate_limits:
          policy: respekt
        """,
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    found = [(issue.line, issue.path) for issue in caught.value.errors]
    assert found == [
        (2, "durration"),
        (4, "load.users"),
        (6, "mix[0].flow"),
        (8, "mix[1].wiat"),
        (10, "rate_limits.policy"),
    ]
    assert all(issue.file == str(path) for issue in caught.value.errors)
    assert str(caught.value).splitlines()[0].startswith(f"{path}:2:1: durration: unknown key")


def test_expected_and_found_are_both_said(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(_text("""
            name: t
            duration: 10s
            mix: [{flow: run_poll, weight: heavy}]
            """))
    (issue,) = caught.value.errors
    assert issue.path == "mix[0].weight"
    assert issue.message == "expected a number, found 'heavy'"


def test_interpolation_from_the_environment() -> None:
    scenario = load_scenario_text(
        _text("""
            name: ${NAME:-fallback}
            seed: ${SEED}
            duration: ${LENGTH:-15s}
            target:
              endpoint_id: ${ENDPOINT}
              base_url: "http://127.0.0.1:${PORT}/v2"
            mix: [{flow: run_poll}]
            payload:
              input: {price: "$$5", literal: "$${NOT_A_VAR}"}
            """),
        environ={"SEED": "42", "ENDPOINT": "ep-1", "PORT": "8080"},
    )
    assert scenario.name == "fallback"
    assert scenario.seed == 42
    assert scenario.duration == 15.0
    assert isinstance(scenario.target, EndpointTarget)
    assert scenario.target.endpoint_id == "ep-1"
    assert scenario.target.base_url == "http://127.0.0.1:8080/v2"
    assert scenario.payload.input == {"price": "$5", "literal": "${NOT_A_VAR}"}


def test_interpolated_plain_scalar_gets_its_yaml_type() -> None:
    scenario = load_scenario_text(
        _text("""
            name: t
            duration: 10s
            mix: [{flow: run_poll}]
            payload:
              input:
                count: ${N}
                quoted: "${N}"
                flag: ${F}
            """),
        environ={"N": "7", "F": "true"},
    )
    assert scenario.payload.input == {"count": 7, "quoted": "7", "flag": True}


def test_every_unset_variable_is_named_once() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(
            _text("""
                name: t
                duration: 10s
                target:
                  endpoint_id: ${MISSING_ID}
                  base_url: ${MISSING_URL}
                mix: [{flow: run_poll}]
                """),
            environ={},
        )
    messages = [(issue.line, issue.message) for issue in caught.value.errors]
    assert messages == [
        (4, "environment variable MISSING_ID is not set (write ${MISSING_ID:-default} for a fallback)"),
        (5, "environment variable MISSING_URL is not set (write ${MISSING_URL:-default} for a fallback)"),
    ]


def test_unclosed_variable_is_an_error() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text("name: ${OOPS\nduration: 1s\nmix: [{flow: run_poll}]\n", environ={})
    assert "without a closing '}'" in caught.value.errors[0].message


def test_yaml_syntax_error_has_its_line_and_no_traceback() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text("name: t\nmix:\n  - flow: run_poll\n   weight: 2\n", file="s.yaml")
    (issue,) = caught.value.errors
    assert issue.line == 4
    assert issue.message.startswith("YAML syntax error:")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    missing = tmp_path / "nope.yaml"
    issues = validate_files([empty, missing])
    assert [(issue.file, issue.message) for issue in issues] == [
        (str(empty), "no scenario here: the file is empty (no YAML document, at most comments); a scenario is a "
                     "mapping of keys (name, duration, mix, ...)"),
        (str(missing), "file not found"),
    ]


def test_anchors_and_merge_keys_work() -> None:
    scenario = load_scenario_text(_text("""
        name: t
        duration: 10s
        mix:
          - flow: run_poll
            poll: &fast {interval: 100ms, max_wait: 5s}
          - flow: runsync
            poll:
              <<: *fast
              interval: 200ms
        """))
    assert scenario.mix[0].poll.interval == pytest.approx(0.1)
    assert scenario.mix[1].poll.interval == pytest.approx(0.2)
    assert scenario.mix[1].poll.max_wait == 5.0


def test_unknown_top_level_key_lists_what_is_allowed_when_nothing_is_close() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text("name: t\nduration: 1s\nmix: [{flow: run_poll}]\nzzz: 1\n")
    message = caught.value.errors[0].message
    assert message.startswith("unknown key 'zzz' (allowed here: ")
    assert "rate_limits" in message and "thresholds" in message


def test_keys_that_yaml_11_reads_as_booleans_stay_words() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text("name: t\nduration: 1s\nmix: [{flow: run_poll}]\non: 1\n")
    assert caught.value.errors[0].path == "on"


def test_thresholds_are_normalised_to_catalogue_units() -> None:
    scenario = load_scenario_text(_text("""
        name: t
        duration: 1m
        load: {arrival_rate: 5/s}
        mix: [{flow: run_poll}]
        thresholds:
          - {metric: end_to_end.p95, max: 2s}
          - {metric: queue_delay.p99, max: 750}
          - {metric: rate_429, max: 5%}
          - {metric: job_throughput, min: 120/m}
          - {metric: jobs.failed, max: 3}
          - {metric: "latency.p99{op=status}", max: 250ms}
        """))
    bounds = [(t.max, t.min) for t in scenario.thresholds]
    assert bounds == [(2000.0, None), (750.0, None), (0.05, None), (None, 2.0), (3.0, None), (250.0, None)]
    assert isinstance(scenario.load, OpenLoad)


def test_resolved_dict_has_defaults_and_no_secrets(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "secret.yaml",
        """
        name: t
        duration: 10s
        target:
          endpoint_id: ${ENDPOINT}
        mix: [{flow: run_poll}]
        payload:
          webhook: "https://hooks.example/${HOOK_TOKEN}/done"
        """,
    )
    scenario = load_scenario(path, environ={"ENDPOINT": "ep-1", "HOOK_TOKEN": "s3cr3t-value"})
    assert scenario.payload.webhook == "https://hooks.example/s3cr3t-value/done"
    data = resolved_dict(scenario)
    text = json.dumps(data)
    assert "s3cr3t-value" not in text
    assert data["payload"]["webhook"] == "https://hooks.example/${HOOK_TOKEN}/done"
    assert data["target"]["endpoint_id"] == "ep-1"  # not secret-looking: kept
    assert data["target"]["api_key_env"] == "RUNPOD_API_KEY"
    assert "api_key" not in data["target"]
    assert data["rate_limits"]["on_429"]["backoff"]["multiplier"] == 2.0  # defaults filled in
    assert scenario.base_dir == tmp_path.resolve()


def test_validate_files_collects_every_file(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.yaml", "name: g\nduration: 1s\nmix: [{flow: run_poll}]\n")
    bad_a = _write(tmp_path, "a.yaml", "name: a\nduration: 1s\nmix: [{flow: nope}]\n")
    bad_b = _write(tmp_path, "b.yaml", "name: b\nduration: -1s\nmix: [{flow: run_poll}]\n")
    issues = validate_files([good, bad_a, bad_b])
    assert [issue.file for issue in issues] == [str(bad_a), str(bad_b)]
    assert validate_files([good]) == []


def test_whole_scenario_checks_are_reported_with_key_errors() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(_text("""
            name: both
            duration: 60s
            load:
              stages:
                - {duration: 20s, users: 2}
              spawn_rat: 2/s
            mix:
              - {flow: run_poll, weight: 0, poll: {intervl: 1s}}
            thresholds:
              - {metric: first_chunk.p95, max: 1s}
            """))
    assert [(issue.line, issue.path) for issue in caught.value.errors] == [
        (2, "duration"),
        (6, "load.spawn_rat"),
        (8, "mix"),
        (8, "mix[0].poll.intervl"),
        (10, "thresholds[0].metric"),
    ]


def test_whole_scenario_checks_wait_when_a_list_item_is_broken() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text("name: t\nduration: 5s\nmix: [{flow: nope}]\nthresholds: [{metric: dropped, max: 0}]\n")
    assert [issue.path for issue in caught.value.errors] == ["mix[0].flow"]


SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_both_parsers_read_every_example_alike(path: Path) -> None:
    """Same data, same line and column for every key and value, whichever YAML parser reads the file."""
    text = path.read_text(encoding="utf-8")
    environ = {"RUNPOD_ENDPOINT_ID": "abc"}
    fast, slow = parse_yaml(text, environ, parser="libyaml"), parse_yaml(text, environ, parser="python")
    assert fast.data == slow.data and fast.problems == slow.problems == []
    assert fast.source_map == slow.source_map
    assert len(fast.source_map.values) > 20


def test_anchors_merges_and_interpolation_read_alike_by_both_parsers() -> None:
    text = _text("""
        name: t  # comment
        defaults: &d {interval: 100ms, max_wait: 5s}
        more: &m {backoff: 2}
        mix:
          - flow: run_poll
            poll:
              <<: [*d, *m]
              interval: 200ms
          - {flow: runsync, poll: *d}
        description: |
          two
          lines
        seed: ${SEED}
        quoted: "${SEED}"
        when: 2024-05-01
        unicode: "ünïcödé ✓"
        """)
    results = [parse_yaml(text, {"SEED": "7"}, parser=parser) for parser in ("libyaml", "python")]
    assert results[0].data == results[1].data and results[0].source_map == results[1].source_map
    data = results[0].data
    assert data["mix"][0]["poll"] == {"max_wait": "5s", "backoff": 2, "interval": "200ms"}
    assert data["seed"] == 7 and data["quoted"] == "7" and data["when"] == "2024-05-01"
    assert results[0].source_map.values[("mix", 1, "poll", "interval")].line == 2  # where the anchor is written


def test_a_file_too_large_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(3 << 30)  # a sparse 3 GiB file: reading it whole would take seconds and gigabytes
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (issue,) = caught.value.errors
    assert (issue.line, issue.column) == (1, 1)
    assert issue.message.startswith("the file is larger than 1 MiB, the most a scenario may be")


def test_unreadable_paths_are_located_errors(tmp_path: Path) -> None:
    issues = validate_files([tmp_path, Path("/dev/zero")])
    assert [(issue.line, issue.message[:40]) for issue in issues] == [
        (1, "this is a directory, not a scenario file"),
        (1, "the file is larger than 1 MiB, the most "),
    ]


def test_utf16_and_byte_order_marks_are_read() -> None:
    from loadtest.scenario.source import decode_source

    text = "name: t\nduration: 1s\nmix: [{flow: run_poll}]\n"
    for data in (text.encode("utf-8-sig"), text.encode("utf-16"), text.encode()):
        assert decode_source(data) == text


def test_at_most_100_mistakes_are_listed_then_how_many_more() -> None:
    text = "name: t\nduration: 1s\nmix: [{flow: run_poll}]\n" + "".join(f"k{i}: 1\n" for i in range(1500))
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text)
    errors = caught.value.errors
    assert len(errors) == 101
    assert [issue.line for issue in errors[:100]] == list(range(4, 104))
    assert errors[100].message == "... and 1,400 more mistakes, not listed; fix the ones above first"
