"""Files written whole or not at all: a temporary name in the same directory, then a rename.

Shared by everything that writes a file a person or a program may read while it is being written: the
run directory's artefacts, the report, a baseline, a comparison, JUnit XML, a discovery's files. A file
with its real name is complete; a crash leaves at most a hidden ``.NAME.*.tmp`` beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()
"""What an ordinary ``open(..., "w")`` would give (``mkstemp`` makes 0600)."""


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
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: object, *, indent: int | None = 2) -> None:
    """``value`` as JSON (no NaN or infinity: they are not JSON), written atomically."""
    write_atomic(path, json.dumps(value, indent=indent, sort_keys=False, allow_nan=False, default=json_default))


def json_default(value: object) -> object:
    """Plain data for what ``json`` cannot encode itself: paths, sets and tuples, numpy scalars, pydantic
    models; anything else as its string."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars
        return item()
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic models
        return dump(mode="json")
    return str(value)


def copy_atomic(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` through a temporary name and a rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
