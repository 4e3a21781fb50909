"""The payload factory: every generator, determinism by seed, worker streams, flow overrides."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from loadtest.scenario.loader import load_scenario_text
from loadtest.scenario.model import Payload
from loadtest.scenario.payload import PayloadFactory


def _scenario(payload_yaml: str, tmp_path: Path, mix: str = "[{flow: run_poll}]"):
    text = f"name: p\nduration: 10s\nmix: {mix}\npayload:\n" + textwrap.indent(textwrap.dedent(payload_yaml), "  ")
    return load_scenario_text(text, file="p.yaml", base_dir=tmp_path)


def test_same_seed_same_payloads_other_seed_other_payloads(tmp_path: Path) -> None:
    payload = """
    input:
      prompt: {$text: 40}
      size: {$choice: [s, m, l]}
      n: {$number: {min: 1, max: 1000, integer: true}}
      id: {$uuid: true}
    """
    scenario = _scenario(payload, tmp_path)
    first = [PayloadFactory.for_scenario(scenario).make("run_poll") for _ in range(1)]
    a = PayloadFactory.for_scenario(scenario)
    b = PayloadFactory.for_scenario(scenario)
    run_a = [a.make("run_poll") for _ in range(20)]
    run_b = [b.make("run_poll") for _ in range(20)]
    assert run_a == run_b
    assert run_a[0] == first[0]
    assert len({json.dumps(body) for body in run_a}) == 20  # fresh values per job
    scenario.seed = 2
    other = PayloadFactory.for_scenario(scenario)
    assert [other.make("run_poll") for _ in range(20)] != run_a


def test_generators_produce_what_they_promise(tmp_path: Path) -> None:
    scenario = _scenario(
        """
        input:
          text: {$text: 300}
          blob: {$bytes: 2KiB}
          n: {$number: {min: 2, max: 4, integer: true}}
          x: {$number: {min: 0.5, max: 0.75}}
          id: {$uuid: true}
          nested: {list: [1, {$counter: 10}], keep: {mock_delay: 0.2, mock_return: [a, b]}}
        """,
        tmp_path,
    )
    factory = PayloadFactory.for_scenario(scenario)
    bodies = [factory.make("run_poll")["input"] for _ in range(50)]
    for index, body in enumerate(bodies):
        assert len(body["text"]) == 300 and re.fullmatch(r"[a-z][a-z ]*[a-z]", body["text"])
        assert len(body["blob"]) == 2048 and re.fullmatch(r"[A-Za-z0-9+/]+", body["blob"])
        assert body["n"] in (2, 3, 4)
        assert 0.5 <= body["x"] <= 0.75
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", body["id"])
        assert body["nested"] == {"list": [1, 10 + index], "keep": {"mock_delay": 0.2, "mock_return": ["a", "b"]}}
    assert {body["n"] for body in bodies} == {2, 3, 4}


def test_choice_weights_and_cycle(tmp_path: Path) -> None:
    scenario = _scenario(
        """
        input:
          weighted: {$choice: {values: [rare, common], weights: [1, 9]}}
          turn: {$choice: {values: [a, b, c], order: cycle}}
        """,
        tmp_path,
    )
    factory = PayloadFactory.for_scenario(scenario)
    bodies = [factory.make("run_poll")["input"] for _ in range(1000)]
    common = sum(body["weighted"] == "common" for body in bodies)
    assert 820 <= common <= 970
    assert [body["turn"] for body in bodies[:7]] == ["a", "b", "c", "a", "b", "c", "a"]


def test_counters_interleave_across_worker_streams(tmp_path: Path) -> None:
    scenario = _scenario('input: {id: {$counter: {start: 100, step: 1, format: "job-{n}"}}}\n', tmp_path)
    seen = []
    for stream in range(3):
        factory = PayloadFactory.for_scenario(scenario, stream=stream, streams=3)
        seen += [factory.make("run_poll")["input"]["id"] for _ in range(4)]
    assert sorted(seen, key=lambda s: int(s[4:])) == [f"job-{n}" for n in range(100, 112)]
    with pytest.raises(ValueError):
        PayloadFactory(Payload(), 1, stream=3, streams=3)


def test_file_values_txt_jsonl_json(tmp_path: Path) -> None:
    (tmp_path / "lines.txt").write_text("first\n\nsecond\nthird\n")
    (tmp_path / "items.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    (tmp_path / "list.json").write_text("[10, 20]")
    scenario = _scenario(
        """
        input:
          line: {$file: {path: lines.txt, order: cycle}}
          item: {$file: {path: items.jsonl, order: cycle}}
          number: {$file: list.json}
        """,
        tmp_path,
    )
    factory = PayloadFactory.for_scenario(scenario, base_dir=tmp_path)
    bodies = [factory.make("run_poll")["input"] for _ in range(6)]
    assert [body["line"] for body in bodies] == ["first", "second", "third"] * 2
    assert [body["item"] for body in bodies[:3]] == [{"a": 1}, {"a": 2}, {"a": 1}]
    assert {body["number"] for body in bodies} <= {10, 20}


def test_flow_override_webhook_and_policy(tmp_path: Path) -> None:
    scenario = _scenario(
        """
        input: {who: default}
        webhook: http://127.0.0.1:9/hook
        policy: {execution_timeout: 30s, ttl: 1h, low_priority: true}
        """,
        tmp_path,
        mix="[{flow: run_poll}, {flow: runsync, name: special, payload: {input: {who: special}}}]",
    )
    factory = PayloadFactory.for_scenario(scenario)
    assert factory.make("run_poll") == {
        "input": {"who": "default"},
        "webhook": "http://127.0.0.1:9/hook",
        "policy": {"executionTimeout": 30000, "ttl": 3600000, "lowPriority": True},
    }
    assert factory.make("special") == {"input": {"who": "special"}}
    assert factory.make(None)["input"] == {"who": "default"}


def test_flows_draw_from_independent_streams(tmp_path: Path) -> None:
    scenario = _scenario("input: {t: {$text: 20}}\n", tmp_path, mix="[{flow: run_poll}, {flow: runsync}]")
    alone = PayloadFactory.for_scenario(scenario)
    expected = [alone.make("run_poll") for _ in range(5)]
    mixed = PayloadFactory.for_scenario(scenario)
    interleaved = []
    for _ in range(5):
        mixed.make("runsync")
        interleaved.append(mixed.make("run_poll"))
    assert interleaved == expected


def test_tokens_are_a_stream_of_n_tokens_without_a_pasted_list(tmp_path: Path) -> None:
    scenario = _scenario(
        """
        input:
          mock_return: {$tokens: 50}
          long: {$tokens: {count: 3, length: 7}}
          none: {$tokens: 0}
        """,
        tmp_path,
    )
    factory = PayloadFactory.for_scenario(scenario)
    bodies = [factory.make("run_poll")["input"] for _ in range(20)]
    for body in bodies:
        tokens = body["mock_return"]
        assert len(tokens) == 50
        assert re.fullmatch(r"[a-z]{4}", tokens[0]) and all(re.fullmatch(r" [a-z]{4}", t) for t in tokens[1:])
        assert len(body["long"]) == 3 and len(body["long"][2]) == 8
        assert body["none"] == []
    assert len({tuple(body["mock_return"]) for body in bodies}) == 20  # fresh per job
    again = PayloadFactory.for_scenario(scenario)
    assert [again.make("run_poll")["input"] for _ in range(20)] == bodies  # and deterministic by seed


def test_values_files_are_bounded_and_regular(tmp_path: Path) -> None:
    from loadtest.scenario.payload import MAX_VALUES_FILE_BYTES, load_file_values

    big = tmp_path / "big.txt"
    big.write_bytes(b"line\n" * (MAX_VALUES_FILE_BYTES // 5 + 1))
    with pytest.raises(ValueError, match="larger than 16 MiB"):
        load_file_values(big)
    with pytest.raises(ValueError, match="not a regular file"):
        load_file_values(Path("/dev/zero"))
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"ok\ncaf\xe9\n")
    with pytest.raises(ValueError, match=r"not UTF-8 text \(line 2\)"):
        load_file_values(latin)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        load_file_values(broken)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        load_file_values(deep)


def test_a_values_file_that_is_a_device_is_a_located_error(tmp_path: Path) -> None:
    from loadtest.scenario.loader import ScenarioError

    with pytest.raises(ScenarioError) as caught:
        _scenario("input:\n  a: &z {$file: /dev/zero}\n  b: [*z, *z, *z]\n", tmp_path)
    assert [(issue.line, issue.message) for issue in caught.value.errors] == [
        (6, "cannot use values file '/dev/zero': /dev/zero: not a regular file")  # once, though used 4 times
    ]
