"""Configuration of emulated endpoints: the shape shared by emulator YAML files and scenarios.

It lives outside the ``emulator`` package because it is an interface, not emulator code: the scenario
model embeds it and the emulator reads it, and neither imports the other.

A scenario's ``target.emulator`` section *is* an :class:`EndpointConfig`, so the same keys mean the same
thing whether the emulator is started by ``loadtest emulate --config FILE`` or embedded in a run.
Pure pydantic, no server imports. Defaults follow the documented platform
behaviour (``loadtest.contract``); every duration is configurable so tests can run fast.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loadtest import contract
from loadtest.contract import Op
from loadtest.distributions import CountDistribution, Distribution
from loadtest.fields import (
    MAX_CONCURRENCY,
    MAX_COUNT,
    Concurrency,
    Count,
    Duration,
    Finite,
    Integer,
    Probability,
    Retries,
    Size,
    Workers,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


class ScalerConfig(_Strict):
    """How the emulated platform adds workers, as RunPod offers.

    ``queue_delay``: add a worker when a job has waited longer than ``value`` seconds.
    ``request_count``: keep ``ceil((queued + running) / value)`` workers.
    """

    type: Literal["queue_delay", "request_count"] = "queue_delay"
    value: Finite = Field(default=4.0, gt=0)


WindowKind = Literal["fixed", "rolling"]
_InFlight = Annotated[int, Field(ge=0, le=MAX_CONCURRENCY)]
"""Requests in flight allowed by an override (0 refuses every request)."""


class LimitsConfig(_Strict):
    """Which documented limits the emulator enforces; each can be switched off or overridden.

    Every figure here is enforced exactly (docs/emulator.md, "Limits"), so a discovery run can be checked
    against it: at most ``rate`` admitted requests in any window of the operation, at most ``concurrency``
    admitted requests in flight.
    """

    rate: bool = True
    concurrency: bool = True
    queue_size: bool = True
    payload: bool = True
    window: Duration = contract.RATE_WINDOW_S
    """Length of the rate-limit window of every operation without a ``window_overrides`` entry; shorten it
    in tests (the per-window counts stay as documented unless overridden)."""
    window_kind: WindowKind = "fixed"
    """``fixed``: a window opens with the first request that finds none open and admits ``rate`` requests
    until it ends ``window`` later; ``rolling`` (sliding log): a request is admitted while fewer than
    ``rate`` requests were admitted in the ``window`` seconds before it."""
    window_overrides: dict[Op, Duration] = Field(default_factory=dict)
    """Window length, by operation name, replacing ``window`` for that operation."""
    rate_overrides: dict[Op, Count] = Field(default_factory=dict)
    """Requests per window, by operation name, replacing the documented figure (an operation without a
    documented limit, such as ``health``, gets one)."""
    concurrency_overrides: dict[Op, _InFlight] = Field(default_factory=dict)
    """Requests in flight, by operation name, replacing the documented figure."""
    rate_per_worker: dict[Op, Count] = Field(default_factory=dict)
    """Dynamic rate limit, by operation: the window's budget becomes ``max(base, running workers * N)``
    (the documented rule; the platform's per-worker figure is not published, so it is off unless set)."""
    queue_size_limit: Count | None = None
    """Queue length above which ``/run`` and ``/runsync`` get 429; unset: the documented rule
    (``max(50, workers_max * 500)``)."""
    payload_overrides: dict[Op, Size] = Field(default_factory=dict)
    """Largest accepted request body, by operation name (``run``, ``runsync``), replacing the documented
    10 MB / 20 MB."""

    @model_validator(mode="after")
    def _windows_positive(self) -> LimitsConfig:
        if self.window <= 0:
            raise ValueError(f"window must be longer than 0 s, found {self.window:g}")
        for op, seconds in self.window_overrides.items():
            if seconds <= 0:
                raise ValueError(f"window_overrides.{op.value} must be longer than 0 s, found {seconds:g}")
        return self


class RetentionConfig(_Strict):
    """How long finished jobs stay readable (the documented 30 min / 60 s by default)."""

    run: Duration = contract.RESULT_RETENTION_S[Op.RUN]
    runsync: Duration = contract.RESULT_RETENTION_S[Op.RUNSYNC]


class PolicyConfig(_Strict):
    """Accepted bounds of a job's ``policy`` values (documented: ttl >= 10 s, executionTimeout >= 5 s,
    both <= 7 days); lower the minimums in tests so TTL and timeouts can be exercised quickly."""

    ttl_min: Duration = contract.TTL_MIN_MS / 1000
    execution_timeout_min: Duration = contract.EXECUTION_TIMEOUT_MIN_MS / 1000
    max: Duration = contract.POLICY_MAX_MS / 1000


class WebhookConfig(_Strict):
    """Webhook delivery: one attempt plus ``retries`` more, ``retry_delay`` apart, on a non-2xx answer."""

    retries: Retries = contract.WEBHOOK_RETRIES
    retry_delay: Duration = contract.WEBHOOK_RETRY_DELAY_S
    timeout: Duration = 10.0


class StreamBatchingConfig(_Strict):
    """How RunPod's vLLM worker groups a stream's events into yields (worker-vllm's ``MIN_BATCH_SIZE``,
    ``BATCH_SIZE_GROWTH_FACTOR``, ``DEFAULT_BATCH_SIZE``; its defaults 1, 3, 50 are these): the first yield
    holds ``min`` events, each next one ``growth`` times more, at most ``size``; the events of a yield
    reach the client together, when its last one is produced."""

    size: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 50
    min: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 1
    growth: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)] = 3.0


