"""One real worker process and what the emulator knows about it: its state, the jobs it holds, what it sent
over the worker protocol (pings, late results), why it stopped, and its record in the ground truth."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

from loadtest.emulator.jobstore import Job
from loadtest.emulator.workers import INITIALIZING, STOPPED, UNHEALTHY, UP

TAIL_LINES = 40
TAIL_BYTES = 16_384

# Why a worker stopped (``exit_reason`` in the ground truth).
IDLE = "idle"
REFRESH = "refresh"
SHUTDOWN = "shutdown"
CRASHED = "crashed"
EXITED = "exited"
START_FAILED = "start_failed"
START_TIMEOUT = "start_timeout"
UNHEALTHY_EXIT = "unhealthy"
FAILED_REASONS = frozenset({CRASHED, START_FAILED, START_TIMEOUT, UNHEALTHY_EXIT})


def output_tail(path: Path) -> list[str]:
    """The last :data:`TAIL_LINES` lines of a worker's output file (none when it cannot be read)."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - TAIL_BYTES))
            data = file.read()
    except OSError:
        return []
    lines = data.decode(errors="replace").splitlines()
    if size > TAIL_BYTES and lines:
        lines = lines[1:]  # the first line is probably cut
    return lines[-TAIL_LINES:]


def _ms(at: float | None, origin: float) -> float | None:
    return None if at is None else round((at - origin) * 1000, 3)


class ProcessWorker:
    """One worker process and what the emulator knows about it."""

    def __init__(self, worker_id: str, process: subprocess.Popen[bytes], spawned_at: float, paths: tuple[Path, Path],
                 stop_grace: float) -> None:
        self.id = worker_id
        self.process = process
        self.pid = process.pid
        self.spawned_at = spawned_at
        self.stop_grace = stop_grace
        """Seconds between SIGTERM (once it holds no job) and SIGKILL."""
        self.first_request_at: float | None = None
        self.state = INITIALIZING
        self.jobs: dict[str, Job] = {}
        """Jobs handed to this worker and still in progress in the store."""
        self.zombies: set[str] = set()
        """Jobs taken away (stopped, timed out, cancelled, expired) that the worker may still post for."""
        self.stop_ids: list[str] = []
        self.stop_polls: list[asyncio.Future[object]] = []
        self.draining: str | None = None
        self.kill_at: float | None = None
        self.idle_since = spawned_at
        self.exit_code: int | None = None
        self.exited_at: float | None = None
        self.exit_reason: str | None = None
        self.stdout_path, self.stderr_path = paths
        self.replaces: ProcessWorker | None = None
        self.unhealthy: dict[str, str] | None = None
        self.sdk_version: str | None = None
        self.pings = 0
        self.last_ping_at: float | None = None
        self.ping_jobs: list[str] = []
        self.taken = 0
        self.finished = 0
        self.late_results = 0
        self.late_progress = 0
        self.late_chunks = 0
        self.chunks = 0
        self.held_max = 0
        self.last_chunk_at: dict[str, float] = {}
        self.tail: list[str] | None = None

    @property
    def alive(self) -> bool:
        return self.exit_code is None

    @property
    def serving(self) -> bool:
        """May be handed jobs."""
        return self.exit_code is None and self.draining is None and self.unhealthy is None

    @property
    def live(self) -> bool:
        """Counts as one of the endpoint's workers for scaling (starting or up, not on its way out)."""
        return self.serving and self.state in (INITIALIZING, UP)

    @property
    def health_counter(self) -> str | None:
        """The ``/health`` worker counter it counts in (None: on its way out, holding no job)."""
        if self.unhealthy is not None or self.state == UNHEALTHY:
            return "unhealthy"
        if self.draining is not None or self.state == STOPPED:
            return "running" if self.jobs else None
        if self.state == INITIALIZING:
            return "initializing"
        return "running" if self.jobs else "idle"

    def reason_for_exit(self, code: int, held: bool) -> str:
        """Why its process exited with ``code`` (``held``: it still held jobs)."""
        if self.draining == START_TIMEOUT:
            return START_TIMEOUT
        if self.unhealthy is not None:
            return UNHEALTHY_EXIT
        if self.draining is not None and not held:
            return self.draining
        if self.first_request_at is None:
            return START_FAILED
        if held or code != 0:
            return CRASHED
        return EXITED

    def jobs_changed(self, now: float) -> None:
        """It holds a job fewer: once it holds none it is idle, and a worker on its way out gets its SIGKILL
        deadline."""
        if self.jobs:
            return
        self.idle_since = now
        if self.draining is not None and self.kill_at is None and self.alive:
            self.kill_at = now + self.stop_grace

    def read_tail(self) -> list[str]:
        """The end of its stderr, else of its stdout."""
        return output_tail(self.stderr_path) or output_tail(self.stdout_path)

    def record(self, origin: float) -> dict[str, object]:
        """Its entry in the ground truth's ``real_workers.workers`` (times in ms since ``origin``)."""
        failed = self.exit_reason in FAILED_REASONS or self.unhealthy is not None
        if failed and self.tail is None and not self.alive:
            self.tail = self.read_tail()
        first = self.first_request_at
        cold = None if first is None else round((first - self.spawned_at) * 1000, 1)
        if self.alive:
            state = "stopping" if self.draining else (
                "unhealthy" if self.unhealthy else ("running" if self.jobs else (
                    "idle" if self.state == UP else "initializing")))
        else:
            state = "stopped"
        return {
            "id": self.id,
            "pid": self.pid,
            "state": state,
            "spawnedAt": _ms(self.spawned_at, origin),
            "firstRequestAt": _ms(self.first_request_at, origin),
            "coldStartMs": cold,
            "exitedAt": _ms(self.exited_at, origin),
            "exitCode": self.exit_code,
            "exitReason": self.exit_reason,
            "jobsTaken": self.taken,
            "jobsFinished": self.finished,
            "jobsHeld": len(self.jobs),
            "jobsHeldMax": self.held_max,
            "chunks": self.chunks,
            "lateResults": self.late_results,
            "lateProgress": self.late_progress,
            "lateChunks": self.late_chunks,
            "pings": self.pings,
            "lastPingAt": _ms(self.last_ping_at, origin),
            "sdkVersion": self.sdk_version,
            "unhealthy": self.unhealthy,
            "stdout": str(self.stdout_path),
            "stderr": str(self.stderr_path),
            "outputTail": self.tail if failed else None,
        }
