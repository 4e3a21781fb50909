"""The catalogue of every figure a run measures, stated once.

The scenario validator (threshold names, with did-you-mean), the check (evaluation, regression direction)
and ``summary.json`` (the same names as keys) all read this module, so a name means one thing everywhere.
Pure Python on purpose: validating a scenario must not pay for hdrhistogram or matplotlib.

A *metric reference* as written in a scenario or on the command line is::

    <metric>[.<stat>][{flow=<name>}|{op=<operation>}]

for example ``end_to_end.p99``, ``queue_delay.p95{flow=chat}``, ``rate_429{op=run}``, ``jobs.failed``.
The scope may also come before the statistic (``latency{op=status}.p99``). A metric without a statistic
means its default statistic (``p95`` for histograms, ``value`` for everything else).

In ``summary.json`` a metric's figures sit at ``metrics[<metric>]["overall" | "by_flow"[<flow>] |
"by_op"[<op>]][<stat>]`` (see ``docs/run-directory.md``); :class:`loadtest.metrics.run_figures.RunFigures`
reads one by its reference.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from loadtest import flowkinds
from loadtest.contract import Op
from loadtest.errors import InvalidInput
from loadtest.metrics.classify import ALL_JOB_OUTCOMES, ALL_REQUEST_CLASSES, JobOutcome, RequestClass


class Kind(StrEnum):
    """How a metric is measured, which decides its statistics and how it merges."""

    HISTOGRAM = "histogram"
    """Samples in an HDR histogram (3 significant digits); percentiles, min, max, mean, count."""
    COUNTER = "counter"
    """A count of events over the run."""
    RATIO = "ratio"
    """A fraction in [0, 1] of one counter over another."""
    RATE = "rate"
    """Events per second over the run's measured duration."""
    GAUGE = "gauge"
    """A level sampled over time (from ``/health``)."""


class Scope(StrEnum):
    """The ways a figure can be broken down; ``overall`` always exists."""

    FLOW = "flow"
    OP = "op"


class Direction(StrEnum):
    """Which way is worse, for baselines: a regression is a move in the worse direction."""

    HIGHER_IS_WORSE = "higher_is_worse"
    LOWER_IS_WORSE = "lower_is_worse"
    NEUTRAL = "neutral"
    """Describes the load rather than its quality (e.g. requests sent); never a regression by itself."""


# Unit names as they appear in summary.json and reports.
UNIT_MS = "ms"
UNIT_COUNT = "count"
UNIT_RATIO = "ratio"
UNIT_REQ_PER_S = "req/s"
UNIT_JOBS_PER_S = "jobs/s"
UNIT_JOBS = "jobs"
UNIT_CHUNKS_PER_S = "chunks/s"

HISTOGRAM_STATS: tuple[str, ...] = ("p50", "p90", "p95", "p99", "p999", "min", "max", "mean", "count")
"""Statistics every histogram metric offers; ``pNN`` is the NN-th percentile, ``p999`` the 99.9th."""
HISTOGRAM_PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
GAUGE_STATS: tuple[str, ...] = ("min", "max", "mean", "last")
SCALAR_STATS: tuple[str, ...] = ("value",)
DEFAULT_STAT: dict[Kind, str] = {
    Kind.HISTOGRAM: "p95",
    Kind.COUNTER: "value",
    Kind.RATIO: "value",
    Kind.RATE: "value",
    Kind.GAUGE: "max",
}

JOB_FLOW_KINDS: frozenset[str] = flowkinds.JOB_KINDS
"""Flows that submit jobs and so produce job-level figures."""
STREAM_FLOW_KINDS: frozenset[str] = flowkinds.STREAM_KINDS
ALL_FLOW_KINDS: frozenset[str] = frozenset(flowkinds.KIND_NAMES)
ALL_OPS: frozenset[str] = frozenset(op.value for op in Op)


