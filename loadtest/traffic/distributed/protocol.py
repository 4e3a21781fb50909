"""What master and workers say to each other: message names, timings, the run a worker is handed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.scenario.model import OpenLoad, Scenario
from loadtest.scenario.overrides import Overrides, apply_overrides
from loadtest.traffic.runtime import TrafficRuntime

MSG_HELLO = "loadtest:hello"
MSG_SCENARIO = "loadtest:scenario"
MSG_READY = "loadtest:ready"
MSG_SHARE = "loadtest:share"
MSG_FINAL = "loadtest:final"
MSG_STOP = "loadtest:stop"
MSG_DRAIN = "loadtest:drain"
"""Master → worker: the duration is over; submit no new jobs, follow those in flight."""
MSG_FINISH = "loadtest:finish"
"""Master → worker: stop your users and send your final report now (Locust's headless quit skips its stop)."""
REPORT_KEY = "loadtest"
"""Key of our recorder drain inside Locust's worker stats report."""

WORKER_WAIT_S = 60.0
"""How long the master waits for its ``--processes`` workers before giving up (``--master``: see
``--expect-workers-max-wait``)."""
WORKER_CONNECT_S = 60.0
"""How long a worker keeps trying to reach its master."""
FINAL_WAIT_S = 10.0
"""How long the master waits, after its test stopped, for final reports of workers still connected."""
FIRST_USERS_WAIT_S = 2.0
"""Longest the master waits, after starting the shape, for the workers to report their first users."""
WORKER_EXIT_WAIT_S = 10.0
"""How long the master waits for its local worker processes (``--processes``) to exit."""
SEED_STRIDE = 1_000_003
"""Worker ``i`` runs with seed ``seed + i * SEED_STRIDE`` (worker 0 keeps the scenario's), so workers'
random choices and Poisson arrivals are not copies of each other."""


# --------------------------------------------------------------------------------------------- shared


@dataclass
class RunRequest:
    """What a worker needs to build its part of the run: the scenario file's text and the overrides."""

    scenario_name: str
    scenario_text: str
    overrides: dict[str, str | int] = field(default_factory=dict)
    base_dir: str = ""
    """The scenario's directory on the master: a worker that has the same directory reads payload files
    there (local workers always do), else from its working directory."""

    def as_message(self, index: int, workers: int) -> dict[str, Any]:
        return {
            "name": self.scenario_name, "text": self.scenario_text, "overrides": self.overrides,
            "index": index, "workers": workers, "base_dir": self.base_dir,
        }


def worker_scenario(text: str, name: str, overrides: dict[str, str | int], index: int, base_dir: Path) -> Scenario:
    """The scenario a worker runs: the master's file (loaded here, ``${VAR}`` from this machine's
    environment, payload files from ``base_dir``), the master's overrides, and a seed of its own (see
    :data:`SEED_STRIDE`). Raises ``ValueError`` saying what is wrong."""
    from loadtest.scenario.loader import ScenarioError, load_scenario_text

    try:
        scenario = load_scenario_text(text, file=f"{name} (from the master)", base_dir=base_dir)
    except ScenarioError as exc:
        raise ValueError("; ".join(str(issue) for issue in exc.errors)) from None
    scenario = apply_overrides(scenario, Overrides(**overrides))  # type: ignore[arg-type]  # the master's own flags
    if index:
        scenario = scenario.model_copy(update={"seed": scenario.seed + index * SEED_STRIDE})
    return scenario


def user_classes_for(runtime: TrafficRuntime, host: str | None, workers: int) -> list[type]:
    """The scenario's user classes for a distributed run: the open model runs one arrival dispatcher per
    worker, each at ``1 / workers`` of the scheduled rate."""
    from loadtest.traffic.users import build_user_classes

    scenario = runtime.scenario
    is_open = isinstance(scenario.load, OpenLoad)
    classes = build_user_classes(
        runtime, host, duration=scenario.total_duration, rate_scale=1.0 / workers if is_open else 1.0
    )
    if is_open:
        for cls in classes:
            cls.fixed_count = workers
    return classes
