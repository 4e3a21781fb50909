"""Real workers: the user's unmodified RunPod handler, run as processes that take the endpoint's jobs.

:class:`ProcessWorkers` is the second kind of :class:`~loadtest.emulator.workers.WorkerPool`. Instead of
simulating a worker, it starts the command the endpoint's ``worker`` section names, with the environment
the official ``runpod`` SDK needs to talk to the emulator over the worker protocol (job-take long-poll,
job-done, job-stream, job-stop, ping; served by :mod:`loadtest.emulator.worker_routes`). Scaling follows
the same rule as the simulated pool (:mod:`loadtest.emulator.scaling`): ``workers_min``, the scaler,
``workers_max``, ``idle_timeout``.

What the emulator decides, and what the worker does:

- a worker is ``initializing`` from spawn to its first job request (its real cold start), then idle or
  running by the jobs it holds (handed out, not yet finished);
- liveness is the process itself (``Popen.poll``), never pings: the SDK's ping process outlives a crashed
  handler (spec 5.7). A worker that exits holding jobs crashed: its jobs are re-queued once, then FAILED,
  as for ``mock_crash``; a replacement starts with a real cold start;
- the execution timeout, cancel and TTL expiry end the job here and queue a job-stop for the worker (an
  async handler is cancelled; a sync one runs on, and its late result is ignored, as on the platform);
- ``stopPod`` (``refresh_worker``) and scale-down stop the worker: SIGTERM to its process group, its held
  polls answered at once so it exits in about a second, SIGKILL after ``stop_grace``.

Process groups, the death signal, the watchdog and reaping are :mod:`loadtest.emulator.supervisor`'s; the
worker's environment and argv are :mod:`loadtest.emulator.worker_env`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import secrets
import shutil
import signal
import string
import subprocess
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from loadtest.emulator import behaviour as bh
from loadtest.emulator import worker_env
from loadtest.emulator.groundtruth import Counters
from loadtest.emulator.jobstore import COMPLETED, FAILED, IN_PROGRESS, TIMED_OUT, Job, JobStore
from loadtest.emulator.scaling import workers_to_start
from loadtest.emulator.supervisor import supervisor
from loadtest.emulator.workers import (
    CRASH_RETRIES,
    INITIALIZING,
    STOPPED,
    UNHEALTHY,
    UP,
    WorkerPool,
    WorkerStartError,
    health_counts,
)
from loadtest.emulator_config import EndpointConfig, WorkerConfig

log = logging.getLogger(__name__)

DRAIN_POLL_HOLD_S = 0.5
"""A stopping worker's polls are answered 204 this soon (not at once: an immediate 204 makes the SDK ask
again at once, about 1,400 times a second)."""
START_BACKOFF_S: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
"""Pause before the next start after 1, 2, ... workers in a row exited before asking for a job."""
TAIL_LINES = 40
TAIL_BYTES = 16_384
GONE_RECORDS_MAX = 1000
"""Stopped workers kept in the ground truth (the oldest are dropped first, and counted)."""
SHUTDOWN_REAP_S = 2.0

# Why a worker stopped (``exit_reason`` in the ground truth).
IDLE = "idle"
REFRESH = "refresh"
SHUTDOWN = "shutdown"
CRASHED = "crashed"
EXITED = "exited"
START_FAILED = "start_failed"
START_TIMEOUT = "start_timeout"
UNHEALTHY_EXIT = "unhealthy"
_FAILED_REASONS = frozenset({CRASHED, START_FAILED, START_TIMEOUT, UNHEALTHY_EXIT})


class Tally:
    """Count, mean, extremes and percentiles (within 1 %) of millisecond values, in constant memory."""

    _LOG_STEP = math.log(1.01)

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0
        self._buckets: dict[int, int] = {}

    def add(self, ms: float) -> None:
        ms = max(0.0, ms)
        self.count += 1
        self.total += ms
        self.min = min(self.min, ms)
        self.max = max(self.max, ms)
        index = int(math.log1p(ms) / self._LOG_STEP)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def _quantile(self, q: float) -> float:
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                return min(self.max, max(self.min, math.expm1((index + 0.5) * self._LOG_STEP)))
        return self.max

    def snapshot(self) -> dict[str, float | int | None]:
        if not self.count:
            return {"count": 0, "mean": None, "min": None, "p50": None, "p90": None, "p99": None, "max": None}
        return {
            "count": self.count, "mean": round(self.total / self.count, 1), "min": round(self.min, 1),
            "p50": round(self._quantile(0.5), 1), "p90": round(self._quantile(0.9), 1),
            "p99": round(self._quantile(0.99), 1), "max": round(self.max, 1),
        }


class Poll:
    """A held job-take or job-stop request: resolved with jobs (take), True (stop: look again) or None."""

    __slots__ = ("count", "future", "request", "worker")

    def __init__(self, worker: ProcessWorker, future: asyncio.Future[Any], count: int, request: Any) -> None:
        self.worker = worker
        self.future = future
        self.count = count
        self.request = request

    def gone(self) -> bool:
        """The worker hung up (its connection closed): hand it nothing."""
        if self.future.done():
            return True
        transport = getattr(self.request, "transport", None)
        return self.request is not None and (transport is None or transport.is_closing())


class ProcessWorker:
    """One worker process and what the emulator knows about it."""

    def __init__(self, worker_id: str, process: subprocess.Popen[bytes], spawned_at: float, paths: tuple[Path, Path]):
        self.id = worker_id
        self.process = process
        self.pid = process.pid
        self.spawned_at = spawned_at
        self.first_request_at: float | None = None
        self.state = INITIALIZING
        self.jobs: dict[str, Job] = {}
        """Jobs handed to this worker and still in progress in the store."""
        self.zombies: set[str] = set()
        """Jobs taken away (stopped, timed out, cancelled, expired) that the worker may still post for."""
        self.stop_ids: list[str] = []
        self.stop_polls: list[asyncio.Future[Any]] = []
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


def _tail(path: Path) -> list[str]:
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


class ProcessWorkers(WorkerPool):
    """The endpoint's workers are processes running the user's worker command."""

    def __init__(
        self,
        config: EndpointConfig,
        store: JobStore,
        loop: asyncio.AbstractEventLoop,
        counters: Counters,
        id_rng: random.Random,
        output_dir: Path | None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if config.worker is None:
            raise ValueError("ProcessWorkers needs an endpoint with a worker command")
        self.config = config
        self.worker_config: WorkerConfig = config.worker
        self.store = store
        self.loop = loop
        self.counters = counters
        self.id_rng = id_rng
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
        self._cwd = self.worker_config.cwd or os.getcwd()
        if not Path(self._cwd).is_dir():
            raise worker_env.WorkerSetupError(f"worker.cwd {self._cwd!r} is not a directory")
        self._base_env = worker_env.base_environment(self.worker_config, inherited, self._credentials_file)
        self._argv = worker_env.resolve_command(self.worker_config, self._base_env)
        self.warnings: list[str] = []
        self.sdk_version: str | None = None
        self.sdk_source = "unknown"
        self.python: str | None = None
        self._probe()
        self.active: dict[str, ProcessWorker] = {}
        self.gone: deque[ProcessWorker] = deque()
        self.gone_dropped = 0
        self._takes: deque[Poll] = deque()
        self._reaping: set[int] = set()
        self._url: str | None = None
        self._closing = False
        self._start_failures_in_row = 0
        self._next_start_at = 0.0
        self._id_chars = string.ascii_lowercase + string.digits
        self._per_worker = 1
        self.started = 0
        self.restarts = 0
        self.crashes = 0
        self.start_failures = 0
        self.lost_handouts = 0
        self.cold_start = Tally()
        self.queue_delay = Tally()
        self.execution = Tally()
        self.first_chunk = Tally()
        self.chunk_gap = Tally()

    # --- set-up -------------------------------------------------------------------------------------
    def _probe(self) -> None:
        argv = self._argv
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
        probe = worker_env.probe_sdk(argv[0], self._cwd, self._base_env)
        if probe is None:
            self.warnings.append(f"could not ask {argv[0]} which runpod it imports; the version comes from pings")
            return
        self.python = probe.python
        if probe.runpod is None:
            raise worker_env.WorkerSetupError(
                f"the worker's interpreter {probe.executable} cannot import runpod (from {self._cwd}): install the "
                "runpod SDK in that environment (for loadtest's own interpreter: pip install 'loadtest[worker]')"
            )
        self.sdk_version = probe.runpod
        self.sdk_source = "interpreter"
        shared_cwd = self.config.workers_max > 1
        self.warnings.extend(worker_env.sdk_warnings(self.sdk_version, shared_cwd))

    @property
    def label(self) -> str:
        """How a report names the run's worker: ``real worker: python -u handler.py, runpod SDK 1.12.0``."""
        return f"real worker: {self.worker_config.describe()}, runpod SDK {self.sdk_version or 'unknown'}"

    # --- the WorkerPool interface -------------------------------------------------------------------
    def start(self) -> None:
        log.info(
            "endpoint %s: %s; worker output in %s", self.config.id, self.label, self.output_dir
        )
        for warning in self.warnings:
            log.warning("endpoint %s: %s", self.config.id, warning)

    def listening(self, url: str) -> None:
        self._url = url
        self._scale(self.loop.time())

    async def warm_up(self) -> None:
        while True:
            failed = next((w for w in self._workers() if w.exit_reason in _FAILED_REASONS), None)
            if failed is not None:
                tail = failed.tail or _tail(failed.stderr_path) or _tail(failed.stdout_path)
                shown = "\n".join(f"  | {line}" for line in tail[-TAIL_LINES:]) or "  (it printed nothing)"
                raise WorkerStartError(
                    f"endpoint {self.config.id!r}: the worker ({self.worker_config.describe()}) "
                    f"{(failed.exit_reason or '').replace('_', ' ')} with exit code {failed.exit_code}; its output "
                    f"({failed.stderr_path.name}, {failed.stdout_path.name}):\n{shown}"
                )
            ready = sum(1 for worker in self.active.values() if worker.serving and worker.first_request_at is not None)
            if ready >= self.config.workers_min:
                return
            await asyncio.sleep(0.05)

    def notify_queued(self, now: float | None = None) -> None:
        at = self.loop.time() if now is None else now
        if self._takes:
            self._dispatch(at)
        if self.store.in_queue:
            self._scale(at)

    def release(self, job: Job) -> None:
        worker = self.active.get(job.worker_id or "")
        if worker is None or worker.jobs.get(job.id) is not job:
            return
        self._take_away(worker, job, self.loop.time())

    def tick(self, now: float) -> None:
        for worker in list(self.active.values()):
            if worker.alive:
                self._watch(worker, now)
        if self._reaping:
            sup = supervisor()
            self._reaping = {pgid for pgid in self._reaping if not sup.reap_group(pgid)}
        if self._takes and self.store.in_queue:
            self._dispatch(now)
        self._scale(now)

    def health_workers(self) -> dict[str, int]:
        idle = running = initializing = unhealthy = 0
        for worker in self.active.values():
            if worker.unhealthy is not None or worker.state == UNHEALTHY:
                unhealthy += 1
            elif worker.draining is not None or worker.state == STOPPED:
                running += 1 if worker.jobs else 0
            elif worker.state == INITIALIZING:
                initializing += 1
            elif worker.jobs:
                running += 1
            else:
                idle += 1
        return health_counts(idle=idle, initializing=initializing, running=running, unhealthy=unhealthy)

    def total_workers(self) -> int:
        return sum(1 for w in self.active.values() if w.alive)

    def close(self) -> None:
        """Kill every worker group at once (``aclose`` is the graceful way) and wake every held poll."""
        self._closing = True
        sup = supervisor()
        for worker in self.active.values():
            if worker.alive or worker.pid in self._reaping:  # a group long gone may have a new owner
                sup.signal_group(worker.pid, signal.SIGKILL)
            self._wake_polls(worker)
        for poll in self._takes:
            if not poll.future.done():
                poll.future.set_result(None)
        self._takes.clear()
        shutil.rmtree(self._private, ignore_errors=True)

    async def aclose(self) -> None:
        """SIGTERM every worker (its held polls answered so it exits at once), SIGKILL what is left after
        ``stop_grace``, and wait until every process of every group is gone."""
        self._closing = True
        loop = self.loop
        now = loop.time()
        for worker in list(self.active.values()):
            if worker.alive:
                self._drain(worker, SHUTDOWN, now)
        deadline = now + float(self.worker_config.stop_grace)
        while self._poll_exits(loop.time()) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        sup = supervisor()
        for worker in self.active.values():
            if worker.alive:
                sup.signal_group(worker.pid, signal.SIGKILL)
        deadline = loop.time() + SHUTDOWN_REAP_S
        while True:
            alive = self._poll_exits(loop.time())
            self._reaping = {pgid for pgid in self._reaping if not sup.reap_group(pgid)}
            if (not alive and not self._reaping) or loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        for pgid in self._reaping:
            log.error("worker process group %d still has processes after SIGKILL", pgid)
        self.close()

    def _poll_exits(self, now: float) -> bool:
        """Notice exited workers; True while any is still running."""
        running = False
        for worker in list(self.active.values()):
            if worker.alive:
                code = worker.process.poll()
                if code is None:
                    running = True
                else:
                    self._on_exit(worker, code, now)
        return running

    # --- worker requests (called by the routes) -----------------------------------------------------
    def worker(self, worker_id: str) -> ProcessWorker | None:
        """The running worker with this id (None: unknown, or already gone)."""
        worker = self.active.get(worker_id)
        return worker if worker is not None and worker.alive else None

    def seen(self, worker: ProcessWorker, now: float) -> None:
        """The worker made a job-take or job-stop request: the first one ends its cold start."""
        if worker.first_request_at is not None:
            return
        worker.first_request_at = now
        worker.idle_since = now
        self.cold_start.add((now - worker.spawned_at) * 1000)
        self._start_failures_in_row = 0
        if worker.state == INITIALIZING and worker.draining is None:
            worker.state = UP
        old = worker.replaces
        if old is not None:
            worker.replaces = None
            self._retire(old)

    def poll_hold(self, worker: ProcessWorker, hold: float) -> float:
        """How long to hold this worker's poll when there is nothing for it."""
        return DRAIN_POLL_HOLD_S if not worker.serving or self._closing else hold

    def take_now(self, worker: ProcessWorker, count: int, now: float) -> list[Job]:
        """Jobs for a take that just arrived: what is left once the takes already waiting were served."""
        if not worker.serving or self._closing or not self.store.in_queue:
            return []
        if self._takes:
            self._dispatch(now)  # first come, first served (it also drops takes whose worker hung up)
            if self._takes:
                return []
        return self._hand_out(worker, count, now)

    def wait_take(self, worker: ProcessWorker, count: int, request: Any) -> Poll:
        poll = Poll(worker, self.loop.create_future(), count, request)
        self._takes.append(poll)
        return poll

    def forget_take(self, poll: Poll) -> None:
        """A held take was answered (or abandoned): it no longer waits in line."""
        with contextlib.suppress(ValueError):  # already taken out by a hand-out
            self._takes.remove(poll)

    def handout_failed(self, worker: ProcessWorker, jobs: list[Job]) -> None:
        """The jobs could not be written to the worker (it hung up): back to the queue."""
        now = self.loop.time()
        for job in jobs:
            if worker.jobs.get(job.id) is job and job.status == IN_PROGRESS:
                del worker.jobs[job.id]
                self.lost_handouts += 1
                self.store.requeue_after_crash(job, now, (job.exec_s, None))
        self._after_change(worker, now)
        self.notify_queued(now)

    def stop_ids(self, worker: ProcessWorker) -> list[str]:
        ids, worker.stop_ids = worker.stop_ids, []
        return ids

    def wait_stop(self, worker: ProcessWorker) -> asyncio.Future[Any]:
        future = self.loop.create_future()
        worker.stop_polls.append(future)
        return future

    def progress(self, worker: ProcessWorker, job_id: str, value: Any) -> None:
        job = worker.jobs.get(job_id)
        if job is None:
            worker.late_progress += 1  # normal: the SDK posts progress from a thread, often after the result
            return
        self.store.progress(job, value)

    def chunk(self, worker: ProcessWorker, job_id: str, value: Any, now: float) -> None:
        job = worker.jobs.get(job_id)
        if job is None:
            worker.late_chunks += 1
            return
        last = worker.last_chunk_at.get(job_id)
        if last is None:
            self.first_chunk.add((now - (job.started_at or now)) * 1000)
        else:
            self.chunk_gap.add((now - last) * 1000)
        worker.last_chunk_at[job_id] = now
        worker.chunks += 1
        for piece in bh.split_chunk(value):
            self.store.add_chunk(job, piece)

    def result(self, worker: ProcessWorker, job_id: str, body: Any, is_stream: bool, now: float) -> bool:
        """A final job-done post; False when the job is no longer this worker's (a late result, ignored)."""
        job = worker.jobs.get(job_id)
        payload = body if isinstance(body, dict) else {"output": body}
        if job is None:
            worker.late_results += 1
            worker.zombies.discard(job_id)
            if payload.get("stopPod"):
                self._refresh(worker, now)
            return False
        del worker.jobs[job_id]
        worker.last_chunk_at.pop(job_id, None)
        worker.finished += 1
        output = payload.get("output")
        if is_stream and output == []:
            output = None  # chosen (spec open question 3): a generator job without aggregation has no output
        error = payload.get("error")
        if error:
            message = error if isinstance(error, str) else json.dumps(error)
            self.store.finish(job, FAILED, now, output, message)
        else:
            self.store.finish(job, COMPLETED, now, output, None)
        self._record_times(job)
        if payload.get("stopPod"):
            self._refresh(worker, now)
        self._after_change(worker, now)
        return True

    def oversized_result(self, worker: ProcessWorker, job_id: str, now: float) -> None:
        """A job-done body over the result limit: the platform answers 400 and the job shows COMPLETED
        without output (runpod-python #309)."""
        job = worker.jobs.pop(job_id, None)
        if job is None:
            worker.late_results += 1
            return
        worker.finished += 1
        self.store.finish(job, COMPLETED, now, None, None)
        self._record_times(job)
        self._after_change(worker, now)

    def ping(self, worker_id: str, query: Mapping[str, str], now: float) -> bool:
        """A heartbeat (recorded, never trusted for liveness); False for an unknown worker."""
        worker = self.active.get(worker_id)
        if worker is None:
            return False
        worker.pings += 1
        worker.last_ping_at = now
        version = query.get("runpod_version")
        if version:
            worker.sdk_version = version
            if self.sdk_version is None:
                self.sdk_version = version
                self.sdk_source = "ping"
                self.warnings.extend(worker_env.sdk_warnings(version, self.config.workers_max > 1))
        jobs = query.get("job_id")
        worker.ping_jobs = jobs.split(",") if jobs else []
        if query.get("status") == "unhealthy":
            worker.unhealthy = {"check": query.get("check", ""), "reason": query.get("reason", "")}
            log.warning(
                "endpoint %s: worker %s reports itself unhealthy (%s: %s)", self.config.id, worker.id,
                worker.unhealthy["check"], worker.unhealthy["reason"],
            )
            self._wake_polls(worker)
        return True

    # --- hand-out and take-away ---------------------------------------------------------------------
    def _dispatch(self, now: float) -> None:
        takes = self._takes
        while takes and self.store.in_queue:
            poll = takes[0]
            if poll.gone() or not poll.worker.serving:
                takes.popleft()
                if not poll.future.done():
                    poll.future.set_result(None)
                continue
            jobs = self._hand_out(poll.worker, poll.count, now)
            if not jobs:
                return
            takes.popleft()
            poll.future.set_result(jobs)

    def _hand_out(self, worker: ProcessWorker, count: int, now: float) -> list[Job]:
        store = self.store
        jobs: list[Job] = []
        while len(jobs) < count:
            job = store.pop_next()
            if job is None:
                break
            if job.expire_at <= now:
                store.expire(job)
                continue
            store.start(job, worker.id, now)
            worker.jobs[job.id] = job
            worker.taken += 1
            job.timer = self.loop.call_at(now + job.exec_timeout, self._on_timeout, worker, job, job.attempt)
            jobs.append(job)
        if jobs:
            held = len(worker.jobs)
            worker.held_max = max(worker.held_max, held)
            self._per_worker = max(self._per_worker, held)
        return jobs

    def _on_timeout(self, worker: ProcessWorker, job: Job, attempt: int) -> None:
        if job.attempt != attempt or job.status != IN_PROGRESS or worker.jobs.get(job.id) is not job:
            return
        at = (job.started_at or self.loop.time()) + job.exec_timeout
        job.timer = None
        self._take_away(worker, job, at)
        self.store.finish(job, TIMED_OUT, at, None, bh.timeout_error(job.exec_timeout))
        self._record_times(job)

    def _take_away(self, worker: ProcessWorker, job: Job, now: float) -> None:
        """The job is no longer the worker's (stopped, timed out, cancelled, expired): tell it on job-stop."""
        del worker.jobs[job.id]
        worker.last_chunk_at.pop(job.id, None)
        worker.zombies.add(job.id)
        worker.stop_ids.append(job.id)
        self._wake_polls(worker, takes=False)
        self._after_change(worker, now)

    def _record_times(self, job: Job) -> None:
        if job.delay_ms is not None:
            self.queue_delay.add(job.delay_ms)
        if job.exec_ms is not None:
            self.execution.add(job.exec_ms)

    @staticmethod
    def _wake_stop_polls(worker: ProcessWorker) -> None:
        polls, worker.stop_polls = worker.stop_polls, []
        for future in polls:
            if not future.done():
                future.set_result(True)

    def _wake_polls(self, worker: ProcessWorker, takes: bool = True) -> None:
        """Answer the worker's held polls now (stop polls read its stop ids; takes get nothing)."""
        self._wake_stop_polls(worker)
        if not takes:
            return
        for poll in self._takes:
            if poll.worker is worker and not poll.future.done():
                poll.future.set_result(None)

    # --- worker lifecycle ---------------------------------------------------------------------------
    def _after_change(self, worker: ProcessWorker, now: float) -> None:
        if worker.jobs:
            return
        worker.idle_since = now
        if worker.draining is not None and worker.kill_at is None and worker.alive:
            worker.kill_at = now + float(self.worker_config.stop_grace)

    def _refresh(self, worker: ProcessWorker, now: float) -> None:
        """``stopPod``: restart the worker (a handler-returned ``refresh_worker`` never exits by itself)."""
        if worker.draining is not None or self._closing:
            return
        self.restarts += 1
        self._drain(worker, REFRESH, now)
        if self._url is not None and self._live() < self.config.workers_max:
            self._spawn(now)

    def _drain(self, worker: ProcessWorker, reason: str, now: float) -> None:
        """Stop handing the worker jobs and ask it to exit (SIGTERM to its group); SIGKILL later."""
        if worker.draining is not None or not worker.alive:
            return
        worker.draining = reason
        supervisor().signal_group(worker.pid, signal.SIGTERM)
        self._wake_polls(worker)
        worker.kill_at = None if worker.jobs else now + float(self.worker_config.stop_grace)

    def _watch(self, worker: ProcessWorker, now: float) -> None:
        code = worker.process.poll()
        if code is not None:
            self._on_exit(worker, code, now)
            return
        if worker.kill_at is not None and now >= worker.kill_at:
            worker.kill_at = None
            log.info("endpoint %s: worker %s did not exit after SIGTERM; SIGKILL", self.config.id, worker.id)
            supervisor().signal_group(worker.pid, signal.SIGKILL)
        elif worker.first_request_at is None and worker.draining is None:
            if now - worker.spawned_at >= float(self.worker_config.start_timeout):
                log.error(
                    "endpoint %s: worker %s made no job request within %g s of its start; killing it",
                    self.config.id, worker.id, float(self.worker_config.start_timeout),
                )
                worker.draining = START_TIMEOUT
                supervisor().signal_group(worker.pid, signal.SIGKILL)
        elif worker.draining is None and worker.state == UP and not worker.jobs:
            idle_for = now - worker.idle_since
            if idle_for >= float(self.config.idle_timeout) and self._live() > self.config.workers_min:
                self._drain(worker, IDLE, now)

    def _on_exit(self, worker: ProcessWorker, code: int, now: float) -> None:
        """The worker's main process is gone: settle its jobs, kill what is left of its group."""
        worker.exit_code = code
        worker.exited_at = now
        supervisor().signal_group(worker.pid, signal.SIGKILL)  # the SDK's ping process, orphaned by a crash
        self._reaping.add(worker.pid)
        self._wake_polls(worker)
        held = list(worker.jobs.values())
        worker.jobs.clear()
        started_properly = worker.first_request_at is not None
        if worker.draining == START_TIMEOUT:
            reason = START_TIMEOUT
        elif worker.unhealthy is not None:
            reason = UNHEALTHY_EXIT
        elif worker.draining is not None and not held:
            reason = worker.draining
        elif not started_properly:
            reason = START_FAILED
        elif held or code != 0:
            reason = CRASHED
        else:
            reason = EXITED
        worker.exit_reason = reason
        if self._closing:
            worker.state = STOPPED
            self._retire(worker)
            return
        if reason in (START_FAILED, START_TIMEOUT, UNHEALTHY_EXIT) and not started_properly:
            self.start_failures += 1
            self._start_failures_in_row += 1
            pause = START_BACKOFF_S[min(self._start_failures_in_row, len(START_BACKOFF_S)) - 1]
            self._next_start_at = now + pause
        if reason in _FAILED_REASONS:
            worker.tail = _tail(worker.stderr_path) or _tail(worker.stdout_path)
            log.error(
                "endpoint %s: worker %s (pid %d) %s with exit code %d%s\n%s", self.config.id, worker.id,
                worker.pid, reason.replace("_", " "), code, f", holding {len(held)} job(s)" if held else "",
                "\n".join(f"  | {line}" for line in worker.tail[-10:]),
            )
        if reason == CRASHED:
            self.crashes += 1
            self.counters.workers_crashed += 1
            for job in held:
                if job.retries < CRASH_RETRIES:
                    self.store.requeue_after_crash(job, now, (job.exec_s, None))
                else:
                    self.store.finish(job, FAILED, now, None, bh.crash_error(job.retries, worker.id))
                    self._record_times(job)
        else:
            for job in held:  # a stopping worker that exits holding jobs lost them: the platform retries
                self.store.requeue_after_crash(job, now, (job.exec_s, None))
        if reason in _FAILED_REASONS:
            worker.state = UNHEALTHY  # shown until its replacement asks for a job (or idle_timeout passes)
            if reason == CRASHED and self._url is not None and self._live() < self.config.workers_max:
                replacement = self._spawn(now)
                if replacement is not None:
                    replacement.replaces = worker
        else:
            worker.state = STOPPED
            if reason == IDLE:
                self.counters.workers_stopped += 1
            self._retire(worker)
        self._dispatch(now)
        self._scale(now)

    def _retire(self, worker: ProcessWorker) -> None:
        if self.active.get(worker.id) is worker and not worker.alive:
            del self.active[worker.id]
            worker.state = STOPPED
            self.gone.append(worker)
            if len(self.gone) > GONE_RECORDS_MAX:
                self.gone.popleft()
                self.gone_dropped += 1

    def _live(self) -> int:
        return sum(1 for worker in self.active.values() if worker.live)

    def _scale(self, now: float) -> None:
        if self._url is None or self._closing:
            return
        for worker in list(self.active.values()):  # crashed workers nobody replaced stop showing after a while
            exited_at = worker.exited_at
            shown_long_enough = exited_at is not None and now - exited_at >= float(self.config.idle_timeout)
            if worker.state == UNHEALTHY and shown_long_enough:
                self._retire(worker)
        if now < self._next_start_at:
            return
        live = [worker for worker in self.active.values() if worker.live]
        initializing = sum(1 for worker in live if worker.state == INITIALIZING)
        count = workers_to_start(self.config, self.store, len(live), initializing, self._per_worker, now)
        for _ in range(count):
            if self._spawn(now) is None:
                return

    def _spawn(self, now: float) -> ProcessWorker | None:
        assert self._url is not None
        worker_id = "".join(self.id_rng.choice(self._id_chars) for _ in range(14))
        stem = f"{self.config.id}-{worker_id}"
        paths = (self.output_dir / f"{stem}.stdout.log", self.output_dir / f"{stem}.stderr.log")
        env = worker_env.worker_environment(
            self._base_env, url=self._url, endpoint_id=self.config.id, worker_id=worker_id, token=self.token,
            api_key=self._api_key, ping_interval_s=float(self.worker_config.ping_interval),
        )
        try:
            with open(paths[0], "wb") as stdout, open(paths[1], "wb") as stderr:
                process = supervisor().spawn(self._argv, cwd=self._cwd, env=env, stdout=stdout, stderr=stderr)
        except OSError as exc:
            self.start_failures += 1
            self._start_failures_in_row += 1
            self._next_start_at = now + START_BACKOFF_S[min(self._start_failures_in_row, len(START_BACKOFF_S)) - 1]
            log.error("endpoint %s: cannot start the worker command %s: %s", self.config.id, self._argv[0], exc)
            return None
        worker = ProcessWorker(worker_id, process, now, paths)
        self.active[worker_id] = worker
        self.started += 1
        self.counters.workers_started += 1
        return worker

    # --- reporting ----------------------------------------------------------------------------------
    def _workers(self) -> Iterator[ProcessWorker]:
        yield from self.gone
        yield from self.active.values()

    def real_workers_snapshot(self, origin: float) -> dict[str, object]:
        workers = [self._worker_record(worker, origin) for worker in self._workers()]
        late = {"results": 0, "progress": 0, "chunks": 0}
        for worker in self._workers():
            late["results"] += worker.late_results
            late["progress"] += worker.late_progress
            late["chunks"] += worker.late_chunks
        return {
            "label": self.label,
            "command": list(self.worker_config.command),
            "argv": list(self._argv),
            "cwd": self._cwd,
            "sdk_version": self.sdk_version,
            "sdk_version_source": self.sdk_source,
            "python": self.python,
            "output_dir": str(self.output_dir),
            "warnings": list(self.warnings),
            "started": self.started,
            "restarts": self.restarts,
            "crashes": self.crashes,
            "start_failures": self.start_failures,
            "lost_handouts": self.lost_handouts,
            "late": late,
            "timings_ms": {
                "cold_start": self.cold_start.snapshot(),
                "queue_delay": self.queue_delay.snapshot(),
                "execution": self.execution.snapshot(),
                "first_chunk": self.first_chunk.snapshot(),
                "chunk_gap": self.chunk_gap.snapshot(),
            },
            "workers": workers,
            "workers_dropped": self.gone_dropped,
        }

    @staticmethod
    def _ms(at: float | None, origin: float) -> float | None:
        return None if at is None else round((at - origin) * 1000, 3)

    def _worker_record(self, worker: ProcessWorker, origin: float) -> dict[str, object]:
        failed = worker.exit_reason in _FAILED_REASONS or worker.unhealthy is not None
        if failed and worker.tail is None and not worker.alive:
            worker.tail = _tail(worker.stderr_path) or _tail(worker.stdout_path)
        first = worker.first_request_at
        cold = None if first is None else round((first - worker.spawned_at) * 1000, 1)
        if worker.alive:
            state = "stopping" if worker.draining else (
                "unhealthy" if worker.unhealthy else ("running" if worker.jobs else (
                    "idle" if worker.state == UP else "initializing")))
        else:
            state = "stopped"
        return {
            "id": worker.id,
            "pid": worker.pid,
            "state": state,
            "spawnedAt": self._ms(worker.spawned_at, origin),
            "firstRequestAt": self._ms(worker.first_request_at, origin),
            "coldStartMs": cold,
            "exitedAt": self._ms(worker.exited_at, origin),
            "exitCode": worker.exit_code,
            "exitReason": worker.exit_reason,
            "jobsTaken": worker.taken,
            "jobsFinished": worker.finished,
            "jobsHeld": len(worker.jobs),
            "jobsHeldMax": worker.held_max,
            "chunks": worker.chunks,
            "lateResults": worker.late_results,
            "lateProgress": worker.late_progress,
            "lateChunks": worker.late_chunks,
            "pings": worker.pings,
            "lastPingAt": self._ms(worker.last_ping_at, origin),
            "sdkVersion": worker.sdk_version,
            "unhealthy": worker.unhealthy,
            "stdout": str(worker.stdout_path),
            "stderr": str(worker.stderr_path),
            "outputTail": worker.tail if failed else None,
        }
