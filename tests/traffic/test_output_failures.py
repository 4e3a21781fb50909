"""Output failures are bad input found before any traffic, or a documented exit code after it: never a
traceback, never exit 1 (which means a threshold failed).

A read-only or tiny file system is a real tmpfs mounted for the test (the machine's CI runs as root); where
mounting is not permitted the test is skipped with the reason, and the not-a-directory case still runs.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SMOKE = """
name: out
duration: 2s
drain: 1s
target:
  emulator: {workers_min: 1, cold_start: 0s, execution_time: 20ms}
load: {users: 2}
mix: [{flow: runsync, wait: 5s}]
"""


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "out.yaml"
    path.write_text(SMOKE)
    return path


def test_an_out_dir_under_a_regular_file_is_refused_before_any_traffic(tmp_path: Path, traffic) -> None:
    (tmp_path / "file").write_text("not a directory")
    result = traffic.run_loadtest(["run", str(_scenario(tmp_path)), "--out-dir", str(tmp_path / "file" / "x")])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--out-dir" in result.stderr and "Not a directory" in result.stderr
    assert "Traceback" not in result.stderr
    assert "running" not in result.stdout  # found before the emulator was even started


def test_a_read_only_out_dir_is_refused_before_any_traffic(tmp_path: Path, traffic) -> None:
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        result = traffic.run_loadtest(["run", str(_scenario(tmp_path)), "--out-dir", str(read_only / "reports")])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "read-only file system" in result.stderr
    assert "Traceback" not in result.stderr and "running" not in result.stdout


def test_a_full_disk_keeps_the_measurements_and_exits_6(tmp_path: Path, traffic) -> None:
    """600 KB: the measurements fit, Locust's 1 MB HTML report and our report do not."""
    with _tmpfs(tmp_path / "small", "size=600k") as small:
        result = traffic.run_loadtest(["run", str(_scenario(tmp_path)), "--out-dir", str(small), "--no-progress"])
        (run_dir,) = (small / "out").iterdir()
        names = {p.name for p in run_dir.iterdir()}
    assert result.returncode == 6, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "summary.json" in names and "recorder.json" in names  # what could be kept is kept
    assert "report.html" not in names
    assert "the report could not be written" in result.stderr and "no space left" in result.stderr
    assert "(exit 6)" in result.stdout


def test_a_used_run_dir_is_refused_without_force_and_cleared_with_it(tmp_path: Path, traffic) -> None:
    run_dir = tmp_path / "run"
    first = traffic.run_loadtest(["run", str(_scenario(tmp_path)), "--run-dir", str(run_dir), "--no-progress"])
    assert first.returncode == 0, first.stdout + first.stderr
    (run_dir / "junit.xml").write_text("<testsuites/>")  # somebody else's file
    (run_dir / "plots" / "stale.png").write_bytes(b"old")
    again = traffic.run_loadtest(["run", str(_scenario(tmp_path)), "--run-dir", str(run_dir)])
    assert again.returncode == 2
    assert "already holds files" in again.stderr and "--force" in again.stderr
    forced = traffic.run_loadtest(["run", str(_scenario(tmp_path)), "--run-dir", str(run_dir), "--force",
                                   "--no-progress"])
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert not (run_dir / "plots" / "stale.png").exists()  # loadtest's own old files are gone
    assert (run_dir / "junit.xml").exists() and "junit.xml" in forced.stderr  # kept, and said so
