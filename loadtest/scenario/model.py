"""The scenario language as pydantic v2 models: what a scenario file may say, with defaults.

Every model forbids unknown keys so a typo is an error, never silently ignored. Quantities use the
shared unit types (``loadtest.fields``) and operation names come from ``loadtest.contract.Op``; limits
are read from the contract, never restated. Cross-field checks that need the whole scenario (weights,
stages against ``duration``, rates against documented limits, thresholds against what is measured) live
in :mod:`loadtest.scenario.semantics`, so one file's mistakes are all reported together.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypeAliasType

from loadtest import contract
from loadtest.contract import Op
from loadtest.distributions import Distribution
from loadtest.emulator_config import EndpointConfig
from loadtest.fields import (
    MAX_TOKENS,
    Concurrency,
    Count,
    Duration,
    Finite,
    GeneratedNumber,
    Integer,
    Multiplier,
    Probability,
    Rate,
    Retries,
    Size,
    Users,
    Weight,
)
from loadtest.flowkinds import FLOW_KINDS as FLOW_KIND_TABLE_BY_NAME
from loadtest.flowkinds import KIND_NAMES
from loadtest.units import MAX_DURATION_S

__all__ = [
    "FLOW_KINDS",
    "FLOW_OPERATIONS",
    "BackoffSettings",
    "Baseline",
    "BytesGen",
    "ChoiceGen",
    "ClosedLoad",
    "ClosedStage",
    "CounterGen",
    "EmulatorTarget",
    "EndpointTarget",
    "FileGen",
    "Flow",
    "GeneratorNode",
    "Guards",
    "HealthFlow",
    "JobPolicy",
    "Load",
    "LongPollFlow",
    "NumberGen",
    "On429",
    "OpenLoad",
    "OpenStage",
    "OperationLimit",
    "Payload",
    "PollSettings",
    "PurgeQueueFlow",
    "RateLimits",
    "RatePhase",
    "RetryFailedFlow",
    "RunCancelFlow",
    "RunPollFlow",
    "RunStreamFlow",
    "RunsyncFlow",
    "Scenario",
    "StatusSyncFlow",
    "Target",
    "Template",
    "TextGen",
    "Threshold",
    "TokensGen",
]


class _Strict(BaseModel):
    """Base of every scenario model: unknown keys are errors, defaults are validated too, and no number
    may be infinite or NaN."""

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True, allow_inf_nan=False)


_WAIT_MIN_S = contract.WAIT_MIN_MS / 1000
_WAIT_MAX_S = contract.WAIT_MAX_MS / 1000


def _check_wait(value: float) -> float:
    """Long-poll waits must lie in the documented range (the API refuses others)."""
    if not _WAIT_MIN_S <= value <= _WAIT_MAX_S:
        raise ValueError(f"a wait must be between {_WAIT_MIN_S:g}s and {_WAIT_MAX_S:g}s (documented), found {value:g}s")
    return value


_Wait = Annotated[Duration, AfterValidator(_check_wait)]
"""How long the target may hold one call (``?wait=``)."""


# --------------------------------------------------------------------------------------------- target

# Editors see the file before interpolation, so the schema also accepts text holding ``${VAR}``.
_INTERPOLATED_ID: dict[str, Any] = {"pattern": r"^([A-Za-z0-9_.-]+|.*\$\{.+\}.*)$"}
_INTERPOLATED_URL: dict[str, Any] = {"pattern": r"^(https?://|.*\$\{.+\}).*$"}


class EmulatorTarget(_Strict):
    """Run against the built-in emulator, started for the run on a free loopback port."""

    emulator: EndpointConfig = Field(default_factory=EndpointConfig)
    """The emulated endpoint's configuration (same keys as ``loadtest emulate --config``)."""


