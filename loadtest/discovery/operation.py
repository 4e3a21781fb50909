"""One operation under discovery: what every search of it shares.

The discovery's settings (``loadtest limits`` flags), the jobs made for operations that need one, which
operations can be searched how, and :class:`OperationTraffic`: the operation's requests and what their
answers taught about timing (the slowest and the typical round trip, the latest admission, the rates quick
bursts really reach), which the rate search, the fixed-or-rolling test and the concurrency waves all read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadtest import contract
from loadtest.contract import OPERATIONS, Op
from loadtest.discovery.evidence import RequestRecord
from loadtest.discovery.prober import JOB_CREATING, Batch, Call, Prober

HOLDABLE: frozenset[Op] = frozenset({Op.RUNSYNC, Op.STATUS_SYNC, Op.STREAM})
"""Operations whose requests can be held open (``?wait=``), so requests in flight can be raised at will."""
NEEDS_DONE_JOB: frozenset[Op] = frozenset({Op.STATUS, Op.STATUS_SYNC, Op.STREAM, Op.CANCEL, Op.RETRY})
SUPPORTED: tuple[Op, ...] = (
    Op.RUN, Op.RUNSYNC, Op.STATUS, Op.STATUS_SYNC, Op.STREAM, Op.CANCEL, Op.RETRY, Op.PURGE_QUEUE, Op.HEALTH,
    Op.REQUESTS,
)
DESTRUCTIVE: frozenset[Op] = frozenset({Op.PURGE_QUEUE})
"""Operations that change the endpoint for everyone (``/purge-queue`` drops every queued job)."""

WAIT_MIN_S = contract.WAIT_MIN_MS / 1000
WAIT_MAX_S = contract.WAIT_MAX_MS / 1000
RTT_SAMPLES = 200
"""Round trips the split test's timing margin is taken from (the most recent)."""


@dataclass(frozen=True)
class Settings:
    """How hard and how long a discovery may push (``loadtest limits`` flags)."""

    start_rate: float | None = None
    """First offered rate (per second); None: an eighth of the documented rate, at least 1/s."""
    max_rate: float = 400.0
    """The ceiling of every offered rate (a 2-core machine paces a few hundred requests a second well)."""
    ramp_step_s: float = 1.0
    """How long each rate of the ramp is offered (at least three requests' worth)."""
    ceiling_hold_s: float = 20.0
    """How long the ceiling rate is offered without a 429 before the search says "not reached"."""
    precision: float = 0.08
    """Stop refining the window once ``(high - low) / high`` is at most this (the middle is then within 4%)."""
    max_cycles: int = 10
    """Window-measuring cycles at most (``--max-cycles``)."""
    confirm_fraction: float = 0.9
    """The confirmation offers this fraction of the slowest rate the evidence allows."""
    max_concurrency: int = 1000
    """The largest wave of held requests (``--max-concurrency``)."""
    max_pause_s: float = 120.0
    """A ``Retry-After`` longer than this stops the operation's search (it would take too long)."""
    max_op_s: float = 300.0
    """Stop refining an operation after this long (what is known by then is reported)."""
    payload: dict[str, Any] = field(default_factory=lambda: {"input": {}})
    """Body of job-creating requests: the cheapest job the worker accepts."""
    hold_key: str = "mock_delay"
    """Input key that makes a job last (seconds), for requests that must be held in flight."""


@dataclass
class Fixtures:
    """Jobs the discovery made for operations that need a job id (few, reused)."""

    done_job: str | None = None
    """A finished job: ``/status``, ``/stream``... on it answer at once."""
    notes: list[str] = field(default_factory=list)


class Stop(Exception):
    """This search cannot go on; the message says why (the figures known so far stand)."""


def documented_per_s(op: Op) -> float | None:
    rate = OPERATIONS[op].rate_limit
    return None if rate is None else rate / contract.RATE_WINDOW_S


def refused(batch: Batch) -> bool:
    """Stop a paced stretch at its first 429."""
    return batch.throttled > 0


