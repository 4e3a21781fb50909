"""A run whose traffic is over, and what went wrong in it, each as one sentence a person understands.

The findings go into ``summary.json`` (``run.warnings``), the report (a banner each) and the terminal, so
a run that was cut short, overloaded or half-measured never looks like a calm one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loadtest.errors import LoadtestError
from loadtest.looplag import describe_stalls
from loadtest.metrics.figures import run_counts
from loadtest.metrics.recorder import Recorder
from loadtest.scenario.model import Scenario
from loadtest.traffic.outcome import RunOutcome

UNFINISHED_WARN_FRACTION = 0.01
"""Warn when more than this share of the submitted jobs was still unfinished at the end."""


@dataclass
class FinishedRun:
    """A run whose traffic is over: what was measured and how, ready to be written, judged and shown."""

    scenario: Scenario
    recorder: Recorder
    outcome: RunOutcome
    run_dir: Path
    settings: dict[str, object] = field(default_factory=dict)
    """How the run was made (target, host, overrides, load generators...): ``run.settings`` in summary.json."""
    ground_truth: dict[str, object] | None = None
    emulator_log: Path | None = None
    failure: LoadtestError | None = None
    """Why the run could not measure what it set out to (the emulator died, the key was refused...): its
    sentence and the exit code it earns."""


def run_settings(
    scenario_file: Path, scenario: Scenario, *, target_kind: str, host: str | None, loadgens: int,
    duration_s: float | None = None, overrides: dict[str, str | int] | None = None, driver: str | None = None,
) -> dict[str, object]:
    """How the run was made (``run.settings`` in summary.json), whoever drove it: ``loadtest run`` adds the
    run's length and its overrides; a session Locust drives names itself as ``driver``."""
    settings: dict[str, object] = {
        "scenario_file": str(scenario_file), "target": target_kind, "host": host,
        "load_model": scenario.load.model, "rate_limit_policy": scenario.rate_limits.policy, "seed": scenario.seed,
        "generators": loadgens,
    }
    given = {"duration_s": duration_s, "overrides": overrides, "driver": driver}
    settings.update({key: value for key, value in given.items() if value is not None})
    return settings


@dataclass(frozen=True)
class Finding:
    """Something about the run a reader of its figures must know."""

    kind: str
    """``run_failure``, ``unfinished_jobs``, ``stopped_early``, ``lost_generators``..."""
    message: str


def findings(run: FinishedRun) -> list[Finding]:
    """What went wrong in ``run``, in the order a reader should learn it."""
    found: list[Finding] = []
    outcome = run.outcome
    if run.failure is not None:
        found.append(Finding("run_failure", f"{run.failure.sentence}; the figures cover the run until then"))
    elif outcome.stop_reason and not outcome.interrupted:
        found.append(Finding("stopped_early", f"the run stopped early: {outcome.stop_reason}"))
    counts = run_counts(run.recorder)
    unfinished, submitted = counts.in_flight, counts.jobs_submitted
    if submitted and unfinished / submitted > UNFINISHED_WARN_FRACTION:
        share = f"{unfinished} of {submitted} submitted jobs ({100 * unfinished / submitted:.0f}%)"
        if run.failure is not None or outcome.interrupted or outcome.stop_reason:
            why = "were still unfinished when the run stopped"
        elif outcome.drained_s > 0:
            why = f"were still unfinished after a {outcome.drained_s:.0f} s drain: the endpoint did not keep up"
        else:
            why = "were still unfinished when the run ended (no drain)"
        found.append(Finding("unfinished_jobs", f"{share} {why}; queue delay and end-to-end figures that depend "
                                                "on them are lower bounds"))
    found.extend(Finding("stall", f"{sentence}: figures around then may be distorted (requests sent late and in "
                                  "bursts, arrivals stamped late)") for sentence in stall_sentences(run))
    lost = outcome.loadgens.get("lost_generators") if outcome.loadgens else None
    if isinstance(lost, list) and lost:
        found.append(Finding("lost_generators", f"{len(lost)} load generator(s) were lost during the run: their "
                                                "last measurements are missing"))
    stalled = outcome.loadgens.get("stalled_generators") if outcome.loadgens else None
    for loadgen in stalled if isinstance(stalled, list) else []:
        for stall in loadgen.get("stalls", []):
            seconds, since = stall.get("seconds") or 0.0, stall.get("from_s") or 0.0
            found.append(Finding("stalled_generator", f"load generator {loadgen.get('index')} sent no heartbeats "
                                                      f"for {seconds:.1f} s from {since:.1f} s, then came back; its "
                                                      "share of the rate budget went to the others meanwhile"))
    return found


def stall_sentences(run: FinishedRun) -> list[str]:
    """Every stall of a process of the run (the load generators', the emulator's), one sentence each."""
    start = run.outcome.started_at
    sentences = []
    for process, lag in run.recorder.loop_lag().items():
        who = "the load generator" if process == "load generator" else process  # or "load generator 1"...
        sentences += describe_stalls(lag["stalls"], start, who)
    emulator_lag = (run.ground_truth or {}).get("loop_lag")
    if isinstance(emulator_lag, dict) and isinstance(emulator_lag.get("stalls"), list):
        sentences += describe_stalls(emulator_lag["stalls"], start, "the emulator")
    return sentences
