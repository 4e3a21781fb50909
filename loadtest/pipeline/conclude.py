"""After the traffic: write the run directory, judge it, render its report, say what happened, pick the exit code.

Every run ends here, whoever drove it: ``loadtest run`` (one process or a master), a test stopped in the
web UI, a plain ``locust -f`` run. Each step is a typed call into its stage: :func:`write_run_directory`
composes the run directory's writers (``rundir.write``), copies in the emulator's log, Locust's files and
the discovered limits, and moves ``latest``; ``check`` judges (and never renders); ``report`` renders
(showing the verdicts when there are some); the console prints what the run directory now says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from loadtest import exitcodes
from loadtest.atomic import copy_atomic
from loadtest.check.judge import CheckInputError, judge_run
from loadtest.check.verdicts import Verdicts
from loadtest.discovery_document import LimitsFileError
from loadtest.limits_in_force import LimitsInForce
from loadtest.metrics.figures import run_counts
from loadtest.metrics.recorder import Recorder
from loadtest.pipeline import console
from loadtest.pipeline.finished import FinishedRun, findings
from loadtest.pipeline.output import describe, link_latest
from loadtest.report.build import build_report
from loadtest.rundir.documents import RunWarning, Summary
from loadtest.rundir.errors import RunDirectoryError
from loadtest.rundir.layout import (
    COPIED,
    DEFAULT_JOBS_CSV_ROWS,
    EMULATOR_LOG,
    LIMITS_JSON,
    LOCUST_FILES,
    SUMMARY_JSON,
    VERDICTS_JSON,
    Entry,
    limits_file,
)
from loadtest.rundir.read import RunDirectory
from loadtest.rundir.write import (
    run_info,
    summary_of,
    write_ground_truth,
    write_health,
    write_histograms,
    write_jobs,
    write_limits_in_force,
    write_recorder,
    write_scenario,
    write_summary,
    write_timeseries,
    write_verdicts,
)
from loadtest.scenario.limit_sources import scenario_limits
from loadtest.scenario.loader import resolved_dict


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
    run_dir: Path
    verdicts: Verdicts | None
    report: Path | None


def conclude(run: FinishedRun, after: Afterwards, out: TextIO, err: TextIO) -> Concluded:
    """Write, judge, render and summarise ``run``; returns the exit code with what was made."""
    outcome = run.outcome
    unreachable = console.connection_failures_only(run.recorder)
    judged = not outcome.interrupted and not unreachable and run.failure is None

    problems: list[str] = list(outcome.problems)
    written = write(run, after.reports_root, problems)
    verdicts = judge(run, after, problems, err) if judged and written else None
    report = render(run, problems) if after.report and written else None

    summary = _written_summary(run.run_dir, problems) if written else None
    console.print_summary(run.scenario, summary, run.recorder, outcome, run.run_dir, out,
                          failed=run.failure is not None)
    for finding in findings(run):
        print(f"  WARNING   {finding.message}", file=out)
    if run.failure is not None:  # on stderr too: the one sentence a CI log must show
        print(f"loadtest: {run.failure.sentence} (exit {run.failure.exit_code}); what was measured until then is "
              "kept in the run directory", file=err)
    elif unreachable:
        print(f"target: no request reached the target: all {unreachable} failed to connect (is it up? is the "
              "base URL right?). What was measured is kept in the run directory.", file=err)
    if isinstance(verdicts, Verdicts):
        verdicts.print_table(out, show_exit=False)  # the run's own exit code is said last
    for problem in problems:
        print(f"loadtest: {problem}", file=err)
    if report is not None:
        print(f"  report    {report}", file=out)
    code = exit_code(run, unreachable, verdicts, incomplete=bool(problems))
    print(f"loadtest: {result_sentence(code, run, verdicts)} (exit {code})", file=out)
    return Concluded(code, run.run_dir, verdicts if isinstance(verdicts, Verdicts) else None, report)


def _written_summary(run_dir: Path, problems: list[str]) -> Summary | None:
    """``summary.json`` read back: what the console says is what the run directory holds."""
    try:
        return RunDirectory(run_dir).summary()
    except RunDirectoryError as exc:
        problems.append(f"the run directory cannot be read back: {exc}")
        return None


def result_sentence(code: int, run: FinishedRun, verdicts: Verdicts | int | None) -> str:
    """What the exit code means for this run, in a few words."""
    if run.failure is not None:
        return f"FAILED: {run.failure.sentence}"
    if code == exitcodes.TARGET_ERROR:
        return "FAILED: no request reached the target"
    if code == exitcodes.INTERRUPTED:
        return "INTERRUPTED: the figures cover the part that ran; not judged"
    if code == exitcodes.OUTPUT_INCOMPLETE:
        return "INCOMPLETE: files of the run could not be written (see above)"
    if isinstance(verdicts, Verdicts):
        failed, unjudged = len(verdicts.failed), len(verdicts.unjudged)
        if failed:
            return f"FAILED: {failed} of {len(verdicts)} criteria not met"
        if unjudged:
            return f"NOT JUDGED: {unjudged} of {len(verdicts)} criteria had no data"
        return f"PASSED: all {len(verdicts)} criteria met"
    return "finished"


def exit_code(run: FinishedRun, unreachable: int, verdicts: Verdicts | int | None, *, incomplete: bool = False) -> int:
    """One exit code for the run (``loadtest/exitcodes.py``): a failed run (dead target, refused key)
    outranks everything, then an interrupt, then files that could not be written, then the verdicts."""
    if run.failure is not None:
        return run.failure.exit_code
    if unreachable:
        return exitcodes.INTERRUPTED if run.outcome.interrupted else exitcodes.TARGET_ERROR
    if run.outcome.interrupted:
        return exitcodes.INTERRUPTED
    if incomplete:
        return exitcodes.OUTPUT_INCOMPLETE
    if isinstance(verdicts, int):
        return verdicts
    return verdicts.exit_code if verdicts is not None else exitcodes.OK


@dataclass(frozen=True)
class RunRecord:
    """What a run directory is written from, beside the recorder's measurements."""

    scenario: Mapping[str, object] | None = None
    """The resolved scenario as plain data (``scenario.yaml``; secrets are redacted by its writer)."""
    settings: Mapping[str, object] = field(default_factory=dict)
    """How the run was made (CLI flags, target kind, load generators, seed...): ``run.settings``."""
    warnings: tuple[RunWarning, ...] = ()
    """What went wrong, one sentence each: ``run.warnings``, banners in the report."""
    interrupted: bool = False
    started_at: float | None = None
    duration_s: float | None = None
    """The measured window (default: the recorder's start to its last sample); rates divide by it."""
    ground_truth: Mapping[str, object] | None = None
    """The emulator's own figures, when the target was the emulator."""
    limits: LimitsInForce | None = None
    """The limits in force, each with its source (``limits_in_force.json``)."""
    copies: Mapping[Entry, Path] = field(default_factory=dict)
    """Files to copy in (``{entry: source}``); one already in place is only listed."""
    jobs_csv_rows: int | None = DEFAULT_JOBS_CSV_ROWS
    """Cap on jobs.csv's rows (``0``: no jobs.csv; None: every job the recorder kept)."""