class Table(StrEnum):
    """The recorder's count tables (see :class:`loadtest.metrics.recorder.Recorder`)."""

    REQUESTS = "requests"
    """Per time bucket, by (operation, flow, HTTP status code)."""
    JOBS = "jobs"
    """Per time bucket, by (flow, final status)."""
    DROPPED = "dropped"
    """Per time bucket, by flow: open-model arrivals that could not start."""
    CHUNKS = "chunks"
    """Per time bucket, by flow: streamed chunks received."""
    JOB_TOTALS = "job_totals"
    """Whole run only, by flow: sums over jobs that have no time dimension worth keeping."""


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """A count the figures are built from: the entries of one recorder table whose class is in ``classes``.

    For :attr:`Table.REQUESTS` the classes are :class:`RequestClass` values (of the status code), for
    :attr:`Table.JOBS` :class:`JobOutcome` values (of the final status); ``field`` names the per-flow
    sum of :attr:`Table.JOB_TOTALS` counted.
    """

    name: str
    table: Table
    classes: frozenset[str] = frozenset()
    field: str | None = None

    @property
    def scope_table(self) -> Table:
        """The table whose flows and operations a figure of this counter is broken down by."""
        return Table.JOBS if self.table is Table.JOB_TOTALS else self.table


COUNTERS: dict[str, CounterSpec] = {
    spec.name: spec
    for spec in (
        CounterSpec("requests", Table.REQUESTS, frozenset(ALL_REQUEST_CLASSES)),
        CounterSpec("throttled", Table.REQUESTS, frozenset({RequestClass.THROTTLED})),
        CounterSpec("errors", Table.REQUESTS, frozenset({RequestClass.HTTP_ERROR, RequestClass.NO_ANSWER})),
        CounterSpec("accepted", Table.REQUESTS, frozenset({RequestClass.OK, RequestClass.HTTP_ERROR})),
        CounterSpec("no_answer", Table.REQUESTS, frozenset({RequestClass.NO_ANSWER})),
        CounterSpec("jobs.submitted", Table.JOBS, frozenset(ALL_JOB_OUTCOMES)),
        CounterSpec("jobs.completed", Table.JOBS, frozenset({JobOutcome.COMPLETED})),
        CounterSpec("jobs.failed", Table.JOBS, frozenset({JobOutcome.FAILED})),
        CounterSpec("jobs.cancelled", Table.JOBS, frozenset({JobOutcome.CANCELLED})),
        CounterSpec("jobs.timed_out", Table.JOBS, frozenset({JobOutcome.TIMED_OUT})),
        CounterSpec("jobs.in_flight", Table.JOBS, frozenset({JobOutcome.IN_FLIGHT})),
        CounterSpec("jobs.failed_or_timed_out", Table.JOBS, frozenset({JobOutcome.FAILED, JobOutcome.TIMED_OUT})),
        CounterSpec("jobs.ran_to_end", Table.JOBS,
                    frozenset({JobOutcome.COMPLETED, JobOutcome.FAILED, JobOutcome.TIMED_OUT})),
        CounterSpec("dropped", Table.DROPPED),
        CounterSpec("chunks", Table.CHUNKS),
        CounterSpec("jobs.retried", Table.JOB_TOTALS, field="retried_jobs"),
    )
}
"""Every count a figure is derived from, by name (a counter metric has the counter of its own name)."""

DURATION = "duration"
"""A :class:`Derivation` denominator: the seconds measured (the run's duration, or a window's length)."""


