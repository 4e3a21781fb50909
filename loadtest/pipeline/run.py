"""``loadtest run``, top to bottom: one run from the scenario file to the exit code.

    prepare    the scenario (validated, overridden, vetted), the baseline, the run directory
    target     the emulator started (and watched) or the endpoint's URL
    drive      Locust: users here (LocalDrive) or on workers (MasterDrive), until the duration ends or a
               watcher stops the run (a lost threshold, a dead target)
    conclude   write the run directory, judge it, render the report, summarise, the exit code

Each step is a call with typed arguments; the caller must have imported Locust first (gevent
monkey-patching, see ``loadtest.cli.run``).
"""

from __future__ import annotations

import io
import json
from typing import TextIO

from loadtest import exitcodes
from loadtest.pipeline.conclude import Afterwards, Concluded, conclude
from loadtest.pipeline.finished import FinishedRun
from loadtest.pipeline.options import RunOptions
from loadtest.pipeline.prepare import PreparedRun, Refused, baseline_name, prepare
from loadtest.pipeline.target import Target, TargetStartError
from loadtest.pipeline.watch import RunWatch
from loadtest.rundir.documents import summary_plain, verdicts_plain
from loadtest.rundir.errors import RunDirectoryError
from loadtest.rundir.layout import EMULATOR_LOG, SUMMARY_JSON
from loadtest.rundir.read import RunDirectory
from loadtest.scenario.model import Scenario
from loadtest.traffic.distributed.drive import MasterDrive, MasterOptions
from loadtest.traffic.distributed.protocol import RunRequest
from loadtest.traffic.drive import Drive, LocalDrive
from loadtest.traffic.runtime import TrafficRuntime


def run_scenario(options: RunOptions, out: TextIO, err: TextIO, master: MasterOptions | None = None) -> int:
    """The whole ``loadtest run`` (``master``: on Locust workers); returns the exit code."""
    if options.output == "text":
        result = run(options, out, err, master)
        return result if isinstance(result, int) else result.exit_code
    text = io.StringIO()  # --quiet / --json: the human summary is not shown
    result = run(options, text, err, master, progress=False)
    if isinstance(result, int):
        return result
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


def run(
    options: RunOptions, out: TextIO, err: TextIO, master: MasterOptions | None = None, *, progress: bool = True
) -> Concluded | int:
    """Prepare, target, drive, conclude; the concluded run, or an exit code when it never started."""
    prepared = prepare(options, err)
    if isinstance(prepared, Refused):
        return prepared.exit_code
    scenario = prepared.scenario
    runtime = TrafficRuntime(scenario, base_dir=prepared.base_dir)
    try:
        target = Target.for_scenario(scenario, host=options.host, log_path=prepared.run_dir / EMULATOR_LOG)
    except TargetStartError as exc:
        print(f"target: {exc} (log: {prepared.run_dir / EMULATOR_LOG})", file=err)
        return exitcodes.TARGET_ERROR
    with target:
        mode = f" ({master.describe()})" if master is not None else ""
        if master is not None and target.emulated and not master.local_processes:
            print(f"loadtest: note: the emulator listens on {target.base_url} (loopback): only workers on this "
                  "machine reach it; for other machines start one with `loadtest emulate --host 0.0.0.0` and "
                  "pass --host", file=err)
        print(f"loadtest: running {scenario.name!r} for {scenario.total_duration:g}s against {target.base_url}{mode}",
              file=out)
        watch = RunWatch(runtime, target)
        drive = make_drive(options, prepared, runtime, target, master, watch, out if progress else None, err)
        outcome = drive.run()
        watch.settle()
        ground_truth = target.ground_truth() if outcome is not None else None
    if outcome is None:
        return exitcodes.TARGET_ERROR
    finished = FinishedRun(
        scenario=scenario, recorder=runtime.recorder, outcome=outcome, run_dir=prepared.run_dir,
        settings=run_settings(options, scenario, target, master), ground_truth=ground_truth,
        emulator_log=target.emulator.log_path if target.emulator is not None else None, failure=watch.failure,
    )
    after = Afterwards(
        thresholds=options.thresholds, baseline=baseline_name(options, scenario), report=options.report,
        reports_root=options.out_dir if options.run_dir is None else None,
    )
    return conclude(finished, after, out, err)


def make_drive(
    options: RunOptions, prepared: PreparedRun, runtime: TrafficRuntime, target: Target,
    master: MasterOptions | None, watch: RunWatch, out: TextIO | None, err: TextIO,
) -> Drive:
    """The run loop for this run, with its watchers (a progress line on ``out`` unless it is None)."""
    progress = out if options.progress else None
    watchers = watch.watchers()
    drain = runtime.scenario.drain
    if master is None:
        return LocalDrive(runtime, target.base_url, prepared.run_dir, progress=progress, watchers=watchers,
                          drain_s=drain)
    request = RunRequest(
        scenario_name=options.scenario_path.name,
        scenario_text=options.scenario_path.read_text(encoding="utf-8"),
        base_dir=str(prepared.base_dir),
        overrides=dict(options.override_flags()),
    )
    return MasterDrive(runtime, target.base_url, prepared.run_dir, request=request, options=master, err=err,
                       progress=progress, watchers=watchers, drain_s=drain)


def run_settings(
    options: RunOptions, scenario: Scenario, target: Target, master: MasterOptions | None
) -> dict[str, object]:
    """How the run was made (``run.settings`` in summary.json)."""
    return {
        "scenario_file": str(options.scenario_path),
        "target": target.kind,
        "host": target.base_url,
        "duration_s": scenario.total_duration,
        "load_model": scenario.load.model,
        "rate_limit_policy": scenario.rate_limits.policy,
        "seed": scenario.seed,
        "overrides": options.override_flags(),
        "locust_processes": master.expect_workers if master is not None else 1,
    }
