"""Before any traffic, for every way a run starts: the scenario loaded, its overrides applied, vetted, its key
checked and its target's facts learned (:class:`Prepared`, which makes the process's runtime); for
``loadtest run`` also the baseline found and the run directory made.

One way in: ``loadtest run`` (:func:`prepare`), ``loadtest ui`` and ``locust -f loadtest/locustfile.py``
(:func:`prepare_scenario` on the file), a distributed load generator (:func:`prepare_scenario_text` on the
master's text), ``loadtest limits`` on a scenario (:func:`prepare_scenario`). Everything here raises an error
of the project (bad input: exit 2, said once by the CLI) before anything is sent or started.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from loadtest.check.baselines import load_baseline
from loadtest.errors import InvalidInput
from loadtest.pipeline.options import RunOptions
from loadtest.pipeline.output import free_space_note, left_alone, prepare_run_directory
from loadtest.queue_api.target_facts import TargetFacts, target_facts
from loadtest.scenario.loader import load_scenario, load_scenario_text
from loadtest.scenario.model import EndpointTarget, Scenario
from loadtest.scenario.overrides import Overrides, apply_overrides
from loadtest.traffic.runtime import TrafficRuntime


@dataclass(frozen=True)
class Prepared:
    """A scenario ready to run: validated, overridden, vetted, and what the client knows of its target (the
    endpoint id, the key and where it comes from)."""

    scenario: Scenario
    facts: TargetFacts

    def runtime(self, *, loadgens: int = 1, loadgen_index: int = 0) -> TrafficRuntime:
        """This process's runtime for the scenario (load generator ``loadgen_index`` of ``loadgens``)."""
        return TrafficRuntime(self.scenario, facts=self.facts, loadgens=loadgens, loadgen_index=loadgen_index)


@dataclass(frozen=True)
class PreparedRun(Prepared):
    """What ``loadtest run`` has before traffic starts: the prepared scenario, its run directory, its baseline."""

    run_dir: Path
    baseline: str | None
    """The baseline to compare with (found), or None."""


def prepare_scenario(path: Path, overrides: Overrides | None = None, *, confirm_probe: bool = True) -> Prepared:
    """The scenario file, validated, the overrides applied, its target vetted and its facts learned (the key
    variable must be set).

    ``confirm_probe``: whether the ``probe`` policy may be sent to a real endpoint (``loadtest run`` asks
    for ``--confirm-probe``; the web UI never offers it there)."""
    return _vetted(load_scenario(path), overrides, confirm_probe=confirm_probe, source=str(path))


def prepare_scenario_text(text: str, *, source: str, base_dir: Path, overrides: Overrides | None = None) -> Prepared:
    """A scenario handed over as text (a load generator's, from its master, whose own prepare already
    confirmed what it may send): ``source`` names it in messages, payload files are read in ``base_dir``."""
    return _vetted(load_scenario_text(text, file=source, base_dir=base_dir), overrides, confirm_probe=True,
                   source=source)


def _vetted(scenario: Scenario, overrides: Overrides | None, *, confirm_probe: bool, source: str) -> Prepared:
    if overrides is not None:
        scenario = apply_overrides(scenario, overrides)
    probing_real = isinstance(scenario.target, EndpointTarget) and scenario.rate_limits.policy == "probe"
    if probing_real and not confirm_probe:
        raise InvalidInput(
            f"{source}: rate_limits.policy is 'probe' against a real endpoint: it "
            "sends past the rate limits on purpose and every accepted job is billed. Add --confirm-probe to run "
            "it anyway."
        )
    return Prepared(scenario, target_facts(scenario))  # the key's variable must be set before anything starts


def baseline_name(options: RunOptions, scenario: Scenario) -> str | None:
    """The baseline this run is compared with: ``--baseline``, else the scenario's, when ``--check``."""
    if not options.check:
        return None
    return options.baseline or (scenario.baseline.name if scenario.baseline is not None else None)


def prepare(options: RunOptions, err: TextIO) -> PreparedRun:
    """``loadtest run``'s preparation: the scenario (:func:`prepare_scenario`), the baseline (with
    ``--check``) and the run directory, created and test-written; notes about it on ``err``."""
    prepared = prepare_scenario(options.scenario_path, options.overrides, confirm_probe=options.confirm_probe)
    scenario = prepared.scenario
    baseline = baseline_name(options, scenario)
    if baseline is not None:
        load_baseline(baseline)
    run_dir = prepare_run_directory(options.run_dir, options.out_dir, scenario.name, force=options.force)
    kept = left_alone(run_dir)
    notes = [free_space_note(run_dir), f"--force kept files that are not a run's: {', '.join(kept)}" if kept else None]
    for note in notes:
        if note:
            print(f"loadtest: note: {note}", file=err)
    return PreparedRun(scenario, prepared.facts, run_dir, baseline)
