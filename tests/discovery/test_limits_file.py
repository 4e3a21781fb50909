"""limits.json read back: bad files named clearly, and ``rate_limits.limits_from`` feeding ``respect``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.contract import Op
from loadtest.discovered_limits import LimitsFileError, read_limits_file
from loadtest.rundir.layout import limits_file
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
    found = read_limits_file(_write(tmp_path / "limits.json", DOC))
    run = found.found(Op.RUN)
    assert run is not None and run.rate_limit is not None
    assert run.rate_limit.safe_budget == 19 and run.rate_limit.safe_window == 1.04
    stream = found.found(Op.STREAM)
    assert stream is not None and stream.concurrency_limit is not None and stream.concurrency_limit.safe_value == 6
    assert found.found(Op.STATUS) is not None and found.found(Op.STATUS).rate_limit is None  # type: ignore[union-attr]
    assert read_limits_file(limits_file(tmp_path)).found(Op.RUN) is not None  # a discovery directory works too


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
    # the traffic side imports gevent: check the table in a subprocess, as Locust never runs in pytest's process
    import subprocess
    import sys

    code = f"""
import json
from loadtest.scenario.loader import load_scenario
from loadtest.traffic.runtime import limits_table_for, build_limiters
from loadtest.contract import Op
table = limits_table_for(load_scenario({str(scenario_path)!r}))
limiters = build_limiters(load_scenario({str(scenario_path)!r}))
run, stream, status = table.operations[Op.RUN], table.operations[Op.STREAM], table.operations[Op.STATUS]
print(json.dumps({{"run": [run.rate, run.window, run.concurrency], "stream": [stream.rate, stream.window,
    stream.concurrency], "status": [status.rate, status.window], "table_window": table.window,
    "run_window": table.window_of(Op.RUN), "run_limiter_window": limiters.for_op(Op.RUN).rate._window}}))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert scenario.rate_limits.limits_from == "found/limits.json"
    assert seen["run"] == [19, 1.04, 200]  # discovered rate (cautious end) over its own window; concurrency kept
    assert seen["stream"] == [2000, None, 6]  # only the concurrency was found
    assert seen["status"] == [2000, 2.0]  # not found: the emulator's table (documented count, its own window)
    assert seen["table_window"] == 1.0 and seen["run_window"] == 1.04 and seen["run_limiter_window"] == 1.04
