"""Before any traffic: the scenario loaded, overridden and vetted, the baseline found, the run directory made.

Everything here can refuse the run with a sentence and exit code 2 (bad input); nothing is sent first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from loadtest import exitcodes
from loadtest.check.baselines import BaselineError, load_baseline
from loadtest.pipeline.options import RunOptions
from loadtest.pipeline.output import OutputError, free_space_note, left_alone, prepare_run_directory
from loadtest.queue_api.target_facts import TargetError, target_facts
from loadtest.scenario.loader import ScenarioError, load_scenario
from loadtest.scenario.model import EndpointTarget, Scenario
from loadtest.scenario.overrides import OverrideError, apply_overrides


@dataclass(frozen=True)
class Refused:
    """The run cannot start; the reason was printed."""

    exit_code: int


@dataclass(frozen=True)
class PreparedRun:
    """What every run has before traffic starts."""

    scenario: Scenario
    run_dir: Path
    base_dir: Path
    """The scenario file's directory (payload files are read relative to it)."""


def load_for_run(options: RunOptions, err: TextIO) -> Scenario | Refused:
    """The scenario file, validated, with the command-line overrides applied and its target vetted."""
    try:
        scenario = load_scenario(options.scenario_path)
    except ScenarioError as exc:
        for issue in exc.errors:
            print(issue, file=err)
        count = len(exc.errors)
        print(f"{options.scenario_path}: invalid scenario ({count} error{'s' if count != 1 else ''})", file=err)
        return Refused(exitcodes.INVALID_INPUT)
    try:
        scenario = apply_overrides(scenario, options.overrides)
    except OverrideError as exc:
        print(exc, file=err)
        return Refused(exitcodes.INVALID_INPUT)
    probing_real = isinstance(scenario.target, EndpointTarget) and scenario.rate_limits.policy == "probe"
    if probing_real and not options.confirm_probe:
        print(
            f"{options.scenario_path}: rate_limits.policy is 'probe' against a real endpoint: it sends past the "
            "rate limits on purpose and every accepted job is billed. Add --confirm-probe to run it anyway.",
            file=err,
        )
        return Refused(exitcodes.INVALID_INPUT)
    try:
        target_facts(scenario)  # the key's variable must be set before anything starts
    except TargetError as exc:
        print(exc, file=err)
        return Refused(exitcodes.INVALID_INPUT)
    return scenario


def baseline_name(options: RunOptions, scenario: Scenario) -> str | None:
    """The baseline this run is compared with: ``--baseline``, else the scenario's, when ``--check``."""
    if not options.check:
        return None
    return options.baseline or (scenario.baseline.name if scenario.baseline is not None else None)


def prepare(options: RunOptions, err: TextIO) -> PreparedRun | Refused:
    """Validate the scenario, find the baseline (with ``--check``) and create the run directory."""
    scenario = load_for_run(options, err)
    if isinstance(scenario, Refused):
        return scenario
    name = baseline_name(options, scenario)
    if name is not None:
        try:
            load_baseline(name)
        except BaselineError as exc:
            print(f"loadtest run: {exc}", file=err)
            return Refused(exitcodes.INVALID_INPUT)
    try:
        run_dir = prepare_run_directory(options.run_dir, options.out_dir, scenario.name, force=options.force)
    except OutputError as exc:
        print(f"loadtest run: {exc}", file=err)
        return Refused(exitcodes.INVALID_INPUT)
    kept = left_alone(run_dir)
    notes = [free_space_note(run_dir), f"--force kept files that are not a run's: {', '.join(kept)}" if kept else None]
    for note in notes:
        if note:
            print(f"loadtest: note: {note}", file=err)
    return PreparedRun(scenario, run_dir, options.scenario_path.resolve().parent)
