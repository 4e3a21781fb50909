"""Runs that go wrong end loudly: the right exit code, one sentence, the data measured until then, and no
figure that flatters (issue: truth when things go wrong).

Each case is a real ``loadtest run`` (subprocess) against a real emulator on loopback, or against a
loopback port nothing listens on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from loadtest.emulator.process import EmulatorProcess
from loadtest.emulator_config import EndpointConfig

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _run_dir(out_dir: Path) -> Path:
    (run_dir,) = [p for p in out_dir.glob("*/*") if p.is_dir() and not p.is_symlink() and p.parent.name != "latest"]
    return run_dir


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens there


def test_the_emulator_dying_stops_the_run_with_exit_4_and_a_sentence(tmp_path: Path, traffic) -> None:
    scenario = _write(tmp_path, "dies", """
name: dies
duration: 60s
target:
  emulator: {workers_min: 2, workers_max: 2, cold_start: 0s, execution_time: 30ms}
load: {users: 3}
mix: [{flow: run_poll, poll: {interval: 50ms}}]
thresholds: [{metric: rate_429, max: 0%}]
""")
    out_dir = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--out-dir", str(out_dir), "--no-progress"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        emulator = None
        deadline = time.monotonic() + 60
        while emulator is None and time.monotonic() < deadline:  # the emulator this run started
            for child in psutil.Process(process.pid).children(recursive=True):
                if "emulate" in " ".join(child.cmdline()):
                    emulator = child
            time.sleep(0.1)
        assert emulator is not None, "the run's emulator did not start"
        while not list(out_dir.glob("*/*/locust_stats_history.csv")) and time.monotonic() < deadline:
            time.sleep(0.1)  # the run is under way
        time.sleep(1.0)
        killed_at = time.monotonic()
        emulator.send_signal(signal.SIGKILL)
        out, err = process.communicate(timeout=90)
        ended_after = time.monotonic() - killed_at
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 4, out + err
    assert ended_after < 30, "the run went on long after its target died"
    assert "the emulator exited at" in err and "killed by signal 9" in err, err
    assert "Traceback" not in err
    run_dir = _run_dir(out_dir)
    summary = traffic.read_json(run_dir, "summary.json")
    assert summary["run"]["duration_s"] < 30
    kinds = [w["kind"] for w in summary["run"]["warnings"]]
    assert "run_failure" in kinds
    assert summary["metrics"]["requests"]["overall"]["value"] > 0  # what was measured until then is kept
    assert not (run_dir / "verdicts.json").exists()  # never PASSED: not judged at all
    assert "PASSED" not in out


def test_a_refused_key_stops_the_run_at_once_with_exit_5(tmp_path: Path, traffic) -> None:
    secret = "wrong-key-0123456789"
    with EmulatorProcess(EndpointConfig(id="ep", api_key_env="LT_EMULATOR_KEY", workers_min=1, cold_start=0.0),
                         env={**os.environ, "LT_EMULATOR_KEY": "the-right-key-42"}) as emulator:
        scenario = _write(tmp_path, "refused", f"""
name: refused
duration: 60s
target: {{base_url: "{emulator.base_url}", endpoint_id: ep, api_key_env: LT_TEST_KEY, max_jobs: 100}}
load: {{users: 4}}
mix: [{{flow: run_poll}}]
""")
        began = time.monotonic()
        result = traffic.run_loadtest(["run", str(scenario), "--out-dir", str(tmp_path / "out"), "--no-progress"],
                                      env={"LT_TEST_KEY": secret})
        took = time.monotonic() - began
    assert result.returncode == 5, result.stdout + result.stderr
    assert took < 45, "a refused key must stop the run within seconds, not at its end"
    sentence = result.stderr
    assert "refused the API key from the environment variable LT_TEST_KEY" in sentence
    assert "HTTP 401" in sentence  # the target's own words
    run_dir = _run_dir(tmp_path / "out")
    for path in [*run_dir.rglob("*"), tmp_path / "refused.yaml"]:
        if path.is_file() and path.suffix in (".json", ".csv", ".html", ".md", ".yaml", ".log"):
            assert secret not in path.read_text(errors="replace"), path
    assert secret not in result.stdout + result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    assert summary["run"]["settings"]["failure"]["exit_code"] == 5
    assert summary["metrics"]["requests"]["overall"]["value"] < 2000  # stopped at once, not hammering


def test_a_dead_endpoint_is_not_hammered_and_the_run_stops_with_exit_4(tmp_path: Path, traffic) -> None:
    scenario = _write(tmp_path, "dead", f"""
