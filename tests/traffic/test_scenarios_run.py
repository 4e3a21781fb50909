"""Every example scenario runs end to end against the emulator, and our counts match its ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
EMULATED = sorted(p.name for p in SCENARIOS.glob("*.yaml") if p.name != "real-endpoint.yaml")


@pytest.mark.parametrize("name", EMULATED)
def test_example_scenario_runs_and_agrees_with_ground_truth(name: str, run_dir: Path, traffic) -> None:
    result = traffic.run_loadtest(
        ["run", str(SCENARIOS / name), "--duration", "1.5s", "--run-dir", str(run_dir), "--no-report",
         "--no-thresholds"]  # thresholds are written for the full duration
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    assert summary["run"]["interrupted"] is False
    assert summary["metrics"]["requests"]["overall"]["value"] > 0
    truth = traffic.endpoint_truth(traffic.read_json(run_dir, "ground_truth.json"))
    traffic.assert_counts_match_ground_truth(summary, truth)
    for file_name in ("locust_stats.csv", "locust.html", "jobs.csv", "scenario.yaml"):
        assert (run_dir / file_name).exists(), file_name
    assert f"run dir   {run_dir}" in result.stdout
