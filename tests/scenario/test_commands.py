"""``loadtest validate`` and ``loadtest schema`` as a user runs them: exit codes, output, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from loadtest.scenario.schema import schema_text

ROOT = Path(__file__).resolve().parents[2]


def _loadtest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtest.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})},
    )


def test_validate_exit_codes_and_error_format(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: g\nduration: 5s\nmix: [{flow: run_poll}]\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\nduration: 5s\nmix:\n  - flow: run_poll\n    poll: {intervl: 1s}\n  - flow: runsnyc\n")
    ok = _loadtest("validate", str(good))
    assert ok.returncode == 0, ok.stderr
    assert "good.yaml: ok" in ok.stdout
    result = _loadtest("validate", str(good), str(bad))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert f"{bad}:5:12: mix[0].poll.intervl: unknown key 'intervl'; did you mean 'interval'?" in lines
    assert any(line.startswith(f"{bad}:6:11: mix[1].flow: unknown flow 'runsnyc'; did you mean 'runsync'?")
               for line in lines)
    assert "Traceback" not in result.stderr


def test_validate_syntax_error_and_missing_file_without_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    result = _loadtest("validate", str(broken), str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert f"{broken}:2:1: YAML syntax error" in result.stderr
    assert f"{tmp_path / 'missing.yaml'}:1:1: file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_all_examples(tmp_path: Path) -> None:
    examples = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    result = _loadtest("validate", *examples, env={"RUNPOD_ENDPOINT_ID": "abc123"})
    assert result.returncode == 0, result.stderr
    unset = _loadtest("validate", str(ROOT / "scenarios" / "real-endpoint.yaml"), env={"RUNPOD_ENDPOINT_ID": ""})
    assert unset.returncode == 2
    assert "environment variable RUNPOD_ENDPOINT_ID is empty" in unset.stderr


def test_schema_command_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = _loadtest("schema", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == schema_text()
    printed = _loadtest("schema")
    assert printed.stdout == schema_text()
