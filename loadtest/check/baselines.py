"""Saved baselines: ``baselines/<NAME>/`` holds a run's summary and per-bucket data, kept in git.

What is stored, and why:

* ``summary.json``: the run's headline figures (what a check compares with);
* ``recorder.json``: the per-bucket histograms and counters (job rows left out), which the noise-aware
  comparison resamples to learn how much the figures move within a run;
* ``scenario.yaml``: the scenario as run, for people reading the baseline later;
* ``baseline.json``: where and when it was saved, from which run, with which tool version.

The first three are the run directory's own files, copied unchanged, so a baseline is read exactly as a
run is: through :class:`~loadtest.rundir.read.RunDirectory` (a baseline of a format this version does not
read is refused the same way).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loadtest import __version__
from loadtest.atomic import write_json
from loadtest.errors import InvalidInput
from loadtest.rundir.errors import RunDirectoryError
from loadtest.rundir.layout import RECORDER_JSON, SCENARIO_YAML, SUMMARY_JSON
from loadtest.rundir.read import RunDirectory

BASELINES_ENV = "LOADTEST_BASELINES"
DEFAULT_BASELINES_DIR = "baselines"
META_JSON = "baseline.json"
STORE_FORMAT = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_COPIED = (SUMMARY_JSON, RECORDER_JSON, SCENARIO_YAML)


class BaselineError(InvalidInput):
    """A baseline that cannot be saved or read; the message says which and what to do."""


@dataclass(frozen=True)
class BaselineInfo:
    """``baseline.json``: where and when a baseline was saved, from which run (None: not recorded)."""

    name: str
    saved_at: str | None
    source_run_dir: str | None
    scenario: str | None
    run_started_at: str | None
    duration_s: float | None
    tool_version: str | None

    @classmethod
    def unknown(cls, name: str) -> BaselineInfo:
        """A baseline saved without (or with an unreadable) ``baseline.json``."""
        return cls(name, None, None, None, None, None, None)


@dataclass(frozen=True)
class SavedBaseline:
    """A saved baseline, opened: its run (summary and per-bucket data) and where it came from."""

    name: str
    run: RunDirectory
    info: BaselineInfo

    @property
    def path(self) -> Path:
        return self.run.path


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
    try:
        source = RunDirectory(run_dir)
        run = source.summary().run
    except RunDirectoryError as exc:
        raise BaselineError(str(exc)) from None
    if run.interrupted:
        raise BaselineError(f"{source.path}: the run was interrupted; save a baseline from a run that finished")
    if not source.has(RECORDER_JSON):
        raise BaselineError(f"{source.path}: no {RECORDER_JSON}; the baseline needs the run's per-bucket data")
    target = baselines_root(root) / name
    if target.exists() and not force:
        raise BaselineError(f"baseline {name!r} already exists in {target.parent}; add --force to replace it")
    tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for entry in _COPIED:
            if source.has(entry):
                shutil.copyfile(source.file(entry), tmp / entry)
        meta = {
            "format": STORE_FORMAT,
            "name": name,
            "saved_at": datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "source_run_dir": _neutral(source.path),
            "scenario": run.scenario,
            "run_started_at": run.started_at,
            "duration_s": run.duration_s,
            "tool_version": __version__,
        }
        write_json(tmp / META_JSON, meta)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _info(directory: Path) -> BaselineInfo:
    """``baseline.json`` (only the name when absent)."""
    path = directory / META_JSON
    if not path.exists():
        return BaselineInfo.unknown(directory.name)
    try:
        meta: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(meta, dict):
        raise BaselineError(f"{path}: not an object")

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) else None

    duration = meta.get("duration_s")
    return BaselineInfo(
        directory.name, saved_at=text("saved_at"), source_run_dir=text("source_run_dir"),
        scenario=text("scenario"), run_started_at=text("run_started_at"),
        duration_s=float(duration) if isinstance(duration, int | float) and not isinstance(duration, bool) else None,
        tool_version=text("tool_version"),
    )


def load_baseline(name: str, root: Path | str | None = None) -> SavedBaseline:
    """The baseline ``name``; :class:`BaselineError` naming the directory and how to create it."""
    check_name(name)
    directory = baselines_root(root) / name
    if not (directory / SUMMARY_JSON).exists():
        known = ", ".join(info.name for info in list_baselines(root)) or "none"
        raise BaselineError(
            f"baseline {name!r} not found in {directory.parent}/ (saved baselines: {known}); "
            f"create it with: loadtest baseline save RUN_DIR {name}"
        )
    try:
        run = RunDirectory(directory)
        run.summary()
        run.recorder_snapshot()
    except RunDirectoryError as exc:
        raise BaselineError(f"baseline {name!r}: {exc}") from None
    return SavedBaseline(name, run, _info(directory))


def list_baselines(root: Path | str | None = None) -> list[BaselineInfo]:
    """Every saved baseline's metadata (name, scenario, saved_at, duration_s...), by name."""
    base = baselines_root(root)
    if not base.is_dir():
        return []
    found = []
    for directory in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (directory / SUMMARY_JSON).exists():
            continue
        try:
            found.append(_info(directory))
        except BaselineError:
            found.append(BaselineInfo.unknown(directory.name))
    return found
