"""A Locust ``LoadTestShape`` from the scenario's load section.

Closed model: the user count of each stage (or ``users`` for the whole ``duration``), spawned at
``spawn_rate`` (unset: at once). Open model: one arrival dispatcher for the whole run. Background users
(the dispatcher) are added on top of the flow users so a stage's count means flow users.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadtest.scenario.model import ClosedLoad, Scenario

MAX_ALL_AT_ONCE_SPAWN_RATE = 100.0
"""Without a spawn_rate every user starts within the first second, at most this many per second (Locust
warns above it)."""


def make_shape_class(scenario: Scenario, *, duration: float | None = None) -> type[LoadTestShape]:
    """A shape class that follows ``scenario.load`` for ``duration`` (default: the scenario's) seconds."""
    load = scenario.load
    total = float(duration if duration is not None else scenario.total_duration)

    if isinstance(load, ClosedLoad):
        spawn_rate = float(load.spawn_rate) if load.spawn_rate else min(
            float(max(load.peak_users, 1)), MAX_ALL_AT_ONCE_SPAWN_RATE
        )

        def users_at(elapsed: float) -> int:
            users = load.users_at(elapsed)
            if users is None:  # past the last stage but the run was made longer: hold the last stage
                users = load.stages[-1].users
            return users
    else:
        spawn_rate = 1.0

        def users_at(elapsed: float) -> int:
            return 1

    class ScenarioShape(LoadTestShape):
        """Follows the scenario's load section; stops after the run's duration."""

        run_seconds = total

        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            if elapsed >= self.run_seconds:
                return None
            return users_at(elapsed), spawn_rate

    ScenarioShape.__name__ = ScenarioShape.__qualname__ = f"{_camel(scenario.name)}Shape"
    return ScenarioShape


def _camel(name: str) -> str:
    parts = [p for p in "".join(c if c.isalnum() else " " for c in name).split() if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) or "Scenario"
