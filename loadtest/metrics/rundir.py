"""The run directory: everything a run measured, in files a person, a CI job and ``loadtest report`` read.

Layout and file formats are a public interface, documented in ``docs/run-directory.md`` and versioned
by :data:`FORMAT` (``summary.json``'s ``format``). Every file is written to a temporary name and renamed,
so a crash never leaves a half-written file under a real name.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import __version__
from loadtest.errors import InvalidInput
from loadtest.metrics import hdr, summary
from loadtest.metrics.recorder import JOB_ROW_FIELDS, Recorder

FORMAT = 1
"""Version of the run directory layout; bumped on any incompatible change."""

DEFAULT_JOBS_CSV_ROWS = 100_000
"""jobs.csv lists at most this many jobs (the first ones); the summary says how many were left out."""

SUMMARY_JSON = "summary.json"
TIMESERIES_JSON = "timeseries.json"
HISTOGRAMS_JSON = "histograms.json"
RECORDER_JSON = "recorder.json"
JOBS_CSV = "jobs.csv"
HEALTH_CSV = "health.csv"
SCENARIO_YAML = "scenario.yaml"
EMULATOR_LOG = "emulator.log"
GROUND_TRUTH_JSON = "ground_truth.json"
VERDICTS_JSON = "verdicts.json"
LATEST = "latest"
LATEST_FILE = "latest.txt"

REDACTED = "<redacted>"
_SECRET_KEY = re.compile(
    r"^(.*[_-])?(api[_-]?key|apikey|token|secret|password|passwd|authorization|credentials?)$", re.IGNORECASE
)
"""Keys whose values are secrets (``api_key``, ``hf_token``, ``Authorization``), but not ``max_tokens``."""
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


class RunDirectoryError(InvalidInput):
    """A run directory that is missing, unreadable or of an unknown format; the message says which file."""


# --------------------------------------------------------------------------------------- atomic writes


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data if isinstance(data, bytes) else data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; run files are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any, *, indent: int | None = 2) -> None:
    write_atomic(path, json.dumps(value, indent=indent, sort_keys=False, allow_nan=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json")
    return str(value)


def _csv_text(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------- secrets


def _secret_values() -> list[str]:
    return sorted(
        {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= 8}, key=len, reverse=True
    )


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """A copy with secret-looking keys' values replaced and any secret environment value blanked out."""
    secrets = _secret_values() if secrets is None else secrets
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v, secrets))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    return value


# --------------------------------------------------------------------------------------- directories


def new_run_directory(scenario_name: str, root: Path | str = "reports", when: float | None = None) -> Path:
    """Create and return ``<root>/<scenario>/<UTC timestamp>/`` (suffixed ``-2``... if it exists)."""
    stamp = datetime.fromtimestamp(time.time() if when is None else when, UTC).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", scenario_name) or "scenario"
    base = Path(root) / safe / stamp
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{stamp}-{n}")


def resolve_run_dir(run_dir: Path | str) -> Path:
    """The run directory ``run_dir`` names, following ``reports/latest.txt`` where ``latest`` could not be
    a symlink (see :func:`update_latest`)."""
    path = Path(run_dir)
    pointer = path.with_name(LATEST_FILE)
    if not path.exists() and path.name == LATEST and pointer.is_file():
        return path.parent / pointer.read_text(encoding="utf-8").strip()
    return path


def update_latest(run_dir: Path, root: Path) -> Path:
    """Point ``<root>/latest`` at ``run_dir`` (a relative symlink; ``latest.txt`` where symlinks fail)."""
    link = root / LATEST
    target = os.path.relpath(run_dir.resolve(), root.resolve())
    try:
        tmp = root / f".{LATEST}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp, target_is_directory=True)
        if link.is_dir() and not link.is_symlink():
            raise OSError(f"{link} is a real directory; not replacing it")
        os.replace(tmp, link)
        return link
    except OSError:
        Path(root / f".{LATEST}.{os.getpid()}.tmp").unlink(missing_ok=True)
        write_atomic(root / LATEST_FILE, target + "\n")
        return root / LATEST_FILE


# ---------------------------------------------------------------------------------------- the writer