class EndpointTarget(_Strict):
    """Run against a real endpoint. The API key is read from the environment, never from the file."""

    endpoint_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", json_schema_extra=_INTERPOLATED_ID)
    """The endpoint id (``https://api.runpod.ai/v2/{endpoint_id}/run``); ``${RUNPOD_ENDPOINT_ID}`` works."""
    base_url: str = Field(default=contract.DEFAULT_BASE_URL, pattern=r"^https?://", json_schema_extra=_INTERPOLATED_URL)
    api_key_env: str = Field(default="RUNPOD_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """Name of the environment variable that holds the API key."""
    max_jobs: Annotated[Count, Field(ge=1)] = 1000
    """Spending guard: the run submits at most this many jobs in total, then stops submitting."""
    api_key: SkipJsonSchema[str | None] = Field(default=None, exclude=True, repr=False)

    @field_validator("api_key")
    @classmethod
    def _refuse_literal_key(cls, value: str | None) -> None:
        if value is not None:
            raise ValueError(
                "a literal API key does not belong in a scenario file (files get committed and copied); "
                "put the key in an environment variable and name it with api_key_env (default RUNPOD_API_KEY)"
            )
        return None


def _target_kind(data: Any) -> str:
    if isinstance(data, BaseModel):
        return "endpoint" if isinstance(data, EndpointTarget) else "emulator"
    if isinstance(data, dict) and "emulator" not in data and (
        {"endpoint_id", "base_url", "api_key_env", "api_key", "max_jobs"} & set(data)
    ):
        return "endpoint"
    return "emulator"


Target = Annotated[
    Annotated[EmulatorTarget, Tag("emulator")] | Annotated[EndpointTarget, Tag("endpoint")],
    Discriminator(_target_kind),
]
"""Either ``{emulator: {...}}`` or ``{endpoint_id, base_url, api_key_env, max_jobs}``."""


# ----------------------------------------------------------------------------------------------- load


class ClosedStage(_Strict):
    """Hold (after ramping at ``spawn_rate``) ``users`` users for ``duration``."""

    duration: Duration = Field(gt=0)
    users: Users


class ClosedLoad(_Strict):
    """Closed model: a fixed population of users, each running one flow after another."""

    model: Literal["closed"] = "closed"
    users: Annotated[Users, Field(ge=1)] = 1
    """Users when there are no ``stages``."""
    spawn_rate: Rate | None = Field(default=None, gt=0)
    """Users started (or stopped) per second; unset: all at once."""
    stages: list[ClosedStage] = Field(default_factory=list)
    """Successive user counts; when given they replace ``users``."""
    think_time: Distribution = Field(default_factory=lambda: Distribution(kind="constant", value=0.0))
    """Pause of a user between two flows."""

    @property
    def peak_users(self) -> int:
        return max((stage.users for stage in self.stages), default=self.users)

    def users_at(self, elapsed: float) -> int | None:
        """Target user count ``elapsed`` seconds into the run; ``None`` after the last stage."""
        if not self.stages:
            return self.users
        start = 0.0
        for stage in self.stages:
            if elapsed < start + stage.duration:
                return stage.users
            start += stage.duration
        return None


class OpenStage(_Strict):
    """Arrivals for ``duration``, written one of three ways:

    - ``{duration, rate}``: a constant rate;
    - ``{duration, from, to}``: a straight line from ``from`` to ``to`` (Artillery's arrivalRate/rampTo);
    - ``{duration, to}`` (or ``{duration, rate, ramp: true}``): a straight line from the rate the previous
      stage ended at (0 for the first) to ``to`` (``rate``).
    """

    duration: Duration = Field(gt=0)
    rate: Rate | None = None
    """A constant rate for the stage (with ``ramp: true``: the rate reached at its end)."""
    ramp: bool = False
    from_: Rate | None = Field(default=None, alias="from")
    """The rate a ramp starts from (default: where the previous stage ended)."""
    to: Rate | None = None
    """The rate a ramp reaches at the end of the stage."""

    @model_validator(mode="after")
    def _one_form(self) -> OpenStage:
        if self.rate is not None and (self.from_ is not None or self.to is not None):
            raise ValueError("give rate (a constant rate) or from/to (a ramp), not both")
        if self.from_ is not None and self.to is None:
            raise ValueError("a ramp needs to as well as from, e.g. {duration: 30s, from: 1/s, to: 10/s}")
        if self.rate is None and self.to is None:
            raise ValueError("a stage needs rate (constant, e.g. {duration: 1m, rate: 5/s}) or to (a ramp, "
                             "e.g. {duration: 30s, from: 0.5/s, to: 4/s})")
        if self.ramp and self.rate is None:
            raise ValueError("ramp: true goes with rate; a stage with from/to is a ramp already")
        return self

    def rates(self, previous: float) -> tuple[float, float]:
        """(start, end) arrivals per second, given the rate the previous stage ended at."""
        if self.to is not None:
            return (previous if self.from_ is None else self.from_), self.to
        rate = float(self.rate or 0.0)
        return (previous if self.ramp else rate), rate


class RatePhase(NamedTuple):
    """One open-model stage as numbers: ``duration`` seconds going linearly from ``start`` to ``end``
    arrivals per second (equal for a constant stage)."""

    duration: float
    start: float
    end: float


def _arrival_kind(data: Any) -> str:
    return "stages" if isinstance(data, list) else "rate"


ArrivalRate = Annotated[
    Annotated[Rate, Tag("rate")] | Annotated[list[OpenStage], Tag("stages")],
    Discriminator(_arrival_kind),
]
"""A single rate, or a list of stages (a list is always read as stages, so a mistake inside a stage is
reported as that mistake alone)."""


class OpenLoad(_Strict):
    """Open model: flows start at a given arrival rate whatever the target's answer time."""

    model: Literal["open"] = "open"
    arrival_rate: ArrivalRate
    """A single rate (``50/s``, ``600/min``) for the whole ``duration``, or a list of stages."""
    arrivals: Literal["poisson", "constant"] = "poisson"
    """Spacing of arrivals: exponential gaps (``poisson``) or evenly spaced (``constant``)."""
    max_in_flight: Concurrency = 1000
    """Flows running at once; an arrival beyond it is dropped and counted."""

    @property
    def stages(self) -> list[OpenStage]:
        """The arrival rate's stages (none for a single rate)."""
        if isinstance(self.arrival_rate, list):
            return self.arrival_rate
        return []

    def rate_phases(self) -> list[RatePhase]:
        """Each stage as a :class:`RatePhase` (none for a single rate), ramps resolved against the rate
        the previous stage ended at."""
        phases, previous = [], 0.0
        for stage in self.stages:
            start, end = stage.rates(previous)
            phases.append(RatePhase(stage.duration, start, end))
            previous = end
        return phases

    @property
    def peak_rate(self) -> float:
        """Highest arrival rate per second at any moment."""
        if isinstance(self.arrival_rate, list):
            return max((max(phase.start, phase.end) for phase in self.rate_phases()), default=0.0)
        return float(self.arrival_rate)

    def rate_at(self, elapsed: float) -> float | None:
        """Arrivals per second ``elapsed`` seconds into the run; ``None`` after the last stage."""
        if not isinstance(self.arrival_rate, list):
            return float(self.arrival_rate)
        begin = 0.0
        for phase in self.rate_phases():
            if elapsed < begin + phase.duration:
                return phase.start + (phase.end - phase.start) * (elapsed - begin) / phase.duration
            begin += phase.duration
        return None


def _load_kind(data: Any) -> str:
    if isinstance(data, BaseModel):
        return "open" if isinstance(data, OpenLoad) else "closed"
    if isinstance(data, dict):
        model = data.get("model")
        if model in ("open", "closed"):
            return model
        if "arrival_rate" in data or "max_in_flight" in data or "arrivals" in data:
            return "open"
    return "closed"


Load = Annotated[
    Annotated[ClosedLoad, Tag("closed")] | Annotated[OpenLoad, Tag("open")],
    Discriminator(_load_kind),
]


# -------------------------------------------------------------------------------------------- payload


MAX_GENERATED_CHARS: Final = 4 * max(contract.PAYLOAD_LIMIT_BYTES.values())
"""Largest single generated value (``$text``, ``$bytes``, all of a ``$tokens`` list): well past every
documented body limit (to observe rejections), yet small enough that a typo (``10GB`` for ``10MB``) is an
error rather than an out-of-memory crash."""


def check_generated_size(value: int) -> int:
    """Refuse a generated value above :data:`MAX_GENERATED_CHARS`, saying why the bound exists."""
    if value > MAX_GENERATED_CHARS:
        raise ValueError(
            f"{value} characters is more than the {MAX_GENERATED_CHARS // contract.MB} MiB a generator may make "
            "(4 x the largest documented request body); is the unit right?"
        )
    return value


GeneratedChars = Annotated[int, Field(ge=0), AfterValidator(check_generated_size)]
"""Characters of one generated value, 0 to :data:`MAX_GENERATED_CHARS`."""


class TextGen(_Strict):
    """Random text: words of lowercase letters separated by spaces, exactly ``length`` characters."""

    length: GeneratedChars


class ChoiceGen(_Strict):
    """One of ``values``, at random (with optional ``weights``) or in turn (``order: cycle``)."""

    values: list[Any] = Field(min_length=1)
    weights: list[Weight] | None = None
    order: Literal["random", "cycle"] = "random"

    @model_validator(mode="after")
    def _weights_match(self) -> ChoiceGen:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(f"{len(self.weights)} weights for {len(self.values)} values; give one per value")
            if sum(self.weights) <= 0:
                raise ValueError("weights must not all be zero")
        return self


class CounterGen(_Strict):
    """A number that grows by ``step`` per job; with ``format`` a string such as ``"job-{n}"``."""

    start: Integer = 0
    step: Integer = 1
    format: str | None = None

    @field_validator("format")
    @classmethod
    def _has_placeholder(cls, value: str | None) -> str | None:
        if value is not None and "{n}" not in value:
            raise ValueError(f"a counter format needs the placeholder {{n}}, found {value!r}")
        return value


class BytesGen(_Strict):
    """A string of exactly ``size`` random base64-alphabet characters, to study payload size limits."""

    size: Size

    @field_validator("size")
    @classmethod
    def _not_huge(cls, value: int) -> int:
        return check_generated_size(value)


class TokensGen(_Strict):
    """A list of ``count`` tokens, each a word of ``length`` random lowercase letters, every one after the
    first with a leading space (as a language model's tokens are): what a streamed answer is made of.
    Given as ``mock_return`` to a streaming worker, each token is one chunk."""

    count: Annotated[int, Field(ge=0, le=MAX_TOKENS)]
    length: Annotated[int, Field(ge=1, le=100)] = 4

    @model_validator(mode="after")
    def _not_huge(self) -> TokensGen:
        check_generated_size(self.count * (self.length + 1))
        return self


class NumberGen(_Strict):
    """A uniform random number between ``min`` and ``max`` (whole numbers with ``integer: true``)."""

    min: GeneratedNumber = 0.0
    max: GeneratedNumber = 1.0
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> NumberGen:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        if self.integer and math.ceil(self.min) > math.floor(self.max):
            raise ValueError(f"no whole number lies between {self.min:g} and {self.max:g}")
        return self


class FileGen(_Strict):
    """Values from a file (path relative to the scenario file): one per line of a ``.txt`` file, one
    JSON value per line of a ``.jsonl`` file, or the items of a JSON list in a ``.json`` file."""

    path: str = Field(min_length=1)
    order: Literal["random", "cycle"] = "random"


def _scalar_as(key: str):
    """Accept ``$text: 200`` as ``$text: {length: 200}`` (the one obvious parameter)."""

    def convert(data: Any) -> Any:
        return data if isinstance(data, dict | BaseModel) else {key: data}

    return BeforeValidator(convert)


def _list_as_values(data: Any) -> Any:
    return {"values": data} if isinstance(data, list) else data


TextSpec = Annotated[TextGen, _scalar_as("length")]
ChoiceSpec = Annotated[ChoiceGen, BeforeValidator(_list_as_values)]
CounterSpec = Annotated[CounterGen, _scalar_as("start")]
BytesSpec = Annotated[BytesGen, _scalar_as("size")]
TokensSpec = Annotated[TokensGen, _scalar_as("count")]
FileSpec = Annotated[FileGen, _scalar_as("path")]


class GeneratorNode(_Strict):
    """A value made fresh for every job. Written as a mapping with exactly one ``$`` key, e.g.
    ``{$text: 200}``, ``{$choice: [a, b]}``, ``{$counter: {format: "job-{n}"}}``, ``{$bytes: 1MB}``,
    ``{$number: {min: 1, max: 6, integer: true}}``, ``{$file: prompts.txt}``, ``{$uuid: true}``,
    ``{$tokens: 50}``."""

    text: TextSpec | None = Field(default=None, alias="$text")
    choice: ChoiceSpec | None = Field(default=None, alias="$choice")
    counter: CounterSpec | None = Field(default=None, alias="$counter")
    bytes: BytesSpec | None = Field(default=None, alias="$bytes")
    tokens: TokensSpec | None = Field(default=None, alias="$tokens")
    number: NumberGen | None = Field(default=None, alias="$number")
    file: FileSpec | None = Field(default=None, alias="$file")
    uuid: Literal[True] | None = Field(default=None, alias="$uuid")

    @model_validator(mode="after")
    def _exactly_one(self) -> GeneratorNode:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            names = ", ".join("$" + name for name in type(self).model_fields)
            raise ValueError(f"a generator has exactly one of {names}; found {len(given)}")
        return self

    @property
    def kind(self) -> str:
        """The generator's name without ``$`` (``text``, ``choice``, ...)."""
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)

    @property
    def spec(self) -> Any:
        return getattr(self, self.kind)


def _template_kind(data: Any) -> str:
    if isinstance(data, GeneratorNode):
        return "generator"
    if isinstance(data, dict):
        return "generator" if any(isinstance(key, str) and key.startswith("$") for key in data) else "mapping"
    if isinstance(data, list):
        return "list"
    return "scalar"


Template = TypeAliasType(  # type: ignore[misc]  # mypy cannot resolve this recursive alias
    "Template",
    Annotated[
        Annotated[GeneratorNode, Tag("generator")]
        | Annotated[dict[str, "Template"], Tag("mapping")]  # type: ignore[misc]  # mypy: recursive TypeAliasType
        | Annotated[list["Template"], Tag("list")]  # type: ignore[misc]
        | Annotated[str | int | float | bool | None, Tag("scalar")],
        Discriminator(_template_kind),
    ],
)
"""A JSON value in which any ``{$generator: ...}`` mapping is replaced by a fresh value per job."""


class JobPolicy(_Strict):
    """The per-job ``policy`` object the API accepts (sent only when set)."""

    execution_timeout: Duration | None = Field(default=None, gt=0)
    """``policy.executionTimeout``: the longest a job may run (documented bounds: 5 s to 7 days; the
    emulator's ``policy`` section can lower the minimum, and the check follows the target)."""
    ttl: Duration | None = Field(default=None, gt=0)
    """``policy.ttl``: the longest a job may live, queued or running (documented: 10 s to 7 days)."""
    low_priority: bool | None = None
    """``policy.lowPriority``: the job does not trigger scale-up."""

    def to_wire(self) -> dict[str, Any]:
        """The JSON object as the API expects it (milliseconds, camelCase)."""
        wire: dict[str, Any] = {}
        if self.execution_timeout is not None:
            wire["executionTimeout"] = round(self.execution_timeout * 1000)
        if self.ttl is not None:
            wire["ttl"] = round(self.ttl * 1000)
        if self.low_priority is not None:
            wire["lowPriority"] = self.low_priority
        return wire


class Payload(_Strict):
    """What each submitted job carries: its ``input`` (with generators) and optional ``webhook``/``policy``.

    Mock-worker keys (``mock_delay``, ``mock_return``, ``mock_error``, ``mock_crash``, ...) are ordinary
    input keys: they pass through unchanged and tell the emulator (or RunPod's mock worker) what to do.
    """

    input: dict[str, Template] = Field(default_factory=dict)
    webhook: str | None = Field(default=None, pattern=r"^https?://", json_schema_extra=_INTERPOLATED_URL)
    policy: JobPolicy | None = None


# ----------------------------------------------------------------------------------------------- mix


class PollSettings(_Strict):
    """How a flow polls ``/status`` until the job is terminal."""

    interval: Duration = Field(default=1.0, gt=0)
    """Pause before the first poll and between polls."""
    backoff: Multiplier = 1.0
    """Multiplier applied to the interval after each poll (1 = fixed interval)."""
    max_interval: Duration | None = Field(default=None, gt=0)
    """Ceiling for the growing interval."""
    max_wait: Duration = Field(default=300.0, gt=0)
    """Give up (and count a timeout) when the job is not terminal after this long."""

    def intervals(self):
        """The successive pauses (an endless generator; the caller stops at ``max_wait``)."""
        interval = self.interval
        ceiling = self.max_interval if self.max_interval is not None else MAX_DURATION_S
        while True:
            yield interval
            interval = min(interval * self.backoff, ceiling)


class _FlowBase(_Strict):
    name: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    """Label used in statistics and threshold scopes; defaults to the flow kind (``run_poll``, ...),
    numbered when a kind appears more than once."""
    weight: Weight = 1.0
    """Relative share of the mix."""
    payload: Payload | None = None
    """Replaces the scenario's ``payload`` for this flow."""


class RunPollFlow(_FlowBase):
    """``/run`` then ``/status`` until terminal."""

    flow: Literal["run_poll"]
    poll: PollSettings = Field(default_factory=PollSettings)


class LongPollFlow(_FlowBase):
    """``/run``, then a long-poll (each call waiting up to ``wait``) until the job is terminal; each kind
    names its own ``flow`` and default ``wait``."""

    flow: str
    wait: _Wait
    max_wait: Duration = Field(default=300.0, gt=0)
    """Give up (and count a timeout) when the job is not terminal after this long."""


class RunsyncFlow(_FlowBase):
    """``/runsync`` (waiting up to ``wait``); a job still running afterwards is polled with ``poll``."""

    flow: Literal["runsync"]
    wait: _Wait = contract.RUNSYNC_DEFAULT_WAIT_MS / 1000
    poll: PollSettings = Field(default_factory=PollSettings)


class RunStreamFlow(LongPollFlow):
    """``/run`` then ``/stream`` (each call waiting up to ``wait``) until the job is terminal."""

    flow: Literal["run_stream"]
    wait: _Wait = contract.STREAM_DEFAULT_WAIT_MS / 1000


class RunCancelFlow(_FlowBase):
    """``/run``, ``/cancel`` after ``cancel_after``, then ``/status`` to confirm the cancellation."""

    flow: Literal["run_cancel"]
    cancel_after: Distribution = Field(default_factory=lambda: Distribution(kind="constant", value=0.5))
    confirm: bool = True
    """Poll ``/status`` after cancelling until the job is terminal."""
    poll: PollSettings = Field(default_factory=PollSettings)


class RetryFailedFlow(_FlowBase):
    """``/run`` a job, poll it; when it ends FAILED or TIMED_OUT, ``/retry`` it (up to ``retries``
    times) and poll again. Give the payload a ``mock_error`` (or the emulator a ``failure_rate``)."""

    flow: Literal["retry_failed"]
    retries: Annotated[Retries, Field(ge=1)] = 1
    retry_after: Duration = 0.0
    """Pause between seeing the failure and calling ``/retry``."""
    poll: PollSettings = Field(default_factory=PollSettings)


class StatusSyncFlow(LongPollFlow):
    """``/run`` then ``/status-sync`` (long-poll, each call waiting up to ``wait``) until terminal."""

    flow: Literal["status_sync"]
    wait: _Wait = contract.STATUS_SYNC_DEFAULT_WAIT_MS / 1000


class HealthFlow(_FlowBase):
    """``/health`` sampled every ``every`` by one background sampler, outside the weighted mix.

    ``weight`` defaults to 0; above 0, ``/health`` calls are also sent as weighted traffic."""

    flow: Literal["health"]
    weight: Weight = 0.0
    every: Duration = Field(default=1.0, gt=0)


class PurgeQueueFlow(_FlowBase):
    """``/purge-queue``: drops queued jobs (mind its tiny documented rate limit)."""

    flow: Literal["purge_queue"]


Flow = Annotated[
    RunPollFlow | RunsyncFlow | RunStreamFlow | RunCancelFlow | RetryFailedFlow | StatusSyncFlow | HealthFlow
    | PurgeQueueFlow,
    Field(discriminator="flow"),
]

FLOW_KINDS: tuple[str, ...] = KIND_NAMES
FLOW_OPERATIONS: dict[str, tuple[Op, ...]] = {name: kind.operations for name, kind in FLOW_KIND_TABLE_BY_NAME.items()}
"""Operations each flow kind calls (for scope checks, rate budgets and reports); from ``loadtest.flowkinds``."""
SUBMITTING_OPS: dict[str, Op | None] = {name: kind.submits for name, kind in FLOW_KIND_TABLE_BY_NAME.items()}
"""The operation by which each flow kind submits its job (``None`` for health and purge-queue)."""


# --------------------------------------------------------------------------------------- rate limits


class OperationLimit(_Strict):
    """Client-side limits for one operation, replacing the documented figures."""

    rate: Rate | None = Field(default=None, gt=0)
    """Requests per second."""
    concurrency: Concurrency | None = None
    """Requests in flight."""


class BackoffSettings(_Strict):
    """Exponential backoff: ``initial``, times ``multiplier`` per retry, capped at ``max``, ± ``jitter``."""

    initial: Duration = Field(default=0.5, gt=0)
    max: Duration = Field(default=30.0, gt=0)
    multiplier: Multiplier = 2.0
    jitter: Probability = 0.2
    """Random spread as a fraction of each delay (0.2 = ±20 %)."""

    def delay(self, attempt: int, random_fraction: float = 0.5) -> float:
        """Delay before retry number ``attempt`` (0-based); ``random_fraction`` in [0, 1) drives jitter."""
        base = self.initial
        if attempt > 0 and self.multiplier > 1:
            # Past the cap, stop multiplying: 100**1000 would overflow a float.
            to_cap = math.log(self.max / self.initial) if self.max > self.initial else 0.0
            base = self.max if attempt * math.log(self.multiplier) >= to_cap else base * self.multiplier**attempt
        base = min(base, self.max)
        return max(0.0, base * (1 + self.jitter * (2 * random_fraction - 1)))


class On429(_Strict):
    """What a flow does when answered 429 Too Many Requests."""

    action: Literal["retry", "count"] = "retry"
    """``retry``: wait and send again (up to ``max_retries``); ``count``: record it and move on."""
    honour_retry_after: bool = True
    """Wait as long as the ``Retry-After`` header says when it is present (instead of the backoff)."""
    backoff: BackoffSettings = Field(default_factory=BackoffSettings)
    max_retries: Retries = 5


class RateLimits(_Strict):
    """How the client treats the documented rate and concurrency limits."""

    policy: Literal["respect", "probe", "ignore"] = "respect"
    """``respect``: throttle to stay under the limits (times ``margin``); ``probe``: send past them on
    purpose and measure the 429s; ``ignore``: no client-side throttling."""
    margin: float = Field(default=0.9, gt=0, le=1.0)
    """Fraction of each documented limit used under ``respect``."""
    operations: dict[Op, OperationLimit] = Field(default_factory=dict)
    """Per-operation overrides of the documented limits (``run: {rate: 50/s, concurrency: 100}``)."""
    limits_from: str | None = Field(default=None, min_length=1)
    """A limit discovery's ``limits.json`` (``loadtest limits``), relative to the scenario file: the limits it
    found replace the target's (documented, or the emulator's) for the operations it covers, taking the
    cautious end of each interval. ``respect`` stays under them; ``operations`` still overrides them."""
    on_429: On429 = Field(default_factory=On429)


# --------------------------------------------------------------------------------- thresholds, baseline


class Threshold(_Strict):
    """A pass/fail criterion on one measured figure, e.g. ``{metric: queue_delay.p95, max: 2s}``.

    ``metric`` is a name from the metrics catalogue, optionally with a statistic (``.p95``, ``.mean``,
    ...). ``max``/``min`` are written in the metric's unit (``2s``, ``5%``, ``10/s``, a count) and
    stored in SI (seconds, ratio 0..1, per second). Scopes narrow the figure to one flow or operation.
    """

    metric: str = Field(min_length=1)
    max: Finite | str | None = None
    min: Finite | str | None = None
    flow: str | None = None
    """A flow ``name`` (or kind) from ``mix``."""
    op: Op | None = None
    window: Duration | None = Field(default=None, gt=0)
    """Judge every window of this length (the worst one counts) instead of the whole run."""
    abort: bool = False
    """Stop the run early once this threshold is certainly broken."""

    @model_validator(mode="after")
    def _has_bound(self) -> Threshold:
        if self.max is None and self.min is None:
            raise ValueError("a threshold needs max or min (or both)")
        return self


class Baseline(_Strict):
    """Compare against a saved run: fail when a figure is worse than the baseline by more than its
    tolerance (``"10%"`` relative, or an absolute amount in the metric's unit such as ``200ms``)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    tolerances: dict[str, Finite | str] = Field(default_factory=dict)
    """By metric name (with statistic); metrics not listed use ``default_tolerance``."""
    default_tolerance: Finite | str = "10%"


# ------------------------------------------------------------------------------------------ guards

DEFAULT_DRAIN_S = 30.0
"""How long a run follows its jobs in flight after the duration (like k6's ``gracefulStop``)."""


class Guards(_Strict):
    """What keeps a broken run from passing, or from hammering a target that is gone."""

    unreachable_after: Duration = Field(default=10.0, gt=0)
    """Stop the run (exit 4) when no request has got an answer for this long (connection refused or
    timed out, or a gateway's 502/503/504); meanwhile each user backs off exponentially."""
    max_error_rate: float | str = "50%"
    """The built-in criterion: a run whose share of failed requests (errors other than 429) is above this
    fails, whatever thresholds it has. ``100%`` turns it off; a threshold on ``error_rate`` (overall, whole
    run, with a ``max``) replaces it."""

    @field_validator("max_error_rate")
    @classmethod
    def _fraction(cls, value: float | str) -> float:
        from loadtest.metrics.catalog import UNIT_RATIO
        from loadtest.scenario.quantities import parse_bound

        return parse_bound(UNIT_RATIO, value)


# ------------------------------------------------------------------------------------------ scenario


class Scenario(_Strict):
    """A whole load test: what to hit, how hard, with which flows, and what counts as passing."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: Integer = 1
    """Seed of every random choice the client makes (payloads, mix, arrivals); same seed, same run."""
    duration: Duration | None = Field(default=None, gt=0)
    """Length of the run; may be left out when ``load.stages`` / ``arrival_rate`` stages give it."""
    target: Target = Field(default_factory=EmulatorTarget)
    load: Load = Field(default_factory=ClosedLoad)
    mix: list[Flow] = Field(min_length=1)
    payload: Payload = Field(default_factory=Payload)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    thresholds: list[Threshold] = Field(default_factory=list)
    baseline: Baseline | None = None
    drain: Duration = Field(default=DEFAULT_DRAIN_S, ge=0)
    """After the duration, submit no new jobs and follow those in flight for up to this long, so a loaded
    endpoint's slow jobs are measured, not dropped (``0``: stop at once; ``--drain`` overrides)."""
    guards: Guards = Field(default_factory=Guards)

    _source_path: Path | None = PrivateAttr(default=None)
    _secret_values: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def source_path(self) -> Path | None:
        """The file this scenario was loaded from (``None`` when built in code)."""
        return self._source_path

    @property
    def secret_values(self) -> dict[str, str]:
        """Values taken from secret-looking environment variables, by variable name (redacted on output)."""
        return dict(self._secret_values)

    def loaded_from(self, path: Path | None, secret_values: dict[str, str]) -> None:
        """Note where the scenario was read and which values came from secret variables (the loader)."""
        if path is not None:
            self._source_path = path
        self._secret_values = dict(secret_values)

    @property
    def base_dir(self) -> Path:
        """Where relative paths in the scenario (``$file`` generators) are resolved."""
        return self._source_path.parent if self._source_path is not None else Path.cwd()

    @property
    def stages_duration(self) -> float | None:
        """Sum of the load stages' durations (``None`` when the load has no stages)."""
        stages = self.load.stages
        return sum(stage.duration for stage in stages) if stages else None

    @property
    def total_duration(self) -> float:
        """How long the run lasts: ``duration`` or, when absent, the sum of the stages."""
        if self.duration is not None:
            return self.duration
        return self.stages_duration or 0.0

    @property
    def is_emulated(self) -> bool:
        return isinstance(self.target, EmulatorTarget)

    def flow_names(self) -> list[str]:
        """Each flow's label: its ``name``, or its kind, numbered (``run_poll.2``) when a kind repeats."""
        seen: dict[str, int] = {}
        counts = {kind: sum(1 for f in self.mix if f.flow == kind and f.name is None) for kind in FLOW_KINDS}
        names = []
        for flow in self.mix:
            if flow.name is not None:
                names.append(flow.name)
                continue
            seen[flow.flow] = seen.get(flow.flow, 0) + 1
            names.append(flow.flow if counts[flow.flow] == 1 else f"{flow.flow}.{seen[flow.flow]}")
        return names

    def flows_by_name(self) -> dict[str, Flow]:
        return dict(zip(self.flow_names(), self.mix, strict=True))

    def payload_for(self, flow: Flow) -> Payload:
        """The payload a flow sends: its own override, else the scenario's."""
        return flow.payload if flow.payload is not None else self.payload

    @model_validator(mode="after")
    def _duration_known(self) -> Scenario:
        if self.duration is None and self.stages_duration is None:
            raise ValueError("the run has no length: set duration (e.g. '30s') or give load stages")
        return self
