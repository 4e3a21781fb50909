"""End to end: a real `loadtest run` against the emulator; the run directory's figures agree with the
emulator's own per-job ground truth (percentiles within 1%, counts exactly) and the report shows them.

The emulator is started by the test (so its per-job records can be read after the run) and the scenario
targets it as an endpoint on loopback. Locust runs in a subprocess (it monkey-patches the process).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.metrics.catalog import HISTOGRAM_PERCENTILES

REPO = Path(__file__).resolve().parents[2]
KEY_ENV = "LOADTEST_GT_TEST_KEY"

SCENARIO = """
name: ground-truth
seed: 3
duration: 3s
target:
  endpoint_id: {endpoint}
  base_url: {base_url}
  api_key_env: {key_env}
  max_jobs: 400
load:
  users: 6
  spawn_rate: 50/s
mix:
  - flow: run_poll
    weight: 3
    poll: {{interval: 50ms, max_wait: 10s}}
  - flow: runsync
    weight: 1
    wait: 10s
  - flow: health
    every: 500ms
payload:
  input:
    prompt: hello
"""


def _rank_value(values: list[float], pct: float) -> float:
    """The sample at HdrHistogram's rank for a percentile: round(pct/100 × n), at least 1."""
    ordered = sorted(values)
    return ordered[max(int(pct * len(ordered) / 100 + 0.5), 1) - 1]


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory):
    from loadtest.emulator.process import EmulatorProcess

    config = {"id": "gt", "workers_min": 1, "workers_max": 2, "cold_start": "50ms", "idle_timeout": "10s",
              "execution_time": {"kind": "uniform", "min": "20ms", "max": "120ms"}, "seed": 5}
    with EmulatorProcess(config) as emu:
        root = tmp_path_factory.mktemp("gt")
        scenario = root / "scenario.yaml"
        scenario.write_text(SCENARIO.format(endpoint=emu.endpoint_id, base_url=emu.base_url, key_env=KEY_ENV))
        run_dir = root / "run"
        env = {**os.environ, KEY_ENV: "test-key-not-secret"}
        env.pop("LOADTEST_SCENARIO", None)
        result = subprocess.run(
            [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--run-dir", str(run_dir), "--no-progress"],
            cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return run_dir, emu.ground_truth(), emu.job_records()


def _records_by_id(records) -> dict[str, dict]:
    jobs = records["jobs"] if isinstance(records, dict) else records
    return {job["id"]: job for job in jobs}


def test_counts_agree_exactly(measured) -> None:
    run_dir, truth, _ = measured
    summary = json.loads((run_dir / "summary.json").read_text())
    endpoint = truth["endpoints"]["gt"]
    assert summary["requests_by_status"] == endpoint["requests"]
    requests = sum(n for codes in endpoint["requests"].values() for n in codes.values())
    assert summary["metrics"]["requests"]["overall"]["value"] == requests
    assert summary["metrics"]["jobs.submitted"]["overall"]["value"] == endpoint["jobs"]["submitted"] > 20
    health_requests = endpoint["requests"]["health"]["200"]
    assert summary["health"]["samples"] == health_requests


def test_job_percentiles_agree_with_ground_truth(measured) -> None:
    run_dir, _, records = measured
    summary = json.loads((run_dir / "summary.json").read_text())
    truth = _records_by_id(records)
    with (run_dir / "jobs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert summary["jobs"]["rows_omitted"] == 0
    for metric, column, field in (("queue_delay", "delay_ms", "delayTime"),
                                  ("execution_time", "execution_ms", "executionTime")):
        ours = [row for row in rows if row[column] != ""]
        # the same jobs, as the emulator recorded them
        expected = [float(truth[row["job_id"]][field]) for row in ours]
        figures = summary["metrics"][metric]["overall"]
        assert len(set(expected)) > 5 and max(expected) > 10  # a spread of real values, not all zeros
        # jobs still queued when the run ended count with their known wait so far (a lower bound)
        censored = [float(row["queued_ms"]) for row in rows
                    if metric == "queue_delay" and row["final_status"] == "IN_FLIGHT" and row[column] == ""
                    and row["queued_ms"] != ""]
        assert figures["count"] == len(expected) + len(censored) and len(expected) > 20
        assert figures.get("censored", 0) == len(censored)
        union = expected + censored
        for stat, pct in HISTOGRAM_PERCENTILES.items():
            assert figures[stat] == pytest.approx(_rank_value(union, pct), rel=0.01, abs=0.01), (metric, stat)
        assert figures["max"] == pytest.approx(max(union), rel=0.01, abs=0.01)
        assert figures["mean"] == pytest.approx(sum(union) / len(union), rel=0.01, abs=0.01)
    statuses = {}
    for row in rows:
        statuses[row["final_status"]] = statuses.get(row["final_status"], 0) + 1
        if row["final_status"] != "IN_FLIGHT":
            assert truth[row["job_id"]]["status"] == row["final_status"]
    assert summary["metrics"]["jobs.completed"]["overall"]["value"] == statuses.get("COMPLETED", 0)


def test_report_shows_the_run(measured) -> None:
    run_dir, _, _ = measured
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(list((run_dir / "plots").glob("*.png"))) >= 8
    summary = json.loads((run_dir / "summary.json").read_text())
    from loadtest.report.tables import fmt

    assert fmt(summary["metrics"]["queue_delay"]["overall"]["p95"], "ms") in html
    assert (run_dir / "summary.md").exists()
