"""Real runs against the emulator: the same scenario passes against its own baseline, a slower one fails.

Three short ``loadtest run`` subprocesses (Locust never runs inside pytest): a fast run saved as the
baseline, the same scenario again with ``--check`` (judged through ``loadtest run``), and the scenario
with a slower emulator (longer execution, one worker), which must fail naming the slower figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import exitcodes
from loadtest.cli import main

REPO = Path(__file__).resolve().parents[2]
FAST = (REPO / "scripts" / "ci-smoke.yaml").read_text()
SLOW = FAST.replace("workers_max: 3", "workers_max: 1").replace(
    "execution_time: {kind: uniform, min: 20ms, max: 80ms}", "execution_time: {kind: uniform, min: 150ms, max: 250ms}"
)


def _loadtest(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loadtest.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "loadtest.cli", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})


@pytest.mark.slow
def test_same_scenario_passes_and_slower_emulator_fails_against_the_baseline(tmp_path: Path) -> None:
    assert SLOW != FAST
    fast_file, slow_file = tmp_path / "fast.yaml", tmp_path / "slow.yaml"
    fast_file.write_text(FAST)
    slow_file.write_text(SLOW)
    env = {"LOADTEST_BASELINES": str(tmp_path / "baselines")}
    common = ["--duration", "6s", "--no-progress"]

    # The baseline run and the slow run are independent: run them side by side (each on its own emulator).
    first = _start(["run", str(fast_file), "--run-dir", str(tmp_path / "first"), "--no-report", *common], env)
    slow = _start(["run", str(slow_file), "--run-dir", str(tmp_path / "slow"), "--no-report", *common], env)
    try:
        first_out, _ = first.communicate(timeout=120)
        slow_out, _ = slow.communicate(timeout=120)
    finally:
        for process in (first, slow):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert first.returncode == 0, first_out
    assert slow.returncode == 0, slow_out
    assert main(["baseline", "--baselines-dir", env["LOADTEST_BASELINES"], "save", str(tmp_path / "first"),
                 "ci-smoke"]) == 0

    # Unchanged scenario, judged by `loadtest run --check` (thresholds + the scenario's baseline).
    second = _loadtest(["run", str(fast_file), "--run-dir", str(tmp_path / "second"), "--check", "--no-report",
                        *common], env)
    assert second.returncode == exitcodes.OK, second.stdout + second.stderr
    assert "check: PASSED" in second.stdout
    verdicts = json.loads((tmp_path / "second" / "verdicts.json").read_text())
    assert verdicts["baseline"] == "ci-smoke" and verdicts["counts"]["failed"] == 0
    assert sum(1 for v in verdicts["verdicts"] if v["kind"] == "baseline") >= 10

    judged = _loadtest(["check", str(tmp_path / "slow"), "--no-report", "--junit", str(tmp_path / "junit.xml")], env)
    assert judged.returncode == exitcodes.CHECK_FAILED, judged.stdout + judged.stderr
    failed = {v["metric"] for v in json.loads((tmp_path / "slow" / "verdicts.json").read_text())["verdicts"]
              if v["verdict"] == "fail"}
    assert {"execution_time.p50", "end_to_end.p50", "queue_delay.p50", "job_throughput.value"} <= failed, failed
    for metric in ("execution_time.p50", "end_to_end.p50"):
        assert metric in judged.stdout
    assert "regression:" in judged.stdout
    assert (tmp_path / "junit.xml").exists()
