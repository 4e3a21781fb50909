"""``loadtest run`` of the CI-sized real-worker scenario: the user's own RunPod handler (an example under
``examples/workers/``) as the emulator's workers, end to end, with nothing left running afterwards."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _live_processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_real_worker_smoke_scenario_runs_the_example_handler(tmp_path: Path, traffic) -> None:
    marker = uuid.uuid4().hex
    run_dir = tmp_path / "run"
    result = traffic.run_loadtest(
        ["run", "scenarios/real-worker-smoke.yaml", "--duration", "3s", "--run-dir", str(run_dir), "--no-progress",
         "--no-report"],
        env={"LOADTEST_TEST_MARKER": marker}, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    truth = json.loads((run_dir / "ground_truth.json").read_text())["endpoints"]["emulated"]
    real = truth["real_workers"]
    assert real["label"].startswith("real worker: python -u plain.py, runpod SDK ")
    assert real["timings_ms"]["cold_start"]["count"] >= 1 and real["crashes"] == 0
    assert truth["jobs"]["final"]["COMPLETED"] >= 1 and truth["jobs"]["final"]["FAILED"] == 0
    outputs = sorted(path.name for path in (run_dir / "workers").iterdir())
    assert outputs and all(name.startswith("emulated-") for name in outputs)
    assert any("Starting Serverless Worker" in path.read_text() for path in (run_dir / "workers").iterdir())
    assert not _live_processes_with(marker)