def write_run_directory(
    run_dir: Path | str,
    recorder: Recorder,
    *,
    scenario: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    interrupted: bool = False,
    duration_s: float | None = None,
    started_at: float | None = None,
    ground_truth: Mapping[str, Any] | None = None,
    emulator_log: Path | str | None = None,
    extra_files: Mapping[str, Path | str] | None = None,
    jobs_csv_rows: int | None = DEFAULT_JOBS_CSV_ROWS,
    reports_root: Path | str | None = None,
    link_latest: bool = True,
    warnings: Iterable[Mapping[str, Any]] = (),
) -> Path:
    """Write every measurement file of a run into ``run_dir`` and return it; see docs/run-directory.md.

    * ``scenario``: the resolved scenario as plain data (secrets are redacted again here anyway).
    * ``settings``: how the run was made (CLI flags, target kind, workers, seed...), copied into
      ``summary.json`` ``run.settings``.
    * ``duration_s`` / ``started_at``: the measured window (default: the recorder's start to its last
      sample); rates divide by ``duration_s``.
    * ``ground_truth``: the emulator's own per-run figures, written to ``ground_truth.json`` as is.
    * ``emulator_log`` and ``extra_files`` (``{name in run_dir: source path}``, e.g. Locust's CSV and
      HTML) are copied in unless they are already there.
    * ``jobs_csv_rows``: cap on jobs.csv rows (``0`` writes no jobs.csv, ``None`` means no cap beyond
      what the recorder kept).
    * ``warnings``: what went wrong, one ``{"kind", "message"}`` each (a sentence a person understands);
      ``summary.json`` ``run.warnings``, shown as banners by the report and printed by the run.
    * ``reports_root``: where ``latest`` lives (default: two levels up, as in ``reports/<scenario>/<ts>``);
      ``link_latest=False`` leaves ``latest`` alone.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    recorder.close_all()
    start, end = recorder.span()
    if started_at is not None:
        start = float(started_at)
    if duration_s is None:
        duration_s = max(0.0, end - start)
    secrets = _secret_values()

    files: dict[str, str] = {}
    write_json(run_dir / TIMESERIES_JSON, summary.timeseries(recorder), indent=None)
    files[TIMESERIES_JSON] = "per-bucket figures (histogram percentiles and counters), columnar"
    write_json(run_dir / HISTOGRAMS_JSON, histograms_document(recorder), indent=None)
    files[HISTOGRAMS_JSON] = "whole-run HDR histograms per (metric, flow, op), encoded"
    snap = recorder.snapshot()
    snap["job_rows"] = []  # they are in jobs.csv; keeps this file's size independent of the job count
    write_json(run_dir / RECORDER_JSON, snap, indent=None)
    files[RECORDER_JSON] = "the complete recorder snapshot (per-bucket histograms), for exact re-analysis"

    rows_written = 0
    if jobs_csv_rows != 0:
        rows = recorder.job_rows if jobs_csv_rows is None else recorder.job_rows[:jobs_csv_rows]
        write_atomic(run_dir / JOBS_CSV, _csv_text(JOB_ROW_FIELDS, rows))
        rows_written = len(rows)
        files[JOBS_CSV] = "one line per job (the first ones, see jobs.rows_omitted)"
    rows_omitted = recorder.job_rows_omitted + len(recorder.job_rows) - rows_written

    if recorder.health:
        keys = sorted({k for _, sample in recorder.health for k in sample})
        ordered = sorted(recorder.health, key=lambda item: item[0])
        table = ([t, *(sample.get(k) for k in keys)] for t, sample in ordered)
        write_atomic(run_dir / HEALTH_CSV, _csv_text(["t", *keys], table))
        files[HEALTH_CSV] = "/health samples over time (t in Unix seconds)"

    if scenario is not None:
        import yaml

        write_atomic(run_dir / SCENARIO_YAML, yaml.safe_dump(redact(_plain(scenario), secrets), sort_keys=False))
        files[SCENARIO_YAML] = "the scenario as run (resolved, secrets removed)"
    if ground_truth is not None:
        write_json(run_dir / GROUND_TRUTH_JSON, ground_truth)
        files[GROUND_TRUTH_JSON] = "the emulator's own figures for the run"
    copies = dict(extra_files or {})
    if emulator_log is not None:
        copies[EMULATOR_LOG] = emulator_log
    for name, source in copies.items():
        source_path, target = Path(source), run_dir / name
        if source_path.exists() and source_path.resolve() != target.resolve():
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(source_path, tmp)
            os.replace(tmp, target)
        if target.exists():
            files[name] = "copied in by the run"

    document = {
        "format": FORMAT,
        "tool": {"name": "loadtest", "version": __version__, "python": platform.python_version()},
        "run": {
            "scenario": (scenario or {}).get("name") if isinstance(scenario, Mapping) else None,
            "started_at": _iso(start),
            "ended_at": _iso(start + duration_s),
            "start_unix": start,
            "duration_s": duration_s,
            "interrupted": bool(interrupted),
            "bucket_s": recorder.bucket_s,
            "settings": redact(_plain(dict(settings or {})), secrets),
            "warnings": redact(_plain([dict(w) for w in warnings]), secrets),
        },
        "metrics": summary.summarize_metrics(recorder, duration_s),
        "requests_by_status": summary.requests_by_status(recorder),
        "error_messages": redact(summary.error_messages(recorder), secrets),
        "jobs": {
            "by_flow": summary.job_outcomes(recorder),
            "totals_by_flow": {flow: vars_of(t) for flow, t in sorted(recorder.job_totals.items())},
            "rows_written": rows_written,
            "rows_omitted": rows_omitted,
        },
        "health": {"samples": len(recorder.health), "stride": recorder.health_stride},
        "loop_lag": recorder.loop_lag(),
        "notes": {"clamped_values": recorder.clamped, "histogram_significant_digits": hdr.SIGNIFICANT_DIGITS},
        "files": {},
    }
    files[SUMMARY_JSON] = "headline figures, settings, versions (this file)"
    document["files"] = dict(sorted(files.items()))
    write_json(run_dir / SUMMARY_JSON, document)  # last: its presence means the measurement files are whole

    root = Path(reports_root) if reports_root is not None else run_dir.resolve().parent.parent
    if link_latest and root.is_dir():
        update_latest(run_dir, root)
    return run_dir


def vars_of(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


def _plain(value: Any) -> Any:
    """Plain JSON/YAML data from pydantic models, paths and tuples (infinities and NaN as strings)."""
    return _finite(json.loads(json.dumps(value, default=_json_default)))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def histograms_document(recorder: Recorder) -> dict[str, Any]:
    """Whole-run histograms: ``{"format", "unit": "us", "significant_digits", "histograms": [[metric,
    flow, op, encoded], ...]}`` (op is ``""`` for job metrics)."""
    return {
        "format": 1,
        "unit": "us",
        "significant_digits": hdr.SIGNIFICANT_DIGITS,
        "histograms": [[*key, hdr.encode(h)] for key, h in sorted(recorder.totals().items())],
    }


# ---------------------------------------------------------------------------------------- the reader


def read_json(run_dir: Path | str, name: str, *, required: bool = True) -> Any:
    """Load one JSON file of a run directory; a clear :class:`RunDirectoryError` when it cannot."""
    path = Path(run_dir) / name
    if not path.exists():
        if required:
            raise RunDirectoryError(f"{path}: missing (is {Path(run_dir)} a run directory?)")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunDirectoryError(f"{path}: cannot read it: {exc}") from None


def read_summary(run_dir: Path | str) -> dict[str, Any]:
    """``summary.json``, checked for a format this version understands."""
    document = read_json(run_dir, SUMMARY_JSON)
    found = document.get("format") if isinstance(document, dict) else None
    if found != FORMAT or "metrics" not in document:
        raise RunDirectoryError(
            f"{Path(run_dir) / SUMMARY_JSON}: unknown format {found!r} (this loadtest reads format {FORMAT})"
        )
    return document


def read_histograms(run_dir: Path | str) -> dict[tuple[str, str, str], Any]:
    """Whole-run histograms by (metric, flow, op), decoded (empty when the file is absent)."""
    document = read_json(run_dir, HISTOGRAMS_JSON, required=False)
    if not document:
        return {}
    return {(m, f, o): hdr.decode(encoded) for m, f, o, encoded in document["histograms"]}


def load_recorder(run_dir: Path | str) -> Recorder:
    """The run's recorder, rebuilt exactly from ``recorder.json`` (job rows excepted), e.g. for windows."""
    return Recorder.from_snapshot(read_json(run_dir, RECORDER_JSON))
