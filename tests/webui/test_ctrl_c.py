"""Ctrl-C on a real (pseudo) terminal while a test started from the UI runs: the terminal interrupts
``loadtest ui`` and Locust together; Locust must get to write the test's run directory and report."""

from __future__ import annotations

import glob
import os
import pty
import select
import signal
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCENARIO = """
name: ui-ctrl-c
duration: 60s
target:
  emulator:
    workers_min: 2
    cold_start: 0s
    execution_time: 20ms
load:
  users: 2
mix:
  - flow: runsync
    wait: 5s
"""


@pytest.mark.skipif(not hasattr(os, "tcgetpgrp"), reason="needs POSIX terminals")
def test_ctrl_c_during_a_ui_test_still_writes_its_run_directory(tmp_path: Path) -> None:
    import socket

    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out_dir = tmp_path / "reports"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pid, fd = pty.fork()
    if pid == 0:  # the child: loadtest ui on the pseudo terminal, as a person would run it
        os.chdir(REPO)
        os.environ.pop("LOADTEST_SCENARIO", None)
        os.execv(sys.executable, [sys.executable, "-m", "loadtest.cli", "ui", str(scenario), "--web-port", str(port),
                                  "--out-dir", str(out_dir)])
    output = bytearray()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    output.extend(os.read(fd, 65536))
                except OSError:
                    return

    status = None
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            pump(0.2)
            try:
                urllib.request.urlopen(base + "/", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, output.decode(errors="replace")
        form = urllib.parse.urlencode({"user_count": "2", "spawn_rate": "2"}).encode()
        urllib.request.urlopen(base + "/swarm", data=form, timeout=10).read()
        pump(2.5)
        os.write(fd, b"\x03")  # Ctrl-C: the terminal sends SIGINT to its foreground process group
        deadline = time.monotonic() + 60
        while status is None and time.monotonic() < deadline:
            pump(0.2)
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode(errors="replace")
    assert status == 130, text[-3000:]
    # Locust itself may report the user greenlet the interrupt landed in; the writing is not cut short
    assert "write_locust_run" not in text and "write_run_directory" not in text, text[-3000:]
    (summary,) = glob.glob(str(out_dir / "ui-ctrl-c" / "*" / "summary.json"))
    assert (Path(summary).parent / "report.html").exists()
