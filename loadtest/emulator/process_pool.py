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

The pool is the composition of four parts, each in a module of its own:

- :class:`~loadtest.emulator.worker_command.WorkerCommand`: the command, resolved once (argv, cwd,
  environment, output directory, the runpod SDK it imports);
- :class:`~loadtest.emulator.job_handout.JobHandout`: jobs between the queue and the workers (hand-out,
  take-away, results);
- :class:`~loadtest.emulator.worker_supervision.WorkerProcesses`: the processes' life (start, watch,
  scale, stop, replace);
- :class:`~loadtest.emulator.worker_process.ProcessWorker`: one process and what is known about it, and
  :class:`~loadtest.emulator.worker_timings.WorkerTimings`: the timings the ground truth reports.

The worker routes call the pool's methods below ("worker requests"); the endpoint calls the
:class:`~loadtest.emulator.workers.WorkerPool` interface.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from pathlib import Path

from loadtest.emulator.groundtruth import Counters
from loadtest.emulator.job_handout import JobHandout, Poll
from loadtest.emulator.jobstore import Job, JobStore
from loadtest.emulator.worker_command import WorkerCommand
from loadtest.emulator.worker_process import ProcessWorker
from loadtest.emulator.worker_supervision import WorkerProcesses
from loadtest.emulator.worker_timings import WorkerTimings
from loadtest.emulator.workers import WorkerPool
from loadtest.emulator_config import EndpointConfig, WorkerConfig