class OperationTraffic:
    """One operation's requests, and what their answers taught about timing."""

    def __init__(self, prober: Prober, op: Op, settings: Settings, fixtures: Fixtures) -> None:
        self.p = prober
        self.op = op
        self.s = settings
        self.fixtures = fixtures
        self.began = 0.0
        """When the rate search began (its time limit counts from here)."""
        self.last_admitted = -math.inf
        """Send time of the latest admitted request (a rolling window holds it until it leaves)."""
        self.rtt = 0.0
        """The slowest round trip seen (widens timing facts and waits: one late answer keeps them safe)."""
        self.rtts: list[float] = []
        """Recent round trips (the split test's margin: a typical one, not the one slowest hiccup)."""
        self.burst_rates: list[float] = []
        """Send rates the recent quick bursts reached (below ``max_rate`` when few may be in flight)."""

    def rate_call(self) -> Callable[[int], Call]:
        """The request a rate search repeats: the cheapest answer the operation gives."""
        op = self.op
        if op in JOB_CREATING:
            params = {"wait": contract.WAIT_MIN_MS} if op is Op.RUNSYNC else None
            call = Call(op, body=self.s.payload, params=params)
        elif op in NEEDS_DONE_JOB:
            params = {"wait": contract.WAIT_MIN_MS} if op in (Op.STATUS_SYNC, Op.STREAM) else None
            call = Call(op, job_id=self.fixtures.done_job, params=params)
        else:
            call = Call(op)
        return lambda _: call

    def hold_payload(self, seconds: float) -> dict[str, Any]:
        """The job body that makes a job last ``seconds`` (``hold_key`` in its input)."""
        base = dict(self.s.payload)
        job_input = dict(base.get("input") or {})
        job_input[self.s.hold_key] = round(seconds, 3)
        base["input"] = job_input
        return base

    def elapsed(self) -> float:
        return self.p.now() - self.began

    def observe(self, batch: Batch, *, held: bool = False) -> None:
        """Take in a batch's answers: the latest admission and, unless its requests were held on purpose,
        the slowest round trip."""
        for record in batch.records:
            if record.admitted:
                self.last_admitted = max(self.last_admitted, record.sent)
            if record.status > 0 and not held:
                self.rtt = max(self.rtt, record.rtt)
                self.rtts.append(record.rtt)
        del self.rtts[:-RTT_SAMPLES]

    def observe_burst(self, batch: Batch) -> None:
        """Take in the send rate a quick burst (paced at ``max_rate``) really reached."""
        sent = sorted(r.sent for r in batch.records if not math.isnan(r.sent))
        if len(sent) >= 4 and sent[-1] > sent[0]:
            self.burst_rates.append((len(sent) - 1) / (sent[-1] - sent[0]))
            del self.burst_rates[:-3]

    def burst_rate(self) -> float:
        """The rate a quick burst can be counted on to reach: the slowest of the last three."""
        return min([self.s.max_rate, *self.burst_rates])

    def typical_rtt(self) -> float:
        """The 90th percentile of the recent round trips (the slowest one while there are few)."""
        if len(self.rtts) < 10:
            return self.rtt
        ordered = sorted(self.rtts)
        return ordered[math.ceil(0.9 * len(ordered)) - 1]

    def slack(self) -> float:
        return 2 * self.rtt + 0.005

    def needs_jobs(self, n: int, what: str) -> None:
        """Stop unless the job cap leaves the ``n`` jobs ``what`` needs (operations that create jobs)."""
        if self.op in JOB_CREATING and not self.p.jobs.allows(n):
            raise Stop(f"the job cap leaves {self.p.jobs.left} jobs and {what} needs about {n}")

    def check_retry_after(self, record: RequestRecord) -> None:
        """Stop when a 429 asks for a longer pause than ``max_pause_s``."""
        if record.retry_after is not None and record.retry_after > self.s.max_pause_s:
            raise Stop(f"a 429 asked to wait {record.retry_after:g} s (Retry-After), longer than --max-pause "
                       f"{self.s.max_pause_s:g} s")