@dataclass(frozen=True, slots=True)
class Derivation:
    """How a non-histogram figure is computed: a counter, over another counter or over the duration."""

    numerator: str
    """A :data:`COUNTERS` name."""
    denominator: str | None = None
    """None for a plain count, :data:`DURATION` for a rate, or a :data:`COUNTERS` name for a ratio."""

    @property
    def counter(self) -> CounterSpec:
        return COUNTERS[self.numerator]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One measured figure: what it is, its unit, its statistics, its breakdowns and its direction."""

    name: str
    unit: str
    kind: Kind
    description: str
    direction: Direction
    scopes: frozenset[Scope]
    flow_kinds: frozenset[str]
    """Flow kinds that produce it (empty when none does directly, e.g. /health gauges)."""
    ops: frozenset[str]
    """Operations whose requests feed it (empty for job-level and health figures)."""
    derivation: Derivation | None = None
    """Counters, rates and ratios: what they are computed from (histograms and gauges: None)."""
    health_key: str | None = None
    """Gauges: the flattened ``/health`` field sampled (e.g. ``jobs.inQueue``)."""
    censored: bool = False
    """Histograms: unfinished jobs contribute their time so far as a lower bound (see docs/run-directory.md)."""

    @property
    def stats(self) -> tuple[str, ...]:
        """The statistics a reference may name."""
        if self.kind is Kind.HISTOGRAM:
            return HISTOGRAM_STATS
        if self.kind is Kind.GAUGE:
            return GAUGE_STATS
        return SCALAR_STATS

    @property
    def default_stat(self) -> str:
        return DEFAULT_STAT[self.kind]

    @property
    def higher_is_worse(self) -> bool | None:
        """True/False for a direction, None when the figure is neutral."""
        if self.direction is Direction.NEUTRAL:
            return None
        return self.direction is Direction.HIGHER_IS_WORSE

    def unit_of(self, stat: str) -> str:
        """The unit of one statistic (``count`` of a histogram is a count, not milliseconds)."""
        if self.kind is Kind.HISTOGRAM and stat == "count":
            return UNIT_COUNT
        return self.unit


_FLOW = frozenset({Scope.FLOW})
_FLOW_OP = frozenset({Scope.FLOW, Scope.OP})
_NONE: frozenset[Scope] = frozenset()
_NO_OPS: frozenset[str] = frozenset()
_JOB_SUBMIT_OPS = frozenset({Op.RUN.value, Op.RUNSYNC.value})


def _spec(
    name: str,
    unit: str,
    kind: Kind,
    direction: Direction,
    description: str,
    *,
    scopes: frozenset[Scope] = _FLOW,
    flows: frozenset[str] = JOB_FLOW_KINDS,
    ops: frozenset[str] = _NO_OPS,
    over: str | None = None,
    count: str | None = None,
    health: str | None = None,
    censored: bool = False,
) -> MetricSpec:
    """One catalogue entry. Counters, rates and ratios count ``count`` (default: the counter of the
    metric's own name); a rate divides it by the duration, a ratio by the counter ``over``."""
    derivation = None
    if kind in (Kind.COUNTER, Kind.RATE, Kind.RATIO):
        denominator = DURATION if kind is Kind.RATE else over
        derivation = Derivation(count or name, denominator)
    return MetricSpec(name, unit, kind, description, direction, scopes, flows, ops, derivation, health, censored)


def _request_spec(
    name: str, unit: str, kind: Kind, direction: Direction, description: str, *, over: str | None = None,
    count: str | None = None,
) -> MetricSpec:
    """A request-level entry: every flow kind and operation, scoped by flow and by operation."""
    return _spec(name, unit, kind, direction, description, scopes=_FLOW_OP, flows=ALL_FLOW_KINDS, ops=ALL_OPS,
                 over=over, count=count)


_WORSE_UP = Direction.HIGHER_IS_WORSE
_WORSE_DOWN = Direction.LOWER_IS_WORSE
_NEUTRAL = Direction.NEUTRAL

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        # Job-level histograms (milliseconds).
        _spec("queue_delay", UNIT_MS, Kind.HISTOGRAM, _WORSE_UP,
              "time a job waited in the queue (the API's delayTime)", censored=True),
        _spec("execution_time", UNIT_MS, Kind.HISTOGRAM, _WORSE_UP,
              "time a worker spent on the job (the API's executionTime)"),
        _spec("end_to_end", UNIT_MS, Kind.HISTOGRAM, _WORSE_UP,
              "client-observed time from submission to the job's terminal state; its error is bounded by "
              "the polling interval", censored=True),
        _spec("first_chunk", UNIT_MS, Kind.HISTOGRAM, _WORSE_UP,
              "time from submission to the first streamed chunk", flows=STREAM_FLOW_KINDS, censored=True),
        _spec("chunk_gap", UNIT_MS, Kind.HISTOGRAM, _WORSE_UP,
              "time between consecutive streamed chunks", flows=STREAM_FLOW_KINDS),
        _spec("observe_interval", UNIT_MS, Kind.HISTOGRAM, _NEUTRAL,
              "how often the client looked at a job (polling interval; 0 for runsync/stream): the bound on "
              "end_to_end's error"),
        _spec("chunks", UNIT_COUNT, Kind.COUNTER, _NEUTRAL,
              "streamed chunks received (bucketed by when they arrived)", flows=STREAM_FLOW_KINDS),
        _spec("chunk_rate", UNIT_CHUNKS_PER_S, Kind.RATE, _WORSE_DOWN,
              "streamed chunks received per second, over the measured duration", flows=STREAM_FLOW_KINDS,
              count="chunks"),
        # Request level.
        _request_spec("latency", UNIT_MS, Kind.HISTOGRAM, _WORSE_UP,
                      "HTTP request latency (every response, 429s and errors included)"),
        _request_spec("requests", UNIT_COUNT, Kind.COUNTER, _NEUTRAL,
                      "requests sent (offered), whatever their answer"),
        _request_spec("throughput", UNIT_REQ_PER_S, Kind.RATE, _WORSE_DOWN,
                      "requests per second offered (all requests over the measured duration)", count="requests"),
        _request_spec("accepted_rate", UNIT_REQ_PER_S, Kind.RATE, _WORSE_DOWN,
                      "requests per second that were not throttled (429) and got an answer", count="accepted"),
        _request_spec("throttled", UNIT_COUNT, Kind.COUNTER, _WORSE_UP,
                      "requests answered 429 (counted apart from errors)"),
        _request_spec("rate_429", UNIT_RATIO, Kind.RATIO, _WORSE_UP,
                      "fraction of requests answered 429", count="throttled", over="requests"),
        _request_spec("errors", UNIT_COUNT, Kind.COUNTER, _WORSE_UP,
                      "requests that failed: connection error/timeout (status 0) or HTTP status >= 400 other than 429"),
        _request_spec("error_rate", UNIT_RATIO, Kind.RATIO, _WORSE_UP,
                      "fraction of requests that failed (see errors)", count="errors", over="requests"),
        _request_spec("retry_after", UNIT_MS, Kind.HISTOGRAM, _NEUTRAL,
                      "the wait a 429 answer asked for in its Retry-After header (answers without one are not "
                      "counted)"),
        _request_spec("backoff_wait", UNIT_MS, Kind.HISTOGRAM, _WORSE_UP,
                      "time actually spent waiting after a 429 before sending again (Retry-After or the backoff, cut "
                      "short when the run ended)"),
        # Jobs by outcome.
        _spec("jobs.submitted", UNIT_JOBS, Kind.COUNTER, _NEUTRAL, "jobs accepted by the endpoint (have an id)"),
        _spec("jobs.completed", UNIT_JOBS, Kind.COUNTER, _WORSE_DOWN, "jobs that ended COMPLETED"),
        _spec("jobs.failed", UNIT_JOBS, Kind.COUNTER, _WORSE_UP, "jobs that ended FAILED"),
        _spec("jobs.cancelled", UNIT_JOBS, Kind.COUNTER, _NEUTRAL, "jobs that ended CANCELLED"),
        _spec("jobs.timed_out", UNIT_JOBS, Kind.COUNTER, _WORSE_UP, "jobs that ended TIMED_OUT"),
        _spec("jobs.in_flight", UNIT_JOBS, Kind.COUNTER, _WORSE_UP,
              "jobs still unfinished when the run ended (or last seen in a non-terminal state)"),
        _spec("jobs.retried", UNIT_JOBS, Kind.COUNTER, _WORSE_UP, "jobs re-queued with /retry at least once"),
        _spec("job_throughput", UNIT_JOBS_PER_S, Kind.RATE, _WORSE_DOWN,
              "jobs per second that ended COMPLETED, over the measured duration", count="jobs.completed"),
        _spec("job_failure_rate", UNIT_RATIO, Kind.RATIO, _WORSE_UP,
              "(FAILED + TIMED_OUT) / (COMPLETED + FAILED + TIMED_OUT); cancelled and unfinished jobs excluded",
              count="jobs.failed_or_timed_out", over="jobs.ran_to_end"),
        _spec("dropped", UNIT_COUNT, Kind.COUNTER, _WORSE_UP,
              "open-model arrivals that could not start (no free user)", flows=ALL_FLOW_KINDS),
        # Endpoint state from /health samples.
        _spec("queue_length", UNIT_JOBS, Kind.GAUGE, _WORSE_UP,
              "jobs waiting in the endpoint's queue (/health jobs.inQueue)", scopes=_NONE, flows=frozenset(),
              health="jobs.inQueue"),
        _spec("in_progress", UNIT_JOBS, Kind.GAUGE, _NEUTRAL,
              "jobs being worked on (/health jobs.inProgress)", scopes=_NONE, flows=frozenset(),
              health="jobs.inProgress"),
        _spec("workers_running", "workers", Kind.GAUGE, _NEUTRAL,
              "workers running a job (/health workers.running)", scopes=_NONE, flows=frozenset(),
              health="workers.running"),
    )
}
"""Every metric by name; also the key order of ``summary.json``'s ``metrics`` section."""