log = logging.getLogger(__name__)


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
        self.command = WorkerCommand(config, output_dir, environ)
        self.config = config
        self.worker_config: WorkerConfig = self.command.worker_config
        self.token = self.command.token
        """Authenticates the worker routes: in every URL the workers are given, never logged."""
        self.store = store
        self.loop = loop
        self.timings = WorkerTimings()
        self.handout = JobHandout(store, loop, self.timings)
        self.processes = WorkerProcesses(config, self.command, self.handout, self.timings, counters, id_rng)

    @property
    def label(self) -> str:
        """How a report names the run's worker: ``real worker: python -u handler.py, runpod SDK 1.12.0``."""
        return self.command.label

    # --- the WorkerPool interface -------------------------------------------------------------------
    def start(self) -> None:
        log.info("endpoint %s: %s; worker output in %s", self.config.id, self.label, self.command.output_dir)
        for warning in self.command.warnings:
            log.warning("endpoint %s: %s", self.config.id, warning)

    def listening(self, url: str) -> None:
        self.processes.url = url
        self.processes.scale(self.loop.time())

    async def warm_up(self) -> None:
        await self.processes.warm_up()

    def notify_queued(self, now: float | None = None) -> None:
        at = self.loop.time() if now is None else now
        if self.handout.takes:
            self.handout.dispatch(at)
        if self.store.in_queue:
            self.processes.scale(at)

    def release(self, job: Job) -> None:
        worker = self.processes.active.get(job.worker_id or "")
        if worker is None or worker.jobs.get(job.id) is not job:
            return
        self.handout.take_away(worker, job, self.loop.time())

    def tick(self, now: float) -> None:
        self.processes.watch(now)
        if self.handout.takes and self.store.in_queue:
            self.handout.dispatch(now)
        self.processes.scale(now)

    def health_workers(self) -> dict[str, int]:
        return self.processes.health_workers()

    def total_workers(self) -> int:
        return self.processes.total_workers()

    def close(self) -> None:
        """Kill every worker group at once (``aclose`` is the graceful way) and wake every held poll."""
        self.handout.closing = True
        self.processes.kill_all()
        self.handout.close()
        self.command.remove_private_files()

    async def aclose(self) -> None:
        """SIGTERM every worker (its held polls answered so it exits at once), SIGKILL what is left after
        ``stop_grace``, and wait until every process of every group is gone."""
        self.handout.closing = True
        await self.processes.stop_all(self.loop)
        self.close()

    # --- worker requests (called by the routes) -----------------------------------------------------
    def worker(self, worker_id: str) -> ProcessWorker | None:
        """The running worker with this id (None: unknown, or already gone)."""
        return self.processes.worker(worker_id)

    def seen(self, worker: ProcessWorker, now: float) -> None:
        """The worker made a job-take or job-stop request: the first one ends its cold start."""
        self.processes.seen(worker, now)

    def poll_hold(self, worker: ProcessWorker, hold: float) -> float:
        """How long to hold this worker's poll when there is nothing for it."""
        return self.handout.poll_hold(worker, hold)

    def take_now(self, worker: ProcessWorker, count: int, now: float) -> list[Job]:
        """Jobs for a take that just arrived: what is left once the takes already waiting were served."""
        return self.handout.take_now(worker, count, now)

    def wait_take(self, worker: ProcessWorker, count: int, request: object) -> Poll:
        return self.handout.wait_take(worker, count, request)

    def forget_take(self, poll: Poll) -> None:
        """A held take was answered (or abandoned): it no longer waits in line."""
        self.handout.forget_take(poll)

    def handout_failed(self, worker: ProcessWorker, jobs: list[Job]) -> None:
        """The jobs could not be written to the worker (it hung up): back to the queue."""
        now = self.loop.time()
        self.handout.handout_failed(worker, jobs, now)
        self.notify_queued(now)

    def stop_ids(self, worker: ProcessWorker) -> list[str]:
        return self.handout.stop_ids(worker)

    def wait_stop(self, worker: ProcessWorker) -> asyncio.Future[object]:
        return self.handout.wait_stop(worker)

    def progress(self, worker: ProcessWorker, job_id: str, value: object) -> None:
        self.handout.progress(worker, job_id, value)

    def chunk(self, worker: ProcessWorker, job_id: str, value: object, now: float) -> None:
        self.handout.chunk(worker, job_id, value, now)

    def result(self, worker: ProcessWorker, job_id: str, body: object, is_stream: bool, now: float) -> bool:
        """A final job-done post; False when the job is no longer this worker's (a late result, ignored). A
        ``stopPod`` in it (``refresh_worker``) restarts the worker, late or not."""
        payload = body if isinstance(body, dict) else {"output": body}
        mine = self.handout.result(worker, job_id, payload, is_stream, now)
        if payload.get("stopPod"):
            self.processes.refresh(worker, now)
        return mine

    def oversized_result(self, worker: ProcessWorker, job_id: str, now: float) -> None:
        """A job-done body over the result limit: the platform answers 400 and the job shows COMPLETED
        without output (runpod-python #309)."""
        self.handout.oversized_result(worker, job_id, now)

    def ping(self, worker_id: str, query: Mapping[str, str], now: float) -> bool:
        """A heartbeat (recorded, never trusted for liveness); False for an unknown worker."""
        worker = self.processes.active.get(worker_id)
        if worker is None:
            return False
        worker.pings += 1
        worker.last_ping_at = now
        version = query.get("runpod_version")
        if version:
            worker.sdk_version = version
            self.command.sdk_from_ping(version)
        jobs = query.get("job_id")
        worker.ping_jobs = jobs.split(",") if jobs else []
        if query.get("status") == "unhealthy":
            self.processes.unhealthy(worker, query.get("check", ""), query.get("reason", ""))
        return True

    # --- reporting ----------------------------------------------------------------------------------
    def real_workers_snapshot(self, origin: float) -> dict[str, object]:
        processes = self.processes
        workers = [worker.record(origin) for worker in processes.workers()]
        late = {"results": 0, "progress": 0, "chunks": 0}
        for worker in processes.workers():
            late["results"] += worker.late_results
            late["progress"] += worker.late_progress
            late["chunks"] += worker.late_chunks
        return {
            **self.command.snapshot(),
            "started": processes.started,
            "restarts": processes.restarts,
            "crashes": processes.crashes,
            "start_failures": processes.start_failures,
            "lost_handouts": self.handout.lost_handouts,
            "late": late,
            "timings_ms": self.timings.snapshot(),
            "workers": workers,
            "workers_dropped": processes.gone_dropped,
        }
