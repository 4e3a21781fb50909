"""Helpers for the traffic tests: run ``loadtest run`` / ``locust`` in a subprocess and read what it wrote.

Locust monkey-patches the standard library with gevent when imported, so it never runs inside the pytest
process (other parts' asyncio tests share it): every Locust run here is a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


def run_loadtest(
    args: list[str], *, timeout: float = 90, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``loadtest ARGS`` in a subprocess (bounded in time), output captured as text."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("LOADTEST_SCENARIO", None)
    return subprocess.run(
        [sys.executable, "-m", "loadtest.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env,
    )


def read_json(run_dir: Path, name: str) -> Any:
    return json.loads((run_dir / name).read_text())


def our_requests(summary: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {op: dict(codes) for op, codes in summary["requests_by_status"].items()}


def our_jobs_by_status(summary: dict[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for by_status in summary["jobs"]["by_flow"].values():
        for status, n in by_status.items():
            totals[status] = totals.get(status, 0) + n
    return totals


def endpoint_truth(ground_truth: dict[str, Any]) -> dict[str, Any]:
    (truth,) = ground_truth["endpoints"].values()
    return truth


def assert_counts_match_ground_truth(summary: dict[str, Any], truth: dict[str, Any]) -> None:
    """Requests per operation and status code agree exactly; every accepted job is accounted for."""
    assert our_requests(summary) == truth["requests"]
    ours = our_jobs_by_status(summary)
    submitted = truth["jobs"]["submitted"]
    assert sum(ours.values()) == submitted, (ours, truth["jobs"])
    in_flight = ours.get("IN_FLIGHT", 0)
    for status, n in truth["jobs"]["final"].items():
        # a job we saw finish finished the same way; jobs we left in flight may have finished since
        assert ours.get(status, 0) <= n, (status, ours, truth["jobs"]["final"])
    seen_terminal = sum(n for status, n in ours.items() if status != "IN_FLIGHT")
    assert seen_terminal + in_flight == submitted


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


class TrafficHelpers:
    """The helpers above, handed to tests as the ``traffic`` fixture (test modules cannot import conftest)."""

    REPO = REPO
    SCENARIOS = SCENARIOS
    run_loadtest = staticmethod(run_loadtest)
    read_json = staticmethod(read_json)
    our_requests = staticmethod(our_requests)
    our_jobs_by_status = staticmethod(our_jobs_by_status)
    endpoint_truth = staticmethod(endpoint_truth)
    assert_counts_match_ground_truth = staticmethod(assert_counts_match_ground_truth)


@pytest.fixture
def traffic() -> type[TrafficHelpers]:
    return TrafficHelpers
