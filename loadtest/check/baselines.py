"""Saved baselines: ``baselines/<NAME>/`` holds a run's summary and per-bucket data, kept in git.

What is stored, and why:

* ``summary.json``: the run's headline figures (what a check compares with);
* ``recorder.json``: the per-bucket histograms and counters (job rows left out), which the noise-aware
  comparison resamples to learn how much the figures move within a run;
* ``scenario.yaml``: the scenario as run, for people reading the baseline later;
* ``baseline.json``: where and when it was saved, from which run, with which tool version.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import __version__
from loadtest.metrics import rundir

BASELINES_ENV = "LOADTEST_BASELINES"
DEFAULT_BASELINES_DIR = "baselines"
META_JSON = "baseline.json"
STORE_FORMAT = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_COPIED = (rundir.SUMMARY_JSON, rundir.RECORDER_JSON, rundir.SCENARIO_YAML)


class BaselineError(Exception):
    """A baseline that cannot be saved or read; the message says which and what to do."""


@dataclass(frozen=True)
class SavedBaseline:
    """A saved baseline, loaded."""

    name: str
    path: Path
    summary: dict[str, Any]
    snapshot: dict[str, Any] | None
    meta: dict[str, Any]


def baselines_root(root: Path | str | None = None) -> Path:
    """Where baselines live: ``root``, else ``$LOADTEST_BASELINES``, else ``./baselines``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(BASELINES_ENV) or DEFAULT_BASELINES_DIR)


def check_name(name: str) -> str:
    if not _NAME_RE.match(name) or name in (".", ".."):
        raise BaselineError(f"baseline name {name!r}: use letters, digits, '_', '.' and '-' only")
    return name


def _neutral(path: Path) -> str:
    """Where the run came from, without naming the machine it was on: ``path`` with links resolved
    (``reports/latest`` → the run it named), relative to the working directory when it lies inside it
    (``reports/smoke/20261128-105428``), else its last two parts (``smoke/20261128-105428``). A baseline
    is committed and read on other machines; an absolute path would name a developer's home directory."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return Path(*resolved.parts[-2:]).as_posix()


def save_baseline(run_dir: Path | str, name: str, root: Path | str | None = None, *, force: bool = False) -> Path:
    """Copy ``run_dir``'s summary and per-bucket data to ``<root>/<name>/``; returns that directory.

    Refuses an interrupted run (its figures are not comparable), a run directory without
    ``summary.json``, and an existing baseline unless ``force``.
    """
    check_name(name)
    from loadtest.metrics.rundir import resolve_run_dir

    source = resolve_run_dir(run_dir)
    try:
        summary = rundir.read_summary(source)
    except rundir.RunDirectoryError as exc:
        raise BaselineError(str(exc)) from None
    if summary["run"].get("interrupted"):
        raise BaselineError(f"{source}: the run was interrupted; save a baseline from a run that finished")
    if not (source / rundir.RECORDER_JSON).exists():
        raise BaselineError(f"{source}: no {rundir.RECORDER_JSON}; the baseline needs the run's per-bucket data")
    target = baselines_root(root) / name
    if target.exists() and not force:
        raise BaselineError(f"baseline {name!r} already exists in {target.parent}; add --force to replace it")
    tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for file_name in _COPIED:
            if (source / file_name).exists():
                shutil.copyfile(source / file_name, tmp / file_name)
        meta = {
            "format": STORE_FORMAT,
            "name": name,
            "saved_at": datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "source_run_dir": _neutral(source),
            "scenario": summary["run"].get("scenario"),
            "run_started_at": summary["run"].get("started_at"),
            "duration_s": summary["run"].get("duration_s"),
            "tool_version": __version__,
        }
        rundir.write_json(tmp / META_JSON, meta)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_baseline(name: str, root: Path | str | None = None) -> SavedBaseline:
    """The baseline ``name``; :class:`BaselineError` naming the directory and how to create it."""
    check_name(name)
    directory = baselines_root(root) / name
    if not (directory / rundir.SUMMARY_JSON).exists():
        known = ", ".join(info["name"] for info in list_baselines(root)) or "none"
        raise BaselineError(
            f"baseline {name!r} not found in {directory.parent}/ (saved baselines: {known}); "
            f"create it with: loadtest baseline save RUN_DIR {name}"
        )
    try:
        summary = rundir.read_summary(directory)
        snapshot = rundir.read_json(directory, rundir.RECORDER_JSON, required=False)
        meta = rundir.read_json(directory, META_JSON, required=False) or {}
    except rundir.RunDirectoryError as exc:
        raise BaselineError(f"baseline {name!r}: {exc}") from None
    return SavedBaseline(name, directory, summary, snapshot, meta)


def list_baselines(root: Path | str | None = None) -> list[dict[str, Any]]:
    """Every saved baseline's metadata (name, scenario, saved_at, duration_s...), by name."""
    base = baselines_root(root)
    if not base.is_dir():
        return []
    found = []
    for directory in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (directory / rundir.SUMMARY_JSON).exists():
            continue
        try:
            meta = rundir.read_json(directory, META_JSON, required=False) or {}
        except rundir.RunDirectoryError:
            meta = {}
        found.append({"name": directory.name, "path": str(directory), **{k: v for k, v in meta.items() if k != "name"}})
    return found
