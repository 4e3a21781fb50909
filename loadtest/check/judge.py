"""Judge a run directory: its thresholds, and its figures against a saved baseline, into :class:`Verdicts`.

Everything is read from the run directory (``summary.json``, ``recorder.json``, ``scenario.yaml``) and
the baseline directory, so a run can be judged again later, elsewhere, or with another baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.check.baselines import BaselineError, load_baseline
from loadtest.check.criteria import BaselineSpec, Criteria, CriteriaError, criteria_from_run_dir, criteria_from_scenario
from loadtest.check.regression import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Comparison, compare_runs
from loadtest.check.thresholds import judge_thresholds
from loadtest.check.verdicts import Verdicts
from loadtest.metrics import rundir
from loadtest.metrics.figures import RunBuckets
from loadtest.metrics.rundir import resolve_run_dir


class CheckInputError(Exception):
    """The check cannot start: not a run directory, a missing baseline, invalid criteria (exit 2)."""


def run_buckets(
    directory: Path | str, summary: dict[str, Any], snapshot: dict[str, Any] | None = None
) -> RunBuckets | None:
    """Per-bucket data of a run (or baseline) directory, over its measured period; None without it."""
    if snapshot is None:
        try:
            snapshot = rundir.read_json(directory, rundir.RECORDER_JSON, required=False)
        except rundir.RunDirectoryError as exc:
            raise CheckInputError(str(exc)) from None
    if not snapshot:
        return None
    run = summary.get("run", {})
    start = run.get("start_unix")
    duration = run.get("duration_s")
    end = None if start is None or duration is None else float(start) + float(duration)
    return RunBuckets(snapshot, start=start, end=end)


def judge_run(
    run_dir: Path | str,
    scenario: Any = None,
    baseline_name: str | None = None,
    *,
    baselines_dir: Path | str | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    use_baseline: bool = True,
    scenario_thresholds: bool = True,
) -> Verdicts:
    """Every verdict for ``run_dir``.

    ``scenario``: a loaded scenario whose thresholds and baseline section to use (default: the run
    directory's ``scenario.yaml``). ``baseline_name``: compare with this baseline (default: the
    scenario's ``baseline.name``, if any); ``use_baseline=False`` judges the thresholds alone, as
    ``loadtest run`` does without ``--check``; ``scenario_thresholds=False`` leaves only the built-in
    criterion (no run where most requests failed passes). Raises :class:`CheckInputError` for bad input.
    """
    directory = resolve_run_dir(run_dir)
    try:
        summary = rundir.read_summary(directory)
    except rundir.RunDirectoryError as exc:
        raise CheckInputError(str(exc)) from None
    try:
        criteria: Criteria = (
            criteria_from_scenario(scenario, scenario_thresholds=scenario_thresholds) if scenario is not None
            else criteria_from_run_dir(directory, scenario_thresholds=scenario_thresholds)
        )
    except CriteriaError as exc:
        raise CheckInputError(str(exc)) from None

    verdicts = Verdicts(scenario=criteria.scenario_name or summary["run"].get("scenario"), run_dir=str(directory))
    if summary["run"].get("interrupted"):
        verdicts.notes.append("the run was interrupted: its figures cover only the part that ran")
    stop_reason = (summary["run"].get("settings") or {}).get("stop_reason")
    if stop_reason:
        verdicts.notes.append(f"the run stopped early: {stop_reason}")

    spec = criteria.baseline
    name = baseline_name or (spec.name if spec is not None else None)
    if not use_baseline:
        name = None
    baseline = None
    if name is not None:
        try:
            baseline = load_baseline(name, baselines_dir)
        except BaselineError as exc:
            raise CheckInputError(str(exc)) from None

    needs_buckets = baseline is not None or any(t.window_s for t in criteria.thresholds)
    buckets = run_buckets(directory, summary) if needs_buckets else None
    verdicts.extend(judge_thresholds(criteria.thresholds, summary, buckets))

    if baseline is not None:
        verdicts.baseline = baseline.name
        spec = BaselineSpec(baseline.name, spec.tolerances, spec.default_tolerance) if spec else BaselineSpec(name)
        base_scenario = baseline.summary["run"].get("scenario")
        if base_scenario and verdicts.scenario and base_scenario != verdicts.scenario:
            verdicts.notes.append(
                f"baseline {baseline.name!r} was saved from scenario {base_scenario!r}, "
                f"this run is {verdicts.scenario!r}"
            )
        base_buckets = run_buckets(baseline.path, baseline.summary, baseline.snapshot) if baseline.snapshot else None
        verdicts.extend(compare_runs(spec, Comparison(summary, baseline.summary, buckets, base_buckets, baseline.name,
                                                      confidence, resamples)))
    return verdicts