name: dead
duration: 60s
target: {{base_url: "http://127.0.0.1:{_closed_port()}/v2", endpoint_id: ep, api_key_env: LT_TEST_KEY, max_jobs: 10}}
load: {{users: 5}}
mix: [{{flow: run_poll}}]
guards: {{unreachable_after: 3s}}
""")
    began = time.monotonic()
    result = traffic.run_loadtest(["run", str(scenario), "--out-dir", str(tmp_path / "out"), "--no-progress"],
                                  env={"LT_TEST_KEY": "k"})
    took = time.monotonic() - began
    assert result.returncode == 4, result.stdout + result.stderr
    assert took < 45
    assert "no request got an answer for" in result.stderr and "Connection refused" in result.stderr
    summary = traffic.read_json(_run_dir(tmp_path / "out"), "summary.json")
    sent = summary["metrics"]["requests"]["overall"]["value"]
    seconds = summary["run"]["duration_s"]
    assert 3 <= seconds < 20
    # each of the 5 users backs off exponentially: far fewer than the thousands a tight loop would send
    assert sent / seconds < 5 * 10, (sent, seconds)


def test_a_run_where_most_requests_fail_never_passes(tmp_path: Path, traffic) -> None:
    """Every /run answered 413 (the emulator's payload limit set tiny): the scenario's own thresholds would
    pass, the built-in criterion fails the run."""
    scenario = _write(tmp_path, "broken", """
name: broken
duration: 3s
drain: 0s
target:
  emulator: {workers_min: 1, cold_start: 0s, limits: {payload_overrides: {run: 10B}}}
load: {users: 2}
mix: [{flow: run_poll}]
payload: {input: {prompt: "much longer than ten bytes"}}
thresholds: [{metric: rate_429, max: 0%}]
""")
    result = traffic.run_loadtest(["run", str(scenario), "--out-dir", str(tmp_path / "out"), "--no-progress"])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error_rate.value (built-in)" in result.stdout and "FAIL" in result.stdout
    verdicts = traffic.read_json(_run_dir(tmp_path / "out"), "verdicts.json")
    assert verdicts["outcome"] == "failed"
    no_thresholds = traffic.run_loadtest(["run", str(scenario), "--out-dir", str(tmp_path / "out2"), "--no-progress",
                                          "--no-thresholds"])
    assert no_thresholds.returncode == 1  # --no-thresholds skips the scenario's, never the built-in one


def test_an_overloaded_run_drains_and_says_how_many_jobs_were_unfinished(tmp_path: Path, traffic) -> None:
    """One worker, 300 ms jobs, 8 arrivals a second: the queue grows. The drain follows the jobs after the
    duration; those still unfinished are named, and the figures say they are lower bounds."""
    scenario = _write(tmp_path, "overload", """
name: overload
duration: 4s
drain: 2s
target:
  emulator: {workers_min: 1, workers_max: 1, cold_start: 0s, execution_time: 300ms, limits: {queue_size: false}}
load: {arrival_rate: 8/s, max_in_flight: 200}
mix: [{flow: run_poll, poll: {interval: 100ms, max_wait: 5m}}]
""")
    result = traffic.run_loadtest(["run", str(scenario), "--out-dir", str(tmp_path / "out"), "--no-progress"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "following the jobs in flight" in result.stdout
    assert "WARNING" in result.stdout and "still unfinished after a 2 s drain" in result.stdout
    summary = traffic.read_json(_run_dir(tmp_path / "out"), "summary.json")
    assert summary["run"]["duration_s"] >= 5.5  # 4 s of load and the drain
    (warning,) = [w for w in summary["run"]["warnings"] if w["kind"] == "unfinished_jobs"]
    assert "lower bounds" in warning["message"]
    jobs = summary["jobs"]["by_flow"]["run_poll"]
    assert jobs.get("IN_FLIGHT", 0) > 0 and jobs.get("COMPLETED", 0) > 0


def test_locust_f_runs_are_judged_and_refuse_shape_flags(tmp_path: Path) -> None:
    scenario = _write(tmp_path, "judged", """
name: judged
duration: 3s
drain: 0s
target:
  emulator: {workers_min: 1, cold_start: 0s, execution_time: 20ms}
load: {users: 2}
mix: [{flow: runsync, wait: 5s}]
thresholds: [{metric: end_to_end.p95, max: 1ms}]
""")
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    locust = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtest" / "locustfile.py"), "--scenario",
              str(scenario), "--headless", "--only-summary"]
    judged = subprocess.run([*locust, "--run-dir", str(tmp_path / "run")], cwd=REPO, capture_output=True,
                            text=True, timeout=120, env=env)
    assert judged.returncode == 1, judged.stdout + judged.stderr  # the threshold failed: Locust's exit code says so
    assert (tmp_path / "run" / "verdicts.json").exists()
    refused = subprocess.run([*locust, "-u", "10"], cwd=REPO, capture_output=True, text=True, timeout=60, env=env)
    assert refused.returncode == 2
    assert "-u" in refused.stderr and "the scenario's load section decides" in refused.stderr
