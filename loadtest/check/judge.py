"""Judge a run directory: its thresholds, and its figures against a saved baseline, into :class:`Verdicts`.

Everything is read from the run directory (its summary, per-bucket data and ``scenario.yaml``, through
:class:`~loadtest.rundir.read.RunDirectory`) and the baseline directory, so a run can be judged again
later, elsewhere, or with another baseline.
"""

from __future__ import annotations

from pathlib import Path

from loadtest.check.baselines import BaselineError, SavedBaseline, load_baseline
from loadtest.check.criteria import BaselineSpec, Criteria, CriteriaError, criteria_from_run, criteria_from_scenario
from loadtest.check.regression import Comparison, compare_runs
from loadtest.check.thresholds import judge_thresholds
from loadtest.check.verdicts import Verdicts
from loadtest.errors import InvalidInput
from loadtest.metrics.figures import RunBuckets
from loadtest.metrics.noise import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES
from loadtest.rundir.errors import RunDirectoryError
from loadtest.rundir.read import RunDirectory
from loadtest.scenario.model import Scenario


class CheckInputError(InvalidInput):
    """The check cannot start: not a run directory, a missing baseline, invalid criteria (exit 2)."""


def _buckets(run: RunDirectory) -> RunBuckets | None:
    try:
        return run.buckets()
    except RunDirectoryError as exc:
        raise CheckInputError(str(exc)) from None


def judge_run(
    run_dir: Path | str,
    scenario: Scenario | None = None,
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
    try:
        run = RunDirectory(run_dir)
        summary = run.summary()
        criteria: Criteria = (
            criteria_from_scenario(scenario, scenario_thresholds=scenario_thresholds) if scenario is not None
            else criteria_from_run(run, scenario_thresholds=scenario_thresholds)
        )
    except (RunDirectoryError, CriteriaError) as exc:
        raise CheckInputError(str(exc)) from None

    verdicts = Verdicts(scenario=criteria.scenario_name or summary.run.scenario, run_dir=str(run.path))
    if summary.run.interrupted:
        verdicts.notes.append("the run was interrupted: its figures cover only the part that ran")
    if summary.run.stop_reason:
        verdicts.notes.append(f"the run stopped early: {summary.run.stop_reason}")

    spec = criteria.baseline
    name = baseline_name or (spec.name if spec is not None else None)
    baseline: SavedBaseline | None = None
    if name is not None and use_baseline:
        try:
            baseline = load_baseline(name, baselines_dir)
        except BaselineError as exc:
            raise CheckInputError(str(exc)) from None

    needs_buckets = baseline is not None or any(t.window_s for t in criteria.thresholds)
    buckets = _buckets(run) if needs_buckets else None
    verdicts.extend(judge_thresholds(criteria.thresholds, summary.metrics, buckets))

    if baseline is not None:
        verdicts.baseline = baseline.name
        spec = BaselineSpec(baseline.name, spec.tolerances, spec.default_tolerance) if spec else BaselineSpec(name)
        base_summary = baseline.run.summary()
        base_scenario = base_summary.run.scenario
        if base_scenario and verdicts.scenario and base_scenario != verdicts.scenario:
            verdicts.notes.append(
                f"baseline {baseline.name!r} was saved from scenario {base_scenario!r}, "
                f"this run is {verdicts.scenario!r}"
            )
        sides = Comparison(summary.metrics, base_summary.metrics, buckets, _buckets(baseline.run), baseline.name,
                           confidence, resamples)
        verdicts.extend(compare_runs(spec, sides))
    return verdicts
