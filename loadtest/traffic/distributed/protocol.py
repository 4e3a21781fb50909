"""What a master and its load generators agree on: message names, timings, the part of the run a load
generator is handed, and how a master gets its load generators."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from loadtest.errors import TargetFailure
from loadtest.scenario.model import OpenLoad, Scenario
from loadtest.traffic.arrivals import DispatchFigures
from loadtest.traffic.runtime import TrafficRuntime


class Msg:
    """Our own messages over Locust's connection to and from the master, by name."""

    HELLO = "loadtest:hello"
    """Load generator → master: I am here; send me the run."""
    SCENARIO = "loadtest:scenario"
    """Master → load generator: the run (:class:`Assignment`)."""
    READY = "loadtest:ready"
    """Load generator → master: my part of the run is built (or the error that stopped it)."""
    SHARE = "loadtest:share"
    """Master → load generator: your share of the ``respect`` budget (``1 / generators``)."""
    FINAL = "loadtest:final"
    """Load generator → master: my users stopped; the rest of my measurements."""
    STOP = "loadtest:stop"
    """Load generator → master: end the whole run (its spending guard, a refused key...)."""
    DRAIN = "loadtest:drain"
    """Master → load generator: the duration is over; submit no new jobs, follow those in flight."""
    FINISH = "loadtest:finish"
    """Master → load generator: stop your users and send your final report now (Locust's headless quit
    skips its stop)."""


REPORT_KEY = "loadtest"
"""Key of our recorder drain inside Locust's stats report of a load generator."""

LOADGEN_WAIT_S = 60.0
"""How long the master waits for its ``--generators`` before giving up (``--master``: see
``--expect-generators-max-wait``)."""
LOADGEN_CONNECT_S = 60.0
"""How long a load generator keeps trying to reach its master."""
FINAL_WAIT_S = 10.0
"""How long the master waits, after its test stopped, for final reports of load generators still connected."""
FIRST_USERS_WAIT_S = 2.0
"""Longest the master waits, after starting the shape, for the load generators to report their first users."""
LOADGEN_EXIT_WAIT_S = 10.0
"""How long the master waits for its local load generators (``--generators``) to exit."""
SEED_STRIDE = 1_000_003
"""Load generator ``i`` runs with seed ``seed + i * SEED_STRIDE`` (generator 0 keeps the scenario's), so their
random choices and Poisson arrivals are not copies of each other."""


Snapshot = dict[str, Any]
"""A recorder's ``drain()`` (``loadtest.metrics.recorder``), as it travels."""


class RefusalSeen(TypedDict):
    status: int
    message: str


class TargetSeen(TypedDict):
    """A load generator's view of the target: failing since when, the last error, a refused key."""

    failing_since: float | None
    last_failure: str | None
    refusal: RefusalSeen | None


class JobDelta(TypedDict):
    """Jobs submitted since the previous report, and in flight now."""

    submitted: int
    in_flight: int


class Report(TypedDict):
    """What a load generator adds to each of Locust's stats reports (under :data:`REPORT_KEY`)."""

    snapshot: Snapshot
    jobs: JobDelta
    reachability: TargetSeen


class FinalReport(Report):
    """``loadtest:final``: the rest of the measurements once the users stopped."""

    in_flight_at_end: int
    dispatch: DispatchFigures | None


class AssignmentMessage(TypedDict):
    """``loadtest:scenario``: the part of the run a load generator is handed."""

    name: str
    text: str
    overrides: dict[str, str | int]
    index: int
    generators: int
    base_dir: str


class LoadgenEntry(TypedDict):
    """One load generator in ``run.settings.distributed.generators``."""

    name: str
    index: int
    host: str
    pid: int | None
    joined_at_s: float | None
    reports: int
    final_report: bool
    in_flight_at_end: int
    error: NotRequired[str]


class LostLoadgen(TypedDict):
    """One in ``lost_generators``: when it was last heard from and how much of the run it missed."""

    name: str
    index: int
    pid: int | None
    reason: str | None
    lost_at: str
    lost_at_s: float | None
    missed_s: float | None
    missed_fraction: float | None
    last_report_at_s: float | None
    note: str


class Stall(TypedDict):
    from_s: float | None
    to_s: float | None
    seconds: float


