"""What a simulated worker does with a job: how long it takes and how it ends.

Decided once, at submission (and again at each retry), from the endpoint's seeded random streams and the
job's input, so a seeded run draws the same execution times in the same order however the timing of the
run turns out. The input speaks the vocabulary of RunPod's mock worker (``runpod-workers/mock-worker``):

- ``mock_delay``: seconds the handler takes (else a draw from ``execution_time``);
- ``mock_return``: the output (default ``"Hello World!"``, as the mock worker);
- ``mock_error``: the handler raises; the job FAILS (a string value becomes the error message);
- ``mock_crash``: the worker process dies; the platform retries the job once on another worker;
- ``mock_refresh``: the worker restarts (a cold start) after the job; the output is wrapped as the worker
  SDK does, ``{"mock_return": ...}``;
- ``mock_progress``: ``{"updates": [...], "wait_time": s}``, progress updates shown as the running job's
  ``output``, one every ``wait_time`` seconds from the start (those falling after the end are dropped);
- streaming (endpoint ``generator: true`` or the job's ``"mock_stream": true``): each element of a list
  ``mock_return`` is one chunk on ``/stream``.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loadtest.contract import STREAM_CHUNK_MAX_BYTES
from loadtest.distributions import sampler
from loadtest.emulator_config import EndpointConfig

if TYPE_CHECKING:
    from loadtest.emulator.llm import Generation

DEFAULT_OUTPUT = "Hello World!"
MOCK_ERROR_MESSAGE = "Mock error"
RANDOM_FAILURE_MESSAGE = "Emulated failure (failure_rate)"

COMPLETE = 0
FAIL = 1
CRASH = 2


@dataclass(slots=True)
class Plan:
    """A job's behaviour beyond "succeed with the default output" (most jobs need no Plan at all)."""

    outcome: int = COMPLETE
    output: object = DEFAULT_OUTPUT
    error: str | None = None
    chunks: list[object] | None = None
    """Stream chunks, in order, each already within the 1 MB chunk limit; None: not a streaming job."""
    refresh: bool = False
    progress: list[object] | None = None
    """``mock_progress`` updates: shown as the output of the running job, one every ``progress_wait``."""
    progress_wait: float = 0.0
    generation: Generation | None = None
    """An OpenAI chat or completion request answered by the simulated language model: tokens one by one
    after the prefill (a failure or crash happens at the end of the prefill, before any token)."""


def handler_error(message: str, error_type: str = "<class 'Exception'>", worker_id: str = "") -> str:
    """The error string the worker SDK reports for a raising handler: JSON text, as on the platform."""
    return json.dumps(
        {
            "error_type": error_type,
            "error_message": message,
            "error_traceback": f"Traceback (most recent call last):\n{error_type}: {message}\n",
            "hostname": worker_id,
            "worker_id": worker_id,
            "runpod_version": "emulated",
        }
    )


def timeout_error(timeout_s: float) -> str:
    """The error of a job that ran past its execution timeout (TIMED_OUT)."""
    return f"job timed out: execution exceeded the {timeout_s * 1000:.0f} ms execution timeout"


def crash_error(retries: int, worker_id: str) -> str:
    """The error of a job failed because its worker died again after the platform's retries."""
    return f"job failed after {retries} retries: worker {worker_id} crashed"