class LanguageModelConfig(_Strict):
    """The language model simulated workers serve on the OpenAI-compatible routes (``/openai/v1/...``).

    A request is one job: queue delay, a worker (cold start), then the model's prefill (the first token
    comes ``prefill_overhead + prompt tokens * prefill_per_token`` after the worker took the job) and one
    token per ``decode_time`` draw after that, each slowed by the other sequences the worker runs at once:
    ``decode * (1 + batch_slowdown * (sequences in flight - 1))`` (continuous batching; the endpoint's
    ``concurrency`` is how many sequences one worker runs). Prompt tokens: ``ceil(characters / 4)`` of each
    text (docs/emulator.md, "Language model").
    """

    models: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=lambda: ["emulated-model"], min_length=1
    )
    """Model names served (``/openai/v1/models``); a request naming another is refused (400). A request
    without ``model`` gets the first."""
    context_length: Annotated[int, Field(ge=2, le=MAX_COUNT)] = 8192
    """Most tokens of prompt plus answer; a request asking for more is refused (400), as vLLM does."""
    output_tokens: CountDistribution = Field(default_factory=lambda: CountDistribution(kind="constant", value=128))
    """How long an answer would be if nothing cut it short (where the model stops by itself); the request's
    ``max_tokens`` caps it (``finish_reason: length``), ``min_tokens`` raises it, ``ignore_eos: true``
    makes it exactly ``max_tokens``."""
    prefill_overhead: Duration = 0.005
    """The fixed part of the time from taking a request to its first token."""
    prefill_per_token: Duration = 0.0002
    """Prefill time per prompt token (0.2 ms: 5,000 prompt tokens per second)."""
    decode_time: Distribution = Field(default_factory=lambda: Distribution(kind="constant", value=0.02))
    """Time to produce each token after the first, for a sequence running alone on its worker."""
    batch_slowdown: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0.05
    """How much each other sequence in flight on the same worker slows a token (0: not at all)."""
    stream_batching: StreamBatchingConfig | None = None
    """Unset (the default): every token's event is sent the moment it is produced. Set (``{}`` for the
    vLLM worker's defaults): events are sent in growing batches, as RunPod's vLLM worker yields them."""
    records_max: Count = 10_000
    """Per-request records (token counts and every token's emit time) kept in the ground truth; the oldest
    are dropped first (and counted). Summaries cover every request."""

    @field_validator("models")
    @classmethod
    def _unique_models(cls, models: list[str]) -> list[str]:
        repeated = sorted({name for name in models if models.count(name) > 1})
        if repeated:
            raise ValueError(f"model names must be unique; repeated: {', '.join(repeated)}")
        return models


WORKER_ENV_RESERVED = re.compile(
    r"^(RUNPOD_WEBHOOK_\w*|RUNPOD_POD_ID|RUNPOD_AI_API_KEY|RUNPOD_ENDPOINT_ID|RUNPOD_PING_INTERVAL"
    r"|RUNPOD_REALTIME_PORT|RUNPOD_REALTIME_CONCURRENCY)$"
)
"""Variables the emulator sets itself for every worker (its URLs, id, per-run key); the user's ``env``
cannot override them."""

SIMULATED_ONLY_SETTINGS: tuple[str, ...] = (
    "concurrency", "cold_start", "execution_time", "failure_rate", "generator", "return_aggregate_stream",
    "stream_interval", "recheck_when_full", "llm",
)
"""Endpoint settings that describe simulated workers; with a real worker its own code decides them."""

