"""After the traffic: write the run directory, judge it, render its report, say what happened, pick the exit code.

Every run ends here, whoever drove it: ``loadtest run`` (one process or a master), a test stopped in the
web UI, a plain ``locust -f`` run. Each step is a typed call into its stage: ``metrics.rundir`` writes,
``check`` judges (and never renders), ``report`` renders (showing the verdicts when there are some).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from loadtest import exitcodes
from loadtest.check.judge import CheckInputError, judge_run
from loadtest.check.verdicts import Verdicts
from loadtest.metrics.rundir import VERDICTS_JSON, write_run_directory
from loadtest.pipeline import console
from loadtest.pipeline.finished import FinishedRun, findings
from loadtest.report.build import build_report
from loadtest.scenario.loader import resolved_dict
from loadtest.traffic.drive import LOCUST_FILES


@dataclass(frozen=True)
class Afterwards:
    """What to do with a finished run."""

    thresholds: bool = True
    """Judge the scenario's thresholds; the built-in criterion (no run where most requests failed passes)
    is judged either way."""
    baseline: str | None = None
    """Also compare with this saved baseline."""
    report: bool = True
    reports_root: Path | None = None
    """Where ``latest`` points at this run (None: leave ``latest`` alone)."""


@dataclass(frozen=True)
class Concluded:
    exit_code: int
    verdicts: Verdicts | None
    report: Path | None


def conclude(run: FinishedRun, after: Afterwards, out: TextIO, err: TextIO) -> Concluded:
    """Write, judge, render and summarise ``run``; returns the exit code with what was made."""
    outcome = run.outcome
    unreachable = console.connection_failures_only(run.recorder)
    judged = not outcome.interrupted and not unreachable and run.failure is None

    write(run, after.reports_root)
    verdicts = judge(run, after, err) if judged else None
    report = render(run, err) if after.report else None

    console.print_summary(run.scenario, run.recorder, outcome, run.run_dir, out, failed=run.failure is not None)
    for finding in findings(run):
        print(f"  WARNING   {finding.message}", file=out)
    if run.failure is not None:  # on stderr too: the one sentence a CI log must show
        print(f"loadtest: {run.failure.sentence} (exit {run.failure.exit_code}); what was measured until then is "
              "kept in the run directory", file=err)
    elif unreachable:
        print(f"target: no request reached the target: all {unreachable} failed to connect (is it up? is the "
              "base URL right?). What was measured is kept in the run directory.", file=err)
    if isinstance(verdicts, Verdicts):
        verdicts.print_table(out)
    if report is not None:
        print(f"  report    {report}", file=out)
    return Concluded(exit_code(run, unreachable, verdicts), verdicts if isinstance(verdicts, Verdicts) else None,
                     report)


def exit_code(run: FinishedRun, unreachable: int, verdicts: Verdicts | int | None) -> int:
    """One exit code for the run (``loadtest/exitcodes.py``): a failed run (dead target, refused key)
    outranks everything, an interrupt outranks verdicts."""
    if run.failure is not None:
        return run.failure.exit_code
    if unreachable:
        return exitcodes.INTERRUPTED if run.outcome.interrupted else exitcodes.TARGET_ERROR
    if run.outcome.interrupted:
        return exitcodes.INTERRUPTED
    if isinstance(verdicts, int):
        return verdicts
    return verdicts.exit_code if verdicts is not None else exitcodes.OK


def write(run: FinishedRun, reports_root: Path | None) -> None:
    """The run directory: measurements, the resolved scenario, settings, ground truth, Locust's files."""
    outcome = run.outcome
    settings = dict(run.settings)
    settings["stop_reason"] = outcome.stop_reason
    # every job recorded as unfinished, whether its flow saw the stop or the runtime closed it afterwards
    settings["jobs_in_flight_at_end"] = console.totals(run.recorder)["in_flight"]
    if outcome.dispatch:
        settings["open_model"] = outcome.dispatch
    if outcome.workers:
        settings["distributed"] = outcome.workers
    if run.failure is not None:
        settings["failure"] = {"sentence": run.failure.sentence, "exit_code": run.failure.exit_code}
    (run.run_dir / VERDICTS_JSON).unlink(missing_ok=True)  # a reused --run-dir keeps no stale verdicts
    extra = {name: run.run_dir / name for name in LOCUST_FILES if (run.run_dir / name).exists()}
    write_run_directory(
        run.run_dir, run.recorder, scenario=resolved_dict(run.scenario), settings=settings,
        warnings=[{"kind": f.kind, "message": f.message} for f in findings(run)],
        interrupted=outcome.interrupted, duration_s=outcome.duration_s, started_at=outcome.started_at,
        ground_truth=run.ground_truth, emulator_log=run.emulator_log, extra_files=extra,
        reports_root=reports_root, link_latest=reports_root is not None,
    )


def judge(run: FinishedRun, after: Afterwards, err: TextIO) -> Verdicts | int:
    """The run's thresholds, the built-in criterion (and the baseline comparison) as verdicts, written to
    ``verdicts.json``; an exit code instead when the run directory cannot be judged (the reason printed)."""
    try:
        verdicts = judge_run(run.run_dir, None, after.baseline, use_baseline=after.baseline is not None,
                             scenario_thresholds=after.thresholds)
    except CheckInputError as exc:
        print(f"check: {exc}", file=err)
        return exitcodes.INVALID_INPUT
    verdicts.write(run.run_dir)
    return verdicts


def render(run: FinishedRun, err: TextIO) -> Path | None:
    """The report (plots, report.html, summary.md); a report that cannot be built never changes the exit
    code: the run directory is complete without it."""
    try:
        return build_report(run.run_dir).html
    except Exception as exc:
        print(f"report: could not be built ({type(exc).__name__}: {exc}); the run directory is complete", file=err)
        return None
