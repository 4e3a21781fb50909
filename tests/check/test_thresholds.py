"""Thresholds on summary figures (overall, per flow, per op), over windows, with verdicts and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from loadtest import exitcodes
from loadtest.check.judge import CheckInputError, judge_run
from loadtest.metrics import catalog
from loadtest.metrics.recorder import Recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.rundir.read import RunDirectory


def _scenario(*thresholds: dict) -> dict:
    return {"name": "t", "thresholds": list(thresholds)}


def test_engine_with_every_bucket_once_gives_the_summary_figures(tmp_path: Path, check_helpers) -> None:
    run = check_helpers.synthetic_run(tmp_path / "run", seed=5)
    directory = RunDirectory(run)
    figures = directory.summary().metrics
    buckets = directory.buckets()
    assert buckets is not None
    compared = 0
    for name, spec in catalog.METRICS.items():
        scopes = [(None, None)] + [(catalog.Scope.FLOW, f) for f in ("chat", "sync")]
        if catalog.Scope.OP in spec.scopes:
            scopes += [(catalog.Scope.OP, o) for o in ("run", "runsync", "status")]
        for scope, value in scopes:
            if scope is not None and scope not in spec.scopes:
                continue
            for stat in spec.stats:
                ref = catalog.MetricRef(name, stat, scope, value)
                expected = figures.value(ref)
                figure = buckets.figure(ref)
                if figure is None:
                    assert name == "jobs.retried"
                    continue
                got = float(figure.values(buckets.whole_run())[0])
                if expected is None:
                    assert np.isnan(got) or got == 0, ref
                else:
                    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), ref
                    compared += 1
    assert compared > 150


def test_whole_run_thresholds_pass_fail_and_missing_data(tmp_path: Path, check_helpers) -> None:
    scenario = _scenario(
        {"metric": "end_to_end.p95", "max": "2s"},                       # pass
        {"metric": "queue_delay.p50", "flow": "chat", "max": "10ms"},    # fail (~100 ms)
        {"metric": "rate_429", "op": "run", "max": "50%"},               # pass
        {"metric": "job_throughput", "min": "1000/s"},                   # fail (~20/s)
    )
    run = check_helpers.synthetic_run(tmp_path / "run", seed=3, scenario=scenario)
    verdicts = judge_run(run)
    assert [v.verdict for v in verdicts] == ["pass", "fail", "pass", "fail", "pass"]  # the built-in one last
    assert verdicts.items[-1].criterion == "error_rate.value (built-in)"
    assert verdicts.exit_code == exitcodes.CHECK_FAILED
    assert verdicts.items[1].criterion == "queue_delay.p50{flow=chat}"
    assert verdicts.items[1].expected == "<= 10 ms"
    assert "above the max of 10 ms" in verdicts.items[1].why
    assert "below the min" in verdicts.items[3].why

    missing = check_helpers.synthetic_run(
        tmp_path / "missing", seed=3, scenario=_scenario({"metric": "first_chunk.p95", "max": "1s"},
                                                          {"metric": "end_to_end.p95", "max": "2s"}))
    verdicts = judge_run(missing)
    assert [v.verdict for v in verdicts] == ["no data", "pass", "pass"]
    assert verdicts.exit_code == exitcodes.NOT_JUDGEABLE
    assert "did not measure first_chunk.p95" in verdicts.items[0].why


def _bursty_run(path: Path) -> Path:
    """60 s of requests; 429s only between 20 s and 30 s (30% of requests there, 5% over the run)."""
    start = 1_800_000_000.25
    recorder = Recorder(start=start)
    for i in range(6000):
        t = start + i * 0.01
        status = 429 if 20 <= t - start < 30 and i % 10 < 3 else 200
        recorder.record_request("run", "chat", status, 2.0, t=t)
    write_run_directory(path, recorder, RunRecord(
        duration_s=60.0, started_at=start,
        scenario=_scenario({"metric": "rate_429", "max": "10%"}, {"metric": "rate_429", "max": "10%", "window": "10s"},
                           {"metric": "rate_429", "max": "40%", "window": "10s"},
                           {"metric": "throughput", "min": "90/s", "window": "5s"})))
    return path


def test_windowed_threshold_catches_a_burst_the_whole_run_hides(tmp_path: Path) -> None:
    verdicts = judge_run(_bursty_run(tmp_path / "run"))
    whole, windowed, loose, rate, builtin = verdicts.items
    assert builtin.verdict == "pass"  # 429s are not errors
    assert whole.verdict == "pass" and whole.value == pytest.approx(0.05, abs=0.002)
    assert windowed.verdict == "fail"
    assert windowed.value == pytest.approx(0.30, abs=0.01)  # the worst window is all burst
    assert windowed.criterion == "rate_429.value in any 10s window"
    assert "windows above the max of 10%" in windowed.why
    assert 15 <= windowed.details["worst_window_start_s"] <= 21
    assert loose.verdict == "pass"
    assert rate.verdict == "pass" and rate.value == pytest.approx(100.0, rel=0.02)  # whole buckets only


def test_verdicts_json_and_report_are_written_by_the_command(tmp_path: Path, check_helpers, capsys) -> None:
    from loadtest.cli import main

    run = check_helpers.synthetic_run(tmp_path / "run", seed=4, scenario=_scenario(
        {"metric": "end_to_end.p95", "max": "1ms"}))
    code = main(["check", str(run)])
    assert code == exitcodes.CHECK_FAILED
    out = capsys.readouterr().out
    assert "end_to_end.p95" in out and "FAIL" in out and "check: FAILED" in out
    document = json.loads((run / "verdicts.json").read_text())
    assert document["outcome"] == "failed" and document["exit_code"] == 1
    item, builtin = document["verdicts"]
    assert builtin["criterion"] == "error_rate.value (built-in)" and builtin["verdict"] == "pass"
    assert {"criterion", "expected", "measured", "verdict", "why"} <= set(item)
    assert item["verdict"] == "fail" and item["metric"] == "end_to_end.p95"
    summary_md = (run / "summary.md").read_text()
    assert "Verdicts" in summary_md and "end_to_end.p95" in summary_md
    assert "end_to_end.p95" in (run / "report.html").read_text()


def test_bad_input_is_reported_without_traceback(tmp_path: Path, check_helpers, capsys) -> None:
    from loadtest.cli import main

    assert main(["check", str(tmp_path / "nowhere")]) == exitcodes.INVALID_INPUT
    err = capsys.readouterr().err
    assert "nowhere: no such directory" in err and "Traceback" not in err
    (tmp_path / "empty").mkdir()
    assert main(["check", str(tmp_path / "empty")]) == exitcodes.INVALID_INPUT
    assert "summary.json: missing" in capsys.readouterr().err

    bad = check_helpers.synthetic_run(tmp_path / "bad", seed=1, scenario=_scenario(
        {"metric": "end_to_end.p95", "max": "fast"}))
    with pytest.raises(CheckInputError, match=r"thresholds\[0\]\.max"):
        judge_run(bad)
    assert main(["check", str(bad)]) == exitcodes.INVALID_INPUT
    assert "thresholds[0].max" in capsys.readouterr().err

    run = check_helpers.synthetic_run(tmp_path / "run", seed=1)
    assert main(["check", str(run), "--baseline", "nope", "--baselines-dir", str(tmp_path / "b")]) == 2
    assert "baseline 'nope' not found" in capsys.readouterr().err
    assert main(["check", str(run), "--confidence", "1.5"]) == exitcodes.INVALID_INPUT


def test_threshold_typo_is_caught_by_validate_with_did_you_mean(tmp_path: Path, capsys) -> None:
    from loadtest.cli import main

    scenario = tmp_path / "typo.yaml"
    scenario.write_text(
        "name: typo\nduration: 5s\nmix:\n  - flow: run_poll\nthresholds:\n"
        "  - metric: end_to_edn.p95\n    max: 2s\n"
        "baseline:\n  name: main\n  tolerances:\n    queue_dleay.p50: 10%\n"
    )
    assert main(["validate", str(scenario)]) == exitcodes.INVALID_INPUT
    err = capsys.readouterr().err
    assert "thresholds[0].metric" in err and "did you mean 'end_to_end'" in err
    assert "queue_dleay.p50" in err and "did you mean 'queue_delay'" in err


def test_reports_latest_txt_is_followed_where_symlinks_are_not_allowed(tmp_path: Path, check_helpers) -> None:
    run = check_helpers.synthetic_run(tmp_path / "reports" / "synthetic" / "20261128-100000", seed=2)
    (tmp_path / "reports" / "latest.txt").write_text("synthetic/20261128-100000\n")
    verdicts = judge_run(tmp_path / "reports" / "latest")
    assert verdicts.run_dir == str(run) and len(verdicts) == 3


def test_a_run_without_thresholds_is_judged_on_the_built_in_criterion(tmp_path: Path, check_helpers, capsys) -> None:
    from loadtest.cli import main

    run = check_helpers.synthetic_run(tmp_path / "run", seed=2, scenario={"name": "empty"})
    assert main(["check", str(run), "--no-report"]) == exitcodes.OK
    out = capsys.readouterr().out
    assert "error_rate.value (built-in)" in out and "check: PASSED (1 of 1 criteria met" in out
    off = check_helpers.synthetic_run(tmp_path / "off", seed=2,
                                      scenario={"name": "off", "guards": {"max_error_rate": "100%"}})
    assert main(["check", str(off), "--no-report"]) == exitcodes.OK
    assert "no criteria" in capsys.readouterr().out  # the guard at 100% turns it off
