"""One writer per artefact of a run directory (and of a limit discovery's directory).

Each writer takes what its file is written from, writes it atomically under its :mod:`layout` name and
returns the :class:`~loadtest.rundir.layout.Entry` it wrote, so the caller can list it in ``summary.json``'s
``files``. Secrets never reach a file: whatever comes from the scenario, the settings or the target's words
passes through :func:`loadtest.redaction.redact`. The figures themselves are derived in
:mod:`loadtest.metrics.summary`; nothing here computes one.

The pipeline composes these for a run (``loadtest/pipeline/conclude.py``: measurements first,
``summary.json`` last, since its presence means the files it lists are whole); a limit discovery composes
its own (``loadtest/discovery/session.py``); ``loadtest check`` writes its verdicts. Only the pipeline,
discovery and the CLI import this module (an import-linter contract).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import yaml

from loadtest.atomic import write_atomic, write_json
from loadtest.limits_in_force import LimitsInForce
from loadtest.metrics import hdr
from loadtest.metrics.recorder import JOB_ROW_FIELDS, Recorder
from loadtest.metrics.summary import error_messages, job_outcomes, requests_by_status, summarize_metrics, timeseries
from loadtest.redaction import redact, secret_values
from loadtest.rundir import documents, layout
from loadtest.rundir.documents import (
    HealthSampling,
    HistogramEntry,
    Histograms,
    Jobs,
    Notes,
    RunInfo,
    RunWarning,
    Summary,
    VerdictsDocument,
    iso,
)
from loadtest.rundir.layout import Entry
from loadtest.rundir.plain import JsonObject, plain


def _csv_text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


# --------------------------------------------------------------------------------- measurement files


def write_timeseries(run_dir: Path, recorder: Recorder) -> Entry:
    """``timeseries.json``: per-bucket figures, columnar."""
    write_json(run_dir / layout.TIMESERIES_JSON, documents.timeseries_plain(timeseries(recorder)), indent=None)
    return layout.TIMESERIES_JSON


def write_histograms(run_dir: Path, recorder: Recorder) -> Entry:
    """``histograms.json``: the whole-run histograms per (metric, flow, op), encoded."""
    entries = tuple(HistogramEntry(*key, hdr.encode(h)) for key, h in sorted(recorder.totals().items()))
    write_json(run_dir / layout.HISTOGRAMS_JSON, documents.histograms_plain(Histograms(entries)), indent=None)
    return layout.HISTOGRAMS_JSON


def write_recorder(run_dir: Path, recorder: Recorder) -> Entry:
    """``recorder.json``: the recorder's snapshot, job rows left out (they are in ``jobs.csv``; the file's
    size stays independent of the job count)."""
    snapshot = recorder.snapshot()
    snapshot["job_rows"] = []
    write_json(run_dir / layout.RECORDER_JSON, snapshot, indent=None)
    return layout.RECORDER_JSON


@dataclass(frozen=True)
class JobsWritten:
    """What ``jobs.csv`` holds of the recorder's jobs."""

    rows_written: int
    rows_omitted: int
    entry: Entry | None
    """``jobs.csv``, or None when none was written."""


def write_jobs(run_dir: Path, recorder: Recorder, max_rows: int | None = layout.DEFAULT_JOBS_CSV_ROWS) -> JobsWritten:
    """``jobs.csv``: one line per job, the first ``max_rows`` (``0``: no file; None: every job the recorder
    kept)."""
    if max_rows == 0:
        return JobsWritten(0, recorder.job_rows_omitted + len(recorder.job_rows), None)
    rows = recorder.job_rows if max_rows is None else recorder.job_rows[:max_rows]
    write_atomic(run_dir / layout.JOBS_CSV, _csv_text(JOB_ROW_FIELDS, rows))
    return JobsWritten(len(rows), recorder.job_rows_omitted + len(recorder.job_rows) - len(rows), layout.JOBS_CSV)


def write_health(run_dir: Path, recorder: Recorder) -> Entry | None:
    """``health.csv``: the ``/health`` samples over time (None: the run took none)."""
    if not recorder.health:
        return None
    keys = sorted({k for _, sample in recorder.health for k in sample})
    ordered = sorted(recorder.health, key=lambda item: item[0])
    table = ([t, *(sample.get(k) for k in keys)] for t, sample in ordered)
    write_atomic(run_dir / layout.HEALTH_CSV, _csv_text(["t", *keys], table))
    return layout.HEALTH_CSV


