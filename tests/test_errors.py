"""The error tree (``loadtest/errors.py``): every error a person reads derives from ``LoadtestError`` and
carries its exit code, and the command line says it once: a sentence naming the command, the exit code,
never a traceback."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import exitcodes
from loadtest.errors import (
    InvalidInput,
    KeyRefused,
    LoadtestError,
    NotJudgeable,
    OutputIncomplete,
    TargetFailure,
    UsageError,
    explain,
)

REPO = Path(__file__).resolve().parents[1]

PRIVATE = {
    "loadtest.discovery.operation.Stop": "ends one search step inside the discovery",
    "loadtest.emulator.jobstore.TransitionError": "becomes the emulator's HTTP answer",
    "loadtest.emulator.parsing.BadRequest": "becomes the emulator's HTTP 400",
    "loadtest.emulator.openai_requests.OpenAIError": "becomes the emulator's OpenAI-shaped HTTP error",
    "loadtest.scenario.overrides._Problem": "one override's sentence, gathered into an OverrideError",
    "loadtest.scenario.semantics._ReferenceProblem": "becomes a scenario issue",
    "loadtest.scenario.source.SourceError": "becomes a ScenarioError or a YamlFileError",
    "loadtest.scenario.source._Stop": "ends the reader's walk",
    "loadtest.traffic.client.RequestFailure": "marks a request failed in Locust's statistics",
}
"""Exceptions that steer control flow inside their module and never reach a person, and what they become."""


WALK = """
import json, importlib, inspect, pkgutil
import locust  # gevent's monkey-patching first, as every entry point does
import loadtest
from loadtest import exitcodes
from loadtest.errors import LoadtestError
codes = {value for name, value in vars(exitcodes).items() if name.isupper()}
found = {}
for info in pkgutil.walk_packages(loadtest.__path__, "loadtest."):
    if "worker_shim" in info.name or info.name.endswith("__main__") or info.name == "loadtest.locustfile":
        continue
    module = importlib.import_module(info.name)
    for attribute, value in vars(module).items():
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
            tree = issubclass(value, LoadtestError)
            found[info.name + "." + attribute] = {"tree": tree, "code": value.exit_code in codes if tree else None}
print(json.dumps(found))
"""


def _exception_classes() -> dict[str, dict[str, bool | None]]:
    """Every exception class the package defines: in the tree or not, and with an exit code we know. Walked in
    a process of its own (importing everything monkey-patches it, as Locust does)."""
    result = subprocess.run([sys.executable, "-c", WALK], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found: dict[str, dict[str, bool | None]] = json.loads(result.stdout)
    return found


def test_every_error_a_person_reads_is_in_the_tree() -> None:
    classes = _exception_classes()
    outside = sorted(name for name, seen in classes.items() if not seen["tree"])
    assert outside == sorted(name for name in PRIVATE if name in classes), outside
    assert sum(1 for seen in classes.values() if seen["tree"]) >= 20
    assert all(seen["code"] for seen in classes.values() if seen["tree"]), classes


@pytest.mark.parametrize(("family", "code"), [
    (InvalidInput, exitcodes.INVALID_INPUT), (NotJudgeable, exitcodes.NOT_JUDGEABLE),
    (TargetFailure, exitcodes.TARGET_ERROR), (KeyRefused, exitcodes.KEY_REFUSED),
    (OutputIncomplete, exitcodes.OUTPUT_INCOMPLETE),
])
def test_each_family_carries_its_exit_code(family: type[LoadtestError], code: int) -> None:
    err = io.StringIO()
    assert explain(family("what went wrong"), "loadtest run", err) == code
    assert err.getvalue() == "loadtest run: what went wrong\n"


def test_a_scenario_error_lists_every_issue_then_counts_them() -> None:
    from loadtest.scenario.loader import ScenarioError, load_scenario_text

    with pytest.raises(ScenarioError) as caught:
        load_scenario_text("name: x\nduration: soon\nmix:\n  - flow: nope\n", file="x.yaml")
    err = io.StringIO()
    assert explain(caught.value, "loadtest run", err) == exitcodes.INVALID_INPUT
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("x.yaml:2:") and lines[1].startswith("x.yaml:4:")
    assert lines[-1] == "loadtest run: x.yaml: invalid scenario (2 errors)"
    assert caught.value.sentence.startswith("x.yaml:2:") and caught.value.sentence.endswith("(2 errors)")


def test_usage_errors_say_each_misuse_on_its_own_line() -> None:
    err = io.StringIO()
    explain(UsageError(["--a: one", "--b: two"]), "loadtest run", err)
    assert err.getvalue() == "loadtest run: --a: one\nloadtest run: --b: two\n"


def _loadtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loadtest.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_the_cli_says_a_raised_error_once_with_its_exit_code() -> None:
    with socket.socket() as taken:  # a port another process holds: the emulator cannot listen there
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _loadtest("emulate", "--port", str(port))
    assert result.returncode == exitcodes.TARGET_ERROR, result.stderr
    assert result.stderr.strip().startswith(f"loadtest emulate: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in result.stderr
    usage = _loadtest("baseline")
    assert usage.returncode == exitcodes.INVALID_INPUT
    assert usage.stderr.strip() == "loadtest baseline: say what to do: save RUN_DIR NAME, or list"
