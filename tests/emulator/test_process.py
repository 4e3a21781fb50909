"""The emulator as a process: ``loadtest emulate`` prints its URL, writes the ready file, stops on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from loadtest import exitcodes
from loadtest.emulator.process import EmulatorProcess, EmulatorStartError


def _wait_for(path: Path, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_url_writes_ready_file_and_stops_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "emulate", "--port", "0", "--endpoint-id", "cli-ep",
         "--workers-max", "2", "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        info = _wait_for(ready)
        assert info["pid"] == proc.pid
        assert info["base_url"].startswith("http://127.0.0.1:") and info["base_url"].endswith("/v2")
        assert info["endpoints"] == ["cli-ep"]
        request = urllib.request.Request(f"{info['base_url']}/cli-ep/health", headers={"Authorization": "k"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["workers"]["idle"] == 0
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == exitcodes.OK, err
    assert out.strip() == info["base_url"]
    assert "Traceback" not in err


def test_cli_bad_config_is_a_clear_input_error(tmp_path: Path) -> None:
    config = tmp_path / "emu.yaml"
    config.write_text("endpoints:\n  - id: a\n    workers_max: 0\n")
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.cli", "emulate", "--config", str(config)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == exitcodes.INVALID_INPUT
    assert "endpoints.0.workers_max" in result.stderr
    assert "Traceback" not in result.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "loadtest.cli", "emulate", "--config", str(tmp_path / "nope.yaml")],
        capture_output=True, text=True, timeout=30,
    )
    assert missing.returncode == exitcodes.INVALID_INPUT
    assert "nope.yaml:1:1: emulator config: file not found" in missing.stderr
    bomb = tmp_path / "bomb.yaml"  # a billion laughs: refused at once, never expanded
    rows = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    rows += [f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    bomb.write_text("\n".join(rows) + "\n")
    exploded = subprocess.run([sys.executable, "-m", "loadtest.cli", "emulate", "--config", str(bomb)],
                              capture_output=True, text=True, timeout=30)
    assert exploded.returncode == exitcodes.INVALID_INPUT and "bomb.yaml:" in exploded.stderr
    assert "Traceback" not in exploded.stderr


def test_cli_port_in_use_is_a_target_error(emulator: EmulatorProcess) -> None:
    port = emulator.base_url.split(":")[2].split("/")[0]
    result = subprocess.run(
        [sys.executable, "-m", "loadtest.cli", "emulate", "--port", port], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == exitcodes.TARGET_ERROR
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_process_start_failure_reports_log_tail() -> None:
    emu = EmulatorProcess({"id": "k", "api_key_env": "LOADTEST_TEST_UNSET_KEY_VARIABLE"}, env={"PATH": "/usr/bin"})
    with pytest.raises(EmulatorStartError, match="LOADTEST_TEST_UNSET_KEY_VARIABLE"):
        emu.start()
    emu.stop()


def test_fixture_exposes_urls_and_ground_truth(emulator_factory) -> None:
    emu = emulator_factory({"id": "fx"})
    assert emu.endpoint_id == "fx"
    assert emu.admin_url == emu.base_url.removesuffix("/v2") + "/_emulator"
    truth = emu.ground_truth()
    assert truth["endpoints"]["fx"]["jobs"]["submitted"] == 0
    pid = emu.pid
    emu.stop()
    assert not emu.running()
    assert pid is not None


def test_sigterm_with_long_polls_in_flight_stops_promptly(emulator_factory) -> None:
    import threading

    emu = emulator_factory({"id": "lp", "workers_max": 1, "cold_start": "30s"})
    answers: list[int] = []

    def hold() -> None:
        request = urllib.request.Request(
            f"{emu.base_url}/lp/runsync?wait=60000", data=b'{"input": {}}', method="POST",
            headers={"Authorization": "k"},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                answers.append(response.status)
        except urllib.error.HTTPError as exc:
            answers.append(exc.code)
        except OSError:
            answers.append(-1)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    code = emu.stop()
    took = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=10)
    assert code == 0
    assert took < 4.0
    assert len(answers) == 3


def test_emulator_exits_when_its_parent_dies(tmp_path: Path) -> None:
    info_path = tmp_path / "info.json"
    parent_code = (
        "import json, sys, time\n"
        "from loadtest.emulator.process import EmulatorProcess\n"
        "emu = EmulatorProcess({'id': 'orphan'}).start()\n"
        f"open({str(info_path)!r}, 'w').write(json.dumps({{'pid': emu.pid}}))\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        child_pid = _wait_for(info_path)["pid"]
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return
        if Path(f"/proc/{child_pid}/stat").exists() and Path(f"/proc/{child_pid}/stat").read_text().split()[2] == "Z":
            return  # exited, waiting to be reaped
        time.sleep(0.1)
    os.kill(child_pid, signal.SIGKILL)
    raise AssertionError("the emulator outlived its parent")


def test_cli_yaml_config_with_two_endpoints_and_flag_overrides(tmp_path: Path) -> None:
    config = tmp_path / "emu.yaml"
    config.write_text(
        "port: 0\n"
        "endpoints:\n"
        "  - id: first\n"
        "    execution_time: 10ms\n"
        "    limits: {window: 2s, rate_overrides: {health: 1}}\n"
        "  - id: second\n"
        "    execution_time: {kind: uniform, min: 5ms, max: 15ms}\n"
    )
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "emulate", "--config", str(config), "--workers-max", "7",
         "--cold-start", "0s", "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        info = _wait_for(ready)
        assert info["endpoints"] == ["first", "second"]
        root = info["base_url"].removesuffix("/v2")
        with urllib.request.urlopen(f"{root}/_emulator/config", timeout=5) as response:
            served = json.loads(response.read())
        assert [e["workers_max"] for e in served["endpoints"]] == [7, 7]  # the flag applies to both
        assert served["endpoints"][0]["limits"]["rate_overrides"] == {"health": 1}
        codes = []
        for _ in range(2):
            request = urllib.request.Request(f"{info['base_url']}/first/health", headers={"Authorization": "k"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    codes.append(response.status)
            except urllib.error.HTTPError as exc:
                codes.append(exc.code)
                assert exc.headers["Retry-After"] in {"1", "2"}
        assert codes == [200, 429]
        request = urllib.request.Request(
            f"{info['base_url']}/second/runsync", data=b'{"input": {}}', method="POST", headers={"Authorization": "k"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["status"] == "COMPLETED"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
