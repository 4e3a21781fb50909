"""A session driven by Locust itself (``loadtest ui``, plain ``locust -f loadtest/locustfile.py``).

Locust owns the loop here (its web UI starts and stops tests, or its headless runner runs one); this
module hooks into Locust's events so that such a test goes through the same pipeline steps as
``loadtest run``: the scenario prepared the same way (by the locustfile), the same target launcher and
watchers (:mod:`loadtest.pipeline.target`, :mod:`loadtest.pipeline.watch`), fresh measurements per test,
the same drain, and at every test's stop the same :func:`loadtest.pipeline.conclude.conclude` (run
directory written, thresholds judged, report rendered). A headless ``locust -f`` run exits with the run's
exit code (Locust's ``process_exit_code``); the web UI shows the verdicts and links the report.

On a Locust worker (a load generator under a master) the session only applies the start form's choices;
the load-generator agent (``loadtest.traffic.distributed.loadgen``) owns that process's part of each test.
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
from locust.event import Events
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from loadtest import exitcodes
from loadtest.errors import LoadtestError, explain
from loadtest.pipeline.conclude import Afterwards, conclude
from loadtest.pipeline.finished import FinishedRun, run_settings
from loadtest.pipeline.target import Target
from loadtest.pipeline.watch import RunWatch
from loadtest.rundir.layout import EMULATOR_LOG
from loadtest.traffic.distributed.hooks import attach_to_locust
from loadtest.traffic.distributed.master import MasterCoordinator
from loadtest.traffic.outcome import RunOutcome
from loadtest.traffic.runtime import TrafficRuntime
from loadtest.traffic.users import network_timeout_for
from loadtest.traffic.webui import runs as ui_runs
from loadtest.traffic.webui import tabs

logger = logging.getLogger("loadtest")

DRAIN_LOOK_S = 0.1
"""How often the drain after a test looks at the jobs still in flight."""


class LocustSession:
    """The pipeline's steps attached to one Locust process's events (the locustfile hands them over)."""

    def __init__(self, scenario_path: Path, runtime: TrafficRuntime) -> None:
        self.scenario_path = scenario_path
        self.runtime = runtime
        self.scenario = runtime.scenario
        """The scenario as prepared (the start form may change the runtime's rate-limit policy per test)."""
        self.target: Target | None = None
        self.coordinator: MasterCoordinator | None = None
        self.ui: tabs.UiRuns | None = None
        self.watch: RunWatch | None = None
        self.watching: Greenlet | None = None

    # ------------------------------------------------------------------------------------- events

    def listen(self, events: Events) -> None:
        """Follow Locust's events (the locustfile's own, as Locust imports it)."""
        events.init.add_listener(lambda environment, **_: self.on_init(environment))
        events.test_start.add_listener(lambda environment, **_: self.on_test_start(environment))
        events.test_stopping.add_listener(lambda environment, **_: self.on_test_stopping(environment))
        events.test_stop.add_listener(lambda environment, **_: self.on_test_stop(environment))
        events.quit.add_listener(lambda **_: self.on_quit())

    def on_init(self, environment: Environment) -> None:
        """Locust is up: stop timeout, early stops, the UI's tabs, the distributed machinery, the target."""
        runtime = self.runtime
        if environment.stop_timeout in (None, 0):
            # users get time to follow their jobs through the drain, then to finish their last request
            environment.stop_timeout = network_timeout_for(list(runtime.flows.values())) + self.scenario.drain
        runner = environment.runner
        if isinstance(runner, LocalRunner | MasterRunner):
            # the spending guard, a dead target or anything else asking the run to end stops Locust's runner
            runtime.events.stop_requested.add(lambda reason: gevent.spawn(runner.stop))
            if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # started ignoring it (`cmd &`): keep to that
                gevent.signal_handler(signal.SIGINT, _interrupt_locusts_main)
        self.coordinator = attach_to_locust(environment, runtime)
        if environment.web_ui is not None:
            self.ui = tabs.UiRuns()
            coordinator = self.coordinator
            tabs.install(environment.web_ui, lambda: self.runtime, self.ui,
                         extra_rows=coordinator.ui_rows if coordinator is not None else None)
        if isinstance(runner, WorkerRunner):
            return  # a load generator: its agent measures it; the master watches the target
        if isinstance(runner, LocalRunner):
            runtime.measure_process("load generator", lambda: (
                (environment.events.request, environment.host) if environment.host else None))
        first = self._run_dir_option(environment)
        if first is not None:
            first.mkdir(parents=True, exist_ok=True)
        try:
            self.target = Target.for_scenario(self.scenario, host=environment.host or None,
                                              log_path=first / EMULATOR_LOG if first is not None else None)
        except LoadtestError as error:
            environment.process_exit_code = explain(error, "loadtest", sys.stderr)
            if runner is not None:
                runner.quit()
            return
        if self.target.emulated:
            logger.info("emulator started at %s", self.target.base_url)
        environment.host = self.target.base_url
        self.watch = RunWatch(runtime, self.target)

    def on_test_start(self, environment: Environment) -> None:
        """A test starts (again, in the web UI): the chosen policy, fresh measurements, the clock, the watchers."""
        runtime = self.runtime
        if isinstance(environment.runner, WorkerRunner):  # the master's custom parameters came with the spawn
            ui_runs.apply_choices(runtime, environment.parsed_options)
            return
        if self.ui is not None:
            ui_runs.apply_choices(runtime, environment.parsed_options)  # a master too: its files say what ran
            runtime.reset_measurements()
            if self.target is not None and self.target.emulator is not None and self.ui.runs:
                self.target.emulator.reset()  # the emulator's ground truth covers this test only
            self.ui.begin()
        if self.coordinator is not None:  # the load generators' counts and measurements flow into the runtime
            self.coordinator.begin_test()
        runtime.control.reset()
        runtime.begin_test()
        if self.watch is not None:
            self.watch.rearm()
            if self.watching is None:
                self.watching = self.watch.follow(runtime)

    def on_test_stopping(self, environment: Environment) -> None:
        """The test ends (its shape is over, or Stop was pressed): in this process, drain first (no new jobs,
        those in flight followed for up to the scenario's ``drain``), then stop the flows. Distributed
        ``locust -f`` load generators stop at once (``loadtest run --generators`` drains them)."""
        runtime = self.runtime
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            return  # the load generator's agent stops its flows
        if isinstance(runner, LocalRunner) and self.scenario.drain > 0 and runtime.job_counts.in_flight:
            gevent.spawn(self._drain_then_stop)
        else:
            runtime.control.stop()

    def _drain_then_stop(self) -> None:
        runtime = self.runtime

        def go_on() -> bool:
            gevent.sleep(DRAIN_LOOK_S)
            return not runtime.control.stopping

        runtime.drain(self.scenario.drain, go_on)
        runtime.control.stop()

    def on_test_stop(self, environment: Environment) -> None:
        """The test is over: record the unfinished jobs; the master (or the only process) writes, judges
        and renders the run, and a headless run exits with its exit code."""
        runtime = self.runtime
        if isinstance(environment.runner, WorkerRunner):
            return  # its agent sends its final report
        in_flight = runtime.end_test()
        first = self._run_dir_option(environment)
        if first is None:
            return
        loadgens: dict[str, object] = {}
        coordinator = self.coordinator
        if coordinator is not None:  # a distributed master: every load generator's final report first
            coordinator.collect_finals()
            coordinator.end_test()
            loadgens = dict(coordinator.describe("locust master"))
            in_flight = coordinator.in_flight_at_end()
        record = self.ui.last if self.ui is not None else None
        run_dir = ui_runs.test_run_directory(first, self.scenario.name, record.number if record else 1)
        if record is not None:
            record.state, record.run_dir = "writing", run_dir
        target = self.target
        finished = FinishedRun(
            scenario=runtime.scenario, recorder=runtime.recorder, run_dir=run_dir,
            outcome=RunOutcome(
                started_at=runtime.started_at or runtime.recorder.start,
                duration_s=time.monotonic() - runtime.started_monotonic if runtime.started_monotonic else 0.0,
                interrupted=False, stop_reason=runtime.stop_reason,
                dispatch=coordinator.dispatch_totals() if coordinator is not None else None,
                in_flight_at_end=in_flight, loadgens=loadgens,
            ),
            settings=run_settings(self.scenario_path, runtime.scenario,
                                  target_kind=target.kind if target is not None else "host", host=environment.host,
                                  loadgens=coordinator.expected if coordinator is not None else 1,
                                  driver="locust -f"),
            ground_truth=target.ground_truth() if target is not None else None,
            emulator_log=target.emulator.log_path if target is not None and target.emulator is not None else None,
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
            environment.process_exit_code = exc.exit_code if isinstance(exc, LoadtestError) else exitcodes.INVALID_INPUT
            return
        environment.process_exit_code = concluded.exit_code
        if record is not None:
            record.verdicts = concluded.verdicts.outcome if concluded.verdicts is not None else None
            record.state = "written" if concluded.report is not None else "failed"
            if concluded.report is None:
                record.error = "the report was not built (see the terminal)"

    def on_quit(self) -> None:
        if self.watching is not None:
            self.watching.kill()
        if self.target is not None:
            self.target.stop()

    # ---------------------------------------------------------------------------------- internals

    @staticmethod
    def _run_dir_option(environment: Environment) -> Path | None:
        value = getattr(environment.parsed_options, "run_dir", "") if environment.parsed_options else ""
        return Path(value) if value else None


def _interrupt_locusts_main() -> None:
    """Ctrl-C: raise KeyboardInterrupt where Locust's main waits for it, so it stops and writes its files.

    Python's own handler raises it in whatever greenlet runs at that moment; on a busy machine that is
    often a user's, deep in an HTTP client whose cleanup code may swallow it, and the Ctrl-C is lost."""
    hub = gevent.get_hub()
    hub.loop.run_callback(hub.parent.throw, KeyboardInterrupt())