_REAL_WORKER_EQUIVALENT: dict[str, str] = {
    "concurrency": "the handler's concurrency_modifier decides how many jobs a worker takes",
    "cold_start": "the cold start is measured: process start to its first job request",
    "execution_time": "the handler's own run time is measured",
    "failure_rate": "jobs fail when the handler raises or returns an error",
    "generator": "a generator handler streams",
    "return_aggregate_stream": "set it in runpod.serverless.start({...}) in the worker",
    "stream_interval": "the handler yields when it yields",
    "recheck_when_full": "a real SDK worker re-checks for work by itself (once a second when full)",
    "llm": "the handler answers the OpenAI routes itself (its job input holds openai_route and openai_input)",
}


class WorkerConfig(_Strict):
    """The user's own worker: an unmodified ``runpod.serverless.start(...)`` script, run as processes that
    take jobs from the emulator over the worker protocol (instead of simulated workers)."""

    command: list[str] = Field(min_length=1)
    """The worker's argv, e.g. ``[python, -u, handler.py]``. A first word ``python`` or ``python3`` means
    the interpreter loadtest itself runs on; give a path to use another environment's interpreter."""
    cwd: str | None = None
    """Working directory of the worker processes. Relative: to the directory of the file that names it
    (the scenario, or the ``loadtest emulate --config`` file); unset: that directory."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for the worker. The worker inherits loadtest's own environment, so keep
    secrets there rather than here (this section is copied into the run directory)."""
    take_hold: Duration = 20.0
    """How long a job-take request is held open when no job is queued (long-poll), below the SDK's 90 s."""
    stop_hold: Duration = 20.0
    """How long a job-stop request (the per-job cancel channel) is held open when nothing is to stop."""
    ping_interval: Duration = 10.0
    """``RUNPOD_PING_INTERVAL``: whole seconds, at least 1 (pings are recorded, never trusted for liveness)."""
    stop_grace: Duration = 2.0
    """After SIGTERM, how long a stopping worker may take to exit before its process group is SIGKILLed."""
    start_timeout: Duration = 120.0
    """A worker that has not asked for a job this long after it was started is killed (counted as a start
    failure)."""
    system_checks: bool = False
    """Run the SDK's start-up fitness checks (memory, disk, a TCP connect to 8.8.8.8, GPU); off by default
    (``RUNPOD_SKIP_AUTO_SYSTEM_CHECKS``/``RUNPOD_SKIP_GPU_CHECK``), since an offline machine fails them."""
    log_level: str | None = None
    """``RUNPOD_LOG_LEVEL`` for the SDK; unset: the value in ``env`` or loadtest's environment, else INFO
    (the SDK's own default, DEBUG, logs every output and chunk, which costs CPU under load)."""

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"env: {name!r} is not a valid environment variable name")
            if WORKER_ENV_RESERVED.match(name):
                raise ValueError(
                    f"env: {name} is set by the emulator for every worker (its URLs, id and per-run key) "
                    "and cannot be overridden"
                )
        return env

    @model_validator(mode="after")
    def _timings(self) -> WorkerConfig:
        for name in ("take_hold", "stop_hold"):
            value = float(getattr(self, name))
            if not 0 < value < contract.WORKER_POLL_CLIENT_TIMEOUT_S:
                raise ValueError(
                    f"{name} must be more than 0 and below {contract.WORKER_POLL_CLIENT_TIMEOUT_S:g} s (the SDK "
                    f"abandons a job request after {contract.WORKER_POLL_CLIENT_TIMEOUT_S:g} s), found {value:g} s"
                )
        ping = float(self.ping_interval)
        if ping < contract.WORKER_PING_INTERVAL_MIN_S or ping != int(ping):
            raise ValueError(
                f"ping_interval must be a whole number of seconds, at least {contract.WORKER_PING_INTERVAL_MIN_S} "
                f"(the SDK drops the fraction, and below 1 s its ping process dies), found {ping:g} s"
            )
        if float(self.start_timeout) <= 0:
            raise ValueError("start_timeout must be more than 0")
        return self

    def resolved(self, base_dir: Path) -> WorkerConfig:
        """A copy whose ``cwd`` is absolute: relative paths (and an unset cwd) resolved against ``base_dir``."""
        cwd = Path(self.cwd).expanduser() if self.cwd else Path()
        return self.model_copy(update={"cwd": str((base_dir / cwd).resolve())})

    def describe(self) -> str:
        """The command as a user would type it."""
        return " ".join(_shell_word(word) for word in self.command)


def _shell_word(word: str) -> str:
    return word if word and re.fullmatch(r"[\w@%+=:,./-]+", word) else "'" + word.replace("'", "'\\''") + "'"


