"""The run loop: Locust driven in this process for a scenario's duration, from start to measured outcome.

One loop for every headless run. :class:`Drive` owns what every run does (Locust's environment and its
CSV/HTML files, signal handling, the progress line, the watchers that may stop a run early, the
deadline, the orderly stop); :class:`LocalDrive` runs the users in this process and
:class:`loadtest.traffic.distributed.drive.MasterDrive` on worker processes. The subclasses say only what
differs: how the runner is made, when the run may start, whether it can go on, and how the last
measurements come in.

The caller must have imported Locust before anything that opens sockets (gevent monkey-patching).
"""

from __future__ import annotations

import csv
import gc
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import gevent
import locust.stats as locust_stats
from gevent import Greenlet
from locust import LoadTestShape, User
from locust.env import Environment
from locust.event import Events
from locust.html import get_html_report
from locust.runners import Runner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV, StatsCSVFileWriter, stats_history

from loadtest.atomic import write_atomic
from loadtest.rundir.layout import LOCUST_CSV_PREFIX, LOCUST_HTML
from loadtest.traffic.arrivals import DispatchFigures, dispatch_figures
from loadtest.traffic.looplag_ticker import LoopLagTicker, start_loop_lag_ticker
from loadtest.traffic.outcome import RunOutcome, Watcher
from loadtest.traffic.progress import ProgressLine
from loadtest.traffic.runtime import TrafficRuntime
from loadtest.traffic.shape import make_shape_class
from loadtest.traffic.users import build_user_classes, network_timeout_for

CSV_INTERVAL_S = 1.0
"""How often Locust's CSV writer refreshes its files during the run (Locust's default)."""
SPACE_KEPT_BYTES = 8 * 1024 * 1024
"""Locust's own HTML report (about 1 MB) is skipped when writing it would leave less than this free: the
measurements that follow it matter more."""
TICK_S = 0.25
"""How often the loop looks at the clock, the progress line and the watchers."""
SHAPE_SLACK_S = 2.0
"""The shape keeps its users this much past the run's end; the run itself stops on time."""
OPEN_MODEL_END_GRACE_S = 2.0
"""Longest the run waits past its duration for the open-model dispatcher to finish its schedule."""



class LocustFiles:
    """Locust's own statistics files in the run directory: CSVs refreshed during the run, final figures
    and its HTML report written at the end (a bonus beside ours; they never decide anything)."""

    def __init__(self, environment: Environment, runner: Runner, directory: Path) -> None:
        self.environment = environment
        self.prefix = str(directory / LOCUST_CSV_PREFIX)
        self.problem: str | None = None
        """Why Locust's files are incomplete (a full disk...), once they could not be written."""
        locust_stats.CSV_STATS_INTERVAL_SEC = CSV_INTERVAL_S  # type: ignore[assignment]  # Locust types it int
        self.writer = StatsCSVFileWriter(environment, PERCENTILES_TO_REPORT, self.prefix, full_history=False)
        self.greenlets: list[Greenlet] = [gevent.spawn(self._refresh), gevent.spawn(stats_history, runner)]

    def _refresh(self) -> None:
        try:
            self.writer()
        except OSError as exc:  # the run goes on; the final files are tried again at the end
            self.problem = f"Locust's CSV files could not be refreshed during the run ({exc.strerror or exc})"

    def finish(self, html_path: Path) -> None:
        """Stop refreshing, write the final statistics (every request answered by now) and the HTML."""
        for greenlet in self.greenlets:
            greenlet.kill()
        try:
            self.writer.close_files()
            final = StatsCSV(self.environment, PERCENTILES_TO_REPORT)
            for suffix, write in (("_stats.csv", final.requests_csv), ("_failures.csv", final.failures_csv),
                                  ("_exceptions.csv", final.exceptions_csv)):
                with open(self.prefix + suffix, "w", newline="", encoding="utf-8") as handle:
                    write(csv.writer(handle))
            try:
                html = get_html_report(self.environment, show_download_link=False)
            except Exception as exc:  # Locust's report is a bonus; ours is written from the recorder anyway
                html = f"<p>Locust's HTML report could not be built: {exc}</p>"
            free = shutil.disk_usage(html_path.parent).free
            if free < len(html) + SPACE_KEPT_BYTES:
                self.problem = (f"Locust's HTML report ({len(html) / 1e6:.1f} MB) was not written: only "
                                f"{free / 1e6:.1f} MB free, kept for the run's own measurements")
                return
            write_atomic(html_path, html)
        except OSError as exc:
            self.problem = f"Locust's own files could not be written ({exc.strerror or exc})"


