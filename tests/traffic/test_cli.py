"""``loadtest run`` and the locustfile as a user meets them: bad input, Ctrl-C, real-endpoint guards, 429s."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from loadtest.emulator.process import EmulatorProcess
from loadtest.emulator_config import EndpointConfig

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "loadtest" / "locustfile.py"


def test_invalid_scenario_lists_every_error_and_exits_2(tmp_path: Path, traffic) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nduration: soon\nmix:\n  - flow: run_pol\n")
    result = traffic.run_loadtest(["run", str(bad), "--out-dir", str(tmp_path)])
    assert result.returncode == 2
    assert "duration" in result.stderr and "run_pol" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("bad/*"))  # nothing was run


def test_overrides_that_do_not_fit_are_refused(tmp_path: Path, traffic) -> None:
    result = traffic.run_loadtest(["run", "scenarios/smoke.yaml", "--rate", "5/s", "--duration", "fast"])
    assert result.returncode == 2
    assert "--rate: the scenario uses the closed model" in result.stderr
    assert "--duration" in result.stderr
    missing = traffic.run_loadtest(["run", str(tmp_path / "nope.yaml")])
    assert missing.returncode == 2 and "file not found" in missing.stderr


def _endpoint_scenario(tmp_path: Path, base_url: str, endpoint_id: str, policy: str = "respect") -> Path:
    path = tmp_path / f"real-{policy}.yaml"
    path.write_text(f"""
name: guarded
duration: 20s
target:
  base_url: {base_url}
  endpoint_id: {endpoint_id}
  api_key_env: LT_TEST_KEY
  max_jobs: 15
load: {{users: 3}}
mix:
  - flow: run_poll
    poll: {{interval: 50ms, max_wait: 5s}}
rate_limits: {{policy: {policy}}}
""")
    return path


def test_probe_against_a_real_endpoint_needs_confirmation(tmp_path: Path, traffic) -> None:
    # never sent anywhere: the refusal comes before any target is contacted
    path = _endpoint_scenario(tmp_path, "http://127.0.0.1:9/v2", "ep", policy="probe")
    result = traffic.run_loadtest(["run", str(path), "--out-dir", str(tmp_path)], env={"LT_TEST_KEY": "k" * 20})
    assert result.returncode == 2
    assert "--confirm-probe" in result.stderr


def test_missing_api_key_variable_is_named_not_shown(tmp_path: Path, traffic) -> None:
    path = _endpoint_scenario(tmp_path, "http://127.0.0.1:9/v2", "ep")
    env = {k: v for k, v in os.environ.items() if k != "LT_TEST_KEY"}
    result = subprocess.run([sys.executable, "-m", "loadtest.cli", "run", str(path)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "LT_TEST_KEY is not set" in result.stderr


def test_real_endpoint_spending_guard_and_the_key_never_leaks(tmp_path: Path, traffic) -> None:
    secret = "sk-test-" + "7" * 24
    config = EndpointConfig(id="guarded", api_key_env="LT_TEST_KEY", workers_min=2, workers_max=2,
                            cold_start=0.0, execution_time=0.02)
    with EmulatorProcess(config, env={**os.environ, "LT_TEST_KEY": secret}) as emulator:
        run_dir = tmp_path / "run"
        path = _endpoint_scenario(tmp_path, emulator.base_url, "guarded")
        result = traffic.run_loadtest(["run", str(path), "--run-dir", str(run_dir)], env={"LT_TEST_KEY": secret})
        truth = emulator.ground_truth()["endpoints"]["guarded"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert truth["jobs"]["submitted"] == 15
    assert "401" not in truth["requests"].get("run", {})  # the key was sent, and accepted
    summary = traffic.read_json(run_dir, "summary.json")
    assert "spending guard" in summary["run"]["settings"]["stop_reason"]
    # stopped by the guard, not by the 20 s duration: the traffic itself (not the process's start and report,
    # which a busy machine stretches) lasted well under the scenario's duration
    assert summary["run"]["duration_s"] < summary["run"]["settings"]["duration_s"] / 2
    traffic.assert_counts_match_ground_truth(summary, truth)
    assert secret not in result.stdout + result.stderr
    for file in run_dir.rglob("*"):
        if file.is_file():
            assert secret not in file.read_text(errors="replace"), file


def test_ctrl_c_keeps_what_was_measured_marked_interrupted(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "run", "scenarios/smoke.yaml", "--duration", "60s",
         "--run-dir", str(run_dir), "--no-report"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (run_dir / "emulator.log").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, out + err
    assert "INTERRUPTED" in out
    assert "Traceback" not in err
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run"]["interrupted"] is True
    assert summary["metrics"]["requests"]["overall"]["value"] > 0
    assert summary["run"]["duration_s"] < 30


def test_429s_are_retried_after_retry_after_and_kept_apart_in_locust_stats(tmp_path: Path, traffic) -> None:
    path = tmp_path / "throttled.yaml"
    path.write_text("""