HISTOGRAM_METRICS: tuple[str, ...] = tuple(n for n, s in METRICS.items() if s.kind is Kind.HISTOGRAM)
CENSORED_SUFFIX = ".censored"
"""Recorder histograms of ``<metric>.censored`` hold unfinished jobs' times so far (lower bounds)."""


def censored_name(metric: str) -> str:
    """The recorder histogram holding ``metric``'s censored samples."""
    return metric + CENSORED_SUFFIX


def _check_catalogue() -> None:
    """Every derivation names known counters and fits its kind (a mistake here is a bug, caught on import)."""
    for spec in METRICS.values():
        d = spec.derivation
        if (d is None) != (spec.kind in (Kind.HISTOGRAM, Kind.GAUGE)):
            raise AssertionError(f"{spec.name}: a {spec.kind} metric {'needs' if d is None else 'has no'} derivation")
        if (spec.health_key is None) == (spec.kind is Kind.GAUGE):
            raise AssertionError(f"{spec.name}: only gauges read /health")
        if d is None:
            continue
        if d.numerator not in COUNTERS:
            raise AssertionError(f"{spec.name}: unknown counter {d.numerator!r}")
        wanted = {Kind.COUNTER: None, Kind.RATE: DURATION}.get(spec.kind, d.denominator)
        if d.denominator != wanted or (spec.kind is Kind.RATIO and d.denominator not in COUNTERS):
            raise AssertionError(f"{spec.name}: a {spec.kind} metric cannot divide by {d.denominator!r}")


