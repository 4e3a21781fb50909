"""What a real worker process is started with: its argv, its environment, and what its interpreter says
about the runpod SDK (worker protocol spec, sections 2 and 3).

The environment is loadtest's own (so the handler finds its caches, tokens and settings as usual) minus
every variable the platform owns, plus the emulator's: the four URL templates (each with ``?token=`` so
the SDK's ``&...`` suffixes land in the query, and the per-run token authenticates the worker), the
worker id, a per-run fake ``RUNPOD_AI_API_KEY``, and the start-up check switches. ``HOME`` stays: the
developer's ``~/.runpod/config.toml`` key is kept away from the SDK by the ``worker_shim`` directory on
``PYTHONPATH`` instead (see its ``sitecustomize``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loadtest.contract import WorkerRoute
from loadtest.emulator_config import WorkerConfig
from loadtest.errors import InvalidInput

SHIM_DIR = Path(__file__).with_name("worker_shim")
CREDENTIALS_FILE_VAR = "LOADTEST_RUNPOD_CREDENTIALS_FILE"
DEFAULT_LOG_LEVEL = "INFO"
"""``RUNPOD_LOG_LEVEL`` when nobody set one: the SDK's own default, DEBUG, logs every output and chunk."""

_PLATFORM_OWNED = re.compile(
    r"^(RUNPOD_WEBHOOK_\w*|RUNPOD_REALTIME_PORT|RUNPOD_REALTIME_CONCURRENCY|RUNPOD_API_KEY|RUNPOD_AI_API_KEY"
    r"|RUNPOD_POD_ID|RUNPOD_POD_HOSTNAME|RUNPOD_ENDPOINT_ID|RUNPOD_PING_INTERVAL)$"
)
"""Inherited variables a worker never sees: the platform's URLs and ids (the emulator sets its own), the
realtime mode switch (it would bypass the queue), and the developer's RunPod keys."""
_PYTHON = re.compile(r"^python(\d+(\.\d+)*)?$")
_PROBE = (
    "import importlib.util as u, json, sys\n"
    "v = None\n"
    "if u.find_spec('runpod') is not None:\n"
    "    try:\n"
    "        import importlib.metadata as m; v = m.version('runpod')\n"
    "    except Exception:\n"
    "        v = 'unknown'\n"
    "print(json.dumps({'runpod': v, 'python': sys.version.split()[0], 'executable': sys.executable}))\n"
)
PROBE_TIMEOUT_S = 60.0


class WorkerSetupError(InvalidInput, ValueError):
    """The worker cannot be started as configured; the message says what to change."""


@dataclass(frozen=True, slots=True)
class SdkProbe:
    """What the worker's interpreter reported: the runpod version (None: not importable)."""

    runpod: str | None
    python: str
    executable: str


def resolve_command(worker: WorkerConfig, env: Mapping[str, str]) -> list[str]:
    """The argv to execute: ``python``/``python3`` as the first word is loadtest's own interpreter; a bare
    name is looked up on the worker's ``PATH``, a path is taken relative to the worker's cwd."""
    first, rest = worker.command[0], list(worker.command[1:])
    cwd = worker.cwd or os.getcwd()
    if first in ("python", "python3"):
        return [sys.executable, *rest]
    if os.sep in first:
        path = Path(cwd, first).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise WorkerSetupError(f"worker command {first!r}: no executable file at {path}")
        return [str(path), *rest]
    found = shutil.which(first, path=env.get("PATH", os.defpath))
    if found is None:
        raise WorkerSetupError(f"worker command {first!r} is not on the PATH (give a path, or python for loadtest's)")
    return [found, *rest]


def is_python(argv: list[str]) -> bool:
    """True when the command runs a Python interpreter directly (so its runpod can be asked about)."""
    return argv[0] == sys.executable or bool(_PYTHON.match(Path(argv[0]).name))


def isolates_environment(argv: list[str]) -> bool:
    """True when a Python command ignores ``PYTHONPATH`` (``-I``, ``-E``), so the credentials guard cannot
    load."""
    for word in argv[1:]:
        if not word.startswith("-") or word in ("-c", "-m") or word.startswith("--"):
            break
        if "I" in word[1:] or "E" in word[1:]:
            return True
    return False