class StalledLoadgen(TypedDict):
    """One in ``stalled_generators``: each time it sent no heartbeats for a while, then came back."""

    name: str
    index: int
    stalls: list[Stall]
    note: str


class ShareChange(TypedDict):
    at_s: float | None
    generators: int
    share: float


class DistributedSection(TypedDict):
    """``run.settings.distributed`` in summary.json (docs/distributed.md)."""

    mode: str
    generators_expected: int
    generators: list[LoadgenEntry]
    lost_generators: list[LostLoadgen]
    stalled_generators: list[StalledLoadgen]
    limiter_shares: list[ShareChange]


class LoadgensMissing(TargetFailure):
    """A distributed run never started: its load generators did not all come, or one could not build the run."""


@dataclass(frozen=True)
class LoadgenOptions:
    """How a master gets its load generators."""

    expected: int
    """Start once this many are ready."""
    bind_host: str = "*"
    bind_port: int = 0
    """The port load generators reach (0: any free one, as for ``--generators``; the CLI's default is
    Locust's 5557)."""
    local: int = 0
    """Start this many here (``--generators N``), bound to loopback."""
    max_wait_s: float = LOADGEN_WAIT_S
    """How long to wait for the expected load generators (0: as long as it takes)."""

    @property
    def mode(self) -> str:
        """``generators`` (started here) or ``master`` (they come from elsewhere)."""
        return "generators" if self.local else "master"

    def describe(self) -> str:
        if self.local:
            return f"{self.local} local load generators"
        return f"master for {self.expected} load generator(s)"


@dataclass
class RunRequest:
    """What a load generator needs to build its part of the run: the scenario file's text and the overrides."""

    scenario_name: str
    scenario_text: str
    overrides: dict[str, str | int] = field(default_factory=dict)
    base_dir: str = ""
    """The scenario's directory on the master: a load generator that has the same directory reads payload
    files there (local ones always do), else from its working directory."""

    def assign(self, index: int, loadgens: int) -> AssignmentMessage:
        """The ``loadtest:scenario`` message for load generator ``index`` of ``loadgens``."""
        return {
            "name": self.scenario_name, "text": self.scenario_text, "overrides": self.overrides,
            "index": index, "generators": loadgens, "base_dir": self.base_dir,
        }


@dataclass(frozen=True)
class Assignment:
    """A load generator's part of the run, as the master's ``loadtest:scenario`` message gave it."""

    scenario_name: str
    scenario_text: str
    overrides: dict[str, str | int]
    index: int
    loadgens: int
    base_dir: Path
    """Where payload files are read here: the master's scenario directory when this machine has it, else
    the working directory."""

    @classmethod
    def from_message(cls, data: AssignmentMessage) -> Assignment:
        master_dir = Path(data.get("base_dir") or "")
        return cls(
            scenario_name=str(data["name"]), scenario_text=str(data["text"]), overrides=dict(data["overrides"]),
            index=int(data["index"]), loadgens=max(1, int(data["generators"])),
            base_dir=master_dir if data.get("base_dir") and master_dir.is_dir() else Path.cwd(),
        )

    @property
    def source(self) -> str:
        """The file name issues are reported at."""
        return f"{self.scenario_name} (from the master)"

    def seeded(self, scenario: Scenario) -> Scenario:
        """``scenario`` with this load generator's own seed (see :data:`SEED_STRIDE`)."""
        if not self.index:
            return scenario
        return scenario.model_copy(update={"seed": scenario.seed + self.index * SEED_STRIDE})


def user_classes_for(runtime: TrafficRuntime, host: str | None, loadgens: int) -> list[type]:
    """The scenario's user classes for a distributed run: the open model runs one arrival dispatcher per
    load generator, each at ``1 / loadgens`` of the scheduled rate."""
    from loadtest.traffic.users import build_user_classes

    scenario = runtime.scenario
    is_open = isinstance(scenario.load, OpenLoad)
    classes = build_user_classes(
        runtime, host, duration=scenario.total_duration, rate_scale=1.0 / loadgens if is_open else 1.0
    )
    if is_open:
        for cls in classes:
            cls.fixed_count = loadgens
    return classes
