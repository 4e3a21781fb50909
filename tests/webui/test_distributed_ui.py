"""``loadtest ui --generators 2``: the UI is Locust's master; the job metrics it shows and the run directory it
writes hold what both workers measured. Driven through the UI's own HTTP API (the browser test covers
the page itself)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

SCENARIO = """
name: ui-distributed
duration: 60s
target:
  emulator:
    workers_min: 2
    workers_max: 4
    cold_start: 50ms
    execution_time: 20ms
load:
  users: 4
  spawn_rate: 20/s
mix:
  - flow: runsync
    wait: 5s
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(url: str, form: dict[str, str] | None = None) -> Any:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(url, data=data, timeout=10) as response:
        return json.loads(response.read().decode())


def _jobs_tab(stats: dict[str, Any]) -> dict[str, Any]:
    (rows,) = [entry["data"] for entry in stats.get("extended_stats", []) if entry["key"] == "jobcounts"]
    return {row["name"]: row["value"] for row in rows}


def _wait(predicate, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_ui_master_merges_both_workers_measurements(tmp_path: Path) -> None:
    scenario = tmp_path / "ui.yaml"
    scenario.write_text(SCENARIO)
    out_dir = tmp_path / "reports"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    log = (tmp_path / "ui.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "ui", str(scenario), "--web-port", str(port), "--out-dir",
         str(out_dir), "--generators", "2"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        def two_workers() -> bool:
            with contextlib.suppress(OSError):
                return _request(base + "/stats/requests").get("worker_count") == 2
            assert process.poll() is None, (tmp_path / "ui.log").read_text()
            return False

        _wait(two_workers, 40, "the UI and two workers")
        started = _request(base + "/swarm", {"user_count": "4", "spawn_rate": "20", "on_429": "count"})
        assert started["success"], started

        def enough_jobs() -> dict[str, Any] | None:
            jobs = _jobs_tab(_request(base + "/stats/requests"))
            return jobs if jobs["jobs COMPLETED"] >= 20 else None

        live = _wait(enough_jobs, 30, "job metrics from the workers")
        assert live["load generators"].startswith("2 ready or running")
        assert live["test"] == "#1: running"

        _request(base + "/stop", {})
        done = _wait(lambda: (j := _jobs_tab(_request(base + "/stats/requests")))["test"] != "#1: running" and j,
                     60, "the run directory")
        assert done["test"] == "#1: written", done
        run_dir = Path(done["run directory"])
        summary = json.loads((run_dir / "summary.json").read_text())
        stats = _request(base + "/stats/requests")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.poll() is None:
            process.wait(timeout=10)
        log.close()

    # the run directory (written by the master only) has exactly what the tabs showed at the end
    completed = sum(flows.get("COMPLETED", 0) for flows in summary["jobs"]["by_flow"].values())
    assert completed == done["jobs COMPLETED"] >= 20
    assert summary["requests_by_status"]["runsync"]["200"] == completed
    # Locust's own statistics reach the master every few seconds and miss what the workers measured after
    # their last report before the stop; ours come with a final report, so they hold at least as much
    total = next(row for row in stats["stats"] if row["name"] == "Aggregated")
    ours = sum(sum(codes.values()) for codes in summary["requests_by_status"].values())
    assert 0 < total["num_requests"] <= ours
    assert not list(run_dir.parent.glob("*/summary.json"))[1:], "one test, one run directory"
    assert summary["run"]["settings"]["rate_limit_policy"] == "respect"
    dist = summary["run"]["settings"]["distributed"]
    assert len(dist["generators"]) == 2 and all(g["final_report"] for g in dist["generators"])
    assert dist["lost_generators"] == []
    scenario_as_run = (run_dir / "scenario.yaml").read_text()
    assert "action: count" in scenario_as_run  # the custom parameter from the start form was applied


def test_the_ui_master_listens_on_a_free_loopback_port_of_its_own() -> None:
    """Not Locust's 5557: a second UI, or any Locust run, on the machine must not take this master's workers."""
    from loadtest.cli.ui import _master_port_args

    args = _master_port_args([])
    bind, connect = args[args.index("--master-bind-port") + 1], args[args.index("--master-port") + 1]
    assert bind == connect != "5557" and args[args.index("--master-bind-host") + 1] == "127.0.0.1"
    assert _master_port_args(["--master-bind-port=6000", "--master-port=6000"]) == []
