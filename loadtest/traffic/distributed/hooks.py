"""The locustfile's distributed hooks (``loadtest ui --processes N``, ``locust -f ... --master/--worker``)."""

from __future__ import annotations

from typing import Any

from locust.runners import MasterRunner, WorkerRunner

from loadtest.traffic.distributed.master import MasterCoordinator
from loadtest.traffic.distributed.worker import WorkerAgent
from loadtest.traffic.runtime import TrafficRuntime

# ------------------------------------------------------------------------------- locustfile (UI, locust -f)

_coordinator: MasterCoordinator | None = None
"""The master's coordinator when the locustfile runs as Locust's master (``loadtest ui --processes N``)."""


def attach_to_locust(environment: Any, runtime: TrafficRuntime) -> None:
    """At Locust's ``init`` in the locustfile: as master, merge the workers' measurements into ``runtime``
    and divide the budget; as worker, ship ``runtime``'s measurements. Nothing for a local runner."""
    global _coordinator
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        options = environment.parsed_options
        expected = int(getattr(options, "expect_workers", 1) or 1) if options is not None else 1
        _coordinator = MasterCoordinator(runtime, runner, None, expected)
    elif isinstance(runner, WorkerRunner):
        # the locustfile samples /health itself on every process; the budget share comes from the master
        WorkerAgent(environment, runner, runtime=runtime, sample_health=False)


def coordinator() -> MasterCoordinator | None:
    return _coordinator
