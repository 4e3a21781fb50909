"""Distributed runs driven by Locust itself (``loadtest ui --processes N``, ``locust -f ... --master/--worker``)."""

from __future__ import annotations

from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest.traffic.distributed.master import MasterCoordinator
from loadtest.traffic.distributed.worker import WorkerAgent
from loadtest.traffic.runtime import TrafficRuntime


def attach_to_locust(environment: Environment, runtime: TrafficRuntime) -> MasterCoordinator | None:
    """At Locust's ``init``: as master, merge the workers' measurements into ``runtime`` and divide the
    budget (the coordinator is returned); as worker, ship ``runtime``'s measurements. Nothing for a local
    runner."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        options = environment.parsed_options
        expected = int(getattr(options, "expect_workers", 1) or 1) if options is not None else 1
        return MasterCoordinator(runtime, runner, None, expected)
    if isinstance(runner, WorkerRunner):
        # the locustfile samples /health itself on every process; the budget share comes from the master
        WorkerAgent(environment, runner, runtime=runtime, sample_health=False)
    return None
