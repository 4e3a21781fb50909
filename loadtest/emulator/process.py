"""The emulator as a subprocess, for the traffic side and for tests (no aiohttp import here).

    with EmulatorProcess(EndpointConfig(id="ep", workers_max=2)) as emu:
        emu.base_url        # http://127.0.0.1:PORT/v2
        emu.ground_truth()  # GET /_emulator/ground-truth, parsed

Starts ``python -m loadtest.cli emulate`` on a free loopback port, waits for its ready file, and stops it
with SIGTERM (then SIGKILL) on exit. If it dies or does not come up in time, :class:`EmulatorStartError`
says so with the tail of its log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadtest.emulator_config import EmulatorConfig, EndpointConfig

LOG_TAIL_LINES = 30
STOP_TIMEOUT_S = 5.0


class EmulatorStartError(RuntimeError):
    """The emulator process exited or did not become ready in time."""


def _as_config(config: EmulatorConfig | EndpointConfig | Mapping[str, Any] | None) -> EmulatorConfig:
    if config is None:
        return EmulatorConfig()
    if isinstance(config, EmulatorConfig):
        return config
    if isinstance(config, EndpointConfig):
        return EmulatorConfig(endpoints=[config])
    if "endpoints" in config or "host" in config or "port" in config:
        return EmulatorConfig.model_validate(dict(config))
    return EmulatorConfig(endpoints=[EndpointConfig.model_validate(dict(config))])


class EmulatorProcess:
    """A running emulator subprocess; a context manager (``start``/``stop`` also callable directly)."""

    def __init__(
        self,
        config: EmulatorConfig | EndpointConfig | Mapping[str, Any] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_timeout: float = 30.0,
        log_file: str | os.PathLike[str] | None = None,
        log_level: str = "WARNING",
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        wrapper: Sequence[str] = (),
        worker_output_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        base = _as_config(config)
        self.config = base.model_copy(update={"host": host, "port": port})
        starts = [float(e.worker.start_timeout) for e in self.config.endpoints if e.worker is not None]
        self.ready_timeout = ready_timeout + max(starts, default=0.0)
        """The emulator announces itself once its always-on real workers take jobs: their start counts."""
        self.log_level = log_level
        self.env = dict(env) if env is not None else None
        self.extra_args = list(extra_args)
        self.wrapper = list(wrapper)
        """A command prefix, e.g. ``["taskset", "-c", "0"]`` to pin the emulator to one core."""
        self._log_file = Path(log_file) if log_file is not None else None
        self._worker_output_dir = Path(worker_output_dir) if worker_output_dir is not None else None
        """Where real workers' stdout/stderr files go; default: ``workers/`` beside the log file (the run
        directory, when the run pipeline names the log there), else a directory removed at stop."""
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._info: dict[str, Any] = {}

    # --- what callers use ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v2``: the RunPod base URL (``RUNPOD_ENDPOINT_BASE_URL``)."""
        return self._ready()["base_url"]

    @property
    def admin_url(self) -> str:
        """``http://127.0.0.1:PORT/_emulator``: ground truth, reset, config."""
        return self._ready()["admin_url"]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return self.base_url.removesuffix("/v2")

    @property
    def endpoint_ids(self) -> list[str]:
        return [endpoint.id for endpoint in self.config.endpoints]

    @property
    def endpoint_id(self) -> str:
        """The first (usually the only) endpoint id."""
        return self.config.endpoints[0].id

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        return self._log_file

    @property
    def real_workers(self) -> bool:
        """True when an endpoint runs the user's own worker processes (``worker:`` in its config)."""
        return any(endpoint.worker is not None for endpoint in self.config.endpoints)

    @property
    def worker_output_dir(self) -> Path | None:
        """Where each real worker's ``ENDPOINT-WORKER.stdout.log``/``.stderr.log`` are (None: no real workers)."""
        return self._worker_output_dir if self.real_workers else None

    def ground_truth(self, endpoint: str | None = None) -> dict[str, Any]:
        """The parsed ground-truth summary (all endpoints, or ``endpoint`` only)."""
        query = f"?endpoint={endpoint}" if endpoint else ""
        return self._get_json(f"{self.admin_url}/ground-truth{query}")

    def job_records(self, endpoint: str | None = None, page_size: int = 10_000) -> list[dict[str, Any]]:
        """Every retained per-job ground-truth record of ``endpoint`` (default: the first), all pages."""
        return self._pages("jobs", "jobs", endpoint, page_size)

    def llm_records(self, endpoint: str | None = None, page_size: int = 1_000) -> list[dict[str, Any]]:
        """Every retained per-request record of ``endpoint``'s OpenAI routes (token counts, emit times)."""
        return self._pages("llm", "requests", endpoint, page_size)

    def _pages(self, route: str, key: str, endpoint: str | None, page_size: int) -> list[dict[str, Any]]:
        eid = endpoint or self.endpoint_id
        records: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            query = f"endpoint={eid}&offset={offset}&limit={page_size}"
            page = self._get_json(f"{self.admin_url}/ground-truth/{route}?{query}")
            records.extend(page[key])
            offset = page["next_offset"]
        return records

    def reset(self, endpoint: str | None = None) -> None:
        """Forget every job and counter (``POST /_emulator/reset``)."""
        query = f"?endpoint={endpoint}" if endpoint else ""
        request = urllib.request.Request(f"{self.admin_url}/reset{query}", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=self.ready_timeout) as response:  # real workers restart
            response.read()

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def exit_code(self) -> int | None:
        """The process's exit code once it has exited (negative: killed by that signal), else None."""
        return self._process.poll() if self._process is not None else None

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> EmulatorProcess:
        if self._process is not None:
            raise RuntimeError("this EmulatorProcess was already started")
        self._workdir = Path(tempfile.mkdtemp(prefix="loadtest-emulator-"))
        config_path = self._workdir / "emulator.json"  # JSON is YAML
        config_path.write_text(json.dumps(self.config.model_dump(mode="json")))
        ready_path = self._workdir / "ready.json"
        if self._log_file is None:
            self._log_file = self._workdir / "emulator.log"
        worker_args: list[str] = []
        if self.real_workers:
            if self._worker_output_dir is None:
                self._worker_output_dir = self._log_file.parent / "workers"
            worker_args = ["--worker-output-dir", str(self._worker_output_dir)]
        command = [
            *self.wrapper, sys.executable, "-m", "loadtest.cli", "emulate", "--config", str(config_path),
            "--ready-file", str(ready_path), "--log-file", str(self._log_file), "--log-level", self.log_level,
            "--exit-with-parent", *worker_args, *self.extra_args,
        ]
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        stderr_path = self._workdir / "stderr.txt"
        with open(stderr_path, "wb") as stderr:
            self._process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True
            )
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if ready_path.exists():
                try:
                    self._info = json.loads(ready_path.read_text())
                    break
                except ValueError:
                    pass  # being written
            code = self._process.poll()
            if code is not None:
                self._cleanup_files(keep=True)
                raise EmulatorStartError(f"the emulator exited with code {code} before it was ready{self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorStartError(f"the emulator was not ready after {self.ready_timeout:g} s{self._tail()}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, wait up to ``timeout`` (default 5 s, plus the longest ``stop_grace`` of real workers,
        which the emulator gives them to exit before it SIGKILLs them), then SIGKILL; the exit code."""
        process = self._process
        if process is None:
            return None
        if timeout is None:
            graces = [float(e.worker.stop_grace) for e in self.config.endpoints if e.worker is not None]
            timeout = STOP_TIMEOUT_S + max(graces, default=0.0)
        code = process.poll()
        if code is None:
            try:
                process.send_signal(signal.SIGTERM)
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait(timeout=timeout)
        self._cleanup_files(keep=False)
        return code

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------------------------
    def _ready(self) -> dict[str, Any]:
        if not self._info:
            raise RuntimeError("the emulator is not started; use 'with EmulatorProcess(...) as emu:'")
        return self._info

    @staticmethod
    def _get_json(url: str) -> Any:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"GET {url}: HTTP {exc.code}: {exc.read()[:500]!r}") from None

    def _tail(self) -> str:
        parts = []
        for path in (self._workdir / "stderr.txt" if self._workdir else None, self._log_file):
            if path is not None and path.exists():
                lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                if lines:
                    parts.append(f"\n--- {path.name} (last lines) ---\n" + "\n".join(lines))
        return "".join(parts)

    def _cleanup_files(self, keep: bool) -> None:
        if self._workdir is not None and not keep:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
