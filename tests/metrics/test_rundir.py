"""The run directory: summary figures, files, atomic writes, secrets, the latest link, reading back."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from loadtest.metrics import catalog, hdr, rundir
from loadtest.metrics.recorder import IN_FLIGHT, JobRecord, Recorder
from loadtest.metrics.summary import summarize_metrics
from loadtest.metrics.synthetic import synthetic_recorder

T0 = 1_700_000_000.0


def _small_recorder() -> Recorder:
    rec = Recorder(start=T0)
    for i in range(10):
        rec.record_request("run", "a", 200, 10.0 + i, t=T0 + i)
    rec.record_request("run", "a", 429, 1.0, t=T0 + 1)
    rec.record_request("run", "b", 429, 1.0, t=T0 + 2)
    rec.record_request("status", "a", 0, 30_000.0, t=T0 + 3)
    rec.record_request("status", "a", 404, 2.0, t=T0 + 3)
    for i, status in enumerate(["COMPLETED", "COMPLETED", "FAILED", "TIMED_OUT", "CANCELLED", IN_FLIGHT]):
        rec.record_job(JobRecord(f"j{i}", "a", T0 + i, status, delay_ms=100.0 * (i + 1), execution_ms=50.0,
                                 end_to_end_ms=200.0, retries=int(status == "FAILED")), t=T0 + i + 1)
    rec.record_dropped("b", t=T0 + 5)
    rec.record_job(JobRecord("x", "b", T0, "COMPLETED", delay_ms=5.0), t=T0 + 10)
    return rec


def test_summary_figures_by_scope() -> None:
    m = summarize_metrics(_small_recorder(), duration_s=10.0)
    assert set(m) == set(catalog.METRICS)
    assert m["requests"]["overall"] == {"value": 14}
    assert m["requests"]["by_op"] == {"run": {"value": 12}, "status": {"value": 2}}
    assert m["throttled"]["by_flow"] == {"a": {"value": 1}, "b": {"value": 1}}
    assert m["errors"]["overall"] == {"value": 2}
    assert m["rate_429"]["by_op"]["run"]["value"] == pytest.approx(2 / 12)
    assert m["error_rate"]["overall"]["value"] == pytest.approx(2 / 14)
    assert m["throughput"]["overall"]["value"] == pytest.approx(1.4)
    assert m["accepted_rate"]["overall"]["value"] == pytest.approx(1.1)  # 14 - two 429s - one status 0
    assert m["jobs.submitted"]["overall"]["value"] == 7
    assert m["jobs.completed"]["by_flow"] == {"a": {"value": 2}, "b": {"value": 1}}
    assert m["jobs.in_flight"]["overall"]["value"] == 1
    assert m["jobs.retried"]["overall"]["value"] == 1
    assert m["job_failure_rate"]["overall"]["value"] == pytest.approx(2 / 5)
    assert m["job_throughput"]["overall"]["value"] == pytest.approx(0.3)
    assert m["dropped"]["by_flow"] == {"b": {"value": 1}}
    assert m["queue_delay"]["overall"]["count"] == 7
    assert m["queue_delay"]["by_flow"]["b"]["max"] == pytest.approx(5.0, rel=1e-3)
    assert m["queue_delay"]["by_op"] == {}
    assert m["latency"]["by_op"]["status"]["max"] == pytest.approx(30_000, rel=1e-3)
    assert m["first_chunk"]["overall"] is None  # not measured is null, not zero
    assert m["queue_length"]["overall"] is None
    assert m["end_to_end"]["unit"] == "ms" and m["end_to_end"]["direction"] == "higher_is_worse"


def test_idle_counters_are_zero_and_ratios_null() -> None:
    m = summarize_metrics(Recorder(start=T0), duration_s=5.0)
    assert m["dropped"]["overall"] == {"value": 0}
    assert m["requests"]["overall"] == {"value": 0}
    assert m["throughput"]["overall"] == {"value": 0}
    assert m["rate_429"]["overall"] == {"value": None}


def test_write_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "rp_supersecret_value_123")
    root = tmp_path / "reports"
    run_dir = rundir.new_run_directory("smoke test", root=root, when=T0)
    assert run_dir == root / "smoke_test" / "20231114-221320"
    log = tmp_path / "emu.log"
    log.write_text("emulator says hi\n")
    rec = synthetic_recorder(jobs=600, duration_s=20, start=T0)
    scenario = {"name": "smoke", "target": {"url": "http://127.0.0.1:1", "api_key": "rp_supersecret_value_123"},
                "headers": {"X": "Bearer rp_supersecret_value_123"}}
    settings = {"users": 3, "token": "abc", "limit": float("inf")}
    rundir.write_run_directory(run_dir, rec, scenario=scenario, settings=settings, interrupted=True,
                               emulator_log=log, ground_truth={"jobs": 600}, jobs_csv_rows=100)
    names = {p.name for p in run_dir.iterdir()}
    assert {"summary.json", "timeseries.json", "histograms.json", "recorder.json", "jobs.csv", "health.csv",
            "scenario.yaml", "emulator.log", "ground_truth.json"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    text = "".join(p.read_text() for p in run_dir.iterdir() if p.is_file())
    assert "rp_supersecret_value_123" not in text
    summary = rundir.read_summary(run_dir)
    assert summary["format"] == rundir.FORMAT and summary["run"]["interrupted"] is True
    assert summary["run"]["settings"]["token"] == rundir.REDACTED
    assert summary["run"]["settings"]["limit"] == "inf"
    assert summary["run"]["scenario"] == "smoke"
    assert summary["jobs"]["rows_written"] == 100 and summary["jobs"]["rows_omitted"] == 500
    assert summary["metrics"]["jobs.submitted"]["overall"]["value"] == 600
    assert set(summary["files"]) >= {"jobs.csv", "emulator.log", "summary.json"}
    with (run_dir / "jobs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 100 and rows[0]["job_id"] == "job-0000000" and rows[0]["flow"] == "chat"
    series = json.loads((run_dir / "timeseries.json").read_text())
    assert len(series["t"]) == 20 and series["t"][1] - series["t"][0] == 1.0
    assert len(series["series"]["queue_delay"]["p95"]) == 20
    assert sum(series["series"]["jobs.submitted"]["count"]) == 600
    latest = root / "latest"
    assert latest.is_symlink() and latest.resolve() == run_dir.resolve()
    # The recorder snapshot and the histograms read back to the same figures.
    again = rundir.load_recorder(run_dir)
    assert summarize_metrics(again, summary["run"]["duration_s"]) == json.loads(json.dumps(summary["metrics"]))
    totals = rundir.read_histograms(run_dir)
    assert hdr.statistics(totals[("queue_delay", "chat", "")])["count"] == \
        summary["metrics"]["queue_delay"]["by_flow"]["chat"]["count"]


def test_latest_falls_back_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_symlinks(*args: object, **kwargs: object) -> None:
        raise OSError("symlinks not supported")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    run_dir = rundir.new_run_directory("s", root=tmp_path)
    assert rundir.update_latest(run_dir, tmp_path) == tmp_path / "latest.txt"
    assert (tmp_path / (tmp_path / "latest.txt").read_text().strip()).resolve() == run_dir.resolve()


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    rundir.write_json(target, {"ok": 1})
    with pytest.raises(ValueError):
        rundir.write_json(target, {"bad": float("nan")})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_reading_bad_directories(tmp_path: Path) -> None:
    with pytest.raises(rundir.RunDirectoryError, match="missing"):
        rundir.read_summary(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(rundir.RunDirectoryError, match="cannot read"):
        rundir.read_summary(tmp_path)
    (tmp_path / "summary.json").write_text('{"format": 99, "metrics": {}}')
    with pytest.raises(rundir.RunDirectoryError, match="unknown format 99"):
        rundir.read_summary(tmp_path)


def test_redaction_is_by_whole_key_name() -> None:
    data = {"api_key": "k", "hf_token": "t", "Authorization": "Bearer x", "x-api-key": "y", "max_tokens": 100,
            "api_key_env": "RUNPOD_API_KEY", "nested": [{"password": "p", "tokenizer": "gpt2"}], "empty_token": None}
    out = rundir.redact(data, secrets=["sekrit-value"])
    assert out["api_key"] == out["hf_token"] == out["Authorization"] == out["x-api-key"] == rundir.REDACTED
    assert out["max_tokens"] == 100 and out["api_key_env"] == "RUNPOD_API_KEY" and out["empty_token"] is None
    assert out["nested"] == [{"password": rundir.REDACTED, "tokenizer": "gpt2"}]
    blanked = rundir.redact({"prompt": "say sekrit-value"}, secrets=["sekrit-value"])
    assert blanked == {"prompt": f"say {rundir.REDACTED}"}
