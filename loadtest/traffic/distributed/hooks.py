"""Distributed runs driven by Locust itself (``loadtest ui --generators N``, ``locust -f ... --master/--worker``):
the same master and load-generator machinery as ``loadtest run``, attached to Locust's runner."""

from __future__ import annotations

from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtest.traffic.distributed.loadgen import LoadgenAgent
from loadtest.traffic.distributed.master import MasterCoordinator
from loadtest.traffic.runtime import TrafficRuntime


def attach_to_locust(environment: Environment, runtime: TrafficRuntime) -> MasterCoordinator | None:
    """At Locust's ``init``: as master, merge the load generators' measurements into ``runtime`` and divide
    the budget (the coordinator is returned); as a Locust worker, be a load generator shipping ``runtime``'s
    measurements (each samples ``/health``). Nothing for a local runner."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        options = environment.parsed_options
        # Locust's own option (its --expect-workers, or --processes N)
        expected = int(getattr(options, "expect_workers", 1) or 1) if options is not None else 1
        return MasterCoordinator(runtime, runner, None, expected)
    if isinstance(runner, WorkerRunner):
        LoadgenAgent(environment, runner, runtime=runtime, health="every")
    return None
