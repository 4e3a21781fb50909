"""``loadtest run``, top to bottom: one run from the scenario file to the exit code.

    prepare    the scenario (validated, overridden, vetted, its key checked), the baseline, the run directory
    target     the emulator started (and watched) or the endpoint's URL
    drive      Locust: users here (``create_local_drive``) or on load generators (``create_master_drive``),
               until the duration ends or a watcher stops the run (a lost threshold, a dead target)
    conclude   write the run directory, judge it, render the report, summarise, the exit code

A load generator of a distributed run (``loadtest run --generator``) comes in through
:func:`serve_as_loadgen`: its part of the run is the master's scenario text through the same prepare.

Each step is a call with typed arguments; an error of the project raised on the way (a bad scenario, a
target that does not start) ends the command with its sentence and exit code (``loadtest.cli``). The caller
must have imported Locust first (gevent monkey-patching, see ``loadtest.cli.run``).
"""

from __future__ import annotations

import io
import json
from typing import TextIO

from loadtest.pipeline.conclude import Afterwards, Concluded, conclude
from loadtest.pipeline.finished import FinishedRun, run_settings
from loadtest.pipeline.options import RunOptions
from loadtest.pipeline.prepare import Prepared, PreparedRun, prepare, prepare_scenario_text
from loadtest.pipeline.target import Target
from loadtest.pipeline.watch import RunWatch
from loadtest.rundir.documents import summary_plain, verdicts_plain
from loadtest.rundir.errors import RunDirectoryError
from loadtest.rundir.layout import EMULATOR_LOG, SUMMARY_JSON
from loadtest.rundir.read import RunDirectory
from loadtest.scenario.overrides import Overrides
from loadtest.traffic.distributed.drive import create_master_drive
from loadtest.traffic.distributed.loadgen import serve_master
from loadtest.traffic.distributed.protocol import Assignment, RunRequest
from loadtest.traffic.drive import Drive, create_local_drive
from loadtest.traffic.runtime import TrafficRuntime


def run_scenario(options: RunOptions, out: TextIO, err: TextIO) -> int:
    """The whole ``loadtest run``; returns the exit code."""
    if options.output == "text":
        return run(options, out, err).exit_code
    text = io.StringIO()  # --quiet / --json: the human summary is not shown
    result = run(options, text, err, progress=False)
    if options.output == "quiet":
        print(text.getvalue().rstrip().splitlines()[-1], file=out)  # the result line
    else:
        print(json.dumps(json_result(result), indent=2), file=out)
    return result.exit_code


def json_result(result: Concluded) -> dict[str, object]:
    """``--json``: the exit code, the run directory, and its summary and verdicts as written (when they are)."""
    document: dict[str, object] = {"exit_code": result.exit_code, "run_dir": str(result.run_dir)}
    try:
        written = RunDirectory(result.run_dir)
        if written.has(SUMMARY_JSON):
            document["summary"] = summary_plain(written.summary())
        verdicts = written.verdicts()
        if verdicts is not None:
            document["verdicts"] = verdicts_plain(verdicts)
    except RunDirectoryError as exc:
        document["error"] = str(exc)
    return document


def run(options: RunOptions, out: TextIO, err: TextIO, *, progress: bool = True) -> Concluded:
    """Prepare, target, drive, conclude; the concluded run."""
    prepared = prepare(options, err)
    scenario = prepared.scenario
    runtime = prepared.runtime()
    loadgens = options.loadgens
    with Target.for_scenario(scenario, host=options.host, log_path=prepared.run_dir / EMULATOR_LOG) as target:
        if loadgens is not None and target.emulated and not loadgens.local:
            print(f"loadtest: note: the emulator listens on {target.base_url} (loopback): only load generators on "
                  "this machine reach it; for other machines start one with `loadtest emulate --host 0.0.0.0` "
                  "and pass --host", file=err)
        mode = f" ({loadgens.describe()})" if loadgens is not None else ""
        print(f"loadtest: running {scenario.name!r} for {scenario.total_duration:g}s against {target.base_url}{mode}",
              file=out)
        watch = RunWatch(runtime, target)
        drive = make_drive(options, prepared, runtime, target, watch, out if progress else None, err)
        outcome = drive.run()
        watch.settle()
        ground_truth = target.ground_truth()
    finished = FinishedRun(
        scenario=scenario, recorder=runtime.recorder, outcome=outcome, run_dir=prepared.run_dir,
        settings=run_settings(options.scenario_path, scenario, target_kind=target.kind, host=target.base_url,
                              loadgens=loadgens.expected if loadgens is not None else 1,
                              duration_s=scenario.total_duration, overrides=options.overrides.given()),
        ground_truth=ground_truth, failure=watch.failure,
        emulator_log=target.emulator.log_path if target.emulator is not None else None,
    )
    after = Afterwards(
        thresholds=options.thresholds, baseline=prepared.baseline, report=options.report,
        reports_root=options.out_dir if options.run_dir is None else None,
    )
    return conclude(finished, after, out, err)


def make_drive(
    options: RunOptions, prepared: PreparedRun, runtime: TrafficRuntime, target: Target, watch: RunWatch,
    out: TextIO | None, err: TextIO,
) -> Drive:
    """The run loop for this run, with its watchers (a progress line on ``out`` unless it is None)."""
    progress = out if options.progress else None
    drain = runtime.scenario.drain
    if options.loadgens is None:
        return create_local_drive(runtime, target.base_url, prepared.run_dir, progress=progress,
                                  watchers=watch.watchers(), drain_s=drain)
    request = RunRequest(
        scenario_name=options.scenario_path.name,
        scenario_text=options.scenario_path.read_text(encoding="utf-8"),
        base_dir=str(prepared.scenario.base_dir),
        overrides=options.overrides.given(),
    )
    return create_master_drive(runtime, target.base_url, prepared.run_dir, request=request, options=options.loadgens,
                               err=err, progress=progress, watchers=watch.watchers(), drain_s=drain)


def serve_as_loadgen(master_host: str, master_port: int, err: TextIO) -> int:
    """``loadtest run --generator``: one run for the master at ``master_host:master_port``, its part built from
    the master's scenario text and overrides through the same prepare as every run; the exit code."""

    def build(assignment: Assignment) -> TrafficRuntime:
        prepared = prepare_scenario_text(assignment.scenario_text, source=assignment.source,
                                         base_dir=assignment.base_dir,
                                         overrides=Overrides.from_given(assignment.overrides))
        seeded = Prepared(assignment.seeded(prepared.scenario), prepared.facts)
        return seeded.runtime(loadgens=assignment.loadgens, loadgen_index=assignment.index % assignment.loadgens)

    return serve_master(master_host, master_port, build, err)
