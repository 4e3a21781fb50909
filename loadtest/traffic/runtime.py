"""Everything one Locust process shares while it runs a scenario: target, limiters, recorder, job book.

Built once per process (by the locustfile or by ``loadtest run``), before any user starts; users and the
open-model dispatcher get their :class:`FlowContext` from it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import gevent
from gevent import Greenlet

from loadtest.contract import Op
from loadtest.listeners import Listeners
from loadtest.metrics.recorder import Recorder
from loadtest.queue_api.reachability import Reachability
from loadtest.queue_api.target_facts import target_facts
from loadtest.scenario.limit_sources import scenario_limits
from loadtest.scenario.model import EndpointTarget, Flow, HealthFlow, Scenario
from loadtest.scenario.payload import PayloadFactory
from loadtest.traffic.client import ApiClient
from loadtest.traffic.control import RunControl
from loadtest.traffic.flows import FlowContext, HealthGate, JobBook, SpendingGuard, sample_health_forever
from loadtest.traffic.limiter import ClientLimiters

if TYPE_CHECKING:  # Locust itself is imported only where users run (it monkey-patches the process)
    from locust.contrib.fasthttp import FastHttpSession
    from locust.event import EventHook

    from loadtest.traffic.arrivals import ArrivalDispatcher

def build_limiters(scenario: Scenario, processes: int = 1) -> ClientLimiters | None:
    """The client limiters the scenario's policy asks for over its limits in force, or None when nothing is
    limited. ``respect``: every limit in force, using ``rate_limits.margin`` of it; ``probe`` and ``ignore``:
    only the per-operation limits the scenario sets for the client (``rate_limits.operations``)."""
    policy = scenario.rate_limits
    limiters = ClientLimiters(scenario_limits(scenario), respect=policy.policy == "respect",
                              margin=1.0 - policy.margin, processes=processes)
    return limiters if limiters.active else None


class JobCounts(Protocol):
    """What the progress line and the web UI read of a run's jobs: the process's own job book, or on a
    distributed master the counts its workers report."""

    @property
    def submitted(self) -> int: ...

    @property
    def in_flight(self) -> int: ...


class TrafficRuntime:
    """One process's share of a run: the scenario, its target and everything flows record into.

    The drivers (``loadtest run``'s run loop, the locustfile, a distributed worker) own its life:
    :meth:`start_clock` as users start, :meth:`finish` when they have stopped; :meth:`reset_measurements`
    between tests of one web UI session. Whoever must hear of an early stop adds a listener to
    :attr:`stop_requested` (it gets the reason).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        base_dir: Path | str | None = None,
        recorder: Recorder | None = None,
        processes: int = 1,
        process_index: int = 0,
    ) -> None:
        self.scenario = scenario
        facts = target_facts(scenario)
        self.endpoint_id = facts.endpoint_id
        self._api_key = facts.api_key
        self._key_source = facts.key_source
        self._processes = processes
        self.control = RunControl()
        self.recorder: Recorder = recorder or Recorder()
        self.jobs = JobBook(self.recorder)
        self.job_counts: JobCounts = self.jobs
        """Where job counts are read from (a distributed master points it at its workers' reports)."""
        self.limiters: ClientLimiters | None = build_limiters(scenario, processes)
        self.payloads = PayloadFactory.for_scenario(
            scenario, base_dir=base_dir, stream=process_index, streams=processes
        )
        target = scenario.target
        max_jobs = None
        if isinstance(target, EndpointTarget):
            max_jobs = max(1, target.max_jobs // processes + (1 if process_index < target.max_jobs % processes else 0))
        self.stop_reason: str | None = None
        self.stop_requested: Listeners[[str]] = Listeners()
        """Called with the reason when something asks the run to end early (spending guard, a lost
        threshold, a dead target); the run loop or Locust's runner stops on it."""
        self.guard = SpendingGuard(max_jobs, on_reached=self._on_guard_reached)
        self.flows: dict[str, Flow] = scenario.flows_by_name()
        self.health_gate = HealthGate()
        self.reachability = self._new_reachability()
        """Whether requests get answers and the key is accepted (read by the run's watchers)."""
        self.health_sampler: Greenlet | None = None
        """The background /health sampler greenlet, when the mix has a health flow."""
        self.started_at: float | None = None
        self.started_monotonic: float | None = None
        self.dispatcher: ArrivalDispatcher | None = None
        """The open-model dispatcher while it runs (its stats: scheduled, started, dropped)."""
        self._contexts = 0

    def __repr__(self) -> str:  # never show the key
        return f"TrafficRuntime(scenario={self.scenario.name!r}, endpoint_id={self.endpoint_id!r})"

    # ------------------------------------------------------------------------------------- life

    def start_clock(self) -> float:
        """The measured window starts now (the recorder's clock too); returns the monotonic instant."""
        self.started_at = time.time()
        self.started_monotonic = time.monotonic()
        self.recorder.start = self.started_at
        return self.started_monotonic

    def request_stop(self, reason: str) -> None:
        """Ask the run to end early (flows wind down; whoever drives Locust stops it)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.control.stop()
        self.stop_requested.fire(reason)

    def _new_reachability(self) -> Reachability:
        reachability = Reachability()
        # a refused key ends the run at the first refusal: every further request would be refused too
        reachability.refused.add(lambda refusal: self.request_stop(self.refusal_sentence() or "the key was refused"))
        return reachability

    def _on_guard_reached(self) -> None:
        self.request_stop(f"spending guard: target.max_jobs ({self.guard.max_jobs}) jobs submitted")

    def refusal_sentence(self) -> str | None:
        """The key's refusal as one sentence with the target's own words (the key itself never shown)."""
        refusal = self.reachability.refusal
        if refusal is None:
            return None
        words = refusal.message.replace(self._api_key, "<redacted>") if self._api_key else refusal.message
        return (f"the target refused the API key from {self._key_source} ({words}); "
                "check the key and the endpoint id")

    def finish(self) -> int:
        """End of the run: stop flows and record every job still open as in flight; returns how many."""
        self.control.stop()
        return self.jobs.close_remaining()

    def reset_measurements(self) -> None:
        """Start a new test with empty measurements: a new recorder, job book, live counts and guard."""
        old = self.recorder
        self.recorder = Recorder(bucket_s=old.bucket_s, keep_jobs=old.keep_jobs)
        self.jobs = JobBook(self.recorder)
        self.job_counts = self.jobs
        self.reachability = self._new_reachability()
        self.stop_reason = None
        self.dispatcher = None
        self.guard = SpendingGuard(self.guard.max_jobs, on_reached=self._on_guard_reached)

    def choose_rate_limits(self, policy: str, on_429_action: str) -> None:
        """Run the next test with another rate-limit policy / 429 action (the web UI's start form)."""
        limits = self.scenario.rate_limits
        if policy == limits.policy and on_429_action == limits.on_429.action:
            return
        on_429 = limits.on_429.model_copy(update={"action": on_429_action})
        new_limits = limits.model_copy(update={"policy": policy, "on_429": on_429})
        self.scenario = self.scenario.model_copy(update={"rate_limits": new_limits})
        old = self.limiters
        self.limiters = build_limiters(self.scenario, self._processes)
        if old is not None and self.limiters is not None:
            self.limiters.set_share(old.share)  # a distributed worker keeps the share its master gave it

    # ------------------------------------------------------------------------------- measurement

    def _on_response(self, op: Op, flow: str, status: int, latency_s: float, started_at: float, /) -> None:
        """Every HTTP attempt's one recording (Locust's own request event has already counted it)."""
        self.recorder.record_request(op, flow, status, latency_s * 1000, started_at + latency_s)  # Op is a str

    def _on_error(self, op: Op, status: int, message: str) -> None:
        """The target's words for an error, kept once per operation and status (the key never shown)."""
        if (op.value, status) not in self.recorder.error_messages:
            self.recorder.note_error(op.value, status, message.replace(self._api_key, "<redacted>")
                                     if self._api_key else message)

    def _on_throttle(
        self, op: Op, flow: str, retry_after_s: float | None, waited_s: float | None, ended_at: float, /
    ) -> None:
        """A 429's Retry-After and the wait that followed (its request was recorded by :meth:`_on_response`)."""
        self.recorder.record_throttle(
            op, flow, None if retry_after_s is None else retry_after_s * 1000,
            None if waited_s is None else waited_s * 1000, ended_at,
        )

    def context_for(self, session: FastHttpSession) -> FlowContext:
        """A flow context over one HTTP session (a user's ``client``)."""
        self._contexts += 1
        rng = random.Random(f"{self.scenario.seed}:{self._contexts}")
        api = ApiClient(
            session,
            endpoint_id=self.endpoint_id,
            api_key=self._api_key,
            on_429=self.scenario.rate_limits.on_429,
            control=self.control,
            limiters=self.limiters,
            on_response=self._on_response,
            on_throttle=self._on_throttle,
            on_error=self._on_error,
            rng=rng,
            reachability=self.reachability,
        )
        return FlowContext(
            api=api,
            control=self.control,
            jobs=self.jobs,
            recorder=self.recorder,
            make_payload=self.payloads.make,
            rng=rng,
            guard=self.guard,
            health_gate=self.health_gate,
        )

    def start_health_sampling(self, request_event: EventHook, host: str) -> None:
        """Sample ``/health`` in the background every ``every`` of the mix's health flow (none without one)."""
        found = health_flow(self.flows)
        if found is None:
            return
        name, flow = found
        from locust.contrib.fasthttp import FastHttpSession

        session = FastHttpSession(
            base_url=host, request_event=request_event, user=None, network_timeout=30.0, connection_timeout=30.0,
            concurrency=2,
        )
        self.health_sampler = gevent.spawn(sample_health_forever, self.context_for(session), name, flow)

    def stop_health_sampling(self) -> None:
        """Let the sampler finish its sample (bounded), then end it."""
        sampler, self.health_sampler = self.health_sampler, None
        if sampler is not None:
            sampler.join(timeout=5)
            sampler.kill()


def health_flow(flows: dict[str, Flow]) -> tuple[str, HealthFlow] | None:
    """The mix's health flow, if any (its ``every`` drives the background sampler)."""
    for name, flow in flows.items():
        if isinstance(flow, HealthFlow):
            return name, flow
    return None
