"""Configuration of emulated endpoints: the shape shared by emulator YAML files and scenarios.

It lives outside the ``emulator`` package because it is an interface, not emulator code: the scenario
model embeds it and the emulator reads it, and neither imports the other.

A scenario's ``target.emulator`` section *is* an :class:`EndpointConfig`, so the same keys mean the same
thing whether the emulator is started by ``loadtest emulate --config FILE`` or embedded in a run.
Pure pydantic, no server imports. Defaults follow the documented platform
behaviour (``loadtest.contract``); every duration is configurable so tests can run fast.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadtest import contract
from loadtest.contract import Op
from loadtest.distributions import Distribution
from loadtest.fields import Duration, Probability, Size


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ScalerConfig(_Strict):
    """How the emulated platform adds workers, as RunPod offers.

    ``queue_delay``: add a worker when a job has waited longer than ``value`` seconds.
    ``request_count``: keep ``ceil((queued + running) / value)`` workers.
    """

    type: Literal["queue_delay", "request_count"] = "queue_delay"
    value: float = Field(default=4.0, gt=0)


WindowKind = Literal["fixed", "rolling"]
_Count = Annotated[int, Field(ge=0)]


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
    rate_overrides: dict[Op, _Count] = Field(default_factory=dict)
    """Requests per window, by operation name, replacing the documented figure (an operation without a
    documented limit, such as ``health``, gets one)."""
    concurrency_overrides: dict[Op, _Count] = Field(default_factory=dict)
    """Requests in flight, by operation name, replacing the documented figure."""
    rate_per_worker: dict[Op, _Count] = Field(default_factory=dict)
    """Dynamic rate limit, by operation: the window's budget becomes ``max(base, running workers * N)``
    (the documented rule; the platform's per-worker figure is not published, so it is off unless set)."""
    queue_size_limit: int | None = Field(default=None, ge=0)
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

    def rate_limit(self, op: Op) -> int | None:
        """Requests of ``op`` admitted per window (before ``rate_per_worker``); None: no rate limit."""
        if not self.rate:
            return None
        return self.rate_overrides.get(op, contract.OPERATIONS[op].rate_limit)

    def window_for(self, op: Op) -> float:
        """Length in seconds of ``op``'s rate window."""
        return float(self.window_overrides.get(op, self.window))

    def concurrency_limit(self, op: Op) -> int | None:
        """Requests of ``op`` admitted in flight at once; None: no concurrency limit."""
        if not self.concurrency:
            return None
        return self.concurrency_overrides.get(op, contract.OPERATIONS[op].concurrency_limit)


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

    retries: int = Field(default=contract.WEBHOOK_RETRIES, ge=0)
    retry_delay: Duration = contract.WEBHOOK_RETRY_DELAY_S
    timeout: Duration = 10.0


class EndpointConfig(_Strict):
    """One emulated endpoint: its workers, job behaviour and limits."""

    id: str = Field(default="emulated", pattern=r"^[A-Za-z0-9_.-]+$")
    """Endpoint id in ``/v2/{id}/...``."""
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable holding the key this endpoint demands; unset: any key is
    accepted, but one must be sent (as on the platform)."""
    workers_min: int = Field(default=0, ge=0)
    workers_max: int = Field(default=3, ge=1)
    concurrency: int = Field(default=1, ge=1)
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
    seed: int | None = None
    """Seed for every random draw of this endpoint (execution times, failures, cold starts)."""
    generator: bool = False
    """Every job streams, like RunPod's mock worker started with ``--generator``: each element of a list
    ``mock_return`` becomes one ``/stream`` chunk. A single job asks for this with ``"mock_stream": true``."""
    return_aggregate_stream: bool = False
    """A streaming job's final ``output`` is the list of its chunks (the worker SDK option of that name);
    unset, a streaming job finishes with no ``output``, as on the platform."""
    stream_default_wait: Duration = contract.STREAM_DEFAULT_WAIT_MS / 1000
    """How long ``/stream`` holds an empty answer when the request sets no ``?wait=``."""
    job_records_max: int = Field(default=1_000_000, ge=0)
    """Per-job ground-truth records kept (oldest dropped first, counted as dropped)."""
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)

    @model_validator(mode="after")
    def _workers_consistent(self) -> EndpointConfig:
        if self.workers_min > self.workers_max:
            raise ValueError(f"workers_min ({self.workers_min}) is greater than workers_max ({self.workers_max})")
        if self.recheck_when_full is not None and self.recheck_when_full <= 0:
            raise ValueError(f"recheck_when_full must be longer than 0 s (or unset), found {self.recheck_when_full:g}")
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