def write_run_directory(run_dir: Path, recorder: Recorder, record: RunRecord) -> Summary:
    """Every file of a run: the measurements, the scenario, the ground truth, the copies, and last
    ``summary.json`` (its presence means the files it lists are whole). See docs/run-directory.md."""
    run_dir.mkdir(parents=True, exist_ok=True)
    recorder.close_all()
    files: dict[str, str] = {}
    written: list[Entry | None] = [write_timeseries(run_dir, recorder), write_histograms(run_dir, recorder),
                                   write_recorder(run_dir, recorder)]
    jobs = write_jobs(run_dir, recorder, record.jobs_csv_rows)
    written += [jobs.entry, write_health(run_dir, recorder)]
    if record.scenario is not None:
        written.append(write_scenario(run_dir, record.scenario))
    if record.ground_truth is not None:
        written.append(write_ground_truth(run_dir, record.ground_truth))
    if record.limits is not None:
        written.append(write_limits_in_force(run_dir, record.limits))
    files.update((entry.name, entry.what) for entry in written if entry is not None)
    files.update((entry.name, COPIED) for entry, source in record.copies.items() if copy_in(run_dir, entry, source))
    name = record.scenario.get("name") if record.scenario is not None else None
    info = run_info(recorder, name if isinstance(name, str) else None, settings=record.settings,
                    warnings=record.warnings, interrupted=record.interrupted, started_at=record.started_at,
                    duration_s=record.duration_s)
    summary = summary_of(recorder, info, jobs, files)
    write_summary(run_dir, summary)
    return summary


def copy_in(run_dir: Path, entry: Entry, source: Path) -> bool:
    """Copy ``source`` into ``run_dir`` as ``entry`` (unless it is already that file); whether it is there."""
    target = run_dir / entry
    if source.exists() and source.resolve() != target.resolve():
        copy_atomic(source, target)
    return target.exists()


