"""``reports/latest`` as a run directory, also where symlinks are not allowed (then it is ``latest.txt``)."""

from __future__ import annotations

from pathlib import Path

from loadtest.metrics import rundir


def resolve_run_dir(run_dir: Path | str) -> Path:
    """The run directory ``run_dir`` names, following ``reports/latest.txt`` when ``latest`` is no link."""
    path = Path(run_dir)
    pointer = path.with_name(rundir.LATEST_FILE)
    if not path.exists() and path.name == rundir.LATEST and pointer.is_file():
        return path.parent / pointer.read_text(encoding="utf-8").strip()
    return path
