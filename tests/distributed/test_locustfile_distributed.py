"""Plain Locust with our locustfile: ``locust -f loadtest/locustfile.py --processes 2 --headless``.

A headless run ends with ``quit()`` (the scenario's shape is done), which fires the master's ``test_stop``
before the workers are told to stop; the master must still collect every worker's measurements before it
writes.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "loadtest" / "locustfile.py"

SCENARIO = """
name: locustfile-distributed
duration: 3s
target:
  emulator:
    workers_min: 2
    workers_max: 4
    cold_start: 0s
    execution_time: 20ms
load:
  users: 4
mix:
  - flow: runsync
    wait: 5s
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_headless_processes_run_writes_every_workers_measurements(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    port = str(_free_port())  # not Locust's 5557: another run on this machine may be using it
    process = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--scenario", str(scenario), "--headless",
         "--processes", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port,
         "--run-dir", str(run_dir), "--only-summary", "--csv", str(tmp_path / "locust")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 30
        while len(children) < 2 and process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(psutil.NoSuchProcess):  # the forked workers (not the emulator)
                children = [c for c in psutil.Process(process.pid).children() if "locust" in " ".join(c.cmdline())]
            time.sleep(0.1)
        assert len(children) == 2, "Locust did not fork two workers"
        _, err = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, err[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    ours = sum(sum(codes.values()) for codes in summary["requests_by_status"].values())
    with (tmp_path / "locust_stats.csv").open() as handle:
        aggregated = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    locust_total = int(aggregated["Request Count"])
    assert ours == locust_total > 20  # nothing a worker measured is missing from the run directory
    assert (run_dir / "report.html").exists()
    dist = summary["run"]["settings"]["distributed"]
    assert len(dist["generators"]) == 2 and dist["lost_generators"] == []
    time.sleep(0.5)
    still_running = []
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
                still_running.append(child.pid)
                child.kill()
    assert still_running == [], "worker processes outlived the master"