def split_chunk(value: object, limit: int = STREAM_CHUNK_MAX_BYTES) -> list[object]:
    """One yielded value as one or more chunks of at most ``limit`` bytes of JSON.

    chosen: a value whose JSON is larger is sent as consecutive string pieces (a string is cut into
    pieces of itself; anything else into pieces of its JSON text), never splitting a UTF-8 character.
    """
    text = value if isinstance(value, str) else None
    encoded = json.dumps(value).encode()
    if len(encoded) <= limit:
        return [value]
    raw = (text if text is not None else encoded.decode()).encode()
    budget = max(1, limit // 2 - 2)  # JSON escaping can double a character; keep each piece safely under
    pieces: list[object] = []
    start = 0
    while start < len(raw):
        end = min(len(raw), start + budget)
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1  # do not cut inside a multi-byte character
        pieces.append(raw[start:end].decode())
        start = end
    return pieces


class Behaviour:
    """Draws plans for one endpoint's jobs from its configuration and seed."""

    def __init__(self, config: EndpointConfig) -> None:
        seed = config.seed
        self._exec_rng = random.Random(seed)
        self._failure_rng = random.Random(None if seed is None else seed + 1)
        self._cold_rng = random.Random(None if seed is None else seed + 2)
        self.id_rng = random.Random(None if seed is None else seed + 3)
        self._execution_time = sampler(config.execution_time, self._exec_rng)
        self._cold_start = sampler(config.cold_start, self._cold_rng)
        self._failure_rate = float(config.failure_rate)
        self._generator = config.generator
        self._aggregate = config.return_aggregate_stream
        self.simple = not self._generator and self._failure_rate == 0
        """Jobs without mock_ keys need no Plan: just an execution time (the fast path)."""

    def execution_time(self) -> float:
        """One draw of the execution time distribution."""
        return self._execution_time()

    def cold_start(self) -> float:
        """Seconds a newly started worker takes before its first job."""
        return self._cold_start()

    def plan(self, job_input: object, mock_hint: bool = True) -> tuple[float, Plan | None]:
        """Execution seconds and the plan for a job (None: completes with the default output).

        ``mock_hint`` False lets the caller skip the input scan when the raw body holds no ``mock_``.
        """
        failed = self._failure_rate > 0 and self._failure_rng.random() < self._failure_rate
        if not mock_hint or not isinstance(job_input, dict):
            seconds = self._execution_time()
            if self._generator:
                return seconds, self._stream_plan(DEFAULT_OUTPUT, failed, mock_return_set=False)
            return seconds, (Plan(FAIL, None, handler_error(RANDOM_FAILURE_MESSAGE)) if failed else None)
        return self._mock_plan(job_input, failed)

    def _mock_plan(self, job_input: dict, failed: bool) -> tuple[float, Plan | None]:
        seconds, plan = self._mock_outcome(job_input, failed)
        progress = job_input.get("mock_progress")
        if progress is None:
            return seconds, plan
        updates = progress.get("updates") if isinstance(progress, dict) else None
        wait = progress.get("wait_time", 0) if isinstance(progress, dict) else None
        if not isinstance(updates, list) or isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
            message = f"mock_progress must be {{'updates': [...], 'wait_time': seconds}}, found {progress!r}"
            return 0.0, Plan(FAIL, None, handler_error(message, "<class 'TypeError'>"))
        if plan is None:
            plan = Plan(COMPLETE, DEFAULT_OUTPUT)
        plan.progress = updates
        plan.progress_wait = float(wait)
        return seconds, plan

    def _mock_outcome(self, job_input: dict, failed: bool) -> tuple[float, Plan | None]:
        delay = job_input.get("mock_delay")
        if delay is None:
            seconds = self._execution_time()
        elif isinstance(delay, int | float) and not isinstance(delay, bool) and 0 <= delay < math.inf:
            seconds = float(delay)
        else:
            # The real mock worker's time.sleep() would raise: the job fails, as it would there.
            message = f"mock_delay must be a non-negative number of seconds, found {delay!r}"
            return 0.0, Plan(FAIL, None, handler_error(message, "<class 'TypeError'>"))
        if job_input.get("mock_crash"):
            return seconds, Plan(CRASH, None)
        mock_error = job_input.get("mock_error")
        if mock_error:
            return seconds, _mock_error_plan(mock_error)
        has_return = "mock_return" in job_input
        if self._generator or job_input.get("mock_stream") is True:
            return seconds, self._stream_plan(job_input.get("mock_return"), failed, mock_return_set=has_return)
        if failed:
            return seconds, Plan(FAIL, None, handler_error(RANDOM_FAILURE_MESSAGE))
        output = job_input["mock_return"] if has_return else DEFAULT_OUTPUT
        if job_input.get("mock_refresh"):
            return seconds, Plan(COMPLETE, {"mock_return": output}, refresh=True)
        if not has_return:
            return seconds, None
        return seconds, Plan(COMPLETE, output)

    def fate(self, job_input: object) -> Plan:
        """How a job whose timing is decided elsewhere (a language-model request) ends: it crashes
        (``mock_crash``), fails (``mock_error``, or a ``failure_rate`` draw) or completes."""
        failed = self._failure_rate > 0 and self._failure_rng.random() < self._failure_rate
        mocks = job_input if isinstance(job_input, dict) else {}
        if mocks.get("mock_crash"):
            return Plan(CRASH, None)
        if mocks.get("mock_error"):
            return _mock_error_plan(mocks["mock_error"])
        if failed:
            return Plan(FAIL, None, handler_error(RANDOM_FAILURE_MESSAGE))
        return Plan(COMPLETE, None)

    def _stream_plan(self, mock_return: object, failed: bool, mock_return_set: bool) -> Plan:
        if not mock_return_set:
            items: list[object] = [DEFAULT_OUTPUT]
        elif isinstance(mock_return, list):
            items = list(mock_return)
        else:
            items = [mock_return]  # chosen: a single value is one chunk
        chunks: list[object] = []
        for item in items:
            chunks.extend(split_chunk(item))
        if failed:
            return Plan(FAIL, None, handler_error(RANDOM_FAILURE_MESSAGE), chunks=chunks)
        return Plan(COMPLETE, list(items) if self._aggregate else None, chunks=chunks)


def _mock_error_plan(mock_error: object) -> Plan:
    """The job fails as the mock worker's raising handler: a string ``mock_error`` is the message."""
    message = mock_error if isinstance(mock_error, str) else MOCK_ERROR_MESSAGE
    return Plan(FAIL, None, handler_error(message))