class EndpointConfig(_Strict):
    """One emulated endpoint: its workers, job behaviour and limits."""

    id: str = Field(default="emulated", pattern=r"^[A-Za-z0-9_.-]+$")
    """Endpoint id in ``/v2/{id}/...``."""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable holding the key this endpoint demands; unset: any key is
    accepted, but one must be sent (as on the platform)."""
    workers_min: Workers = 0
    workers_max: Annotated[Workers, Field(ge=1)] = 3
    concurrency: Concurrency = 1
    """Jobs one worker runs at once."""
    idle_timeout: Duration = 5.0
    """An idle worker above ``workers_min`` is stopped after this long."""
    cold_start: Distribution = Field(default_factory=lambda: Distribution(kind="constant", value=1.0))
    """Time from a worker being started to its first job."""
    scaler: ScalerConfig = Field(default_factory=ScalerConfig)
    execution_time: Distribution = Field(default_factory=lambda: Distribution(kind="constant", value=0.1))
    """Handler time of a job whose input sets no ``mock_delay``."""
    failure_rate: Probability = 0.0
    """Probability that a job fails (FAILED with an error string)."""
    execution_timeout: Duration = contract.EXECUTION_TIMEOUT_DEFAULT_MS / 1000
    """Endpoint-level execution timeout; a job's ``policy.executionTimeout`` overrides it."""
    stream_interval: Duration | None = None
    """Time between streamed chunks of a generator job; unset: its execution time spread evenly."""
    recheck_when_full: Duration | None = None
    """A worker whose ``concurrency`` slots are all taken looks for new work only every this long, counted
    from the moment it filled up, so a freed slot waits for the next re-check: ``1s`` reproduces the
    official SDK worker (its job loop sleeps 1 s while full). Unset (the default): a freed slot takes the
    next queued job at once, the ideal M/M/c server that queueing theory describes."""
    seed: Integer | None = None
    """Seed for every random draw of this endpoint (execution times, failures, cold starts)."""
    generator: bool = False
    """Every job streams, like RunPod's mock worker started with ``--generator``: each element of a list
    ``mock_return`` becomes one ``/stream`` chunk. A single job asks for this with ``"mock_stream": true``."""
    return_aggregate_stream: bool = False
    """A streaming job's final ``output`` is the list of its chunks (the worker SDK option of that name);
    unset, a streaming job finishes with no ``output``, as on the platform."""
    stream_default_wait: Duration = contract.STREAM_DEFAULT_WAIT_MS / 1000
    """How long ``/stream`` holds an empty answer when the request sets no ``?wait=``."""
    llm: LanguageModelConfig = Field(default_factory=LanguageModelConfig)
    """The language model behind the OpenAI-compatible routes (``/openai/v1/...``) of simulated workers."""
    job_records_max: Count = 1_000_000
    """Per-job ground-truth records kept (oldest dropped first, counted as dropped)."""
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    worker: WorkerConfig | None = None
    """Run the user's own worker (a RunPod handler script) instead of simulated workers; the settings that
    describe simulated workers (``SIMULATED_ONLY_SETTINGS``) are then refused."""

    @model_validator(mode="after")
    def _workers_consistent(self) -> EndpointConfig:
        if self.workers_min > self.workers_max:
            raise ValueError(f"workers_min ({self.workers_min}) is greater than workers_max ({self.workers_max})")
        if self.recheck_when_full is not None and self.recheck_when_full <= 0:
            raise ValueError(f"recheck_when_full must be longer than 0 s (or unset), found {self.recheck_when_full:g}")
        if self.worker is not None:
            simulated = [  # a default value is harmless: a dumped config must load again
                name for name in SIMULATED_ONLY_SETTINGS
                if getattr(self, name) != type(self).model_fields[name].get_default(call_default_factory=True)
            ]
            if simulated:
                reasons = "; ".join(f"{name}: {_REAL_WORKER_EQUIVALENT[name]}" for name in simulated)
                one = len(simulated) == 1
                raise ValueError(
                    f"{', '.join(simulated)} describe{'s' if one else ''} simulated workers, but this endpoint runs "
                    f"a real worker (worker.command); remove {'it' if one else 'them'} ({reasons})"
                )
        return self


class EmulatorConfig(_Strict):
    """A whole emulator: where it listens and the endpoints it serves (``loadtest emulate --config``)."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    """0 picks a free port; the chosen base URL is printed at start."""
    endpoints: list[EndpointConfig] = Field(default_factory=lambda: [EndpointConfig()])

    @model_validator(mode="after")
    def _unique_ids(self) -> EmulatorConfig:
        ids = [endpoint.id for endpoint in self.endpoints]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"endpoint ids must be unique; repeated: {', '.join(duplicates)}")
        return self
