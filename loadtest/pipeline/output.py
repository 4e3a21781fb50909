"""Where a run writes, checked before any traffic: a directory that cannot be made or written to is bad
input (exit 2 and a sentence), found before the target is touched, never a traceback after the run.

``--run-dir`` into a directory that already holds files is refused unless ``--force``, which clears the
files loadtest owns there (what ``loadtest.rundir.layout`` marks as a run's; it says which other files it
left alone), so an old run's files can never be read as this run's. Once a run is written, ``latest``
points at it (:func:`link_latest`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from loadtest.atomic import write_atomic
from loadtest.rundir.layout import LATEST, LATEST_FILE, OWNED_NAMES, new_run_directory

LOW_SPACE_BYTES = 50 * 1024 * 1024
"""Below this much free space the run says so before it starts (a run directory takes a few MB)."""
PROBE_NAME = ".loadtest-write-test"


class OutputError(Exception):
    """The run directory cannot be used; the message is the sentence to print (exit 2)."""


def prepare_run_directory(run_dir: Path | None, out_dir: Path, scenario_name: str, *, force: bool) -> Path:
    """The run's directory, created and test-written: ``run_dir`` when given (refused when it holds files,
    unless ``force``), else a new ``out_dir/<scenario>/<time>``. Raises :class:`OutputError`."""
    if run_dir is None:
        try:
            path = new_run_directory(scenario_name, out_dir)
        except OSError as exc:
            raise OutputError(f"--out-dir {out_dir}: cannot create a run directory there ({describe(exc)})") from None
    else:
        path = run_dir
        _reuse(path, force)
    _probe(path)
    return path


def free_space_note(path: Path) -> str | None:
    """A sentence when the disk holding ``path`` is nearly full, else None."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    if usage.free >= LOW_SPACE_BYTES:
        return None
    return (f"only {usage.free / 1e6:.1f} MB free where the run directory is ({path}): the run directory or "
            "its report may not fit")


def _reuse(path: Path, force: bool) -> None:
    if path.exists() and not path.is_dir():
        raise OutputError(f"--run-dir {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        entries = sorted(entry.name for entry in path.iterdir())
    except OSError as exc:
        raise OutputError(f"--run-dir {path}: cannot create or read it ({describe(exc)})") from None
    if not entries:
        return
    ours = [name for name in entries if name in OWNED_NAMES]
    if not force:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise OutputError(f"--run-dir {path}: already holds files ({shown}); choose an empty or new directory, or "
                          "add --force to replace the files a run writes there")
    for name in ours:
        target = path / name
        try:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        except OSError as exc:
            raise OutputError(f"--run-dir {path}: cannot remove the old {name} ({describe(exc)})") from None


def left_alone(path: Path) -> list[str]:
    """Files in a reused run directory that are not loadtest's (kept by ``--force``)."""
    try:
        return sorted(e.name for e in path.iterdir() if e.name not in OWNED_NAMES and e.name != PROBE_NAME)
    except OSError:
        return []


def link_latest(run_dir: Path, root: Path) -> Path:
    """Point ``<root>/latest`` at ``run_dir`` (a relative symlink; ``latest.txt`` where symlinks fail)."""
    link = root / LATEST
    target = os.path.relpath(run_dir.resolve(), root.resolve())
    tmp = root / f".{LATEST}.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp, target_is_directory=True)
        if link.is_dir() and not link.is_symlink():
            raise OSError(f"{link} is a real directory; not replacing it")
        os.replace(tmp, link)
        return link
    except OSError:
        tmp.unlink(missing_ok=True)
        write_atomic(root / LATEST_FILE, target + "\n")
        return root / LATEST_FILE


def _probe(path: Path) -> None:
    probe = path / PROBE_NAME
    try:
        with open(probe, "wb") as handle:
            handle.write(b"x" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write the run directory there ({describe(exc)})") from None


def describe(exc: OSError) -> str:
    """``no space left on the device``, ``read-only file system``, or the system's words."""
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)
