"""``loadtest limits``: refusals before any traffic (exit 2, one clear sentence), the job cap, "not reached"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REAL = """
name: real
duration: 10s
target:
  endpoint_id: abc123
  base_url: https://api.example.invalid/v2
  api_key_env: LIMITS_TEST_KEY
  max_jobs: 40
mix:
  - flow: run_poll
"""

EMULATED = """
name: capped
duration: 10s
target:
  emulator:
    workers_min: 2
    cold_start: 0s
    execution_time: 10ms
    limits: {window: 1s, rate_overrides: {run: 20}, queue_size_limit: 8}
mix:
  - flow: run_poll
"""


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["{real}"], {"LIMITS_TEST_KEY": "k" * 20}, "--confirm-probe"),
        (["{real}", "--ops", "run,purge-queue"], {"LIMITS_TEST_KEY": "k" * 20}, "drops every queued job"),
        (["{real}", "--confirm-probe"], {}, "LIMITS_TEST_KEY is set but empty"),
        (["https://api.example.invalid/v2/abc"], {"RUNPOD_API_KEY": "k" * 20}, "at most 1000"),
        (["https://api.example.invalid/v2/abc", "--confirm-probe"], {"RUNPOD_API_KEY": ""},
         "RUNPOD_API_KEY is set but empty"),
        (["{real}", "--ops", "run,bogus"], {}, "unknown operation bogus"),
        (["{real}", "--ops", ""], {}, "--ops names no operation"),
        (["{real}", "--ops", "openai", "--confirm-probe"], {"LIMITS_TEST_KEY": "k" * 20},
         "openai cannot be discovered"),
        (["{real}", "--payload", "{not json"], {}, "--payload is not JSON"),
        (["{real}", "--start-rate", "500/s"], {}, "above --max-rate"),
        (["ftp://host/v2/x"], {}, "no such scenario file"),
        (["{real}", "--max-jobs", "0"], {}, "must be greater than 0"),
    ],
)
def test_bad_input_is_refused_before_any_traffic(tmp_path: Path, discovery: Any, args: list[str],
                                                 env: dict[str, str], message: str) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(REAL)
    run_dir = tmp_path / "out"
    command = ["limits", *[a.replace("{real}", str(real)) for a in args], "--run-dir", str(run_dir)]
    result = discovery.loadtest(command, env={"LIMITS_TEST_KEY": "", **env}, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not run_dir.exists()  # nothing started, nothing written


def test_a_run_directory_in_use_is_refused_unless_forced(tmp_path: Path, discovery: Any) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(EMULATED)
    run_dir = tmp_path / "used"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("mine")
    result = discovery.loadtest(["limits", str(scenario), "--ops", "run", "--run-dir", str(run_dir)], timeout=60)
    assert result.returncode == 2 and "already holds files" in result.stderr


def test_the_job_cap_stops_the_search_with_what_it_proved(tmp_path: Path, discovery: Any) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(EMULATED)
    run_dir = tmp_path / "capped"
    result = discovery.loadtest(["limits", str(scenario), "--ops", "run", "--max-jobs", "15", "--run-dir",
                                 str(run_dir)], timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = discovery.read_limits(run_dir)
    run = doc["operations"]["run"]
    assert "rate_limit" not in run
    search = run["rate_search"]
    assert search["status"] == "not_reached" and "job cap" in search["reason"]
    assert search["lower_bound_per_s"] > 10
    truth = json.loads((run_dir / "ground_truth.json").read_text())
    (endpoint,) = truth["endpoints"].values()
    assert doc["jobs_created"] == endpoint["jobs"]["submitted"] <= 15
    assert doc["settings"]["max_jobs"] == 15 and doc["target"]["kind"] == "emulator"
    assert "no limit reached up to" in run["differences"]["rate"]


def test_no_limit_is_not_reached_and_the_queue_size_threshold_is_found(tmp_path: Path, discovery: Any) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(EMULATED)
    run_dir = tmp_path / "health"
    result = discovery.loadtest(["limits", str(scenario), "--ops", "health", "--start-rate", "10/s", "--max-rate",
                                 "20/s", "--ceiling-hold", "2s", "--queue-size", "--run-dir", str(run_dir)],
                                timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = discovery.read_limits(run_dir)
    queue = doc["queue_size"]
    assert queue["status"] == "exercised" and queue["threshold"] == {"value": 8, "interval": [8, 8]}
    assert queue["submitted"] == doc["jobs_created"] + 1  # the refused one created no job
    assert "refused above 8 queued" in result.stdout
    truth = json.loads((run_dir / "ground_truth.json").read_text())
    (endpoint,) = truth["endpoints"].values()
    assert endpoint["rejected"] == {"run": {"queue_size": 1}}
    assert endpoint["jobs"]["submitted"] == doc["jobs_created"]
    assert endpoint["jobs"]["in_progress"] == 0  # the jobs that last were cancelled or dropped, not left running
    health = doc["operations"]["health"]
    search = health["rate_search"]
    assert search["status"] == "not_reached" and "--max-rate" in search["reason"]
    assert search["lower_bound_per_s"] == pytest.approx(20, rel=0.1)
    assert health["differences"]["rate"].startswith("no limit reached up to")
    assert health["documented"] == {"rate_limit": None, "concurrency_limit": None}
    assert "/health" in result.stdout and "not reached" in result.stdout


def test_an_interrupted_discovery_writes_what_it_found(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(EMULATED)
    run_dir = tmp_path / "interrupted"
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    process = subprocess.Popen([sys.executable, "-m", "loadtest.cli", "limits", str(scenario), "--ops", "run",
                                "--run-dir", str(run_dir)], cwd=Path(__file__).resolve().parents[2], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        for line in process.stdout:  # wait until the search is under way (its first cycle)
            if " budget " in line or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    doc = json.loads((run_dir / "limits.json").read_text())
    assert doc["complete"] is False and doc["stopped"] == "interrupted"
    run = doc["operations"]["run"]
    assert "stopped: interrupted" in run["notes"] and run["steps"]
    assert (run_dir / "limits.html").exists() and (run_dir / "requests.csv").exists()
    truth = json.loads((run_dir / "ground_truth.json").read_text())
    (endpoint,) = truth["endpoints"].values()
    assert doc["jobs_created"] == endpoint["jobs"]["submitted"]
