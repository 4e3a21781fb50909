"""One emulated endpoint at run time: its store, workers, limits, behaviour and accounting, wired together.

The HTTP layer (:mod:`loadtest.emulator.app`) validates requests and calls into this; this module owns
job creation (ids, policy, plan), long-poll waiting and the periodic housekeeping tick. Before anything
reads or changes a job, :meth:`EndpointRuntime.catch_up` applies every simulated event already due, in
simulated-time order (:mod:`loadtest.emulator.simtime`): a request handled late by a busy loop sees, and
acts on, the state at the moment it is handled, never an older one.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from loadtest import contract
from loadtest.contract import OPENAI_INPUT_KEY, OPENAI_ROUTE_KEY, Op, OpenAIRoute
from loadtest.emulator.admission import Admission
from loadtest.emulator.behaviour import COMPLETE, Behaviour, Plan
from loadtest.emulator.groundtruth import Counters
from loadtest.emulator.jobstore import Job, JobStore
from loadtest.emulator.llm import LanguageModel, LLMTruth, models_object
from loadtest.emulator.openai_requests import CompletionRequest
from loadtest.emulator.process_pool import ProcessWorkers
from loadtest.emulator.simtime import SimulatedTime
from loadtest.emulator.webhooks import WebhookSender
from loadtest.emulator.worker_env import WorkerSetupError
from loadtest.emulator.workers import SimulatedWorkers, WorkerPool
from loadtest.emulator_config import EndpointConfig

TICK_S = 0.05
"""Housekeeping period: expiry sweep and time-based scaling."""

DEFAULT_TTL_S = contract.TTL_DEFAULT_MS / 1000


class ConfigurationError(ValueError):
    """The endpoint cannot start as configured (e.g. its API key variable is unset)."""


class EndpointRuntime:
    """Everything one endpoint id serves."""

    def __init__(
        self, config: EndpointConfig, loop: asyncio.AbstractEventLoop, webhooks: WebhookSender,
        worker_output_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.loop = loop
        self.webhooks = webhooks
        self.api_key: str | None = None
        if config.api_key_env:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ConfigurationError(
                    f"endpoint {config.id!r}: api_key_env names {config.api_key_env!r}, which is not set"
                )
            self.api_key = key
        self.counters = Counters()
        self.store = JobStore(self.counters, config.job_records_max)
        self.behaviour = Behaviour(config)
        self.admission = Admission(config)
        self.clock = SimulatedTime(loop)
        """Pending simulated events and the simulated present (``clock.now``)."""
        self.language_model = LanguageModel(config.llm, config.seed)
        """What simulated workers answer OpenAI chat and completion requests with."""
        self.llm_truth = LLMTruth(config.llm.records_max)
        self.pool: WorkerPool
        if config.worker is not None:
            try:
                self.pool = ProcessWorkers(
                    config, self.store, loop, self.counters, self.behaviour.id_rng, worker_output_dir
                )
            except WorkerSetupError as exc:
                raise ConfigurationError(f"endpoint {config.id!r}: {exc}") from None
        else:
            self.pool = SimulatedWorkers(
                config, self.store, self.behaviour, self.clock, self.counters, self.replan
            )
        self.admission.running_workers = lambda: self.pool.health_workers()["running"]  # type: ignore[method-assign]
        self.store.on_release = self.pool.release
        self.store.on_terminal = self._on_terminal
        rng = random.Random() if config.seed is None else random.Random(config.seed + 4)
        hex_digits = f"{rng.getrandbits(80):020x}"
        self._id_prefix = f"{hex_digits[:8]}-{hex_digits[8:12]}-4{hex_digits[13:16]}-a{hex_digits[17:20]}-"
        self._id_counter = itertools.count(1)
        self._retention = {
            Op.RUN.value: float(config.retention.run),
            Op.RUNSYNC.value: float(config.retention.runsync),
            Op.OPENAI.value: float(config.retention.runsync),
        }
        self._exec_timeout = float(config.execution_timeout)
        self._tick_handle: asyncio.TimerHandle | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.pool.start()
        self._tick_handle = self.loop.call_later(TICK_S, self._tick)

    def listening(self, url: str) -> None:
        """The emulator serves at ``url`` (a loopback address workers can reach)."""
        self.pool.listening(url)

    async def aclose(self) -> None:
        """Stop the tick and the workers (real worker processes are stopped and waited for), forget jobs."""
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        await self.pool.aclose()
        self.clock.close()
        self.store.clear()

    def catch_up(self) -> float:
        """Apply every simulated event due by now, in time order; the present moment (``clock.now``).

        Called before each client request is handled, and before any report of the state."""
        return self.clock.advance(self.loop.time())

    def _tick(self) -> None:
        now = self.catch_up()
        self.store.sweep(now)
        self.pool.tick(now)
        self._tick_handle = self.loop.call_at(self.loop.time() + TICK_S, self._tick)

    # --- jobs --------------------------------------------------------------------------------------
    def new_job_id(self, via: str) -> str:
        """A UUID-shaped id, unique for the life of the process; ``sync-`` for synchronous submissions."""
        if via == "run":
            return f"{self._id_prefix}{next(self._id_counter):012x}-e1"
        return f"{contract.SYNC_JOB_ID_PREFIX}{self._id_prefix}{next(self._id_counter):012x}-e1"

    def submit(
        self, via: str, body: bytes, job_input: Any, webhook: str | None = None,
        execution_timeout_ms: int | None = None, ttl_ms: int | None = None, low_priority: bool = False,
        plan: tuple[float, Plan | None] | None = None,
    ) -> Job:
        """Create a job from an already validated request and put it in the queue.

        ``plan`` (execution seconds and plan) is drawn from the input unless given (OpenAI requests:
        :meth:`openai_plan`). The job enters the queue at ``clock.now``: the caller has applied the events
        already due (:meth:`catch_up`; the HTTP layer does for every request).
        """
        now = self.clock.now
        behaviour = self.behaviour
        if plan is not None:
            exec_s, job_plan = plan
        elif behaviour.simple and b"mock_" not in body:
            exec_s, job_plan = behaviour.execution_time(), None
        else:
            exec_s, job_plan = behaviour.plan(job_input, b"mock_" in body)
        ttl = DEFAULT_TTL_S if ttl_ms is None else ttl_ms / 1000
        job = Job(
            self.new_job_id(via), via, body, now, exec_s, job_plan,
            self._exec_timeout if execution_timeout_ms is None else execution_timeout_ms / 1000,
            now + ttl, self._retention[via], webhook, low_priority,
        )
        self.store.add(job, ttl)
        self.pool.notify_queued(now)
        return job

    def replan(self, job: Job) -> tuple[float, Plan | None]:
        """A fresh plan for a job run again (``/retry`` or after a crash), from its original input."""
        body = job.body or b"{}"
        job_input = self.job_input(job)
        if job.via == Op.OPENAI.value and isinstance(job_input, dict):
            if self.config.worker is not None:
                return job.exec_s, None  # a real worker answers it again by itself
            return self.openai_plan(OpenAIRoute(job_input[OPENAI_ROUTE_KEY]), job_input[OPENAI_INPUT_KEY])
        return self.behaviour.plan(job_input, b"mock_" in body)

    def openai_plan(
        self, route: OpenAIRoute, openai_input: Any, request: CompletionRequest | None = None
    ) -> tuple[float, Plan | None]:
        """What a simulated worker does with an OpenAI request: list the models at once, or answer with the
        language model (``request``: the body already validated; a failure or crash, from the mock keys
        or ``failure_rate``, comes at the end of the prefill)."""
        if route == OpenAIRoute.MODELS:
            return 0.0, Plan(COMPLETE, models_object(self.language_model.models, int(time.time())))
        if request is None:
            request = self.language_model.parse(route, openai_input)
        plan = self.behaviour.fate(openai_input)
        plan.generation = self.language_model.generation(request)
        return plan.generation.prefill_s, plan

    @staticmethod
    def job_input(job: Job) -> Any:
        if not job.body:
            return None
        try:
            return json.loads(job.body).get("input")
        except (ValueError, AttributeError):
            return None

    def _on_terminal(self, job: Job) -> None:
        if job.plan is not None and job.plan.generation is not None:
            self.llm_truth.record_generation(job, job.plan.generation)
        if job.webhook:
            payload = job.view()
            payload["input"] = self.job_input(job)
            payload["webhook"] = job.webhook
            self.webhooks.send(job.webhook, json.dumps(payload).encode(), self.config.webhook, self.counters)

    async def wait_for_change(self, job: Job, deadline: float) -> None:
        """Return at the job's next change (status, chunk, expiry) or at ``deadline``, whichever first,
        with every event due by then applied."""
        loop = self.loop
        future = loop.create_future()
        if job.waiters is None:
            job.waiters = [future]
        else:
            job.waiters.append(future)
        handle = loop.call_at(deadline, _wake, future)
        try:
            await future
        finally:
            handle.cancel()
        self.catch_up()

    # --- reporting ---------------------------------------------------------------------------------
    def health(self) -> dict[str, dict[str, int]]:
        return {"jobs": self.store.health_jobs(), "workers": self.pool.health_workers()}


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
