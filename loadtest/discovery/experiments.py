"""The discovery of one operation's limits: a rate search, then a concurrency search.

**Rate** (open model, every send on a schedule):

1. *Ramp*: offer ``start_rate`` and double it every step until the first 429 (or until the ceiling rate
   has been held for ``ceiling_hold_s`` without one: no limit below it).
2. *Cycles*, each in a fresh window (after the ``Retry-After`` and after every earlier admission has left
   any window the evidence allows), each one stopped at its first refusal:

   - *budget*: a quick burst until refused: the requests admitted are the window's budget ``B``;
   - *split* (fixed or rolling?): half the budget at the start, the rest half a window later, then a burst
     just after the window ends: a fixed window admits ``B`` again, a rolling one only the first half.
     Planned with margins of a few typical round trips at the rate bursts really reach; where the groups
     landed is then checked from each request's own times, and a test a slow moment moved is placed
     again (a busy machine delays some sends and answers, and must not make the verdict wrong);
   - *bisection*: a quick burst of ``B``, then request ``B + 1`` in the middle of what is still possible
     for the window's length; refused or admitted, it halves the interval.

   Every refusal's offset and ``Retry-After`` bound the window (:mod:`loadtest.discovery.evidence`); the
   cycles stop once the window is known to ``precision`` (and the split test has run).
3. *Confirm*: back off to ``confirm_fraction`` of the slowest rate the evidence allows and offer it for a
   window (a fixed one; 1.25 windows otherwise): no 429 may come. Then *saturate*: offer twice the fastest
   rate allowed for a window (still honouring Retry-After): what gets through per second is the plateau of
   admitted against offered.

**Concurrency** (long-polls only: ``/runsync?wait=``, ``/status-sync``, ``/stream`` hold a slot while they
wait): waves of 4, 16, 64... requests opened at 70% of the rate limit, each held by ``?wait=``; the first
refusal while ``n`` are held bounds the limit, then a wave of exactly that many plus one confirms it.

Requests that create jobs (``/run``, ``/runsync``) are counted against the job cap before they are sent;
every phase checks that the jobs it needs are left, and stops the search with a reason when they are not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loadtest import contract
from loadtest.contract import OPERATIONS, Op
from loadtest.discovery.evidence import (
    BudgetEvidence,
    ConcurrencyEvidence,
    Interval,
    RequestRecord,
    Step,
    WindowEvidence,
    per_second,
    split_misplacements,
    window_kind,
)
from loadtest.discovery.prober import JOB_CREATING, Batch, Call, Prober
from loadtest.listeners import Listeners

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
SPLIT_TRIES = 3
"""Times the fixed-or-rolling test is placed before giving up, when a busy machine or network moves its groups."""
RTT_SAMPLES = 200
"""Round trips the split test's timing margin is taken from (the most recent)."""
FOUND = "found"
NOT_REACHED = "not_reached"
NOT_MEASURED = "not_measured"


@dataclass(frozen=True)
class Settings:
    """How hard and how long a discovery may push (``loadtest limits`` flags)."""

    start_rate: float | None = None
    """First offered rate (per second); None: an eighth of the documented rate, at least 1/s."""
    max_rate: float = 400.0
    """The ceiling of every offered rate (a 2-core machine paces a few hundred requests a second well)."""
    ramp_step_s: float = 1.0
    ceiling_hold_s: float = 20.0
    """How long the ceiling rate is offered without a 429 before the search says "not reached"."""
    precision: float = 0.08
    """Stop refining the window once ``(high - low) / high`` is at most this (the middle is then within 4%)."""
    max_cycles: int = 10
    confirm_fraction: float = 0.9
    max_concurrency: int = 1000
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


@dataclass
class RateResult:
    status: str = NOT_MEASURED
    reason: str = ""
    budget: BudgetEvidence = field(default_factory=BudgetEvidence)
    window: WindowEvidence = field(default_factory=WindowEvidence)
    kind: str | None = None
    kind_reason: str = "not tested"
    steps: list[Step] = field(default_factory=list)
    cycles: int = 0
    confirmed: bool | None = None
    confirm_rate: float | None = None
    no_429_rates: list[float] = field(default_factory=list)
    """Nominal rates at which a window's worth of requests met no 429."""
    throttled_rates: list[float] = field(default_factory=list)
    """Nominal rates at which request ``B + 1`` of a window was refused."""
    lower_bound_per_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.status == FOUND

    def window_interval(self) -> Interval:
        return self.window.interval()

    def per_second(self) -> tuple[float, float]:
        return per_second(self.budget.interval(), self.window.interval())


@dataclass
class ConcurrencyResult:
    status: str = NOT_MEASURED
    reason: str = ""
    evidence: ConcurrencyEvidence = field(default_factory=ConcurrencyEvidence)
    waves: list[dict[str, str | float | int]] = field(default_factory=list)
    confirmed: bool | None = None
    notes: list[str] = field(default_factory=list)


class Stop(Exception):
    """This search cannot go on; the message says why (the figures known so far stand)."""


def documented_per_s(op: Op) -> float | None:
    rate = OPERATIONS[op].rate_limit
    return None if rate is None else rate / contract.RATE_WINDOW_S


def _refused(batch: Batch) -> bool:
    return batch.throttled > 0


def _admitted_after(batch: Batch, refusal: RequestRecord) -> int:
    """Requests of ``batch`` admitted although sent after ``refusal`` was answered: the server refused, then
    admitted again, so the burst did not stay in one window (the window ended, or a rolling one moved on)."""
    return sum(1 for r in batch.records if r.admitted and r.sent > refusal.answered)


