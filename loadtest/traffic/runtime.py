"""Everything one Locust process shares while it runs a scenario: target, limiters, recorder, job book.

Built once per process (by the locustfile or by ``loadtest run``), before any user starts; users and the
open-model dispatcher get their :class:`FlowContext` from it.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.contract import Op
from loadtest.metrics.recorder import Recorder
from loadtest.scenario.model import EmulatorTarget, EndpointTarget, Scenario
from loadtest.scenario.payload import PayloadFactory
from loadtest.traffic.client import ApiClient
from loadtest.traffic.control import RunControl
from loadtest.traffic.flows import FlowContext, HealthGate, JobBook, SpendingGuard
from loadtest.traffic.limiter import ClientLimiters, LimitsTable, OperationLimits

EMULATOR_PLACEHOLDER_KEY = "loadtest-emulator"
"""Sent to an emulator that demands no particular key (one must be sent, as on the platform)."""


class TargetError(ValueError):
    """The target cannot be used as configured (e.g. the API key variable is unset); says which and why."""


def api_key_for(scenario: Scenario) -> str:
    """The key to send, read from the environment variable the scenario names. Never logged or stored."""
    target = scenario.target
    if isinstance(target, EndpointTarget):
        key = os.environ.get(target.api_key_env, "")
        if not key:
            raise TargetError(
                f"target.api_key_env: environment variable {target.api_key_env} is not set; "
                f"export it with the endpoint's API key"
            )
        return key
    env_name = target.emulator.api_key_env
    if env_name:
        key = os.environ.get(env_name, "")
        if not key:
            raise TargetError(
                f"target.emulator.api_key_env: environment variable {env_name} is not set "
                f"(the emulator demands that key)"
            )
        return key
    return EMULATOR_PLACEHOLDER_KEY


def endpoint_id_of(scenario: Scenario) -> str:
    target = scenario.target
    return target.endpoint_id if isinstance(target, EndpointTarget) else target.emulator.id


def limits_table_for(scenario: Scenario) -> LimitsTable:
    """The limits the target enforces: the emulator's configuration, or the documented table."""
    target = scenario.target
    if isinstance(target, EmulatorTarget):
        limits = target.emulator.limits
        return LimitsTable.with_overrides(
            window=limits.window,
            rate_overrides=limits.rate_overrides,
            concurrency_overrides=limits.concurrency_overrides,
            rate_enabled=limits.rate,
            concurrency_enabled=limits.concurrency,
        )
    return LimitsTable.documented()


def build_limiters(scenario: Scenario, processes: int = 1) -> ClientLimiters | None:
    """The client limiters the scenario's policy asks for, or None when nothing is limited.

    ``respect``: every limit the target enforces, using ``rate_limits.margin`` of it. ``probe`` and
    ``ignore``: only the per-operation limits the scenario sets for the client (``rate_limits.operations``).
    """
    policy = scenario.rate_limits
    table = limits_table_for(scenario)
    respect = policy.policy == "respect"
    limiters = ClientLimiters(
        table if respect else LimitsTable(window=table.window, operations={}),
        margin=1.0 - policy.margin,
        processes=processes,
    )
    client_limits: dict[Op, OperationLimits] = {}
    for op, override in policy.operations.items():
        documented = table.operations.get(op, OperationLimits(None, None))
        rate = override.rate * table.window if override.rate is not None else None
        if rate is None and respect and documented.rate is not None:
            rate = documented.rate * policy.margin
        concurrency = override.concurrency
        if concurrency is None and respect and documented.concurrency is not None:
            concurrency = max(1, math.floor(documented.concurrency * policy.margin))
        client_limits[op] = OperationLimits(rate, concurrency)
    limiters.with_client_limits(client_limits)
    if not limiters.active:
        return None
    return limiters


@dataclass
class LiveCounts:
    """No longer counted: the progress line reads the recorder (``loadtest.metrics.figures.LiveTotals``), so
    nothing but the recorder does work per request. Kept, always zero, until the distributed worker and
    master stop passing it along (they are being restructured)."""

    requests: int = 0
    throttled: int = 0
    errors: int = 0


class TrafficRuntime:
    """One process's share of a run: the scenario, its target and everything flows record into."""

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
        self.endpoint_id = endpoint_id_of(scenario)
        self._api_key = api_key_for(scenario)
        self.control = RunControl()
        self.recorder = recorder or Recorder()
        self.jobs = JobBook(self.recorder)
        self.limiters = build_limiters(scenario, processes)
        self.payloads = PayloadFactory.for_scenario(
            scenario, base_dir=base_dir, stream=process_index, streams=processes
        )
        target = scenario.target
        max_jobs = None
        if isinstance(target, EndpointTarget):
            max_jobs = max(1, target.max_jobs // processes + (1 if process_index < target.max_jobs % processes else 0))
        self.stop_reason: str | None = None
        self.guard = SpendingGuard(max_jobs, on_reached=self._guard_reached)
        self.on_stop_requested: Callable[[str], object] = lambda reason: None
        self.flows = scenario.flows_by_name()
        self.live = LiveCounts()
        self.health_gate = HealthGate()
        self.health_sampler: Any = None
        """The background /health sampler greenlet, when the mix has a health flow."""
        self.started_at: float | None = None
        self.started_monotonic: float | None = None
        self.dispatcher: Any = None
        """The open-model dispatcher while it runs (its stats: scheduled, started, dropped)."""
        self._contexts = 0

    def __repr__(self) -> str:  # never show the key
        return f"TrafficRuntime(scenario={self.scenario.name!r}, endpoint_id={self.endpoint_id!r})"

    def _guard_reached(self) -> None:
        self.request_stop(f"spending guard: target.max_jobs ({self.guard.max_jobs}) jobs submitted")

    def request_stop(self, reason: str) -> None:
        """Ask the run to end early (flows wind down; whoever drives Locust stops it)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.control.stop()
        self.on_stop_requested(reason)

    def _on_response(self, op: Op, flow: str, status: int, latency_s: float, started_at: float, /) -> None:
        """Every HTTP attempt's one recording (Locust's own request event has already counted it)."""
        self.recorder.record_request(op, flow, status, latency_s * 1000, started_at + latency_s)  # Op is a str

    def _on_throttle(
        self, op: Op, flow: str, retry_after_s: float | None, waited_s: float | None, ended_at: float, /
    ) -> None:
        """A 429's Retry-After and the wait that followed (its request was recorded by :meth:`_on_response`)."""
        self.recorder.record_throttle(
            op, flow, None if retry_after_s is None else retry_after_s * 1000,
            None if waited_s is None else waited_s * 1000, ended_at,
        )

    def context_for(self, session: Any) -> FlowContext:
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
            rng=rng,
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

    def finish(self) -> int:
        """End of the run: stop flows and record every job still open as in flight; returns how many."""
        self.control.stop()
        return self.jobs.close_remaining()
