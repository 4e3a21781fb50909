"""Real Locust ``User`` classes built from a scenario (listed by ``--list``, chosen with ``--class-picker``).

Closed model: one ``FastHttpUser`` class named after the scenario; each user takes the flows of the mix
in proportion to their weights, interleaved (:class:`WeightedCycle`), one per iteration, and waits the
scenario's think time between them. One class rather than one per flow, because Locust splits *users*
among classes by weight and gives a low-weight class no user at all when users are few; a per-iteration
share serves every flow at any user count. Open model: a single
dispatcher user that starts flows (picked by weight) on the arrival schedule, on a pool of
``max_in_flight`` greenlets sharing the user's connection pool. The ``/health`` sampler is not a user: it
is a background greenlet (:meth:`TrafficRuntime.start_health_sampling`), so it never takes a user slot.

The method that runs a flow is called ``flow_iteration``: ``run`` is reserved by Locust.
"""

from __future__ import annotations

import itertools
import random

from locust import FastHttpUser, task

from loadtest.distributions import Distribution, draw
from loadtest.flowkinds import FLOW_KINDS
from loadtest.scenario.model import (
    ClosedLoad,
    Flow,
    OpenLoad,
)
from loadtest.traffic.arrivals import ArrivalDispatcher, ArrivalPhase, arrival_offsets
from loadtest.traffic.flows import FlowContext, run_flow
from loadtest.traffic.mix import WeightedCycle
from loadtest.traffic.runtime import TrafficRuntime

IDLE_PAUSE_S = 0.1
"""A user's pause when the run is draining or stopping (so an ending run never spins)."""
OPEN_POOL_HEADROOM = 8
"""Connections beyond ``max_in_flight`` for the dispatcher's pool (a flow holds one at a time)."""
DRAIN_GRACE_S = 30.0
"""Longest the dispatcher waits, once the run stops, for started flows to record their jobs."""


def class_name(flow_name: str, suffix: str = "User") -> str:
    """``run_poll.2`` → ``RunPoll2User``: a valid, readable class name for Locust's lists."""
    words = "".join(c if c.isalnum() else " " for c in flow_name.replace("_", " ")).split()
    return "".join(w[:1].upper() + w[1:] for w in words) + suffix


def network_timeout_for(flows: list[Flow]) -> float:
    """Socket timeout: above the longest long-poll ``wait`` any flow asks the server to hold."""
    waits = [float(getattr(flow, "wait", 0.0)) for flow in flows if FLOW_KINDS[flow.flow].long_polls]
    return max([60.0, *(w + 30.0 for w in waits)])


def weighted_flows(runtime: TrafficRuntime) -> list[tuple[str, Flow]]:
    """Flows of the mix that carry traffic (weight > 0)."""
    return [(name, flow) for name, flow in runtime.flows.items() if flow.weight > 0]


def _open_phases(load: OpenLoad, total: float) -> list[ArrivalPhase]:
    """The arrival schedule's phases: one for a single rate, else one per stage (ramps resolved by the model)."""
    if not isinstance(load.arrival_rate, list):
        return [ArrivalPhase(duration=total, rate=float(load.arrival_rate))]
    return [
        ArrivalPhase(phase.duration, phase.start, None if phase.end == phase.start else phase.end)
        for phase in load.rate_phases()
    ]


def build_user_classes(
    runtime: TrafficRuntime, host: str | None, *, duration: float | None = None, rate_scale: float = 1.0
) -> list[type[FastHttpUser]]:
    """The scenario's Locust user classes, bound to ``runtime``, sending to ``host`` (the API base URL)."""
    scenario = runtime.scenario
    mix = weighted_flows(runtime)
    timeout = network_timeout_for([flow for _, flow in mix])
    total = float(duration if duration is not None else scenario.total_duration)
    load = scenario.load

    if isinstance(load, ClosedLoad):
        return [_closed_user_class(runtime, host, scenario.name, mix, load.think_time, timeout)]
    return [_open_user_class(runtime, host, load, mix, total, timeout, rate_scale)]


def _closed_user_class(
    runtime: TrafficRuntime, host: str | None, scenario_name: str, mix: list[tuple[str, Flow]], think: Distribution,
    timeout: float,
) -> type[FastHttpUser]:
    constant_think = float(think.value or 0.0) if think.kind == "constant" else None
    names = [name for name, _ in mix]
    flows = dict(mix)
    weights = [flows[name].weight for name in names]
    user_numbers = itertools.count()

    class MixUser(FastHttpUser):
        """Runs the scenario's mix: a flow picked by weight per iteration (closed model)."""

        abstract = False
        network_timeout = timeout
        connection_timeout = min(timeout, 30.0)

        def on_start(self) -> None:
            self.ctx: FlowContext = runtime.context_for(self.client)
            self.mix = WeightedCycle(names, weights, start=next(user_numbers))

        def wait_time(self) -> float:
            if not runtime.control.accepting:
                return IDLE_PAUSE_S
            return constant_think if constant_think is not None else draw(think, self.ctx.rng)

        @task
        def flow_iteration(self) -> None:
            if not runtime.control.accepting:
                return
            name = self.mix.next()
            run_flow(self.ctx, name, flows[name])

    MixUser.host = host
    MixUser.__name__ = MixUser.__qualname__ = class_name(scenario_name)
    MixUser.__doc__ = f"Runs the mix of scenario {scenario_name!r} ({', '.join(names)}), a flow per iteration."
    return MixUser


def _open_user_class(
    runtime: TrafficRuntime, host: str | None, load: OpenLoad, mix: list[tuple[str, Flow]], total: float,
    timeout: float, rate_scale: float,
) -> type[FastHttpUser]:
    names = [name for name, _ in mix]
    flows = dict(mix)
    weights = [flows[name].weight for name in names]
    phases = _open_phases(load, total)
    poisson = load.arrivals == "poisson"

    class OpenArrivalsUser(FastHttpUser):
        """Starts flows at the scheduled arrival rate (open model); counts arrivals it cannot start."""

        abstract = False
        fixed_count = 1
        network_timeout = timeout
        connection_timeout = min(timeout, 30.0)
        concurrency = load.max_in_flight + OPEN_POOL_HEADROOM

        def on_start(self) -> None:
            self.ctx: FlowContext = runtime.context_for(self.client)
            self.picker = random.Random(f"{runtime.scenario.seed}:arrivals")

        def wait_time(self) -> float:
            return IDLE_PAUSE_S

        def _pick(self) -> str:
            return self.picker.choices(names, weights)[0]

        def _arrive(self) -> None:
            name = self._pick()
            run_flow(self.ctx, name, flows[name])

        def _dropped(self) -> None:
            runtime.recorder.record_dropped(self._pick())

        @task
        def flow_iteration(self) -> None:
            if runtime.control.stopping:
                return
            dispatcher = ArrivalDispatcher(
                arrival_offsets(phases, poisson=poisson, seed=runtime.scenario.seed, scale=rate_scale),
                self._arrive,
                load.max_in_flight,
                self._dropped,
                stop_event=runtime.control.event,
            )
            runtime.dispatcher = dispatcher
            try:
                dispatcher.run()
                runtime.control.event.wait()  # the schedule is done; flows run on until the run stops
                dispatcher.join(timeout=DRAIN_GRACE_S)
            finally:
                dispatcher.kill()

    OpenArrivalsUser.host = host
    OpenArrivalsUser.__name__ = OpenArrivalsUser.__qualname__ = "OpenArrivalsUser"
    return OpenArrivalsUser


__all__ = [
    "build_user_classes",
    "class_name",
    "network_timeout_for",
]
