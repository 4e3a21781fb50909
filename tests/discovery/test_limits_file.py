"""limits.json read back: bad files named clearly, and ``rate_limits.limits_from`` feeding ``respect``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.contract import Op
from loadtest.discovery_document import LimitsFileError, read_limits_file
from loadtest.limits_in_force import Source
from loadtest.rundir.layout import limits_file
from loadtest.scenario.limit_sources import scenario_limits
from loadtest.scenario.loader import ScenarioError, load_scenario

DOC = {
    "format": 1, "kind": "limit-discovery",
    "operations": {
        "run": {"rate_limit": {"value": 20, "interval": [19, 20], "window_s": 1.0, "window_interval": [0.98, 1.04],
                               "window_kind": "fixed"},
                "rate_search": {"status": "found", "anything": ["kept as data"]}},
        "stream": {"concurrency_limit": {"value": 6, "interval": [6, 6]}},
        "status": {"rate_search": {"status": "not_reached"}},
    },
    "evidence_of_a_newer_version": {"ignored": True},
}


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_the_safe_end_of_each_interval_is_what_a_client_may_count_on(tmp_path: Path) -> None:
    found = read_limits_file(_write(tmp_path / "limits.json", DOC)).operations
    run = found[Op.RUN].rate_limit
    assert run is not None and run.source == Source.DISCOVERED
    assert run.safe_value == 19 and run.safe_window_s == 1.04
    stream = found[Op.STREAM].concurrency_limit
    assert stream is not None and stream.safe_value == 6
    assert found[Op.STATUS].rate_limit is None
    assert Op.RUN in read_limits_file(limits_file(tmp_path)).operations  # a discovery directory works too


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        (json.dumps({"format": 1, "operations": {}}), "not a limit discovery"),
        (json.dumps({**DOC, "operations": {"run": {"rate_limit": {"value": -3, "window_s": 1}}}}),
         "operations.run.rate_limit.value"),
        (json.dumps({**DOC, "operations": {"bogus": {}}}), "operations.bogus"),
        (json.dumps({**DOC, "operations": {"run": {"rate_limit": {"value": 3, "window_s": 1,
                                                                   "interval": [4, 2]}}}}), "interval"),
    ],
)
def test_a_bad_limits_file_is_named_with_what_is_wrong(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "limits.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(LimitsFileError) as caught:
        read_limits_file(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


SCENARIO = """
name: from-discovery
duration: 5s
target:
  emulator:
    limits: {{window: 1s, rate_overrides: {{run: 50}}, window_overrides: {{status: 2s}}}}
mix:
  - flow: run_stream
rate_limits:
  policy: respect
  limits_from: {path}
"""


def test_a_scenario_naming_a_missing_or_bad_file_is_refused_with_its_location(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO.format(path="found/limits.json"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(scenario)
    (issue,) = caught.value.errors
    assert "rate_limits.limits_from" in str(issue) and "no such file" in str(issue) and ":11:" in str(issue), issue


def test_limits_from_replaces_the_targets_limits_for_the_operations_it_covers(tmp_path: Path) -> None:
    (tmp_path / "found").mkdir()
    _write(tmp_path / "found" / "limits.json", DOC)
    scenario_path = tmp_path / "s.yaml"
    scenario_path.write_text(SCENARIO.format(path="found/limits.json"))
    scenario = load_scenario(scenario_path)
    assert scenario.rate_limits.limits_from == "found/limits.json"
    limits = scenario_limits(scenario)
    run, stream, status = limits.get(Op.RUN), limits.get(Op.STREAM), limits.get(Op.STATUS)
    # discovered rate (the cautious end) over its own window; the emulator's concurrency kept
    assert run.rate is not None and run.rate.source == Source.DISCOVERED
    assert (run.rate.safe_value, run.rate.safe_window_s) == (19, 1.04)
    assert run.concurrency is not None and (run.concurrency.source, run.concurrency.value) == (Source.EMULATOR, 200)
    # only the concurrency was found
    assert stream.rate is not None and (stream.rate.source, stream.rate.value) == (Source.EMULATOR, 2000)
    assert stream.concurrency is not None and (stream.concurrency.source, stream.concurrency.value) == (
        Source.DISCOVERED, 6)
    # not found: the emulator's figures (the documented count, its own window)
    assert status.rate is not None and (status.rate.source, status.rate.value, status.rate.window_s) == (
        Source.EMULATOR, 2000, 2.0)
    # the client's limiter paces the cautious budget over the longest window (the traffic side imports gevent:
    # checked in a subprocess, as Locust never runs in pytest's process)
    import subprocess
    import sys

    code = f"""
import json
from loadtest.scenario.loader import load_scenario
from loadtest.traffic.runtime import build_limiters
from loadtest.contract import Op
limiters = build_limiters(load_scenario({str(scenario_path)!r}))
run = limiters.for_op(Op.RUN)
print(json.dumps([run.rate._window, run.rate.budget, run.concurrency.limit]))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [1.04, 17.1, 180]  # 90 % of 19 per 1.04 s; 90 % of 200 in flight
