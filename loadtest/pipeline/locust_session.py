"""A session driven by Locust itself (``loadtest ui``, plain ``locust -f loadtest/locustfile.py``).

Locust owns the loop here (its web UI starts and stops tests, or its headless runner runs one); this
module hooks into Locust's events so that such a test goes through the same pipeline steps as
``loadtest run``: the emulator started for the session and watched, fresh measurements per test, and at
every test's stop the run directory written, the thresholds judged, the report rendered
(:func:`loadtest.pipeline.conclude.conclude`). A headless ``locust -f`` run exits with the run's exit code
(Locust's ``process_exit_code``); the web UI shows the verdicts and links the report.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path

import gevent
from gevent import Greenlet
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from loadtest import exitcodes
from loadtest.pipeline.conclude import Afterwards, conclude
from loadtest.pipeline.finished import FinishedRun
from loadtest.pipeline.target import Target, TargetStartError
from loadtest.pipeline.watch import RunWatch
from loadtest.rundir.layout import EMULATOR_LOG
from loadtest.scenario.model import EmulatorTarget, Scenario
from loadtest.traffic.distributed.hooks import attach_to_locust
from loadtest.traffic.distributed.master import MasterCoordinator
from loadtest.traffic.looplag_ticker import LoopLagTicker, start_loop_lag_ticker
from loadtest.traffic.outcome import RunOutcome
from loadtest.traffic.runtime import TrafficRuntime
from loadtest.traffic.users import network_timeout_for
from loadtest.traffic.webui import runs as ui_runs
from loadtest.traffic.webui import tabs

logger = logging.getLogger("loadtest")

WATCH_S = 1.0
"""How often the session runs its watchers during a test (a dead emulator, a refused key...)."""


class LocustSession:
    """The pipeline's steps attached to one Locust process's events."""

    def __init__(self, scenario: Scenario, runtime: TrafficRuntime, scenario_path: Path) -> None:
        self.scenario = scenario
        self.runtime = runtime
        self.scenario_path = scenario_path
        self.target: Target | None = None
        self.coordinator: MasterCoordinator | None = None
        self.ui: tabs.UiRuns | None = None
        self.watcher: Greenlet | None = None
        self.watch: RunWatch | None = None
        self.lag: LoopLagTicker | None = None

    # ------------------------------------------------------------------------------------- events

    def on_init(self, environment: Environment) -> None:
        """Locust is up: stop timeout, early stops, the UI's tabs, the distributed machinery, the target."""
        runtime = self.runtime
        if environment.stop_timeout in (None, 0):
            # users get time to follow their jobs through the drain, then to finish their last request
            environment.stop_timeout = network_timeout_for(list(runtime.flows.values())) + self.scenario.drain
        runner = environment.runner
        if isinstance(runner, LocalRunner | MasterRunner):
            # the spending guard, a dead target or anything else asking the run to end stops Locust's runner
            runtime.stop_requested.add(lambda reason: gevent.spawn(runner.stop))
            if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # started ignoring it (`cmd &`): keep to that
                gevent.signal_handler(signal.SIGINT, _interrupt_locusts_main)
        self.coordinator = attach_to_locust(environment, runtime)
        if environment.web_ui is not None:
            self.ui = tabs.UiRuns()
            coordinator = self.coordinator
            tabs.install(environment.web_ui, lambda: self.runtime, self.ui,
                         extra_rows=coordinator.ui_rows if coordinator is not None else None)
        if isinstance(runner, WorkerRunner) or environment.host:
            return
        if isinstance(self.scenario.target, EmulatorTarget):
            log = self._first_run_dir(environment) / EMULATOR_LOG if self._run_dir_option(environment) else None
            try:
                self.target = Target.start_emulator(self.scenario.target, log_path=log)
            except TargetStartError as exc:
                print(f"target: {exc}", file=sys.stderr)
                environment.process_exit_code = exitcodes.TARGET_ERROR
                if runner is not None:
                    runner.quit()
                return
            environment.host = self.target.base_url
            logger.info("emulator started at %s", environment.host)
        else:
            environment.host = self.scenario.target.base_url

    def on_test_start(self, environment: Environment) -> None:
        """A test starts (again, in the web UI): the chosen policy, fresh measurements, the clock."""
        runtime = self.runtime
        runner = environment.runner
        if isinstance(runner, WorkerRunner):  # the master's custom parameters came with the spawn
            ui_runs.apply_choices(runtime, environment.parsed_options)
        elif self.ui is not None:
            ui_runs.apply_choices(runtime, environment.parsed_options)  # a master too: its files say what ran
            runtime.reset_measurements()
            if self.target is not None and self.target.emulator is not None and self.ui.runs:
                self.target.emulator.reset()  # the emulator's ground truth covers this test only
            self.ui.begin()
        if self.coordinator is not None:  # the workers' counts and measurements flow into the runtime
            self.coordinator.begin_test()
        runtime.control.reset()
        runtime.start_clock()
        if not isinstance(runner, MasterRunner) and environment.host:
            runtime.start_health_sampling(environment.events.request, environment.host)
        if isinstance(runner, LocalRunner):  # a worker's agent measures its own
            self.lag = start_loop_lag_ticker(lambda: self.runtime.recorder, "load generator")
        if not isinstance(runner, WorkerRunner):  # a worker's failures reach its master with its reports
            self.watch = RunWatch(runtime, self.target)
            if self.watcher is None:
                self.watcher = gevent.spawn(self._watch)

    def on_test_stopping(self, environment: Environment) -> None:
        """The test ends (its shape is over, or Stop was pressed): in this process, drain first (no new jobs,
        those in flight followed for up to the scenario's ``drain``), then stop the flows. Distributed
        ``locust -f`` workers stop at once (``loadtest run --processes`` drains them)."""
        runtime = self.runtime
        if isinstance(environment.runner, LocalRunner) and self.scenario.drain > 0 and runtime.jobs.in_flight:
            runtime.control.start_draining()
            gevent.spawn(self._end_drain, time.monotonic() + self.scenario.drain)
        else:
            runtime.control.stop()

    def _end_drain(self, deadline: float) -> None:
        runtime = self.runtime
        while runtime.jobs.in_flight and time.monotonic() < deadline and not runtime.control.stopping:
            gevent.sleep(0.1)
        runtime.control.stop()

    def on_test_stop(self, environment: Environment) -> None:
        """The test is over: record the unfinished jobs; the master (or the only process) writes, judges
        and renders the run, and a headless run exits with its exit code."""
        runtime = self.runtime
        runtime.stop_health_sampling()
        if self.lag is not None:
            self.lag.stop()
        in_flight = runtime.finish()
        if isinstance(environment.runner, WorkerRunner):
            return
        first = self._run_dir_option(environment)
        if first is None:
            return
        workers: dict[str, object] = {}
        if self.coordinator is not None:  # a distributed master: every worker's final report first
            self.coordinator.collect_finals()
            self.coordinator.end_test()
            workers = dict(self.coordinator.describe("locust master"))
            in_flight = self.coordinator.in_flight_at_end()
        record = self.ui.last if self.ui is not None else None
        run_dir = ui_runs.test_run_directory(first, self.scenario.name, record.number if record else 1)
        if record is not None:
            record.state, record.run_dir = "writing", run_dir
        started_at = runtime.started_at or runtime.recorder.start
        duration = time.monotonic() - runtime.started_monotonic if runtime.started_monotonic else 0.0
        finished = FinishedRun(
            scenario=runtime.scenario, recorder=runtime.recorder, run_dir=run_dir,
            outcome=RunOutcome(
                started_at=started_at, duration_s=duration, interrupted=False, stop_reason=runtime.stop_reason,
                dispatch=self.coordinator.dispatch_totals() if self.coordinator else None,
                in_flight_at_end=in_flight, workers=workers,
            ),
            settings={
                "scenario_file": str(self.scenario_path), "target": self.target.kind if self.target else "host",
                "host": environment.host, "driver": "locust -f", "load_model": runtime.scenario.load.model,
                "rate_limit_policy": runtime.scenario.rate_limits.policy, "seed": runtime.scenario.seed,
                "locust_processes": self.coordinator.expected if self.coordinator else 1,
            },
            ground_truth=self.target.ground_truth() if self.target is not None else None,
            emulator_log=self.target.emulator.log_path if self.target and self.target.emulator else None,
            failure=self.watch.settle() if self.watch is not None else None,
        )
        try:
            # in the web UI, run directories go beside the first one (OUT_DIR/<scenario>/<time>): latest follows
            after = Afterwards(reports_root=first.parent.parent if self.ui is not None else None)
            concluded = conclude(finished, after, sys.stdout, sys.stderr)
        except Exception as exc:  # shown in the UI's Jobs tab; the UI keeps running
            logger.exception("loadtest: the run directory of %s could not be written", run_dir)
            if record is not None:
                record.state, record.error = "failed", f"{type(exc).__name__}: {exc}"
            environment.process_exit_code = exitcodes.INVALID_INPUT
            return
        environment.process_exit_code = concluded.exit_code
        if record is not None:
            record.verdicts = concluded.verdicts.outcome if concluded.verdicts is not None else None
            record.state = "written" if concluded.report is not None else "failed"
            if concluded.report is None:
                record.error = "the report was not built (see the terminal)"

    def on_quit(self) -> None:
        if self.watcher is not None:
            self.watcher.kill()
        if self.target is not None:
            self.target.stop()

    # ---------------------------------------------------------------------------------- internals

    def _watch(self) -> None:
        """While a test runs, the same watchers as ``loadtest run``'s loop: a dead emulator, a refused key,
        a silent target or a lost abort threshold stops the test."""
        while True:
            gevent.sleep(WATCH_S)
            watch = self.watch
            if watch is None or self.runtime.control.stopping:
                continue
            reason = watch.check()
            if reason is not None:
                logger.error("loadtest: %s; stopping the test", reason)
                self.runtime.request_stop(reason)

    @staticmethod
    def _run_dir_option(environment: Environment) -> Path | None:
        value = getattr(environment.parsed_options, "run_dir", "") if environment.parsed_options else ""
        return Path(value) if value else None

    def _first_run_dir(self, environment: Environment) -> Path:
        first = self._run_dir_option(environment)
        assert first is not None
        first.mkdir(parents=True, exist_ok=True)
        return first


def _interrupt_locusts_main() -> None:
    """Ctrl-C: raise KeyboardInterrupt where Locust's main waits for it, so it stops and writes its files.

    Python's own handler raises it in whatever greenlet runs at that moment; on a busy machine that is
    often a user's, deep in an HTTP client whose cleanup code may swallow it, and the Ctrl-C is lost."""
    hub = gevent.get_hub()
    hub.loop.run_callback(hub.parent.throw, KeyboardInterrupt())
