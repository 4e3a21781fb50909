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
from loadtest.fields import Concurrency, Count, Duration, Finite, Integer, Probability, Retries, Size, Workers


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


class ScalerConfig(_Strict):
    """How the emulated platform adds workers, as RunPod offers.

    ``queue_delay``: add a worker when a job has waited longer than ``value`` seconds.
    ``request_count``: keep ``ceil((queued + running) / value)`` workers.
    """

    type: Literal["queue_delay", "request_count"] = "queue_delay"
    value: Finite = Field(default=4.0, gt=0)


class LimitsConfig(_Strict):
    """Which documented limits the emulator enforces; each can be switched off or overridden."""

    rate: bool = True
    concurrency: bool = True
    queue_size: bool = True
    payload: bool = True
    window: Duration = contract.RATE_WINDOW_S
    """Length of the rate-limit window; shorten it in tests (the per-window counts stay as documented
    unless overridden)."""
    rate_overrides: dict[Op, Count] = Field(default_factory=dict)
    """Requests per window, by operation name, replacing the documented figure."""
    concurrency_overrides: dict[Op, Concurrency] = Field(default_factory=dict)
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
    job_records_max: Count = 1_000_000
    """Per-job ground-truth records kept (oldest dropped first, counted as dropped)."""
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)

    @model_validator(mode="after")
    def _workers_consistent(self) -> EndpointConfig:
        if self.workers_min > self.workers_max:
            raise ValueError(f"workers_min ({self.workers_min}) is greater than workers_max ({self.workers_max})")
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
