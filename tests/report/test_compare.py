"""loadtest compare judges: a difference is better/worse only beyond the noise interval the baseline check
uses; runs that are not comparable as they stand get a warning at the top; its own directory."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from loadtest import cli, exitcodes
from loadtest.metrics.catalog import Direction, Kind, MetricRef
from loadtest.metrics.recorder import JobRecord, Recorder
from loadtest.metrics.run_figures import MetricFigures, RunFigures, ScopeFigures
from loadtest.metrics.synthetic import synthetic_recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.report.data import load_run
from loadtest.report.side_by_side import (
    BETTER,
    SAME,
    WITHIN_NOISE,
    WORSE,
    _judge,
    comparability_warnings,
    differences,
)

SCENARIO: dict[str, Any] = {"name": "cmp", "load": {"users": 4}}


def _run(root: Path, seed: int, *, slow: float = 1.0, seconds: int = 20, interrupted: bool = False,
         scenario: dict[str, Any] | None = None) -> Path:
    """A run drawn from fixed distributions: same scenario, another seed, is "the same run again"."""
    rng = random.Random(seed)
    start = 1_800_000_000.0 + seed * 3600 + 0.37
    rec = Recorder(start=start)
    for i in range(seconds * 25):
        t = start + seconds * (i + rng.random()) / (seconds * 25)
        flow = "chat" if rng.random() < 0.8 else "sync"
        op = "run" if flow == "chat" else "runsync"
        rec.record_request(op, flow, 200, rng.lognormvariate(math.log(2.0), 0.4), t=t)
        delay = rng.lognormvariate(math.log(100.0), 0.5) * slow
        execution = rng.gammavariate(4.0, 12.5) * slow
        rec.record_job(JobRecord(job_id=f"{seed}-{i}", flow=flow, submitted_at=t, final_status="COMPLETED",
                                 delay_ms=delay, execution_ms=execution, end_to_end_ms=delay + execution), t=t)
    path = root / f"run-{seed}-{slow}"
    write_run_directory(path, rec, RunRecord(scenario=scenario or SCENARIO, duration_s=float(seconds),
                                             started_at=start, interrupted=interrupted))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cmp")
    return {"a": _run(root, 1), "again": _run(root, 2), "slower": _run(root, 3, slow=1.5)}


def test_the_same_run_again_differs_within_noise(runs: dict[str, Path]) -> None:
    a, again = load_run(runs["a"]), load_run(runs["again"])
    diffs = differences(a, again)
    judged = [d for d in diffs if d.change]
    assert len(judged) > 40
    flagged = [d.ref for d in judged if d.change in (BETTER, WORSE)]
    assert len(flagged) <= 0.03 * len(judged), flagged  # a 99% interval: about 1 in 100 by chance
    by_ref = {d.ref: d for d in diffs}
    p90 = by_ref["queue_delay.p90"]
    assert p90.change in (WITHIN_NOISE, SAME) and p90.delta != 0 and p90.interval is not None
    assert p90.interval[0] <= 0 <= p90.interval[1] and "noise interval" in p90.why
    assert by_ref["jobs.submitted"].change == "" and "not judged" in by_ref["jobs.submitted"].why
    assert {d.change for d in differences(a, a)} <= {SAME, ""}


def test_a_real_slowdown_is_worse_and_a_speedup_better(runs: dict[str, Path]) -> None:
    a, slower = load_run(runs["a"]), load_run(runs["slower"])
    by_ref = {d.ref: d for d in differences(a, slower)}
    for ref in ("queue_delay.p50", "queue_delay.p95", "execution_time.p50", "end_to_end.p95",
                "end_to_end.p50{flow=chat}"):
        assert by_ref[ref].change == WORSE, (ref, by_ref[ref])
        assert by_ref[ref].interval is not None and by_ref[ref].interval[0] > 0
    ref = MetricRef("queue_delay", "p50")
    faster = _judge(ref, Direction.HIGHER_IS_WORSE, by_ref["queue_delay.p50"].b, by_ref["queue_delay.p50"].a,
                    slower.buckets(), a.buckets(), 0.99, (slower.metrics, a.metrics))
    assert faster.change == BETTER and faster.interval is not None and faster.interval[1] < 0


def test_compare_writes_its_own_directory_with_the_judgement(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(runs["a"]), str(runs["slower"]), "--out", str(out)]) == exitcodes.OK
    html = (out / "compare.html").read_text()
    drawn = html.count("data:image/png;base64,") + html.count('<figure class="chart"')  # images + charts
    assert drawn == len(list((out / "plots").glob("*.png"))) >= 8
    assert "A = <code>" in html and "B = <code>" in html and "Changes beyond noise" in html
    assert '<span class="worse">worse</span>' in html and '<span class="noise">' in html
    document = json.loads((out / "compare.json").read_text())
    assert document["warnings"] == [] and "worse on" in document["summary"]
    row = next(d for d in document["differences"] if d["ref"] == "queue_delay.p50")
    assert row["change"] == "worse" and len(row["interval"]) == 2
    markdown = (out / "compare.md").read_text()
    assert "| queue_delay.p50 |" in markdown and "| worse |" in markdown
    assert not (runs["a"] / "compare.html").exists()


def test_scenario_mismatch_and_interruption_are_warned_at_the_top(runs: dict[str, Path], tmp_path: Path) -> None:
    other = _run(tmp_path, 4, seconds=12, interrupted=True,
                 scenario={"name": "cmp", "load": {"users": 8}, "seed": 9})
    out = tmp_path / "cmp"
    assert cli.main(["compare", str(runs["a"]), str(other), "--out", str(out)]) == exitcodes.OK
    warnings = json.loads((out / "compare.json").read_text())["warnings"]
    assert any("different settings (load, seed)" in w for w in warnings), warnings
    assert any(w.startswith("B was interrupted") for w in warnings)
    assert any("lasted 20.0 s (A) and 12.0 s (B)" in w for w in warnings)
    html = (out / "compare.html").read_text()
    assert html.index("B was interrupted") < html.index("Changes beyond noise")  # at the top
    assert (out / "compare.md").read_text().splitlines()[2].startswith("> **Warning**")
    renamed = load_run(_run(tmp_path, 5, scenario={"name": "other"}))
    assert "different scenarios ('cmp' and 'other')" in comparability_warnings(load_run(runs["a"]), renamed)[0]


def test_compare_of_synthetic_runs_keeps_every_headline_figure(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_run_directory(a, synthetic_recorder(jobs=600, duration_s=10, seed=1), RunRecord(scenario={"name": "s"}))
    write_run_directory(b, synthetic_recorder(jobs=900, duration_s=10, seed=2), RunRecord(scenario={"name": "s"}))
    by_ref = {d.ref: d for d in differences(load_run(a), load_run(b))}
    submitted = by_ref["jobs.submitted"]
    assert (submitted.a, submitted.b, submitted.delta, submitted.change) == (600, 900, 300, "")
    assert submitted.relative == pytest.approx(0.5)
    assert "latency.p95{op=run}" in by_ref and "end_to_end.p95{flow=chat}" in by_ref


def test_compare_refuses_missing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare", str(tmp_path), str(tmp_path)]) == exitcodes.INVALID_INPUT
    assert "summary.json: missing" in capsys.readouterr().err


def test_a_figure_that_is_a_range_is_judged_only_when_the_whole_range_decides() -> None:
    def summary(p95: float, cap: float | None) -> RunFigures:
        figures = ScopeFigures({"p95": p95}) if cap is None else ScopeFigures({"p95": p95}, 1.0, ("p95",), {"p95": cap})
        return RunFigures({"queue_delay": MetricFigures("ms", Kind.HISTOGRAM, Direction.HIGHER_IS_WORSE, figures)})

    ref = MetricRef("queue_delay", "p95")
    exact, ranged = summary(100.0, None), summary(90.0, 400.0)  # B is 90 ms or more, up to 400 ms
    undecided = _judge(ref, Direction.HIGHER_IS_WORSE, 100.0, 90.0, None, None, 0.99, (exact, ranged))
    assert undecided.change == "" and "a range" in undecided.why and "-10 ms and +300 ms" in undecided.why
    clearly = _judge(ref, Direction.HIGHER_IS_WORSE, 100.0, 150.0, None, None, 0.99, (exact, summary(150.0, 400.0)))
    assert clearly.change == "no noise estimate"  # the range says B is higher; no per-bucket data to say more
