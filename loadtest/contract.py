"""The documented RunPod serverless queue API, stated once.

Every number and name the emulator enforces and the client respects or probes comes from here, so the
two sides can never disagree. Sources: ``shared/reference/runpod-endpoint-operations.txt`` (the
operations document) and ``runpod-api.md`` (sections 2-8). Where the real API is unconfirmed, the
choice made is marked ``# chosen:`` and documented in ``docs/emulator.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_BASE_URL = "https://api.runpod.ai/v2"
"""Where real endpoints live; ``{base}/{endpoint_id}/{operation}``."""

RATE_WINDOW_S = 10.0
"""Rate limits are documented as requests per 10-second window."""


class JobStatus(StrEnum):
    """Job states as the API reports them."""

    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


TERMINAL_STATUSES: frozenset[JobStatus] = frozenset(
    {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.TIMED_OUT}
)
"""States a job never leaves by itself (only ``/retry`` re-queues FAILED or TIMED_OUT)."""

RETRYABLE_STATUSES: frozenset[JobStatus] = frozenset({JobStatus.FAILED, JobStatus.TIMED_OUT})
"""The only states ``/retry`` accepts."""


def is_terminal(status: str) -> bool:
    """True when ``status`` (a raw string from a response) is a terminal job state."""
    return status in TERMINAL_STATUSES


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the queue API and its documented limits.

    ``rate_limit`` is requests per :data:`RATE_WINDOW_S`; ``concurrency_limit`` is requests in flight.
    ``None`` means the documents state no limit.
    """

    name: str
    path: str
    methods: tuple[str, ...]
    rate_limit: int | None
    concurrency_limit: int | None
    takes_job_id: bool = False
    description: str = ""

    def url_path(self, endpoint_id: str, job_id: str | None = None, suffix: str = "") -> str:
        """The path below the base URL, e.g. ``/abc123/status/JOB``."""
        path = f"/{endpoint_id}{self.path}"
        if self.takes_job_id:
            if not job_id:
                raise ValueError(f"operation {self.name!r} needs a job id")
            path = f"{path}/{job_id}"
        return path + suffix


class Op(StrEnum):
    """Names of the operations, as used in scenarios, statistics and reports."""

    RUN = "run"
    RUNSYNC = "runsync"
    STATUS = "status"
    STATUS_SYNC = "status-sync"
    STREAM = "stream"
    CANCEL = "cancel"
    RETRY = "retry"
    PURGE_QUEUE = "purge-queue"
    HEALTH = "health"
    OPENAI = "openai"
    REQUESTS = "requests"


# The documented limits table ("Rate limits and quotas"). Limits apply per endpoint and per operation.
# chosen: /status, /status-sync and /stream share one table row; each gets its own budget of that size.
OPERATIONS: dict[Op, Operation] = {
    Op.RUN: Operation(Op.RUN, "/run", ("POST",), 1000, 200, description="submit an asynchronous job"),
    Op.RUNSYNC: Operation(Op.RUNSYNC, "/runsync", ("POST",), 2000, 400, description="submit and wait"),
    Op.STATUS: Operation(
        Op.STATUS, "/status", ("GET", "POST"), 2000, 400, takes_job_id=True, description="job state"
    ),
    Op.STATUS_SYNC: Operation(
        Op.STATUS_SYNC, "/status-sync", ("GET", "POST"), 2000, 400, takes_job_id=True,
        description="long-poll job state",
    ),
    Op.STREAM: Operation(
        Op.STREAM, "/stream", ("GET", "POST"), 2000, 400, takes_job_id=True,
        description="drain streamed chunks",
    ),
    Op.CANCEL: Operation(Op.CANCEL, "/cancel", ("POST",), 100, 20, takes_job_id=True, description="cancel"),
    Op.RETRY: Operation(
        Op.RETRY, "/retry", ("POST",), None, None, takes_job_id=True, description="re-queue a failed job"
    ),
    Op.PURGE_QUEUE: Operation(Op.PURGE_QUEUE, "/purge-queue", ("POST",), 2, None, description="drop queue"),
    Op.HEALTH: Operation(Op.HEALTH, "/health", ("GET",), None, None, description="job and worker counts"),
    # chosen: GET too, for /openai/v1/models (the table lists POST); one budget for every /openai/* route.
    Op.OPENAI: Operation(
        Op.OPENAI, "/openai", ("POST", "GET"), 2000, 400, description="OpenAI-compatible route"
    ),
    Op.REQUESTS: Operation(Op.REQUESTS, "/requests", ("GET",), 10, 2, description="request listing"),
}

# Queue-size rule: /run and /runsync get 429 when the queue exceeds BOTH of these.
QUEUE_SIZE_LIMIT_FLOOR = 50
QUEUE_SIZE_PER_MAX_WORKER = 500
QUEUE_SIZE_LIMITED_OPS: frozenset[Op] = frozenset({Op.RUN, Op.RUNSYNC})