def base_environment(worker: WorkerConfig, inherited: Mapping[str, str], credentials_file: str) -> dict[str, str]:
    """Everything every worker of the endpoint gets (the per-worker part is :func:`worker_environment`)."""
    env = {name: value for name, value in inherited.items() if not _PLATFORM_OWNED.match(name)}
    env.update(worker.env)
    env["RUNPOD_LOG_LEVEL"] = (
        worker.log_level or env.get("RUNPOD_LOG_LEVEL") or env.get("RUNPOD_DEBUG_LEVEL") or DEFAULT_LOG_LEVEL
    )
    if not worker.system_checks:
        env["RUNPOD_SKIP_AUTO_SYSTEM_CHECKS"] = "true"
        env["RUNPOD_SKIP_GPU_CHECK"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(SHIM_DIR) + (os.pathsep + path if path else "")
    env[CREDENTIALS_FILE_VAR] = credentials_file
    return env


def worker_environment(
    base: Mapping[str, str], *, url: str, endpoint_id: str, worker_id: str, token: str, api_key: str,
    ping_interval_s: float,
) -> dict[str, str]:
    """One worker's environment: ``base`` plus its URLs and identity."""
    prefix = f"{url}/v2/{endpoint_id}"
    query = f"?token={token}"
    env = dict(base)
    env.update({
        "RUNPOD_WEBHOOK_GET_JOB": f"{prefix}/{WorkerRoute.TAKE}/{worker_id}{query}",
        "RUNPOD_WEBHOOK_POST_OUTPUT": f"{prefix}/{WorkerRoute.DONE}/{worker_id}/$ID{query}",
        "RUNPOD_WEBHOOK_POST_STREAM": f"{prefix}/{WorkerRoute.STREAM}/{worker_id}/$ID{query}",
        "RUNPOD_WEBHOOK_PING": f"{prefix}/{WorkerRoute.PING}/{worker_id}{query}",
        "RUNPOD_POD_ID": worker_id,
        "RUNPOD_POD_HOSTNAME": worker_id,
        "RUNPOD_AI_API_KEY": api_key,
        "RUNPOD_PING_INTERVAL": str(round(ping_interval_s) * 1000),
        "RUNPOD_ENDPOINT_ID": endpoint_id,
    })
    return env


def probe_sdk(python: str, cwd: str, env: Mapping[str, str]) -> SdkProbe | None:
    """Ask the worker's interpreter, in the worker's cwd and environment, which runpod it imports; None
    when it cannot answer (then the version comes from the worker's first ping)."""
    try:
        done = subprocess.run(
            [python, "-c", _PROBE], cwd=cwd, env=dict(env), capture_output=True, timeout=PROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        report = json.loads(done.stdout.decode(errors="replace").strip().splitlines()[-1])
        return SdkProbe(report.get("runpod"), str(report.get("python", "")), str(report.get("executable", python)))
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, AttributeError):
        return None


def sdk_warnings(version: str | None, workers_sharing_cwd: bool) -> list[str]:
    """What a user should know about their SDK version (spec section 11)."""
    parts = _version_tuple(version)
    if parts is None:
        return []
    warnings = []
    if (1, 7, 12) <= parts <= (1, 10, 0) and workers_sharing_cwd:
        warnings.append(
            f"runpod {version} keeps in-progress jobs in $CWD/.runpod_jobs.pkl, so workers started in one "
            "directory share that state (runpod-python #432, fixed in 1.10.1): expect wrong job_in_progress "
            "flags and workers that believe they are full; upgrade to runpod>=1.10.1"
        )
    if parts < (1, 10, 0):
        warnings.append(
            f"runpod {version} has no job-stop channel (added in 1.10.0): cancel and execution timeouts cannot "
            "interrupt a running handler; its late result is ignored"
        )
    return warnings


def _version_tuple(version: str | None) -> tuple[int, ...] | None:
    if not version:
        return None
    match = re.match(r"^(\d+)\.(\d+)\.(\d+)", version)
    return tuple(int(part) for part in match.groups()) if match else None
