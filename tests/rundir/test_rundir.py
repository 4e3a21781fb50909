"""The run directory: its files as the pipeline writes them, atomic writes, secrets, the latest link, the
layout every name comes from, and reading back through the typed reader (including refusals)."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

import pytest

from loadtest.atomic import write_json
from loadtest.metrics import hdr
from loadtest.metrics.recorder import JOB_ROW_FIELDS
from loadtest.metrics.summary import summarize_metrics
from loadtest.metrics.synthetic import synthetic_recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.pipeline.output import link_latest
from loadtest.redaction import REDACTED, redact
from loadtest.rundir import layout
from loadtest.rundir.documents import JobRow, RunWarning, figures_plain
from loadtest.rundir.errors import RunDirectoryError
from loadtest.rundir.read import RunDirectory

T0 = 1_700_000_000.0


def test_write_run_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNPOD_API_KEY", "rp_supersecret_value_123")
    root = tmp_path / "reports"
    run_dir = layout.new_run_directory("smoke test", root=root, when=T0)
    assert run_dir == root / "smoke_test" / "20231114-221320"
    log = tmp_path / "emu.log"
    log.write_text("emulator says hi\n")
    rec = synthetic_recorder(jobs=600, duration_s=20, start=T0)
    scenario = {"name": "smoke", "target": {"url": "http://127.0.0.1:1", "api_key": "rp_supersecret_value_123"},
                "headers": {"X": "Bearer rp_supersecret_value_123"}}
    settings = {"users": 3, "token": "abc", "limit": float("inf")}
    record = RunRecord(scenario=scenario, settings=settings, interrupted=True, ground_truth={"jobs": 600},
                       copies={layout.EMULATOR_LOG: log}, jobs_csv_rows=100,
                       warnings=(RunWarning("stall", "the key rp_supersecret_value_123 stalled"),))
    written = write_run_directory(run_dir, rec, record)
    link_latest(run_dir, root)
    names = {p.name for p in run_dir.iterdir()}
    assert {"summary.json", "timeseries.json", "histograms.json", "recorder.json", "jobs.csv", "health.csv",
            "scenario.yaml", "emulator.log", "ground_truth.json"} <= names
    assert names <= layout.OWNED_NAMES  # everything a run writes is what --force may replace
    assert not [n for n in names if n.endswith(".tmp")]
    text = "".join(p.read_text() for p in run_dir.iterdir() if p.is_file())
    assert "rp_supersecret_value_123" not in text
    run = RunDirectory(run_dir)
    summary = run.summary()
    assert summary == written  # what was written reads back as the same typed document
    assert summary.format == layout.FORMAT and summary.run.interrupted is True
    assert summary.run.settings["token"] == REDACTED
    assert summary.run.settings["limit"] == "inf"
    assert summary.run.scenario == "smoke"
    assert summary.run.warnings == (RunWarning("stall", f"the key {REDACTED} stalled"),)
    assert summary.jobs.rows_written == 100 and summary.jobs.rows_omitted == 500
    assert summary.metrics["jobs.submitted"].overall is not None
    assert summary.metrics["jobs.submitted"].overall.get("value") == 600
    assert set(summary.files) >= {"jobs.csv", "emulator.log", "summary.json"}
    assert summary.files["emulator.log"] == layout.COPIED
    with (run_dir / "jobs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 100 and rows[0]["job_id"] == "job-0000000" and rows[0]["flow"] == "chat"
    jobs = list(run.jobs())
    assert len(jobs) == 100 and jobs[0].job_id == "job-0000000" and jobs[0].flow == "chat"
    assert all(isinstance(job.delay_ms, float) for job in jobs if job.final_status == "COMPLETED")
    series = run.timeseries()
    assert len(series.t) == 20 and series.t[1] - series.t[0] == 1.0
    assert len(series.series["queue_delay"]["p95"]) == 20
    assert sum(v or 0 for v in series.series["jobs.submitted"]["count"]) == 600
    latest = root / "latest"
    assert latest.is_symlink() and latest.resolve() == run_dir.resolve()
    assert RunDirectory(latest).path == run_dir.resolve()
    # The recorder snapshot and the histograms read back to the same figures.
    assert summarize_metrics(run.recorder(), summary.run.duration_s) == summary.metrics
    totals = {(e.metric, e.flow, e.op): e for e in run.histograms().entries}
    queue_chat = summary.metrics["queue_delay"].by_flow["chat"]
    assert queue_chat is not None
    assert hdr.statistics(hdr.decode(totals[("queue_delay", "chat", "")].encoded))["count"] == queue_chat.get("count")


def test_latest_falls_back_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_symlinks(*args: object, **kwargs: object) -> None:
        raise OSError("symlinks not supported")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    run_dir = layout.new_run_directory("s", root=tmp_path)
    write_run_directory(run_dir, synthetic_recorder(jobs=20, duration_s=2, start=T0), RunRecord(scenario={"name": "s"}))
    assert link_latest(run_dir, tmp_path) == tmp_path / "latest.txt"
    assert (tmp_path / (tmp_path / "latest.txt").read_text().strip()).resolve() == run_dir.resolve()
    assert RunDirectory(tmp_path / "latest").path == run_dir.resolve()  # the reader follows latest.txt


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_json(target, {"ok": 1})
    with pytest.raises(ValueError):
        write_json(target, {"bad": float("nan")})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_reading_bad_directories(tmp_path: Path) -> None:
    with pytest.raises(RunDirectoryError, match="no such directory"):
        RunDirectory(tmp_path / "nowhere")
    with pytest.raises(RunDirectoryError, match="missing"):
        RunDirectory(tmp_path).summary()
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(RunDirectoryError, match="cannot read"):
        RunDirectory(tmp_path).summary()
    (tmp_path / "summary.json").write_text('{"metrics": {}}')
    with pytest.raises(RunDirectoryError, match="no format number"):
        RunDirectory(tmp_path).summary()


@pytest.mark.parametrize("found", [0, 2, "1"])
def test_a_format_this_version_does_not_read_is_refused_naming_both(tmp_path: Path, found: object) -> None:
    document = json.loads((FORMAT1 / "summary.json").read_text())
    document["format"] = found
    document["tool"]["version"] = "9.9.9"
    (tmp_path / "summary.json").write_text(json.dumps(document))
    with pytest.raises(RunDirectoryError) as caught:
        RunDirectory(tmp_path).summary()
    message = str(caught.value)
    assert f"run-directory format {found!r}, written by loadtest 9.9.9" in message
    assert "reads format 1" in message and str(tmp_path / "summary.json") in message


def test_a_bad_value_is_named_with_its_file_and_key(tmp_path: Path) -> None:
    document = json.loads((FORMAT1 / "summary.json").read_text())
    document["run"]["duration_s"] = "three seconds"
    (tmp_path / "summary.json").write_text(json.dumps(document))
    with pytest.raises(RunDirectoryError, match=r"summary.json: run.duration_s: expected a number, found "
                                                  r"\"three seconds\""):
        RunDirectory(tmp_path).summary()
    document = json.loads((FORMAT1 / "summary.json").read_text())
    document["metrics"]["queue_delay"]["kind"] = "sketch"
    (tmp_path / "summary.json").write_text(json.dumps(document))
    with pytest.raises(RunDirectoryError, match=r"metrics.queue_delay.kind: expected one of histogram"):
        RunDirectory(tmp_path).summary()


def test_redaction_is_by_whole_key_name() -> None:
    data = {"api_key": "k", "hf_token": "t", "Authorization": "Bearer x", "x-api-key": "y", "max_tokens": 100,
            "api_key_env": "RUNPOD_API_KEY", "nested": [{"password": "p", "tokenizer": "gpt2"}], "empty_token": None}
    out = redact(data, secrets=["sekrit-value"])
    assert isinstance(out, dict)
    assert out["api_key"] == out["hf_token"] == out["Authorization"] == out["x-api-key"] == REDACTED
    assert out["max_tokens"] == 100 and out["api_key_env"] == "RUNPOD_API_KEY" and out["empty_token"] is None
    assert out["nested"] == [{"password": REDACTED, "tokenizer": "gpt2"}]
    blanked = redact({"prompt": "say sekrit-value"}, secrets=["sekrit-value"])
    assert blanked == {"prompt": f"say {REDACTED}"}


def test_job_rows_are_the_recorders_columns() -> None:
    assert tuple(f.name for f in dataclasses.fields(JobRow)) == JOB_ROW_FIELDS


def test_every_name_comes_from_the_layout() -> None:
    names = [entry.name for entry in (*layout.RUN_ENTRIES, *layout.DISCOVERY_ENTRIES)]
    assert len(set(layout.RUN_ENTRIES)) == len(layout.RUN_ENTRIES)
    assert all(entry.what for entry in (*layout.RUN_ENTRIES, *layout.DISCOVERY_ENTRIES))
    assert "junit.xml" not in layout.OWNED_NAMES  # written where --junit says: never removed by --force
    assert {"plots", "workers", "summary.json", "locust.html", "limits.json"} <= layout.OWNED_NAMES
    docs = (Path(__file__).resolve().parents[2] / "docs" / "run-directory.md").read_text()
    missing = [name for name in names if f"`{name}" not in docs]
    assert not missing, f"docs/run-directory.md does not describe {missing}"


# ------------------------------------------------------------------------ directories of earlier versions

DATA = Path(__file__).parent / "data"
FORMAT1 = DATA / "format1"
FIXTURES = sorted(p for p in DATA.iterdir() if p.is_dir())


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_format_1_reads_back_to_the_same_files(fixture: Path) -> None:
    """Read into typed documents and written out again, a run directory of format 1 is the same JSON: the
    reader drops nothing and the writer changes nothing."""
    from loadtest.rundir import documents
    from loadtest.rundir.plain import Node

    run = RunDirectory(fixture)
    original = json.loads((fixture / "summary.json").read_text())
    assert documents.summary_plain(run.summary()) == original
    verdicts = run.verdicts()
    assert verdicts is not None
    assert documents.verdicts_plain(verdicts) == json.loads((fixture / "verdicts.json").read_text())
    assert documents.timeseries_plain(run.timeseries()) == json.loads((fixture / "timeseries.json").read_text())
    assert documents.histograms_plain(run.histograms()) == json.loads((fixture / "histograms.json").read_text())
    ground = json.loads((fixture / "ground_truth.json").read_text())
    truth = run.ground_truth()
    assert truth is not None and truth.document == ground and truth.loop_lag == ground["loop_lag"]
    assert len(list(run.jobs())) == run.summary().jobs.rows_written
    assert run.health() and {"t", "jobs.inQueue", "workers.running"} <= set(run.health()[0])
    assert run.buckets() is not None and run.recorder().span()[0] <= run.summary().run.start_unix + 1
    assert documents.summary_from_plain(Node(original, "x")) == run.summary()
    plain = figures_plain(run.summary().metrics)
    assert plain == original["metrics"]


def test_format_1_with_unfinished_jobs_and_discovered_limits() -> None:
    run = RunDirectory(DATA / "format1-censored")
    summary = run.summary()
    queue = summary.metrics["queue_delay"].overall
    assert queue is not None and queue.censored and queue.is_lower_bound("p95")
    assert queue.upper_bound("p50") == queue.upper_bounds["p50"]
    assert [w.kind for w in summary.run.warnings] == ["unfinished_jobs"]
    limits = run.discovered_limits()
    assert limits is not None and limits.operations
    assert run.limits_in_force() is None  # written before the file existed
    verdicts = run.verdicts()
    assert verdicts is not None and {v.verdict for v in verdicts.verdicts} == {"pass", "fail", "not judged"}


def test_an_older_writers_summary_without_later_keys_still_reads(tmp_path: Path) -> None:
    """Format-1 writers before this one did not all write ``warnings``, ``error_messages``, ``loop_lag``,
    ``health``, ``notes`` or ``files``: such a summary reads with those empty."""
    document = json.loads((FORMAT1 / "summary.json").read_text())
    for key in ("error_messages", "loop_lag", "health", "notes", "files", "requests_by_status", "jobs", "tool"):
        del document[key]
    for key in ("warnings", "settings", "started_at", "ended_at", "bucket_s", "interrupted"):
        del document["run"][key]
    (tmp_path / "summary.json").write_text(json.dumps(document))
    summary = RunDirectory(tmp_path).summary()
    assert summary.run.warnings == () and summary.run.settings == {} and summary.loop_lag == {}
    assert summary.run.started_at.endswith("Z") and summary.jobs.by_status() == {}


def test_the_limits_a_run_respected_are_copied_in_from_a_discovery_directory(tmp_path: Path) -> None:
    """``rate_limits.limits_from`` may name a discovery's directory: its ``limits.json`` is what the run
    directory gets (the report draws it)."""
    import shutil

    from loadtest.pipeline.conclude import record_of
    from loadtest.pipeline.finished import FinishedRun
    from loadtest.scenario.limit_sources import scenario_limits
    from loadtest.scenario.loader import load_scenario
    from loadtest.traffic.outcome import RunOutcome

    (tmp_path / "discovery").mkdir()
    shutil.copy(DATA / "format1-censored" / "limits.json", tmp_path / "discovery" / "limits.json")
    path = tmp_path / "s.yaml"
    path.write_text("name: respects\nduration: 5s\nmix:\n  - flow: run_poll\nrate_limits:\n  limits_from: discovery\n")
    run = FinishedRun(scenario=load_scenario(path), recorder=synthetic_recorder(jobs=50, duration_s=5, start=T0),
                      outcome=RunOutcome(started_at=T0, duration_s=5.0, interrupted=False, stop_reason=None),
                      run_dir=tmp_path / "run")
    summary = write_run_directory(run.run_dir, run.recorder, record_of(run, scenario_limits(run.scenario)))
    assert summary.files["limits.json"] == layout.COPIED
    written = RunDirectory(run.run_dir)
    limits = written.discovered_limits()
    assert limits is not None and limits.operations
    # the limits in force are recorded beside it, the discovered figures in force where the discovery found one
    in_force = written.limits_in_force()
    assert in_force is not None and summary.files["limits_in_force.json"] == layout.LIMITS_IN_FORCE_JSON.what
    for op, found in limits.operations.items():
        if found.rate_limit is not None:
            assert in_force.get(op).rate == found.rate_limit
