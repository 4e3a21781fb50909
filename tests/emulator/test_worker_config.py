"""The ``worker:`` section: what is refused, how paths resolve, the worker's environment (no processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from loadtest.emulator import worker_env
from loadtest.emulator.app import worker_host
from loadtest.emulator_config import EndpointConfig, WorkerConfig
from loadtest.scenario.loader import ScenarioError, load_scenario_text

WORKER = {"command": ["python", "-u", "handler.py"]}


def test_simulated_settings_are_refused_next_to_a_real_worker() -> None:
    with pytest.raises(ValidationError) as caught:
        EndpointConfig.model_validate({"worker": WORKER, "execution_time": "1s", "concurrency": 2})
    message = str(caught.value)
    assert "concurrency, execution_time describe simulated workers" in message
    assert "concurrency_modifier" in message
    # defaults are harmless, so a dumped configuration loads again
    config = EndpointConfig.model_validate({"worker": WORKER, "workers_max": 2})
    assert EndpointConfig.model_validate(config.model_dump(mode="json")) == config


@pytest.mark.parametrize(("settings", "expected"), [
    ({"take_hold": "90s"}, "take_hold must be more than 0 and below 90 s"),
    ({"stop_hold": "0s"}, "stop_hold must be more than 0"),
    ({"ping_interval": "1500ms"}, "ping_interval must be a whole number of seconds"),
    ({"ping_interval": "500ms"}, "at least 1"),
    ({"env": {"RUNPOD_WEBHOOK_GET_JOB": "x"}}, "set by the emulator"),
    ({"env": {"1BAD": "x"}}, "not a valid environment variable name"),
    ({"command": []}, "at least 1 item"),
])
def test_worker_settings_are_checked(settings: dict, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        WorkerConfig.model_validate({**WORKER, **settings})


def test_relative_cwd_resolves_against_the_file_that_names_it(tmp_path: Path) -> None:
    assert WorkerConfig.model_validate(WORKER).resolved(tmp_path).cwd == str(tmp_path.resolve())
    nested = WorkerConfig.model_validate({**WORKER, "cwd": "../w"}).resolved(tmp_path / "scenarios")
    assert nested.cwd == str((tmp_path / "w").resolve())
    quoted = WorkerConfig.model_validate({"command": ["python", "it's here.py"]}).describe()
    assert quoted == "python 'it'\\''s here.py'"


def test_scenario_points_at_the_missing_handler_script(tmp_path: Path) -> None:
    (tmp_path / "workers").mkdir()
    text = (
        "name: w\nduration: 5s\nmix:\n  - flow: run_poll\ntarget:\n  emulator:\n    worker:\n"
        "      command: [python, -u, hander.py]\n      cwd: workers\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, file="w.yaml", base_dir=tmp_path)
    issue = str(caught.value)
    assert "w.yaml:8:" in issue and "handler script 'hander.py' not found" in issue
    (tmp_path / "workers" / "hander.py").write_text("")
    scenario = load_scenario_text(text, file="w.yaml", base_dir=tmp_path)
    assert scenario.target.emulator.worker.cwd == str((tmp_path / "workers").resolve())


def test_worker_environment_keeps_the_platform_and_the_developers_keys_out() -> None:
    inherited = {
        "PATH": "/usr/bin", "HOME": "/home/dev", "RUNPOD_API_KEY": "real-key", "RUNPOD_WEBHOOK_PING": "https://x",
        "RUNPOD_REALTIME_PORT": "8000", "PYTHONPATH": "/mine", "HF_TOKEN": "kept",
    }
    worker = WorkerConfig.model_validate({**WORKER, "env": {"MODEL": "tiny"}})
    base = worker_env.base_environment(worker, inherited, "/nowhere/config.toml")
    assert "RUNPOD_API_KEY" not in base and "RUNPOD_REALTIME_PORT" not in base and "RUNPOD_WEBHOOK_PING" not in base
    assert base["HOME"] == "/home/dev" and base["HF_TOKEN"] == "kept" and base["MODEL"] == "tiny"
    assert base["RUNPOD_SKIP_AUTO_SYSTEM_CHECKS"] == "true" and base["RUNPOD_LOG_LEVEL"] == "INFO"
    assert base["PYTHONPATH"].split(":") == [str(worker_env.SHIM_DIR), "/mine"]
    env = worker_env.worker_environment(
        base, url="http://127.0.0.1:8123", endpoint_id="ep", worker_id="w1", token="T", api_key="K",
        ping_interval_s=2,
    )
    assert env["RUNPOD_WEBHOOK_GET_JOB"] == "http://127.0.0.1:8123/v2/ep/job-take/w1?token=T"
    assert env["RUNPOD_WEBHOOK_POST_OUTPUT"] == "http://127.0.0.1:8123/v2/ep/job-done/w1/$ID?token=T"
    assert env["RUNPOD_WEBHOOK_POST_STREAM"] == "http://127.0.0.1:8123/v2/ep/job-stream/w1/$ID?token=T"
    assert env["RUNPOD_WEBHOOK_PING"] == "http://127.0.0.1:8123/v2/ep/ping/w1?token=T"
    assert env["RUNPOD_PING_INTERVAL"] == "2000" and env["RUNPOD_AI_API_KEY"] == "K"
    assert worker_env.resolve_command(worker, base)[0] == sys.executable


def test_sdk_version_warnings() -> None:
    assert worker_env.sdk_warnings("1.12.0", True) == []
    shared = worker_env.sdk_warnings("1.8.0", True)
    assert any(".runpod_jobs.pkl" in w for w in shared) and any("no job-stop channel" in w for w in shared)
    alone = worker_env.sdk_warnings("1.8.0", False)
    assert len(alone) == 1 and "no job-stop channel" in alone[0]


def test_workers_reach_the_emulator_on_loopback_only() -> None:
    assert worker_host("127.0.0.1") == "127.0.0.1" and worker_host("0.0.0.0") == "127.0.0.1"
    assert worker_host("::") == "::1" and worker_host("localhost") == "127.0.0.1"
    assert worker_host("10.1.2.3") is None and worker_host("example.com") is None


def test_emulate_refuses_bad_worker_flags_without_a_traceback(tmp_path: Path) -> None:
    def emulate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "loadtest.cli", "emulate", *args], capture_output=True, text=True, timeout=60,
            cwd=tmp_path,
        )

    mixed = emulate("--worker-command", "python -u handler.py", "--execution-time", "1s")
    assert mixed.returncode == 2 and "execution_time describes simulated workers" in mixed.stderr
    bad_env = emulate("--worker-command", "python x.py", "--worker-env", "NOEQUALS")
    assert bad_env.returncode == 2 and "--worker-env 'NOEQUALS': write NAME=VALUE" in bad_env.stderr
    remote = emulate("--worker-command", "python x.py", "--host", "10.1.2.3")
    assert remote.returncode == 2 and "loopback" in remote.stderr
    missing = emulate("--worker-command", "no-such-program-xyz")
    assert missing.returncode == 2 and "'no-such-program-xyz' is not on the PATH" in missing.stderr
    for result in (mixed, bad_env, remote, missing):
        assert "Traceback" not in result.stderr