def write_scenario(run_dir: Path, scenario: Mapping[str, object]) -> Entry:
    """``scenario.yaml``: the scenario as run (resolved), secrets redacted."""
    write_atomic(run_dir / layout.SCENARIO_YAML, yaml.safe_dump(redact(plain(dict(scenario))), sort_keys=False))
    return layout.SCENARIO_YAML


def write_ground_truth(run_dir: Path, truth: Mapping[str, object]) -> Entry:
    """``ground_truth.json``: the emulator's own figures, as it gave them."""
    write_json(run_dir / layout.GROUND_TRUTH_JSON, truth)
    return layout.GROUND_TRUTH_JSON


def write_limits_in_force(run_dir: Path, limits: LimitsInForce) -> Entry:
    """``limits_in_force.json``: every operation's limits in force, each with its source (the model's own
    shape, :class:`loadtest.limits_in_force.LimitsInForce`)."""
    write_json(run_dir / layout.LIMITS_IN_FORCE_JSON, limits.model_dump(mode="json"))
    return layout.LIMITS_IN_FORCE_JSON


# ------------------------------------------------------------------------------------------ summary.json


def run_info(
    recorder: Recorder, scenario: str | None, *, settings: Mapping[str, object], warnings: Sequence[RunWarning] = (),
    interrupted: bool = False, started_at: float | None = None, duration_s: float | None = None,
) -> RunInfo:
    """``summary.json``'s ``run``: the measured window (default: the recorder's start to its last sample),
    how the run was made and what went wrong, secrets redacted."""
    start, end = recorder.span()
    if started_at is not None:
        start = float(started_at)
    duration = max(0.0, end - start) if duration_s is None else duration_s
    secrets = secret_values()
    return RunInfo(
        scenario=scenario, start_unix=start, duration_s=duration, started_at=iso(start),
        ended_at=iso(start + duration), interrupted=interrupted, bucket_s=recorder.bucket_s,
        settings=cast(JsonObject, redact(plain(dict(settings)), secrets)),
        warnings=tuple(RunWarning(w.kind, str(redact(w.message, secrets))) for w in warnings),
    )


def summary_of(recorder: Recorder, run: RunInfo, jobs: JobsWritten, files: Mapping[str, str]) -> Summary:
    """``summary.json``: the recorder's headline figures (:mod:`loadtest.metrics.summary`) with the run's
    description; ``files``: what the run wrote or copied in (``summary.json`` itself is added)."""
    secrets = secret_values()
    words = {op: {code: str(redact(text, secrets)) for code, text in codes.items()}
             for op, codes in error_messages(recorder).items()}
    return Summary(
        run=run,
        metrics=summarize_metrics(recorder, run.duration_s),
        requests_by_status=requests_by_status(recorder),
        error_messages=words,
        jobs=Jobs(job_outcomes(recorder), {flow: asdict(t) for flow, t in sorted(recorder.job_totals.items())},
                  jobs.rows_written, jobs.rows_omitted),
        health=HealthSampling(len(recorder.health), recorder.health_stride),
        loop_lag=recorder.loop_lag(),
        notes=Notes(recorder.clamped, hdr.SIGNIFICANT_DIGITS),
        files=dict(sorted({**files, layout.SUMMARY_JSON.name: layout.SUMMARY_JSON.what}.items())),
    )


def write_summary(run_dir: Path, summary: Summary) -> Entry:
    """``summary.json``; write it last, once every file it lists is whole."""
    write_json(run_dir / layout.SUMMARY_JSON, documents.summary_plain(summary))
    return layout.SUMMARY_JSON


# -------------------------------------------------------------------------------- after the run


def write_verdicts(run_dir: Path, verdicts: VerdictsDocument) -> Path:
    """``verdicts.json``: a check's verdicts."""
    path = run_dir / layout.VERDICTS_JSON
    write_json(path, documents.verdicts_plain(verdicts))
    return path


# ----------------------------------------------------------------------------- a discovery's directory


def write_limits(run_dir: Path, document: Mapping[str, object]) -> Path:
    """``limits.json``: a limit discovery's findings (the shape :mod:`loadtest.discovery_document` reads)."""
    path = run_dir / layout.LIMITS_JSON
    write_json(path, document)
    return path


def write_discovery_requests(run_dir: Path, text: str) -> Path:
    """``requests.csv``: every request a discovery sent, one line each (the discovery's CSV text)."""
    path = run_dir / layout.DISCOVERY_REQUESTS_CSV
    write_atomic(path, text)
    return path