_check_catalogue()
JOB_HISTOGRAM_METRICS: tuple[str, ...] = ("queue_delay", "execution_time", "end_to_end", "first_chunk", "chunk_gap")


class MetricRefError(InvalidInput, ValueError):
    """A metric reference that names no metric, statistic or scope we know; the message says which part."""


@dataclass(frozen=True, slots=True)
class MetricRef:
    """A parsed reference: one statistic of one metric, overall or for one flow or operation."""

    metric: str
    stat: str
    scope: Scope | None = None
    scope_value: str | None = None

    @property
    def spec(self) -> MetricSpec:
        return METRICS[self.metric]

    @property
    def unit(self) -> str:
        return self.spec.unit_of(self.stat)

    @property
    def flow(self) -> str | None:
        return self.scope_value if self.scope is Scope.FLOW else None

    @property
    def op(self) -> str | None:
        return self.scope_value if self.scope is Scope.OP else None

    def __str__(self) -> str:
        scope = f"{{{self.scope.value}={self.scope_value}}}" if self.scope else ""
        return f"{self.metric}.{self.stat}{scope}"


_SCOPE_RE = re.compile(r"\{\s*([A-Za-z_]+)\s*[=:]\s*([^{}\s]+)\s*\}")


def suggest(name: str, choices: Mapping[str, Any] | tuple[str, ...] | frozenset[str] | None = None) -> str | None:
    """The closest known name to ``name`` (metric names by default), or None when nothing is close."""
    pool = list(METRICS if choices is None else choices)
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _did_you_mean(name: str, choices: Mapping[str, Any] | tuple[str, ...] | frozenset[str]) -> str:
    hint = suggest(name, choices)
    return f" (did you mean {hint!r}?)" if hint else ""