class Drive:
    """One headless run of ``runtime``'s scenario against ``host``; :meth:`run` returns its outcome."""

    lag_process: str | None = "load generator"
    """The name this process's loop lag is recorded under (None: not measured here, e.g. a master whose
    workers measure their own)."""

    def __init__(
        self,
        runtime: TrafficRuntime,
        host: str,
        locust_dir: Path,
        *,
        progress: TextIO | None = None,
        watchers: Sequence[Watcher] = (),
        drain_s: float = 0.0,
    ) -> None:
        self.runtime = runtime
        self.host = host
        self.locust_dir = locust_dir
        self.progress_to = progress
        self.watchers = list(watchers)
        self.duration = runtime.scenario.total_duration
        self.drain_s = drain_s
        """After the duration, follow the jobs in flight this long at most (no new ones are submitted)."""
        self.drained_s = 0.0
        self.interrupted = False
        self.lag: LoopLagTicker | None = None
        self.environment = Environment(
            user_classes=self.user_classes(), shape_class=self.shape_class()(), events=Events(), host=host,
            stop_timeout=network_timeout_for(list(runtime.flows.values())),
        )
        self.environment.events.test_stopping.add_listener(lambda **_: runtime.control.stop())
        self.runner = self.create_runner()

    # ------------------------------------------------------------------------------- what differs

    def user_classes(self) -> list[type[User]]:
        return list(build_user_classes(self.runtime, self.host, duration=self.duration))

    def shape_class(self) -> type[LoadTestShape]:
        return make_shape_class(self.runtime.scenario, duration=self.duration + self.drain_s + SHAPE_SLACK_S)

    def create_runner(self) -> Runner:
        return self.environment.create_local_runner()

    def ready(self) -> bool:
        """Whether the run can start (a master waits for its workers); False: it never started."""
        return True

    def start(self) -> None:
        """Start the users; the measured window begins when this returns."""
        self.runner.start_shape()
        self.runtime.start_health_sampling(self.environment.events.request, self.host)

    def going(self) -> bool:
        """Whether the run can go on (a master loses its last worker)."""
        return True

    def start_draining(self) -> None:
        """No new jobs from here on (a master tells its workers); the open model's schedule is over by now,
        and an arrival it still starts submits nothing."""
        self.runtime.control.start_draining()

    def ended(self, elapsed: float) -> None:
        """The loop is over (deadline, stop request or interrupt), ``elapsed`` seconds after the start."""

    def collect(self) -> int:
        """After the users stopped: the last measurements in; returns the jobs left unfinished."""
        self.runtime.stop_health_sampling()
        return self.runtime.finish()

    def dispatch(self) -> DispatchFigures | None:
        return dispatch_figures(self.runtime.dispatcher)

    def describe_workers(self) -> dict[str, object]:
        return {}

    def close(self) -> None:
        """Release what :meth:`create_runner` started."""

    # ------------------------------------------------------------------------------------ the loop

    def run(self) -> RunOutcome | None:
        """Run the scenario; None when it never started (the reason was printed to stderr)."""
        runtime = self.runtime
        handlers = [gevent.signal_handler(sig, self._interrupt) for sig in (signal.SIGINT, signal.SIGTERM)]
        try:
            if not self.ready():
                if self.interrupted:
                    raise KeyboardInterrupt
                return None
            files = LocustFiles(self.environment, self.runner, self.locust_dir)
            progress = ProgressLine(runtime, self.duration, self.progress_to) if self.progress_to else None
            gc.collect()
            gc.freeze()  # everything built so far lives for the whole run: keep it out of the collector's scans
            began = self._start()
            try:
                if self._loop(began, progress):
                    self._drain(began, progress)
            except KeyboardInterrupt:
                self._interrupt()
            self.ended(time.monotonic() - began)
            started_at = runtime.recorder.start
            if runtime.dispatcher is not None and runtime.dispatcher.began is not None:
                # the open model's measured window starts with its schedule, a moment after the user spawned
                started_at += runtime.dispatcher.began - began
                began = runtime.dispatcher.began
            measured = time.monotonic() - began
            in_flight = self._stop()
            if progress is not None:
                progress.finish(measured)
            files.finish(self.locust_dir / LOCUST_HTML)
            return RunOutcome(
                started_at=started_at, duration_s=measured, interrupted=self.interrupted,
                stop_reason=runtime.stop_reason, dispatch=self.dispatch(), in_flight_at_end=in_flight,
                workers=self.describe_workers(), drained_s=self.drained_s,
                problems=[files.problem] if files.problem else [],
            )
        finally:
            for handler in handlers:
                handler.cancel()
            self.close()

    def _interrupt(self) -> None:
        self.interrupted = True
        self.runtime.request_stop("interrupted")

    def _start(self) -> float:
        """Start the users; the measured window (and the recorder's clock) begins once they are on their way."""
        self.start()
        began = self.runtime.start_clock()
        if self.lag_process is not None:
            self.lag = start_loop_lag_ticker(lambda: self.runtime.recorder, self.lag_process)
        return began

    def _loop(self, began: float, progress: ProgressLine | None) -> bool:
        """Until the duration ends (True) or the run is stopped early (False)."""
        while self._tick(began, progress):
            if time.monotonic() >= self._deadline(began):
                return True
        return False

    def _tick(self, began: float, progress: ProgressLine | None) -> bool:
        """One beat of the loop: sleep, progress, watchers; False when the run must not go on."""
        runtime = self.runtime
        if runtime.control.stopping or not self.going():
            return False
        gevent.sleep(max(0.0, min(TICK_S, self._deadline(began) - time.monotonic())) if not runtime.control.draining
                     else TICK_S)
        if progress is not None:
            progress.maybe_print(time.monotonic() - began)
        for watcher in self.watchers:
            reason = watcher()
            if reason is not None:
                runtime.request_stop(reason)
                return False
        return not runtime.control.stopping

    def _drain(self, began: float, progress: ProgressLine | None) -> None:
        """The duration is over: follow the jobs in flight (none submitted any more) for up to ``drain_s``."""
        counts = self.runtime.job_counts
        if self.drain_s <= 0 or counts.in_flight == 0:
            return
        self.start_draining()
        start = time.monotonic()
        end = start + self.drain_s
        while counts.in_flight > 0 and time.monotonic() < end and self._tick(began, progress):
            pass
        self.drained_s = time.monotonic() - start

    def _deadline(self, began: float) -> float:
        """When the run ends: ``duration`` after the start; for the open model, ``duration`` after the
        schedule started (the user is spawned a moment after the run) and not before every arrival is
        dispatched."""
        dispatcher = self.runtime.dispatcher
        if dispatcher is None or dispatcher.began is None:
            return began + self.duration
        end = dispatcher.began + self.duration
        if time.monotonic() >= end and not dispatcher.finished:
            return min(time.monotonic() + 0.01, end + OPEN_MODEL_END_GRACE_S)
        return end

    def _stop(self) -> int:
        """Stop the users (each finishes its request and records its job), then collect."""
        if self.lag is not None:
            self.lag.stop()
        try:
            self.runtime.control.stop()
            self.runner.stop()
            return self.collect()
        except KeyboardInterrupt:
            self.interrupted = True
            return self.runtime.finish()
        finally:
            self.runner.quit()


class LocalDrive(Drive):
    """The users run in this process."""
