"""The endpoint's worker command, resolved once: what every real worker process is started with.

Its argv, working directory and environment (:mod:`loadtest.emulator.worker_env`), the directory its
output goes to, the per-run token that authenticates the worker routes and the fake API key the workers
get, and what its interpreter says about the runpod SDK (with what a user should know about that version).
Starting a process is :meth:`WorkerCommand.launch`, under :mod:`loadtest.emulator.supervisor`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from loadtest.emulator import worker_env
from loadtest.emulator.supervisor import supervisor
from loadtest.emulator_config import EndpointConfig, WorkerConfig


class WorkerCommand:
    """The worker command of one endpoint, ready to start processes."""

    def __init__(self, config: EndpointConfig, output_dir: Path | None, environ: Mapping[str, str] | None) -> None:
        if config.worker is None:
            raise ValueError("ProcessWorkers needs an endpoint with a worker command")
        self.config = config
        self.worker_config: WorkerConfig = config.worker
        self.token = secrets.token_urlsafe(24)
        """Authenticates the worker routes: in every URL the workers are given, never logged."""
        self._api_key = "loadtest-" + secrets.token_hex(16)
        self._private = Path(tempfile.mkdtemp(prefix="loadtest-worker-"))  # removed at close
        self._credentials_file = str(self._private / "no-runpod-credentials" / "config.toml")
        if output_dir is None:
            output_dir = Path(tempfile.mkdtemp(prefix="loadtest-worker-output-"))  # kept: the user reads it
        self.output_dir = output_dir
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise worker_env.WorkerSetupError(f"cannot create the worker output directory {output_dir}: {exc}") from exc
        inherited = os.environ if environ is None else environ
        self.cwd = self.worker_config.cwd or os.getcwd()
        if not Path(self.cwd).is_dir():
            raise worker_env.WorkerSetupError(f"worker.cwd {self.cwd!r} is not a directory")
        self._base_env = worker_env.base_environment(self.worker_config, inherited, self._credentials_file)
        self.argv = worker_env.resolve_command(self.worker_config, self._base_env)
        self.warnings: list[str] = []
        self.sdk_version: str | None = None
        self.sdk_source = "unknown"
        self.python: str | None = None
        self._probe()

    def _probe(self) -> None:
        argv = self.argv
        if not worker_env.is_python(argv):
            self.warnings.append(
                f"the worker command does not start Python directly ({argv[0]}): the runpod version is read from "
                "the first ping, and ~/.runpod/config.toml is kept from the SDK only if the command keeps "
                "loadtest's PYTHONPATH"
            )
            return
        if worker_env.isolates_environment(argv):
            self.warnings.append(
                "the worker's Python runs with -I or -E, which ignore PYTHONPATH: loadtest cannot keep "
                "~/.runpod/config.toml from the SDK, whose key then goes to the emulator on loopback (never stored)"
            )
        probe = worker_env.probe_sdk(argv[0], self.cwd, self._base_env)
        if probe is None:
            self.warnings.append(f"could not ask {argv[0]} which runpod it imports; the version comes from pings")
            return
        self.python = probe.python
        if probe.runpod is None:
            raise worker_env.WorkerSetupError(
                f"the worker's interpreter {probe.executable} cannot import runpod (from {self.cwd}): install the "
                "runpod SDK in that environment (for loadtest's own interpreter: pip install 'loadtest[worker]')"
            )
        self.sdk_version = probe.runpod
        self.sdk_source = "interpreter"
        self.warnings.extend(worker_env.sdk_warnings(self.sdk_version, self._workers_share_cwd))

    @property
    def _workers_share_cwd(self) -> bool:
        return self.config.workers_max > 1

    @property
    def label(self) -> str:
        """How a report names the run's worker: ``real worker: python -u handler.py, runpod SDK 1.12.0``."""
        return f"real worker: {self.worker_config.describe()}, runpod SDK {self.sdk_version or 'unknown'}"

    def sdk_from_ping(self, version: str) -> None:
        """A worker's ping named its runpod version: the pool's, when its interpreter could not say."""
        if self.sdk_version is None:
            self.sdk_version = version
            self.sdk_source = "ping"
            self.warnings.extend(worker_env.sdk_warnings(version, self._workers_share_cwd))

    def output_paths(self, worker_id: str) -> tuple[Path, Path]:
        """Where the worker's stdout and stderr go."""
        stem = f"{self.config.id}-{worker_id}"
        return self.output_dir / f"{stem}.stdout.log", self.output_dir / f"{stem}.stderr.log"

    def launch(self, worker_id: str, url: str, paths: tuple[Path, Path]) -> subprocess.Popen[bytes]:
        """Start one worker process talking to the emulator at ``url``; raises ``OSError`` when the command
        cannot be executed."""
        env = worker_env.worker_environment(
            self._base_env, url=url, endpoint_id=self.config.id, worker_id=worker_id, token=self.token,
            api_key=self._api_key, ping_interval_s=float(self.worker_config.ping_interval),
        )
        with open(paths[0], "wb") as stdout, open(paths[1], "wb") as stderr:
            return supervisor().spawn(self.argv, cwd=self.cwd, env=env, stdout=stdout, stderr=stderr)

    def snapshot(self) -> dict[str, object]:
        """The command's part of the ground truth's ``real_workers``."""
        return {
            "label": self.label,
            "command": list(self.worker_config.command),
            "argv": list(self.argv),
            "cwd": self.cwd,
            "sdk_version": self.sdk_version,
            "sdk_version_source": self.sdk_source,
            "python": self.python,
            "output_dir": str(self.output_dir),
            "warnings": list(self.warnings),
        }

    def remove_private_files(self) -> None:
        shutil.rmtree(self._private, ignore_errors=True)