def record_of(run: FinishedRun, limits: LimitsInForce | None) -> RunRecord:
    """What ``run``'s directory is written from: its settings with how it ended, its findings, the limits in
    force, the files beside the measurements (Locust's, already in place; the emulator's log; the discovered
    limits the run respected)."""
    outcome = run.outcome
    settings = dict(run.settings)
    settings["stop_reason"] = outcome.stop_reason
    # every job recorded as unfinished, whether its flow saw the stop or the runtime closed it afterwards
    settings["jobs_in_flight_at_end"] = run_counts(run.recorder).in_flight
    if outcome.dispatch:
        settings["open_model"] = outcome.dispatch
    if outcome.workers:
        settings["distributed"] = outcome.workers
    if run.failure is not None:
        settings["failure"] = {"sentence": run.failure.sentence, "exit_code": run.failure.exit_code}
    copies: dict[Entry, Path] = {entry: run.run_dir / entry for entry in LOCUST_FILES}
    limits_from = run.scenario.rate_limits.limits_from
    if limits_from is not None:
        copies[LIMITS_JSON] = limits_file(run.scenario.base_dir / limits_from)
    if run.emulator_log is not None:
        copies[EMULATOR_LOG] = run.emulator_log
    return RunRecord(
        scenario=resolved_dict(run.scenario), settings=settings,
        warnings=tuple(RunWarning(f.kind, f.message) for f in findings(run)), interrupted=outcome.interrupted,
        started_at=outcome.started_at, duration_s=outcome.duration_s, ground_truth=run.ground_truth,
        limits=limits, copies=copies,
    )


def write(run: FinishedRun, reports_root: Path | None, problems: list[str]) -> bool:
    """The run directory, and ``latest`` moved to it (with a ``reports_root``). False (and the reason in
    ``problems``) when it could not be written whole: nothing is judged then."""
    try:
        limits: LimitsInForce | None = scenario_limits(run.scenario)
    except LimitsFileError as exc:  # the discovery's limits.json, read again, gone bad since the run began
        limits = None
        problems.append(f"the limits in force could not be recorded ({exc}); the report draws them from the "
                        "scenario copy")
    try:
        (run.run_dir / VERDICTS_JSON).unlink(missing_ok=True)  # a reused --run-dir keeps no stale verdicts
        write_run_directory(run.run_dir, run.recorder, record_of(run, limits))
        if reports_root is not None and reports_root.is_dir():
            link_latest(run.run_dir, reports_root)
    except OSError as exc:
        present = sorted(p.name for p in run.run_dir.iterdir()) if run.run_dir.is_dir() else []
        missing = "summary.json is missing, so the run cannot be judged or reported" if SUMMARY_JSON.name not in \
            present else "some measurement files are missing"
        problems.append(f"the run directory {run.run_dir} could not be written completely ({describe(exc)}): "
                        f"{missing}; written: {', '.join(present) or 'nothing'}")
        return False
    return True


def judge(run: FinishedRun, after: Afterwards, problems: list[str], err: TextIO) -> Verdicts | int:
    """The run's thresholds, the built-in criterion (and the baseline comparison) as verdicts, written to
    ``verdicts.json``; an exit code instead when the run directory cannot be judged (the reason printed)."""
    try:
        verdicts = judge_run(run.run_dir, None, after.baseline, use_baseline=after.baseline is not None,
                             scenario_thresholds=after.thresholds)
    except CheckInputError as exc:
        print(f"check: {exc}", file=err)
        return exitcodes.INVALID_INPUT
    try:
        write_verdicts(run.run_dir, verdicts.as_document())
    except OSError as exc:
        problems.append(f"verdicts.json could not be written into {run.run_dir} ({describe(exc)}); the verdicts "
                        "are printed above")
    return verdicts


def render(run: FinishedRun, problems: list[str]) -> Path | None:
    """The report (plots, report.html, summary.md) with the verdicts; when it cannot be built the run
    directory is still complete, and ``problems`` says so."""
    try:
        return build_report(run.run_dir).html
    except OSError as exc:
        problems.append(f"the report could not be written into {run.run_dir} ({describe(exc)}); the measurements "
                        f"are complete: `loadtest report {run.run_dir}` builds it once there is room")
    except Exception as exc:
        problems.append(f"the report could not be built ({type(exc).__name__}: {exc}); the measurements are "
                        "complete")
    return None
