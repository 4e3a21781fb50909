"""The open model keeps its arrival schedule when the target is slow, and counts arrivals it must drop."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

RATE = 40.0
SECONDS = 3

SLOW_SCENARIO = """
name: open-slow
duration: {seconds}s
target:
  emulator:
    workers_min: 80
    workers_max: 80
    cold_start: 0s
    execution_time: 1s           # every job holds its /runsync request for a second
    limits: {{concurrency: false}}
load:
  arrival_rate: {rate}/s
  arrivals: constant
  max_in_flight: {cap}
mix:
  - flow: runsync
    wait: 5s
"""


def _write(tmp_path: Path, cap: int) -> Path:
    path = tmp_path / f"open-{cap}.yaml"
    path.write_text(SLOW_SCENARIO.format(seconds=SECONDS, rate=int(RATE), cap=cap))
    return path


def _submit_times(run_dir: Path) -> list[float]:
    with open(run_dir / "jobs.csv", newline="") as handle:
        return sorted(float(row["submitted_at"]) for row in csv.DictReader(handle))


def _slope_rate(times: list[float]) -> float:
    """Arrivals per second from a least-squares line through (index, time): robust to single late starts."""
    n = len(times)
    mean_i = (n - 1) / 2
    mean_t = sum(times) / n
    slope = sum((i - mean_i) * (t - mean_t) for i, t in enumerate(times)) / sum((i - mean_i) ** 2 for i in range(n))
    return 1.0 / slope


def test_rate_is_kept_within_two_percent_against_a_slow_target(tmp_path: Path, traffic) -> None:
    run_dir = tmp_path / "run"
    result = traffic.run_loadtest(["run", str(_write(tmp_path, cap=500)), "--run-dir", str(run_dir), "--no-report"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    truth = traffic.endpoint_truth(traffic.read_json(run_dir, "ground_truth.json"))
    open_model = summary["run"]["settings"]["open_model"]
    assert open_model["dropped"] == 0
    assert open_model["scheduled"] == open_model["started"] == int(RATE * SECONDS)
    assert truth["jobs"]["submitted"] == int(RATE * SECONDS)
    times = _submit_times(run_dir)
    assert len(times) == int(RATE * SECONDS)
    assert _slope_rate(times) == pytest.approx(RATE, rel=0.02)
    # the target really was slow: most flows were still waiting on it when later ones started
    latency_p50_ms = summary["metrics"]["latency"]["by_op"]["runsync"]["p50"]
    assert latency_p50_ms >= 900
    traffic.assert_counts_match_ground_truth(summary, truth)


def test_arrivals_beyond_max_in_flight_are_dropped_and_counted(tmp_path: Path, traffic) -> None:
    run_dir = tmp_path / "run"
    result = traffic.run_loadtest(["run", str(_write(tmp_path, cap=10)), "--run-dir", str(run_dir), "--no-report"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    truth = traffic.endpoint_truth(traffic.read_json(run_dir, "ground_truth.json"))
    open_model = summary["run"]["settings"]["open_model"]
    assert open_model["scheduled"] == int(RATE * SECONDS)
    assert open_model["dropped"] > 0
    assert open_model["started"] + open_model["dropped"] == open_model["scheduled"]
    assert summary["metrics"]["dropped"]["overall"]["value"] == open_model["dropped"]
    assert truth["jobs"]["submitted"] == open_model["started"]
    assert "dropped" in result.stdout
    traffic.assert_counts_match_ground_truth(summary, truth)
