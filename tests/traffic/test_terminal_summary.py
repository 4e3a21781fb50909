"""The end of a run in the terminal answers "how long did jobs wait and run" without opening a file."""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.metrics.run_figures import RunFigures
from loadtest.pipeline import console
from loadtest.rundir.documents import RunInfo, Summary

SCENARIO = """
name: terminal
duration: 3s
drain: 2s
target:
  emulator: {workers_min: 2, cold_start: 0s, execution_time: 30ms, generator: true}
load: {users: 3}
mix:
  - {flow: run_poll, name: poll, poll: {interval: 50ms}}
  - {flow: run_stream, name: chat}
payload: {input: {mock_return: [a, b, c]}}
"""


def test_the_summary_table_shows_job_times_per_flow_and_requests_by_status(tmp_path: Path, traffic) -> None:
    path = tmp_path / "terminal.yaml"
    path.write_text(SCENARIO)
    result = traffic.run_loadtest(["run", str(path), "--out-dir", str(tmp_path / "out"), "--no-progress"])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.strip().startswith("job times"))
    assert header.split()[2:] == ["p50", "p90", "p95", "p99", "max", "count"]
    rows = {line.split()[0] if not line.startswith("    ") else "flow:" + line.split()[0]: line
            for line in lines if line.strip()}
    for label in ("queue", "execution", "end", "first"):
        assert label in rows, (label, result.stdout)
    assert "flow:poll" in rows and "flow:chat" in rows  # per flow under each metric
    assert any(line.startswith("  jobs ") and "completed" in line and "unfinished" in line for line in lines)
    assert any(line.startswith("  requests ") and "run " in line for line in lines)
    too_wide = [line for line in lines if len(line) > 100 and str(tmp_path) not in line]  # paths are what they are
    assert too_wide == []
    assert lines[-1].startswith("loadtest: PASSED") and lines[-1].endswith("(exit 0)")


def test_quiet_prints_the_result_line_and_json_the_figures(tmp_path: Path, traffic) -> None:
    path = tmp_path / "terminal.yaml"
    path.write_text(SCENARIO.replace("duration: 3s", "duration: 1s"))
    quiet = traffic.run_loadtest(["run", str(path), "--out-dir", str(tmp_path / "q"), "-q"])
    assert quiet.returncode == 0 and quiet.stdout.strip().splitlines() == [quiet.stdout.strip()]
    assert quiet.stdout.startswith("loadtest: PASSED")
    as_json = traffic.run_loadtest(["run", str(path), "--out-dir", str(tmp_path / "j"), "--json"])
    document = json.loads(as_json.stdout)
    assert document["exit_code"] == 0 and document["verdicts"]["outcome"] == "passed"
    assert document["summary"]["metrics"]["end_to_end"]["overall"]["count"] > 0


def test_times_read_in_seconds_above_ten_and_lower_bounds_are_marked() -> None:
    assert console.format_ms(850.0) == "850 ms"
    assert console.format_ms(13_000.0) == "13.0 s"
    assert console.format_ms(13_000.0, lower_bound=True) == ">=13.0 s"
    assert console.format_ms(None) == "-"
    summary = Summary(RunInfo("s", 0.0, 10.0, "", ""), RunFigures({}),
                      requests_by_status={"run": {"200": 10, "429": 3}, "status": {"0": 2, "200": 40}},
                      error_messages={"status": {"0": "no answer: ConnectionRefusedError"}})
    lines = console.request_lines(summary, 10.0)
    assert "run 13 (429: 3)" in lines[0] and "status 42 (no answer: 2)" in " ".join(lines)
    assert any("ConnectionRefusedError" in line and "x2" in line for line in lines)
