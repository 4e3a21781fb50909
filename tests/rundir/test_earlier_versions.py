"""Run directories written by the previous version (``data/``, format 1) are rendered, judged, compared and
saved as baselines by this one, through the commands a user runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from loadtest import exitcodes
from loadtest.cli import main

DATA = Path(__file__).parent / "data"


@pytest.fixture
def runs(tmp_path: Path) -> dict[str, Path]:
    """Copies of the fixtures (the commands write into a run directory)."""
    return {p.name: Path(shutil.copytree(p, tmp_path / p.name)) for p in DATA.iterdir() if p.is_dir()}


def test_report_renders_a_format_1_directory(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    for name, run in runs.items():
        assert main(["report", str(run)]) == exitcodes.OK, capsys.readouterr().err
        html = (run / "report.html").read_text()
        assert "Load test report" in html and "Headline figures" in html and "Traceback" not in html
        markdown = (run / "summary.md").read_text()
        assert "## Verdicts" in markdown and "## Times" in markdown
        assert list((run / "plots").glob("*.png")), name
    censored = (runs["format1-censored"] / "summary.md").read_text()
    assert "still unfinished" in censored and "| end_to_end.p50 | <= 100 ms | 1.39 s | fail |" in censored
    assert "discovered limit" in (runs["format1-censored"] / "report.html").read_text()


def test_check_judges_a_format_1_directory(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(runs["format1"]), "--no-report"]) == exitcodes.OK
    assert "check: PASSED (4 of 4 criteria met" in capsys.readouterr().out
    assert main(["check", str(runs["format1-censored"]), "--no-report"]) == exitcodes.CHECK_FAILED
    out = capsys.readouterr().out
    assert "end_to_end.p50" in out and "NOT JUDGED" in out and "FAILED (1 of 3" in out
    written = json.loads((runs["format1-censored"] / "verdicts.json").read_text())
    assert written["outcome"] == "failed" and written["counts"] == {"criteria": 3, "passed": 1, "failed": 1,
                                                                    "no_data": 1}


def test_compare_reads_two_format_1_directories(runs: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", str(runs["format1"]), str(runs["format1-censored"]), "--out", str(out)]) == exitcodes.OK
    document = json.loads((out / "compare.json").read_text())
    assert any("different scenarios" in w for w in document["warnings"])
    assert {d["ref"] for d in document["differences"]} >= {"queue_delay.p95", "throughput"}


def test_a_format_1_directory_is_a_baseline_and_checked_against(runs: dict[str, Path], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    baselines = tmp_path / "baselines"
    run = runs["format1"]
    assert main(["baseline", "--baselines-dir", str(baselines), "save", str(run), "old"]) == exitcodes.OK
    assert main(["baseline", "--baselines-dir", str(baselines), "list"]) == exitcodes.OK
    assert "old  scenario smoke, 4s" in capsys.readouterr().out
    assert main(["check", str(run), "--baseline", "old", "--baselines-dir", str(baselines),
                 "--no-report"]) == exitcodes.OK
    out = capsys.readouterr().out
    assert "queue_delay.p95 vs baseline" in out and "PASS" in out


def test_a_directory_of_another_format_is_refused_with_a_sentence(
    runs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run = runs["format1"]
    document = json.loads((run / "summary.json").read_text())
    document["format"] = 2
    (run / "summary.json").write_text(json.dumps(document))
    for command in (["report", str(run)], ["check", str(run)], ["compare", str(run), str(run)],
                    ["baseline", "save", str(run), "x"]):
        assert main(command) == exitcodes.INVALID_INPUT, command
        err = capsys.readouterr().err
        assert "run-directory format 2" in err and "reads format 1" in err and "Traceback" not in err, command
