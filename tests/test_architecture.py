"""The package boundaries are checked by import-linter contracts (``[tool.importlinter]`` in pyproject.toml),
and the contracts really bite: a copy of the package with one forbidden import added breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "loadtest", root / "loadtest", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.fixture(scope="module")
def lint_imports() -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail("lint-imports is not installed (import-linter is a dev dependency)")
    return LINT_IMPORTS


def test_the_contracts_hold(lint_imports: Path, tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("loadtest/traffic/flows.py", "import loadtest.emulator.jobstore", "Layers"),
        ("loadtest/emulator/admission.py", "import loadtest.scenario.model", "The emulator stands alone"),
        ("loadtest/metrics/summary.py", "import loadtest.check.verdicts", "Figures are derived in metrics"),
        ("loadtest/check/thresholds.py", "import loadtest.report.build", "Layers"),
        ("loadtest/scenario/model.py", "import locust", "Only the traffic side"),
        ("loadtest/queue_api/wire.py", "import gevent", "Only the traffic side"),
        ("loadtest/discovery/prober.py", "import loadtest.traffic.client", "The limit discovery speaks the queue API"),
        ("loadtest/report/data.py", "import loadtest.rundir.write", "Only the pipeline and discovery"),
        ("loadtest/traffic/drive.py", "import loadtest.rundir.write", "Only the pipeline and discovery"),
        ("loadtest/check/judge.py", "import loadtest.rundir.plain", "read run directories only through rundir"),
        ("loadtest/rundir/read.py", "import loadtest.report.build", "The run directory stands below"),
        ("loadtest/rundir/write.py", "import gevent", "The run directory stands below"),
        ("loadtest/metrics/summary.py", "import loadtest.rundir.layout", "Figures are derived in metrics"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    lint_imports: Path, tmp_path: Path, module: str, forbidden: str, contract: str
) -> None:
    root = _copy(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{forbidden}  # noqa\n")
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    report = " ".join(result.stdout.split())  # import-linter wraps long lines
    assert " 0 broken" not in report, report
    details = report.split("Broken contracts", 1)[1]
    assert contract in details, report
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in details and forbidden.split()[-1] in details, report