name: throttled
duration: 3s
target:
  emulator:
    workers_min: 2
    workers_max: 2
    cold_start: 0s
    execution_time: 10ms
    limits: {window: 1s, rate_overrides: {run: 5}}
load: {users: 4}
mix:
  - flow: run_poll
    poll: {interval: 50ms, max_wait: 5s}
rate_limits:
  policy: probe
  on_429: {action: retry, honour_retry_after: true, max_retries: 1}
""")
    run_dir = tmp_path / "run"
    result = traffic.run_loadtest(["run", str(path), "--run-dir", str(run_dir), "--no-report"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    truth = traffic.endpoint_truth(traffic.read_json(run_dir, "ground_truth.json"))
    traffic.assert_counts_match_ground_truth(summary, truth)
    throttled = truth["requests"]["run"]["429"]
    assert throttled > 0
    with open(run_dir / "locust_stats.csv", newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(rows["POST /run [run_poll] (429)"]["Request Count"]) == throttled
    assert int(rows["POST /run [run_poll]"]["Failure Count"]) == 0
    assert int(rows["POST /run [run_poll] (429)"]["Failure Count"]) <= throttled
    assert summary["jobs"]["totals_by_flow"]["run_poll"]["throttled"] > 0
    # Retry-After is whole seconds: with one retry each, no user can have met more 429s than 1 per second
    assert throttled <= 4 * 2 * 3


def test_locustfile_lists_the_scenario_user_class(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--scenario", "scenarios/mixed.yaml", "--list"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    listed = [line.strip() for line in result.stdout.splitlines()[1:] if line.strip()]
    assert listed == ["MixedUser"]


def test_locustfile_headless_run_starts_the_emulator_and_writes_the_run_directory(tmp_path: Path) -> None:
    scenario = tmp_path / "short.yaml"
    scenario.write_text((REPO / "scenarios" / "smoke.yaml").read_text().replace("duration: 10s", "duration: 2s"))
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--scenario", str(scenario), "--headless",
         "--run-dir", str(run_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"]["jobs.submitted"]["overall"]["value"] > 0
    assert "POST /run [run_poll]" in result.stdout + result.stderr


THRESHOLDED = """
name: judged
duration: 1s
target:
  emulator: {workers_min: 1, workers_max: 1, cold_start: 0s, execution_time: 30ms}
load: {users: 2}
mix:
  - {flow: run_poll, poll: {interval: 20ms, max_wait: 5s}}
thresholds:
  - {metric: end_to_end.p95, max: 1ms}     # cannot be met: jobs take 30 ms
  - {metric: rate_429, max: 0%}
"""


def test_run_judges_the_scenario_thresholds_without_being_asked(tmp_path: Path, traffic) -> None:
    """Thresholds in a scenario are judged at the end of every run: verdicts written, exit 1 when one fails."""
    path = tmp_path / "judged.yaml"
    path.write_text(THRESHOLDED)
    judged = traffic.run_loadtest(["run", str(path), "--run-dir", str(tmp_path / "judged"), "--no-progress"])
    assert judged.returncode == 1, judged.stdout + judged.stderr
    verdicts = traffic.read_json(tmp_path / "judged", "verdicts.json")
    outcome = {item["criterion"].split()[0]: item["verdict"] for item in verdicts["verdicts"]}
    assert outcome == {"end_to_end.p95": "fail", "rate_429.value": "pass", "error_rate.value": "pass"}, outcome
    assert "end_to_end.p95" in (tmp_path / "judged" / "report.html").read_text()

    skipped = traffic.run_loadtest(
        ["run", str(path), "--run-dir", str(tmp_path / "skipped"), "--no-progress", "--no-thresholds"]
    )
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    only_builtin = traffic.read_json(tmp_path / "skipped", "verdicts.json")["verdicts"]  # never skipped
    assert [item["criterion"] for item in only_builtin] == ["error_rate.value (built-in)"]


def test_a_missing_baseline_is_refused_before_any_traffic(tmp_path: Path, traffic) -> None:
    run_dir = tmp_path / "run"
    result = traffic.run_loadtest(
        ["run", str(REPO / "scenarios" / "smoke.yaml"), "--baseline", "no-such-baseline", "--run-dir", str(run_dir)]
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no-such-baseline" in result.stderr and "not found" in result.stderr
    assert not (run_dir / "summary.json").exists()  # nothing was run


def test_a_target_no_request_reaches_exits_4_and_keeps_the_measurements(tmp_path: Path, traffic) -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    run_dir = tmp_path / "run"
    result = traffic.run_loadtest(
        ["run", str(REPO / "scenarios" / "smoke.yaml"), "--host", f"http://127.0.0.1:{dead}/v2",
         "--duration", "1s", "--run-dir", str(run_dir), "--no-progress", "--no-report"]
    )
    assert result.returncode == 4, result.stdout + result.stderr
    assert "no request reached the target" in result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    assert summary["metrics"]["errors"]["overall"]["value"] > 0
    assert not (run_dir / "verdicts.json").exists()