def queue_size_limit(workers_max: int) -> int:
    """Queue length above which submissions are refused with 429 (both conditions must hold)."""
    return max(QUEUE_SIZE_LIMIT_FLOOR, workers_max * QUEUE_SIZE_PER_MAX_WORKER)


MB = 1024 * 1024  # chosen: "MB" in the documents is read as MiB.
PAYLOAD_LIMIT_BYTES: dict[Op, int] = {Op.RUN: 10 * MB, Op.RUNSYNC: 20 * MB}
STREAM_CHUNK_MAX_BYTES = 1 * MB
"""No single streamed chunk is larger; larger outputs are split."""

RESULT_RETENTION_S: dict[Op, float] = {Op.RUN: 30 * 60.0, Op.RUNSYNC: 60.0}
"""How long a finished job stays readable, by how it was submitted."""

# Long-poll waits (milliseconds, as on the wire).
WAIT_MIN_MS = 1_000
WAIT_MAX_MS = 300_000
RUNSYNC_DEFAULT_WAIT_MS = 90_000
STREAM_DEFAULT_WAIT_MS = 10_000
STATUS_SYNC_DEFAULT_WAIT_MS = 90_000  # chosen: same as runsync (undocumented)

# Per-job policy (milliseconds).
EXECUTION_TIMEOUT_DEFAULT_MS = 600_000
EXECUTION_TIMEOUT_MIN_MS = 5_000
TTL_DEFAULT_MS = 86_400_000
TTL_MIN_MS = 10_000
POLICY_MAX_MS = 7 * 24 * 3600 * 1000

# Webhooks: one attempt, then this many retries this far apart on a non-2xx answer.
WEBHOOK_RETRIES = 2
WEBHOOK_RETRY_DELAY_S = 10.0

SYNC_JOB_ID_PREFIX = "sync-"

HEALTH_JOB_KEYS: tuple[str, ...] = ("completed", "failed", "inProgress", "inQueue", "retried")
HEALTH_WORKER_KEYS: tuple[str, ...] = ("idle", "initializing", "ready", "running", "throttled", "unhealthy")

RETRY_AFTER_HEADER = "Retry-After"


# --- The OpenAI-compatible routes (``/openai/*``), as RunPod's vLLM worker serves them ---------------------


class OpenAIRoute(StrEnum):
    """The routes below ``/v2/{endpoint_id}/openai``; the value is also the job input's ``openai_route``.

    Clients use ``{base}/{endpoint_id}/openai/v1`` as the OpenAI base URL (runpod-api.md 2.11)."""

    CHAT_COMPLETIONS = "/v1/chat/completions"
    COMPLETIONS = "/v1/completions"
    MODELS = "/v1/models"


OPENAI_ROUTE_METHODS: dict[OpenAIRoute, str] = {
    OpenAIRoute.CHAT_COMPLETIONS: "POST", OpenAIRoute.COMPLETIONS: "POST", OpenAIRoute.MODELS: "GET",
}
OPENAI_ROUTE_KEY = "openai_route"
OPENAI_INPUT_KEY = "openai_input"
"""The platform turns an ``/openai/*`` request into a job whose input is ``{"openai_route": route,
"openai_input": request body}`` (worker-vllm ``JobInput``)."""
COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""``max_tokens`` of a ``/v1/completions`` request that sets none (OpenAI's and vLLM's default; a chat
request without it may fill the model's context)."""
SSE_CONTENT_TYPE = "text/event-stream"
SSE_DONE = "[DONE]"
"""A streamed answer is server-sent events, ``data: {chunk}`` each, ended by ``data: [DONE]``."""


# --- The worker side: how the official ``runpod`` worker SDK talks to the queue (SDK 1.12.0 source) ---


class WorkerRoute(StrEnum):
    """The worker protocol's requests; each is the path segment after ``/v2/{endpoint_id}/``.

    The SDK derives the batch and stop URLs from the take URL by replacing ``/job-take/``, so the take
    path must contain that segment; the others are the emulator's choice, mirroring the platform."""

    TAKE = "job-take"
    TAKE_BATCH = "job-take-batch"
    STOP = "job-stop"
    DONE = "job-done"
    STREAM = "job-stream"
    PING = "ping"


WORKER_POLL_CLIENT_TIMEOUT_S = 90.0
"""The SDK gives up on a job-take or job-stop request after this long (``asyncio.wait_for``) and asks
again; a server's long-poll hold must stay below it."""
WORKER_PING_INTERVAL_MIN_S = 1
"""``RUNPOD_PING_INTERVAL`` is integer-divided by 1000: below 1 s the SDK's ping process dies."""
RESULT_MAX_BYTES = 20 * MB
"""A worker's result (job-done body) above this is refused with 400; the client then sees the job
COMPLETED without output (runpod-python #309)."""


def operation(name: str) -> Operation:
    """Look up an operation by its name (``"run"``, ``"status-sync"``, ...)."""
    return OPERATIONS[Op(name)]
