"""Helpers for the check tests: synthetic run directories drawn from known distributions.

A synthetic run feeds a real ``Recorder`` the way the traffic side does (jobs, their requests, /health
samples, per-second buckets) with samples drawn from fixed distributions, then writes a real run
directory with ``write_run_directory``. Two runs with different seeds are "the same scenario run twice";
``slow`` stretches queue delay and execution time (and, as in a closed model, lowers the job rate).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from loadtest.metrics.recorder import JobRecord, Recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory

REPO = Path(__file__).resolve().parents[2]
SYNTHETIC_SCENARIO: dict[str, Any] = {
    "name": "synthetic",
    "thresholds": [
        {"metric": "end_to_end.p95", "max": "2s"},
        {"metric": "job_failure_rate", "max": "5%"},
    ],
}


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the small means used here."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def synthetic_run(
    path: Path,
    seed: int,
    *,
    duration_s: int = 20,
    jobs_per_s: float = 20.0,
    slow: float = 1.0,
    throttle_p: float = 0.01,
    fail_p: float = 0.005,
    scenario: dict[str, Any] | None = None,
) -> Path:
    """Write a run directory at ``path`` whose samples come from the module's fixed distributions."""
    rng = random.Random(seed)
    start = 1_800_000_000.0 + (seed % 1000) * 3600 + 0.37  # not bucket-aligned, like a real run
    recorder = Recorder(start=start)
    for second in range(duration_s):
        t0 = start + second
        recorder.record_health({"jobs": {"inQueue": _poisson(rng, 2.0 * slow), "inProgress": 3},
                                "workers": {"running": 3}}, t=t0)
        for _ in range(_poisson(rng, jobs_per_s / slow)):
            t = t0 + rng.random()
            if t >= start + duration_s:
                continue
            flow = "chat" if rng.random() < 0.8 else "sync"
            op = "run" if flow == "chat" else "runsync"
            throttled = 0
            while rng.random() < throttle_p:
                recorder.record_request(op, flow, 429, rng.lognormvariate(math.log(1.5), 0.3), t=t)
                throttled += 1
            delay = rng.lognormvariate(math.log(100.0), 0.5) * slow
            execution = rng.gammavariate(4.0, 12.5) * slow
            recorder.record_request(op, flow, 200, rng.lognormvariate(math.log(2.0), 0.4), t=t)
            if flow == "chat":
                for _ in range(1 + int((delay + execution) // 100)):
                    recorder.record_request("status", flow, 200, rng.lognormvariate(math.log(1.5), 0.4), t=t)
            status = "FAILED" if rng.random() < fail_p else "COMPLETED"
            end_to_end = delay + execution + (rng.uniform(0, 100) if flow == "chat" else 0.0)
            recorder.record_job(
                JobRecord(job_id=f"{seed}-{second}-{t}", flow=flow, submitted_at=t, final_status=status,
                          delay_ms=delay, execution_ms=execution, end_to_end_ms=end_to_end,
                          observe_interval_ms=100.0 if flow == "chat" else 0.0, throttled=throttled),
                t=min(t + end_to_end / 1000.0, start + duration_s - 1e-3),
            )
    write_run_directory(path, recorder, RunRecord(scenario=scenario or SYNTHETIC_SCENARIO,
                                                  duration_s=float(duration_s), started_at=start, jobs_csv_rows=0))
    return path


class CheckHelpers:
    """Handed to tests as the ``check_helpers`` fixture (test modules cannot import conftest)."""

    REPO = REPO
    SYNTHETIC_SCENARIO = SYNTHETIC_SCENARIO
    synthetic_run = staticmethod(synthetic_run)


@pytest.fixture
def check_helpers() -> type[CheckHelpers]:
    return CheckHelpers
