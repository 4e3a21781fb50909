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
from loadtest.discovery_document import LIMITS_JSON, LimitsFileError
from loadtest.limits_in_force import LIMITS_IN_FORCE_JSON
from loadtest.metrics.figures import run_counts
from loadtest.metrics.rundir import SUMMARY_JSON, VERDICTS_JSON, read_summary, write_atomic, write_run_directory
from loadtest.pipeline import console
from loadtest.pipeline.finished import FinishedRun, findings
from loadtest.pipeline.output import describe
from loadtest.report.build import build_report
from loadtest.scenario.limit_sources import scenario_limits
from loadtest.scenario.loader import resolved_dict
from loadtest.traffic.outcome import LOCUST_FILES


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

    summary = read_summary(run.run_dir) if written else None
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


def write(run: FinishedRun, reports_root: Path | None, problems: list[str]) -> bool:
    """The run directory: measurements, the resolved scenario, settings, ground truth, Locust's files.
    False (and the reason in ``problems``) when it could not be written whole: nothing is judged then."""
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
    extra = {name: run.run_dir / name for name in LOCUST_FILES if (run.run_dir / name).exists()}
    limits_from = run.scenario.rate_limits.limits_from
    if limits_from is not None:  # the discovered limits the run respected: the report draws them
        extra[LIMITS_JSON] = run.scenario.base_dir / limits_from
    try:
        (run.run_dir / VERDICTS_JSON).unlink(missing_ok=True)  # a reused --run-dir keeps no stale verdicts
        write_run_directory(
            run.run_dir, run.recorder, scenario=resolved_dict(run.scenario), settings=settings,
            warnings=[{"kind": f.kind, "message": f.message} for f in findings(run)],
            interrupted=outcome.interrupted, duration_s=outcome.duration_s, started_at=outcome.started_at,
            ground_truth=run.ground_truth, emulator_log=run.emulator_log, extra_files=extra,
            reports_root=reports_root, link_latest=reports_root is not None,
        )
        write_atomic(run.run_dir / LIMITS_IN_FORCE_JSON, scenario_limits(run.scenario).model_dump_json(indent=1))
    except (OSError, LimitsFileError) as exc:
        present = sorted(p.name for p in run.run_dir.iterdir()) if run.run_dir.is_dir() else []
        missing = "summary.json is missing, so the run cannot be judged or reported" if SUMMARY_JSON not in present \
            else "some files are missing"
        why = describe(exc) if isinstance(exc, OSError) else str(exc)
        problems.append(f"the run directory {run.run_dir} could not be written completely ({why}): "
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
        verdicts.write(run.run_dir)
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