class OperationSearch:
    """Finds one operation's limits through a :class:`Prober`."""

    def __init__(self, prober: Prober, op: Op, settings: Settings, fixtures: Fixtures) -> None:
        self.p = prober
        self.op = op
        self.s = settings
        self.fixtures = fixtures
        self.rate_result = RateResult()
        self.concurrency_result = ConcurrencyResult()
        """Filled in as the searches go (what they hold when interrupted is what was found)."""
        self.began = 0.0
        self._last_admitted = -math.inf
        """Send time of the latest admitted request (a rolling window holds it until it leaves)."""
        self._window_start = -math.inf
        documented = OPERATIONS[op].concurrency_limit
        self._in_flight_cap: int | None = max(1, documented // 2) if documented else None
        """Requests of the rate search kept in flight at most, so a concurrency limit cannot answer first:
        half the documented concurrency, lowered whenever a 429 names the concurrency limit."""
        self._opened_by: RequestRecord | None = None
        """A request that just opened a fixed window alone (the last bisection's), for the confirmation."""
        self._rtt = 0.0
        """The slowest round trip seen (widens timing facts and waits: one late answer keeps them safe)."""
        self._rtts: list[float] = []
        """Recent round trips (the split test's margin: a typical one, not the one slowest hiccup)."""
        self._burst_rates: list[float] = []
        """Send rates the recent quick bursts reached (below ``max_rate`` when few may be in flight)."""
        self._split_tries = 0
        self.step_done: Listeners[[Op, Step]] = Listeners()
        """Told of every stretch of traffic the rate search finishes (the progress lines)."""

    # -------------------------------------------------------------------------------------- calls

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
        base = dict(self.s.payload)
        job_input = dict(base.get("input") or {})
        job_input[self.s.hold_key] = round(seconds, 3)
        base["input"] = job_input
        return base

    # ------------------------------------------------------------------------------------ helpers

    def _pace(self, call: Callable[[int], Call], phase: str, **kwargs: Any) -> Batch:
        """A paced stretch of the rate search (in flight kept under :attr:`_in_flight_cap`)."""
        return self.p.pace(call, op=self.op, phase=phase, max_in_flight=self._in_flight_cap, **kwargs)

    def _step(self, step: Step) -> None:
        self.rate_result.steps.append(step)
        self.step_done.fire(self.op, step)

    def _elapsed(self) -> float:
        return self.p.now() - self.began

    def _observe(self, batch: Batch, *, held: bool = False) -> None:
        """Take in a batch's answers: the latest admission and, unless its requests were held on purpose,
        the slowest round trip."""
        for record in batch.records:
            if record.admitted:
                self._last_admitted = max(self._last_admitted, record.sent)
            if record.status > 0 and not held:
                self._rtt = max(self._rtt, record.rtt)
                self._rtts.append(record.rtt)
        del self._rtts[:-RTT_SAMPLES]

    def _observe_burst(self, batch: Batch) -> None:
        """Take in the send rate a quick burst (paced at ``max_rate``) really reached."""
        sent = sorted(r.sent for r in batch.records if not math.isnan(r.sent))
        if len(sent) >= 4 and sent[-1] > sent[0]:
            self._burst_rates.append((len(sent) - 1) / (sent[-1] - sent[0]))
            del self._burst_rates[:-3]

    def _burst_rate(self) -> float:
        """The rate a quick burst can be counted on to reach: the slowest of the last three."""
        return min([self.s.max_rate, *self._burst_rates])

    def _typical_rtt(self) -> float:
        """The 90th percentile of the recent round trips (the slowest one while there are few)."""
        if len(self._rtts) < 10:
            return self._rtt
        ordered = sorted(self._rtts)
        return ordered[math.ceil(0.9 * len(ordered)) - 1]

    def _slack(self) -> float:
        return 2 * self._rtt + 0.005

    def _fresh_at(self, window_high: float) -> float:
        """When every admission so far has left any window at most ``window_high`` long; for a window known to
        be fixed, when the last window opened is over (its admissions leave with it)."""
        if self.rate_result.kind == "fixed" and self._window_start >= self._last_admitted - window_high:
            return self._window_start + window_high + self._slack()
        return self._last_admitted + window_high + self._slack()

    def _wait_fresh(self, window_high: float) -> None:
        self.p.sleep_until(self._fresh_at(window_high))
        self.p.wait_gate(self.op)

    def _needs_jobs(self, n: int, what: str) -> None:
        if self.op in JOB_CREATING and not self.p.jobs.allows(n):
            raise Stop(f"the job cap leaves {self.p.jobs.left} jobs and {what} needs about {n}")

    def _check_retry_after(self, record: RequestRecord) -> None:
        if record.retry_after is not None and record.retry_after > self.s.max_pause_s:
            raise Stop(f"a 429 asked to wait {record.retry_after:g} s (Retry-After), longer than --max-pause "
                       f"{self.s.max_pause_s:g} s")

    def _rate_refusal(self, batch: Batch) -> RequestRecord | None:
        """The batch's first refusal, when it was the rate limit's (not concurrency's or the queue's)."""
        first = batch.first_refusal
        if first is None:
            return None
        if first.limit_hint in ("concurrency", "queue_size"):
            self.rate_result.notes.append(
                f"a 429 named the {first.limit_hint.replace('_', '-')} limit during the rate search "
                f"({first.held} requests of /{self.op.value} were in flight); that window was not used")
            if first.limit_hint == "concurrency":
                cap = max(1, first.held - 1)
                self._in_flight_cap = cap if self._in_flight_cap is None else min(self._in_flight_cap, cap)
                self.rate_result.notes.append(f"the rate search now keeps at most {self._in_flight_cap} in flight")
            return None
        return first

    def _start_rate(self) -> float:
        if self.s.start_rate is not None:
            return min(self.s.start_rate, self.s.max_rate)
        documented = documented_per_s(self.op)
        start = documented / 8 if documented is not None else 1.0
        return min(max(1.0, start), self.s.max_rate)

    # ---------------------------------------------------------------------------------------- rate

    def rate(self) -> RateResult:
        """The whole rate search; never raises :class:`Stop` (the reason lands in the result)."""
        result = self.rate_result
        self.began = self.p.now()
        try:
            first = self._ramp()
            if first is None:
                return result
            self._cycles(first)
            self._confirm()
            self._saturate()
        except Stop as stop:
            result.notes.append(f"stopped early: {stop}")
            if not result.reason:
                result.reason = str(stop)
        finally:
            self._conclude()
        return result

    def _ramp(self) -> RequestRecord | None:
        result = self.rate_result
        rate = self._start_rate()
        call = self.rate_call()
        at_ceiling = 0.0
        voided = 0
        while True:
            step_s = max(self.s.ramp_step_s, 3.0 / rate)
            self._needs_jobs(math.ceil(rate * step_s), "the next ramp step")
            self.p.wait_gate(self.op)
            batch = self._pace(call, "ramp", cycle=0, rate=rate, duration=step_s, stop=_refused)
            self.p.settle(batch, timeout=WAIT_MIN_S + 10)
            self._observe(batch)
            self._step(batch.step("ramp", 0, rate))
            if batch.capped:
                raise Stop("the job cap was reached during the ramp")
            if batch.first_refusal is not None:
                self._check_retry_after(batch.first_refusal)
                refusal = self._rate_refusal(batch)
                if refusal is not None:
                    return refusal
                voided += 1  # the concurrency (or queue) limit answered: same rate, fewer in flight
                if voided >= 5:
                    raise Stop("five ramp steps in a row met another limit than the rate's (see notes)")
                continue
            result.lower_bound_per_s = max(result.lower_bound_per_s or 0.0, batch.step("ramp", 0, rate).admitted_per_s)
            if rate >= self.s.max_rate:
                at_ceiling += step_s
                if at_ceiling >= self.s.ceiling_hold_s:
                    result.status = NOT_REACHED
                    result.reason = (f"no 429 at {self.s.max_rate:g}/s (the --max-rate ceiling) held for "
                                     f"{at_ceiling:g} s")
                    return None
            rate = min(2 * rate, self.s.max_rate)

    def _window_bound_after_ramp(self, refusal: RequestRecord) -> float:
        """An upper bound on the window from the ramp's refusal: the window that refused it began at or after
        the ramp began and was over by the time its Retry-After ran out (or a probe got through)."""
        ramp_start = min(r.sent for r in self.p.records
                         if r.op == self.op.value and r.phase == "ramp" and not math.isnan(r.sent))
        if refusal.retry_after is not None:
            return refusal.answered + refusal.retry_after - ramp_start + self._slack()
        admitted_at = self._probe_until_admitted(refusal, ramp_start, facts=False)
        return admitted_at - ramp_start + self._slack()

    def _probe_until_admitted(self, refusal: RequestRecord, origin: float, *, facts: bool) -> float:
        """No ``Retry-After``: single requests, spaced ever wider (3% of the time since ``origin``), until one
        is admitted; each refused one (and the admitted one) bounds the window when ``facts``."""
        call = self.rate_call()(0)
        last_refused = refusal.sent
        deadline = self.p.now() + self.s.max_pause_s
        while self.p.now() < deadline:
            spacing = max(0.01, 0.03 * (self.p.now() - origin), self._rtt)
            self.p.sleep_until(self.p.now() + spacing)
            self._needs_jobs(1, "a probe")
            record = self.p.send(call, phase="probe", cycle=self.rate_result.cycles)
            if record is None:
                raise Stop("the job cap was reached while probing for the window's end")
            if record.status > 0:
                self._rtt = max(self._rtt, record.rtt)
            if record.admitted:
                self._last_admitted = max(self._last_admitted, record.sent)
                self._window_start = record.sent  # with a fixed window, the probe opened a new one
                if facts:
                    self.rate_result.window.admitted(record.sent - origin + record.rtt, "a probe was admitted after "
                                                     "the window's budget was used")
                return record.sent
            if record.throttled:
                if record.retry_after is not None:
                    return record.answered + record.retry_after  # the header appeared after all: honour it
                if facts:
                    self.rate_result.window.refused(record.sent - origin - self._rtt, "a probe was refused")
                last_refused = record.sent
        raise Stop(f"no request was admitted for {self.s.max_pause_s:g} s after a 429 (last refused at "
                   f"{last_refused - origin:.1f} s)")

    def _window_high(self, fallback: float) -> float:
        interval = self.rate_result.window.interval()
        return interval.high if interval.bounded else fallback

    def _cycles(self, ramp_refusal: RequestRecord) -> None:
        result = self.rate_result
        first_bound = self._window_bound_after_ramp(ramp_refusal)
        void = 0
        opened_by: RequestRecord | None = None
        while True:
            if result.cycles >= self.s.max_cycles:
                result.notes.append(f"stopped refining after {result.cycles} cycles (--max-cycles)")
                return
            if self._elapsed() > self.s.max_op_s:
                result.notes.append(f"stopped refining after {self._elapsed():.0f} s (--max-time-per-op)")
                return
            window = result.window.interval()
            high = self._window_high(first_bound)
            chained, opened_by = opened_by, None
            outcome: bool | None
            if not result.budget.known:
                outcome = self._budget_cycle(high)
            elif result.kind is None and result.kind_reason == "not tested" and self._split_ready(window):
                outcome = self._split_cycle(window)
            elif window.relative_width > self.s.precision or not window.bounded:
                outcome, opened_by = self._bisection_cycle(window, high, chained)
            elif self._split_worth_a_try(window):
                outcome = self._split_cycle(window, rate=self.s.max_rate, rtts=1)
            elif chained is not None:
                self._opened_by = chained
                return
            elif result.kind is None and result.kind_reason == "not tested" and int(result.budget.value()) >= 2:
                result.kind_reason = self._split_not_placed_reason()
                return
            else:
                return
            result.cycles += 1
            if outcome is None:  # a split test that did not land as planned: neither news nor a void window
                continue
            void = 0 if outcome else void + 1
            if void >= 3:
                raise Stop("three windows in a row told nothing about the rate limit (see notes)")

    def _facts_from_refusal(self, refusal: RequestRecord, origin: RequestRecord, why: str) -> None:
        """Window facts from a refusal in the window ``origin`` opened: its offset and its Retry-After.

        The server saw the refusal between ``offset - rtt(origin)`` and ``offset + rtt(refusal)`` seconds
        after the window opened (each request reached it somewhere within its round trip)."""
        window = self.rate_result.window
        earliest = refusal.sent - origin.sent - origin.rtt
        latest = refusal.sent - origin.sent + refusal.rtt
        window.refused(earliest, why)
        if refusal.retry_after is not None:
            window.retry_after(earliest, latest, refusal.retry_after, why)

    def _after_refusal(self, refusal: RequestRecord, origin: RequestRecord, *, facts: bool = True) -> None:
        """Honour the refusal's Retry-After, or probe for the window's end when it has none (each probe a fact
        about the window ``origin`` opened, with ``facts``)."""
        self._check_retry_after(refusal)
        if refusal.retry_after is None:
            self._probe_until_admitted(refusal, origin.sent, facts=facts)

    def _budget_cycle(self, high: float) -> bool:
        result = self.rate_result
        self._wait_fresh(high)
        guess = max((s.admitted for s in result.steps), default=0) * 4 + 10
        self._needs_jobs(min(guess, 100_000), "a budget cycle")
        batch = self._pace(self.rate_call(), "budget", cycle=result.cycles, rate=self.s.max_rate,
                            stop=_refused, limit=100_000)
        self.p.settle(batch, timeout=WAIT_MIN_S + 10)
        self._observe(batch)
        self._observe_burst(batch)
        self._step(batch.step("budget", result.cycles, self.s.max_rate))
        if batch.capped:
            raise Stop("the job cap was reached during a budget cycle")
        refusal = self._rate_refusal(batch)
        origin = batch.first_sent
        if refusal is None or origin is None:
            if batch.first_refusal is not None:
                self._after_refusal(batch.first_refusal, origin or batch.first_refusal)
            return False
        late = _admitted_after(batch, refusal)
        if late:
            result.notes.append(f"cycle {result.cycles}: {late} requests were admitted after the burst's first 429 "
                                "had been answered (the window turned over during the burst); its count was not used")
        else:
            result.budget.add(batch.admitted, f"cycle {result.cycles}: a quick burst")
        self._facts_from_refusal(refusal, origin, f"cycle {result.cycles}")
        self._window_start = origin.sent
        self._after_refusal(refusal, origin)
        return True

    def _bisection_cycle(self, window: Interval, high: float,
                         opened_by: RequestRecord | None = None) -> tuple[bool, RequestRecord | None]:
        """A quick burst of the window's budget ``B``, then one request at the middle of the window lengths
        still possible: refused, the window is longer; admitted, it is not. With ``opened_by`` (a request
        that just opened a fixed window alone) the cycle runs in that window at once. Returns whether it
        told anything, and the request that opened a new fixed window, if one did."""
        result = self.rate_result
        budget = int(result.budget.value())
        rate = self.s.max_rate
        already = 1 if opened_by is not None else 0
        self._needs_jobs(budget + 1 - already, "a bisection cycle")
        if opened_by is None:
            self._wait_fresh(high)
        call = self.rate_call()
        burst = self._pace(call, "window", cycle=result.cycles, rate=rate, stop=_refused, limit=budget - already)
        self.p.settle(burst, timeout=WAIT_MIN_S + 10)
        self._observe_burst(burst)
        origin = opened_by or burst.first_sent
        if burst.capped:
            raise Stop("the job cap was reached during a bisection cycle")
        if origin is None:
            return False, None
        target = window.mid if window.bounded else max(2 * window.low, high)
        last = max((r.sent for r in burst.records if not math.isnan(r.sent)), default=origin.sent)
        target = max(target, last - origin.sent + 2 / rate)
        probe = Batch() if burst.first_refusal is not None else self._pace(
            call, "window", cycle=result.cycles, rate=rate, limit=1, start=origin.sent + target)
        self.p.settle(probe, timeout=WAIT_MIN_S + 10)
        whole = Batch(records=burst.records + probe.records, admitted=burst.admitted + probe.admitted,
                      throttled=burst.throttled + probe.throttled, skipped=burst.skipped + probe.skipped,
                      first_refusal=burst.first_refusal or probe.first_refusal, started=origin.sent,
                      ended=self.p.now())
        self._observe(whole)
        self._step(whole.step("window", result.cycles, (budget + 1) / max(target, 1e-9)))
        if probe.capped:
            raise Stop("the job cap was reached during a bisection cycle")
        refusal = self._rate_refusal(whole)
        admitted = whole.admitted + already
        if refusal is not None:
            why = (f"cycle {result.cycles}: a burst of {budget - already}" if burst.first_refusal is not None
                   else f"cycle {result.cycles}: request {budget + 1} sent {target:.3g} s in")
            result.budget.add(admitted, why)
            self._facts_from_refusal(refusal, origin, why)
            self._window_start = origin.sent
            self._after_refusal(refusal, origin)
            return True, None
        if whole.first_refusal is not None:
            self._after_refusal(whole.first_refusal, origin)
            return False, None
        if probe.records and probe.admitted and result.budget.stable:
            extra = probe.records[0]
            self._window_start = extra.sent
            result.window.admitted(extra.sent - origin.sent + extra.rtt, f"cycle {result.cycles}: request "
                                   f"{budget + 1} admitted {extra.sent - origin.sent:.3f} s in")
            return True, (extra if result.kind == "fixed" else None)
        result.notes.append(f"cycle {result.cycles}: request {budget + 1} was admitted, but the budget has not "
                            "been seen twice alike, so it does not bound the window")
        return False, None

    def _split_plan(self, window: Interval, rate: float | None = None, rtts: int = 4) -> tuple[float, float] | None:
        """When to send the second half-budget and the burst after the window (offsets from the first
        request), or None while the window is not known well enough to tell fixed from rolling.

        With halves of ``d`` seconds each at the burst rate: the second half must end inside the window
        (``t2 + d < W_low``); the burst after the window starts once the first half has left any window
        (``T = W_high + d + delta``) and must send half a budget before the second half starts leaving a
        rolling window (``T + d < t2 + W_low``)."""
        result = self.rate_result
        if not result.budget.known or int(result.budget.value()) < 2 or not window.bounded:
            return None
        budget = int(result.budget.value())
        half = (budget // 2 + 1) / (rate or self._burst_rate())
        delta = self._split_delta(window, rtts)
        third = window.high + half + delta
        low = third + half + delta - window.low
        high = window.low - half - delta
        if low >= high:
            return None
        return (low + high) / 2, third

    def _split_ready(self, window: Interval) -> bool:
        return self._split_plan(window) is not None

    def _split_worth_a_try(self, window: Interval) -> bool:
        """The window is known, the test still untold and not plannable with the margins it is first planned
        with (a busy machine slows bursts and answers): try it at the full rate and with a margin of one
        round trip while tries remain, since where its groups landed is checked afterwards."""
        result = self.rate_result
        return (result.kind is None and result.kind_reason == "not tested" and self._split_tries < SPLIT_TRIES
                and self._split_plan(window, self.s.max_rate, rtts=1) is not None)

    def _split_not_placed_reason(self) -> str:
        if self._split_tries:
            return (f"not told: the test was placed {self._split_tries} times and its groups did not land where "
                    "planned (answers too uneven; see notes)")
        return (f"not told: the test does not fit in the window with bursts at {self._burst_rate():.3g}/s and "
                f"round trips of {1000 * self._typical_rtt():.3g} ms")

    def _split_delta(self, window: Interval, rtts: int = 4) -> float:
        """The margin around each group: a few typical round trips (where each group really landed is
        checked afterwards, so one slow answer need not push the test out of reach)."""
        return max(0.02 * window.high, rtts * self._typical_rtt(), 0.01)

    def _split_cycle(self, window: Interval, rate: float | None = None, rtts: int = 4) -> bool | None:
        """The fixed-or-rolling test; whether it told anything, or None when its groups did not land where
        planned (it is placed again, up to :data:`SPLIT_TRIES` times). Planned for bursts at ``rate`` (by
        default the slowest of the recent bursts) with margins of ``rtts`` typical round trips."""
        result = self.rate_result
        budget = int(result.budget.value())
        first, second = budget // 2, budget - budget // 2
        self._needs_jobs(2 * budget + 1, "the fixed-or-rolling test")
        plan = self._split_plan(window, rate, rtts)
        assert plan is not None  # checked by the caller
        second_at, third_offset = plan
        self._wait_fresh(window.high)
        call = self.rate_call()
        cycle = result.cycles
        start = self.p.now()
        group1 = self._pace(call, "split", cycle=cycle, rate=self.s.max_rate, limit=first,
                             stop=_refused, start=start)
        self.p.settle(group1, timeout=WAIT_MIN_S + 10)
        self._split_tries += 1
        origin = group1.first_sent
        if origin is None:
            return False
        self.p.sleep_until(origin.sent + second_at)
        group2 = self._pace(call, "split", cycle=cycle, rate=self.s.max_rate, limit=second,
                             stop=_refused)
        self.p.settle(group2, timeout=WAIT_MIN_S + 10)
        second_origin = group2.first_sent
        # the burst begins once the first group has surely left the window, however late its answers came
        answered = [r.answered for r in group1.records if r.done and not math.isnan(r.answered)]
        third_at = max(origin.sent + third_offset, max(answered, default=-math.inf) + window.high + 0.001)
        for batch in (group1, group2):
            self._observe(batch)
        if group1.throttled or group2.throttled or second_origin is None:
            refusal = group1.first_refusal or group2.first_refusal
            result.kind_reason = "the budget had changed: the first two groups were not all admitted"
            if refusal is not None:
                self._after_refusal(refusal, origin)
            return False
        self.p.sleep_until(third_at)
        self.p.wait_gate(self.op)
        group3 = self._pace(call, "split", cycle=cycle, rate=self.s.max_rate, limit=budget + 1,
                             stop=_refused)
        self.p.settle(group3, timeout=WAIT_MIN_S + 10)
        self._observe(group3)
        whole = Batch(records=group1.records + group2.records + group3.records, skipped=group3.skipped,
                      started=start, ended=self.p.now())
        self._step(whole.step("split", cycle, self.s.max_rate))
        third_origin = group3.first_sent
        refusal = self._rate_refusal(group3)
        if third_origin is None:
            return False
        tolerance = max(0, budget // 10)
        misplaced = split_misplacements(group1.records, group2.records, group3.records, window,
                                        first + tolerance + 1)
        if misplaced:
            again = self._split_tries < SPLIT_TRIES
            result.notes.append(f"cycle {cycle}: the fixed-or-rolling test did not land as planned "
                                f"({'; '.join(misplaced)}); " + ("it is placed again" if again else "given up"))
            if not again:
                result.kind_reason = (f"not told: in {SPLIT_TRIES} tries the test's groups did not land where "
                                      "planned (answers too uneven; see notes)")
            if group3.first_refusal is not None:
                self._after_refusal(group3.first_refusal, third_origin, facts=False)
            return None
        kind = window_kind(first, second, group3.admitted, tolerance)
        result.kind = kind
        result.kind_reason = (
            f"{first} admitted at the start of a fresh window, {second} {second_at:.3g} s later; just after the "
            f"window ended, {group3.admitted} of a burst were admitted"
            + (f" ({'a fresh budget' if kind == 'fixed' else 'the second group still counted'})" if kind else
               ": neither a fresh budget nor the first half")
        )
        if kind == "fixed":
            self._window_start = third_origin.sent
        if refusal is not None:
            if kind == "fixed":
                result.budget.add(group3.admitted, f"cycle {cycle}: the burst after the window ended")
                self._facts_from_refusal(refusal, third_origin, f"cycle {cycle} (fixed, third group)")
            elif kind == "rolling":
                self._facts_from_refusal(refusal, second_origin, f"cycle {cycle} (rolling, second group)")
            self._after_refusal(refusal, third_origin)
        elif group3.first_refusal is not None:
            self._after_refusal(group3.first_refusal, third_origin)
        return kind is not None

    def _confirm(self) -> None:
        """Back off below the slowest rate the evidence allows and offer it for two windows: no 429 expected."""
        result = self.rate_result
        if not result.budget.known:
            return
        window = result.window.interval()
        if not window.bounded:
            return
        low_budget = result.budget.interval()[0]
        rate = self.s.confirm_fraction * low_budget / window.high
        fixed = result.kind == "fixed"
        # A fixed window opens with the stream's first request: a stream just shorter than the shortest
        # window possible fills one window at the rate, and that window is over by start + longest window.
        # Any other window: one and a quarter of the longest covers every position of a sliding one.
        duration = max(window.low * 0.999 if fixed else 1.25 * window.high, 5 / rate)
        self._needs_jobs(math.ceil(rate * duration) + 1, "the confirmation below the limit")
        opened_by, self._opened_by = self._opened_by, None
        if fixed and opened_by is not None and 1 + rate * window.high <= low_budget:
            # the window the last bisection request opened holds it alone: the stream fits in it from here
            origin = opened_by.sent
            start = origin + 1 / rate
        else:
            self._wait_fresh(window.high)
            origin = start = self.p.now()
        batch = self._pace(self.rate_call(), "confirm", cycle=result.cycles, rate=rate,
                            duration=duration, start=start)
        self._window_start = origin if fixed and duration < window.low else -math.inf
        self.p.settle(batch, timeout=WAIT_MIN_S + 10)
        self._observe(batch)
        self._step(batch.step("confirm", result.cycles, rate))
        result.confirm_rate = rate
        result.confirmed = batch.throttled == 0 and not batch.capped
        if result.confirmed:
            result.no_429_rates.append(rate)
        else:
            result.notes.append(f"not confirmed: {batch.throttled} of {len(batch.records)} requests at {rate:.3g}/s "
                                f"(below the limit found) were refused")
        if batch.first_refusal is not None:
            self._check_retry_after(batch.first_refusal)

    def _saturate(self) -> None:
        """Offer twice the fastest rate the evidence allows for a window, honouring Retry-After: what gets
        through per second is the limit seen from the client (the plateau of admitted against offered)."""
        result = self.rate_result
        window = result.window.interval()
        if not result.budget.known or not window.bounded or window.low <= 0:
            return
        rate = min(self.s.max_rate, 2 * result.budget.interval()[1] / window.low)
        duration = window.high
        self._needs_jobs(math.ceil(2.5 * result.budget.interval()[1]) + 1, "the saturation step")
        self._wait_fresh(window.high)
        batch = self._pace(self.rate_call(), "saturate", cycle=result.cycles, rate=rate,
                            duration=duration)
        self._window_start = -math.inf  # windows rolled over during the stream; where the last began is unknown
        self.p.settle(batch, timeout=WAIT_MIN_S + 10)
        self._observe(batch)
        self._step(batch.step("saturate", result.cycles, rate))
        if batch.throttled:
            result.throttled_rates.append(rate)
        if batch.first_refusal is not None:
            self._check_retry_after(batch.first_refusal)

    def _conclude(self) -> None:
        result = self.rate_result
        if result.status == NOT_REACHED:
            return
        refused = any(step.throttled for step in result.steps)
        if not refused and result.lower_bound_per_s:
            result.status = NOT_REACHED
            result.reason = f"no 429 up to {result.lower_bound_per_s:.3g}/s admitted; {result.reason or 'stopped'}"
            return
        window = result.window.interval()
        if not window.consistent:
            result.notes.append("the window evidence contradicts itself (budget changing, or other traffic on "
                                "the endpoint?); the interval shown is the hard facts' span")
        if window.dropped:
            result.notes.append("Retry-After did not fit the other evidence and was not used to bound the window "
                                f"({', '.join(window.dropped)})")
        if result.budget.known and window.bounded and window.consistent:
            result.status = FOUND
            result.reason = ""
        elif result.status != FOUND:
            result.status = NOT_MEASURED
            if not result.reason:
                result.reason = ("no window bounded by the evidence" if result.budget.known
                                 else "no clean window was measured")

    # ---------------------------------------------------------------------------------- concurrency

    def concurrency(self, rate: RateResult, hold_job: Callable[[float], str | None]) -> ConcurrencyResult:
        """Requests held in flight in waves (long-polls only); never raises :class:`Stop`."""
        result = self.concurrency_result
        if self.op not in HOLDABLE:
            result.reason = (f"/{self.op.value} answers at once, so requests cannot be held in flight on purpose "
                             "(only /runsync, /status-sync and /stream wait)")
            return result
        pace = self._hold_pace(rate)
        try:
            self._waves(result, pace, hold_job)
        except Stop as stop:
            result.notes.append(f"stopped early: {stop}")
            result.reason = result.reason or str(stop)
        low, high = result.evidence.interval()
        if high is not None and result.evidence.consistent and low > 0:
            result.status = FOUND
            result.reason = ""
        elif high is None and low > 0 and result.status != FOUND:
            result.status = NOT_REACHED
            result.reason = result.reason or f"{low} requests held at once without a 429"
        return result

    def _hold_pace(self, rate: RateResult) -> float:
        """Open holds at 70% of the slowest rate the evidence allows (no rate-limit 429 can interfere: a
        window sees at most 70% of its budget)."""
        if rate.found:
            return max(0.1, min(self.s.max_rate / 2, 0.7 * rate.per_second()[0]))
        if rate.status == NOT_REACHED and rate.lower_bound_per_s:
            return max(1.0, min(self.s.max_rate / 2, rate.lower_bound_per_s / 2))
        documented = documented_per_s(self.op)
        return max(1.0, min(self.s.max_rate / 2, (documented or 10.0) / 4))

    def _hold_call(self, hold_s: float, hold_job: Callable[[float], str | None]) -> Callable[[int], Call]:
        wait_ms = round(min(WAIT_MAX_S, max(WAIT_MIN_S, hold_s)) * 1000)
        if self.op is Op.RUNSYNC:
            call = Call(Op.RUNSYNC, body=self.hold_payload(hold_s + 5), params={"wait": wait_ms})
        else:
            job = hold_job(hold_s)
            if job is None:
                raise Stop("no job could be made to hold requests on")
            call = Call(self.op, job_id=job, params={"wait": wait_ms})
        return lambda _: call

    def _waves(self, result: ConcurrencyResult, pace: float, hold_job: Callable[[float], str | None]) -> None:
        size = 4
        found: int | None = None
        while True:
            size = min(size, self.s.max_concurrency)
            refused = self._wave(result, size, pace, hold_job, "holds")
            if refused:
                found = result.evidence.interval()[0]
                break
            if size >= self.s.max_concurrency:
                break
            size *= 4
        if found is None:
            result.reason = f"no 429 with {self.s.max_concurrency} requests held (--max-concurrency)"
            return
        if found < 1:
            return
        refused_confirm = self._wave(result, found + 1, pace, hold_job, "confirm")
        held = result.waves[-1]["held"]
        result.confirmed = bool(refused_confirm) and held == found and result.waves[-1]["refused"] == 1
        if not result.confirmed:
            result.notes.append(f"confirmation wave of {found + 1}: {held} held, {result.waves[-1]['refused']} "
                                "refused (expected exactly one refused)")

    def _wave(self, result: ConcurrencyResult, size: int, pace: float, hold_job: Callable[[float], str | None],
              phase: str) -> bool:
        settle = max(0.3, 4 * self._rtt)
        opening = size / pace
        hold_s = round(min(WAIT_MAX_S, max(WAIT_MIN_S, opening + settle + 0.5)), 3)
        if opening + settle > hold_s:
            raise Stop(f"{size} requests cannot be opened within the longest wait the API allows at {pace:.3g}/s")
        self._needs_jobs(size, f"a wave of {size} held requests")
        call = self._hold_call(hold_s, hold_job)
        self.p.wait_gate(self.op)
        start = self.p.now()
        batch = self.p.pace(call, op=self.op, phase=phase, cycle=len(result.waves), rate=pace, limit=size,
                            stop=_refused)
        last_send = max((r.sent for r in batch.records if not math.isnan(r.sent)), default=start)
        self.p.sleep_until(max(self.p.now(), last_send + settle))
        early = [r for r in batch.records if r.admitted]
        refusals = [r for r in batch.records if r.throttled]
        held = sum(1 for r in batch.records if not r.done and not math.isnan(r.sent))
        for record in refusals:
            if record.limit_hint in ("rate", "queue_size"):
                result.notes.append(f"a 429 of the {record.limit_hint.replace('_', '-')} limit came during a wave "
                                    f"of {size}; it does not bound concurrency")
                continue
            result.evidence.refused(record.held)
        if not early:
            result.evidence.held(held)
        elif held:
            result.evidence.held(held)
            result.notes.append(f"{len(early)} of a wave of {size} were answered before the wave was complete "
                                "(their jobs finished?); only the requests still held count")
        wave: dict[str, str | float | int] = {"phase": phase, "size": size, "sent": len(batch.records), "held": held,
                                        "refused": len(refusals), "answered_early": len(early),
                                        "pace_per_s": round(pace, 3), "hold_s": hold_s,
                                        "started_s": round(start, 3)}
        result.waves.append(wave)
        if batch.capped:
            raise Stop("the job cap was reached during a wave")
        if early and not held and not refusals:
            raise Stop(f"none of a wave of {size} stayed in flight: the requests were answered before "
                       f"their wait ({hold_s:g} s) ran out; give a job that lasts (--hold-key / --payload)")
        self.p.settle(batch, timeout=hold_s + 15)
        self._observe(batch, held=True)
        for record in refusals:
            self._check_retry_after(record)
        return bool([r for r in refusals if r.limit_hint not in ("rate", "queue_size")])


# ----------------------------------------------------------------------------------------- queue size


@dataclass
class QueueResult:
    """The queue-size rule, exercised on purpose: submissions of jobs that last, until one is refused."""

    status: str = "not_exercised"
    reason: str = ""
    admitted_at_most: int | None = None
    """The longest queue a submission was still admitted at."""
    refused_at: int | None = None
    """The queue length at the first refusal."""
    submitted: int = 0
    notes: list[str] = field(default_factory=list)

    def interval(self) -> tuple[int, int] | None:
        """The queue length above which submissions are refused: ``[admitted_at_most, refused_at - 1]``."""
        if self.refused_at is None:
            return None
        return self.admitted_at_most or 0, self.refused_at - 1


def queue_size_search(prober: Prober, settings: Settings, run_rate: RateResult | None, *, purge: bool) -> QueueResult:
    """``/run`` jobs that last (``hold_key``), one at a time under the rate limit, each after reading the queue
    length from ``/health``, until a 429 that is not the rate's or concurrency's; never raises.

    Afterwards none of those jobs is left to run: with ``purge`` the queue is dropped and the running ones
    cancelled; without, every one is cancelled (one ``/cancel`` each, honouring its Retry-After). Each also
    carries a ``ttl``, so a discovery that dies leaves jobs that expire instead of running."""
    result = QueueResult()
    if run_rate is not None and run_rate.found:
        pace = 0.7 * run_rate.per_second()[0]
    else:
        pace = (documented_per_s(Op.RUN) or 10.0) / 4
    pace = min(pace, settings.max_rate)
    job_input = dict(settings.payload.get("input") or {})
    job_input[settings.hold_key] = settings.max_op_s
    policy = {**(settings.payload.get("policy") or {}), "ttl": round((settings.max_op_s + 60) * 1000)}
    call = Call(Op.RUN, body={**settings.payload, "input": job_input, "policy": policy})
    began = prober.now()
    first_job = len(prober.jobs.ids)
    try:
        return _fill_queue(prober, settings, result, call, pace, began)
    except Stop as stop:
        result.reason = str(stop)
        return result
    finally:
        _clear_queue(prober, prober.jobs.ids[first_job:], purge=purge)


def _clear_queue(prober: Prober, jobs: list[str], *, purge: bool) -> None:
    """Leave none of the queue search's jobs to run. The queue is first in, first out: the earliest jobs are
    the running ones."""
    if purge:
        prober.call(Call(Op.PURGE_QUEUE), phase="cleanup")
        _, health = prober.call(Call(Op.HEALTH), phase="cleanup")
        body = health.body if health is not None and health.ok else None
        running = (body.get("jobs") or {}).get("inProgress") if isinstance(body, dict) else None
        jobs = jobs[: running if isinstance(running, int) else len(jobs)]
    for job in jobs:
        prober.call(Call(Op.CANCEL, job_id=job), phase="cleanup")


def _fill_queue(prober: Prober, settings: Settings, result: QueueResult, call: Call, pace: float,
                began: float) -> QueueResult:
    """One submission after each /health reading of the queue length, at ``pace``, until refused."""
    while prober.now() - began < settings.max_op_s:
        at = prober.now() + 1 / pace
        _, health = prober.call(Call(Op.HEALTH), phase="queue")
        body = health.body if health is not None and health.ok else None
        queued = (body.get("jobs") or {}).get("inQueue") if isinstance(body, dict) else None
        if not isinstance(queued, int):
            result.reason = "/health did not say how many jobs are queued"
            return result
        record = prober.send(call, phase="queue")
        if record is None:
            result.status = "not_reached"
            result.reason = (f"the job cap was reached with {queued} jobs queued and no 429 "
                             "(the threshold is higher)")
            return result
        result.submitted += 1
        if record.throttled:
            if record.limit_hint in ("rate", "concurrency"):
                result.notes.append(f"a 429 named the {record.limit_hint} limit at {queued} queued; the "
                                    "search slowed down")
                pace /= 2
                continue
            result.status = "exercised"
            result.refused_at = queued
            if record.limit_hint is None:
                result.notes.append("the 429 did not name its limit; it came below the rate limit, while the "
                                    "queue grew")
            return result
        if record.admitted:
            result.admitted_at_most = max(result.admitted_at_most or 0, queued)
        prober.sleep_until(at)
    result.status = "not_reached"
    result.reason = f"no 429 after {settings.max_op_s:g} s ({result.admitted_at_most} queued at most)"
    return result
