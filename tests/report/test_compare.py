"""loadtest compare: figures side by side with differences and direction, overlaid plots, own directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest import cli, exitcodes
from loadtest.metrics import rundir
from loadtest.metrics.synthetic import synthetic_recorder
from loadtest.report.data import load_run
from loadtest.report.side_by_side import differences


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reports")
    a = rundir.new_run_directory("cmp", root=root, when=1_750_000_000)
    b = rundir.new_run_directory("cmp", root=root, when=1_750_000_100)
    rundir.write_run_directory(a, synthetic_recorder(jobs=600, duration_s=10, seed=1), scenario={"name": "cmp"})
    rundir.write_run_directory(b, synthetic_recorder(jobs=900, duration_s=10, seed=2), scenario={"name": "cmp"})
    return a, b


def test_differences_follow_direction(runs: tuple[Path, Path]) -> None:
    a, b = (load_run(p) for p in runs)
    by_ref = {d.ref: d for d in differences(a, b)}
    submitted = by_ref["jobs.submitted"]
    assert (submitted.a, submitted.b, submitted.delta, submitted.change) == (600, 900, 300, "")
    assert submitted.relative == pytest.approx(0.5)
    rate = by_ref["throughput"]
    assert rate.change == "better"  # more requests per second, lower is worse
    p95 = by_ref["queue_delay.p95"]
    assert p95.change == ("worse" if p95.b > p95.a else "better")
    assert "latency.p95{op=run}" in by_ref and "end_to_end.p95{flow=chat}" in by_ref
    same = differences(a, a)
    assert {d.change for d in same} <= {"same", ""}


def test_compare_command_writes_its_own_directory(runs: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(runs[0]), str(runs[1]), "--out", str(out)]) == exitcodes.OK
    html = (out / "compare.html").read_text()
    drawn = html.count("data:image/png;base64,") + html.count('<figure class="chart"')  # images + charts
    assert drawn == len(list((out / "plots").glob("*.png"))) >= 8
    assert "A = <code>" in html and "B = <code>" in html
    document = json.loads((out / "compare.json").read_text())
    assert any(d["ref"] == "jobs.submitted" and d["delta"] == 300 for d in document["differences"])
    assert "| jobs.submitted | 600 | 900 | +300 (+50%) |" in (out / "compare.md").read_text()
    assert not (runs[0] / "compare.html").exists()


def test_compare_refuses_missing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", str(tmp_path), str(tmp_path)]) == exitcodes.INVALID_INPUT
    assert "summary.json: missing" in capsys.readouterr().err
