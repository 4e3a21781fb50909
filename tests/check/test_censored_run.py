"""An overloaded run against the emulator, cut off with jobs still queued (no drain): the reported queue
delay percentiles are lower bounds of the truth (the emulator's own delayTime of every job, once it has
worked off its queue after the run), capped where a cap is given, exact where not marked; a ``max``
threshold the bound breaks fails, one it cannot decide is not judged.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest import exitcodes
from loadtest.emulator.process import EmulatorProcess
from loadtest.metrics.catalog import HISTOGRAM_PERCENTILES

REPO = Path(__file__).resolve().parents[2]
KEY_ENV = "LOADTEST_CENSORED_TEST_KEY"
SLACK_MS = 20.0
"""The emulator dates a job's start by its simulated clock, which a busy loop may set a little before the
answer that still called it queued: this much is allowed between our bound and its delayTime."""

SCENARIO = """
name: overloaded
seed: 4
duration: 3s
drain: 0s
target:
  endpoint_id: {endpoint}
  base_url: {base_url}
  api_key_env: {key_env}
  max_jobs: 200
load:
  users: 10
  spawn_rate: 100/s
mix:
  - flow: run_poll
    poll: {{interval: 100ms, max_wait: 60s}}
thresholds:
  - metric: queue_delay.p95
    max: 100ms
  - metric: queue_delay.p95
    max: 10min
"""


def _rank_value(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(pct * len(ordered) / 100 + 0.5), 1) - 1]


@pytest.mark.slow
def test_percentiles_of_an_overloaded_run_bound_the_truth(tmp_path: Path) -> None:
    config = {"id": "over", "workers_min": 1, "workers_max": 1, "cold_start": 0, "execution_time": "150ms",
              "seed": 2}
    with EmulatorProcess(config) as emu:
        scenario = tmp_path / "scenario.yaml"
        scenario.write_text(SCENARIO.format(endpoint=emu.endpoint_id, base_url=emu.base_url, key_env=KEY_ENV))
        run_dir = tmp_path / "run"
        env = {**os.environ, KEY_ENV: "test-key-not-secret"}
        env.pop("LOADTEST_SCENARIO", None)
        result = subprocess.run(
            [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--run-dir", str(run_dir), "--no-progress",
             "--no-report"], cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the emulator works off what the run left queued
            jobs = emu.ground_truth(emu.endpoint_id)["endpoints"][emu.endpoint_id]["jobs"]
            if jobs["in_queue"] == 0 and jobs["in_progress"] == 0:
                break
            time.sleep(0.2)
        truth = {job["id"]: job for job in emu.job_records()}

    summary = json.loads((run_dir / "summary.json").read_text())
    figures = summary["metrics"]["queue_delay"]["overall"]
    with (run_dir / "jobs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    unfinished = [row for row in rows if row["final_status"] == "IN_FLIGHT"]
    assert len(unfinished) >= 0.1 * len(rows) > 2, "the run was meant to end overloaded"
    assert figures["censored"] >= len([r for r in unfinished if r["delay_ms"] == ""]) > 0
    true_delays = [float(truth[row["job_id"]]["delayTime"]) for row in rows]
    for stat, pct in HISTOGRAM_PERCENTILES.items():
        exact = _rank_value(true_delays, pct)
        assert figures[stat] <= exact * 1.001 + SLACK_MS, (stat, figures[stat], exact)  # never flatters
        if stat not in figures["lower_bounds"]:
            assert figures[stat] == pytest.approx(exact, rel=1e-3, abs=SLACK_MS), stat
        elif stat in figures["upper_bounds"]:
            assert exact <= figures["upper_bounds"][stat] * 1.001 + SLACK_MS, stat
    assert "p95" in figures["lower_bounds"] and "max" in figures["lower_bounds"]

    verdicts = {v["details"]["max"]: v for v in json.loads((run_dir / "verdicts.json").read_text())["verdicts"]
                if v["metric"] == "queue_delay.p95"}
    assert verdicts[100]["verdict"] == "fail"  # even the lower bound is above it
    assert verdicts[600_000]["verdict"] == "not judged" and "unfinished" in verdicts[600_000]["why"]
    assert result.returncode == exitcodes.CHECK_FAILED, result.stdout + result.stderr