def _split_metric_and_stat(body: str) -> tuple[str, str | None]:
    """Longest known metric name that ``body`` starts with; the rest is the statistic."""
    if body in METRICS:
        return body, None
    head, dot, tail = body.rpartition(".")
    if dot and head in METRICS:
        return head, tail
    # Unknown: guess the split that makes the best error message.
    if dot and tail and (tail in HISTOGRAM_STATS or tail in GAUGE_STATS or tail in SCALAR_STATS):
        raise MetricRefError(f"unknown metric {head!r}{_did_you_mean(head, METRICS)}")
    raise MetricRefError(f"unknown metric {body!r}{_did_you_mean(body, METRICS)}")


def parse_metric_ref(text: str, *, flow: str | None = None, op: str | None = None) -> MetricRef:
    """Parse ``"end_to_end.p99"``, ``"latency.p95{op=run}"`` and the like into a :class:`MetricRef`.

    ``flow``/``op`` give the scope when the caller has it apart (e.g. a threshold with a ``flow:`` key);
    giving a scope both ways, or one the metric cannot be broken down by, is an error. Flow *names* are
    the scenario's and are not checked here; operation names are checked against ``contract.Op``.
    Raises :class:`MetricRefError` with a did-you-mean where one is close.
    """
    raw = text.strip()
    if not raw:
        raise MetricRefError("empty metric reference")
    scopes = _SCOPE_RE.findall(raw)
    body = _SCOPE_RE.sub("", raw).replace("..", ".").strip(".").strip()
    if "{" in body or "}" in body:
        raise MetricRefError(f"bad scope in {raw!r}: write it as {{flow=<name>}} or {{op=<operation>}}")
    if len(scopes) + (flow is not None) + (op is not None) > 1:
        raise MetricRefError(f"{raw!r}: give at most one scope (one flow or one operation)")
    scope: Scope | None = None
    scope_value: str | None = None
    if scopes:
        key, scope_value = scopes[0]
        try:
            scope = Scope(key.lower())
        except ValueError:
            raise MetricRefError(
                f"unknown scope {key!r} in {raw!r}: use flow or op{_did_you_mean(key, ('flow', 'op'))}"
            ) from None
    elif flow is not None:
        scope, scope_value = Scope.FLOW, flow
    elif op is not None:
        scope, scope_value = Scope.OP, op

    metric, stat = _split_metric_and_stat(body)
    spec = METRICS[metric]
    stat = stat or spec.default_stat
    if stat not in spec.stats:
        raise MetricRefError(
            f"metric {metric!r} has no statistic {stat!r}; it has {', '.join(spec.stats)}"
            f"{_did_you_mean(stat, spec.stats)}"
        )
    if scope is not None:
        if scope not in spec.scopes:
            allowed = ", ".join(sorted(s.value for s in spec.scopes)) or "none"
            raise MetricRefError(f"metric {metric!r} cannot be broken down by {scope.value} (allowed: {allowed})")
        if scope is Scope.OP and scope_value not in ALL_OPS:
            raise MetricRefError(
                f"unknown operation {scope_value!r} in {raw!r}{_did_you_mean(scope_value or '', ALL_OPS)}"
            )
    return MetricRef(metric, stat, scope, scope_value)


def metric_names() -> list[str]:
    """All metric names, for help texts and the JSON Schema."""
    return list(METRICS)
