"""Helpers for the discovery tests: ``loadtest limits`` / ``loadtest run`` in a subprocess (Locust and gevent
never run inside pytest's process) and what they wrote."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def loadtest(args: list[str], *, timeout: float = 180, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("LOADTEST_SCENARIO", None)
    return subprocess.run([sys.executable, "-m", "loadtest.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def read_limits(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "limits.json").read_text())


def read_requests(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "requests.csv", newline="") as handle:
        return list(csv.DictReader(handle))


class DiscoveryHelpers:
    loadtest = staticmethod(loadtest)
    read_limits = staticmethod(read_limits)
    read_requests = staticmethod(read_requests)


@pytest.fixture(scope="module")
def discovery() -> type[DiscoveryHelpers]:
    return DiscoveryHelpers
