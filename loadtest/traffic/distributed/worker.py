"""A worker's side: builds its part of the run from the master's scenario and ships its measurements."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, TextIO

import gevent
import gevent.event
from locust.env import Environment
from locust.event import Events
from locust.rpc import Message
from locust.runners import WorkerRunner

from loadtest.traffic.arrivals import dispatch_figures
from loadtest.traffic.distributed.protocol import (
    MSG_DRAIN,
    MSG_FINAL,
    MSG_FINISH,
    MSG_HELLO,
    MSG_READY,
    MSG_SCENARIO,
    MSG_SHARE,
    MSG_STOP,
    REPORT_KEY,
    WORKER_CONNECT_S,
    user_classes_for,
    worker_scenario,
)
from loadtest.traffic.looplag_ticker import LoopLagTicker, start_loop_lag_ticker
from loadtest.traffic.runtime import TrafficRuntime

# --------------------------------------------------------------------------------------------- worker


class WorkerAgent:
    """A worker's side: builds its part of the run from the master's scenario, ships measurements."""

    def __init__(
        self,
        environment: Environment,
        runner: WorkerRunner,
        *,
        base_dir: Path | None = None,
        runtime: TrafficRuntime | None = None,
        sample_health: bool = True,
    ) -> None:
        self.environment = environment
        self.runner = runner
        self.base_dir = base_dir or Path.cwd()
        self.runtime: TrafficRuntime | None = runtime
        """Given: the locustfile built it from its own scenario file; else built from the master's."""
        self.sample_health = sample_health
        self.index = 0
        self.error: str | None = None
        self.done = gevent.event.Event()
        self.lag: LoopLagTicker | None = None
        self._sent_submitted = 0
        events = environment.events
        events.report_to_master.add_listener(self._on_report_to_master)
        events.test_start.add_listener(self._on_test_start)
        events.test_stopping.add_listener(self._on_test_stopping)
        events.test_stop.add_listener(self._on_test_stop)
        runner.register_message(MSG_SCENARIO, self._on_scenario)
        runner.register_message(MSG_SHARE, self._on_share)
        runner.register_message(MSG_FINISH, self._on_finish)
        runner.register_message(MSG_DRAIN, self._on_drain)
        if runtime is not None:
            runtime.stop_requested.add(self._ask_master_to_stop)
            self.index = max(0, runner.worker_index)
            runner.send_message(MSG_READY, {"classes": [c.__name__ for c in environment.user_classes],
                                            "pid": os.getpid()})

    def hello(self) -> None:
        self.runner.send_message(MSG_HELLO, {"pid": os.getpid()})

    def _on_scenario(self, environment: Environment, msg: Message, **_: object) -> None:
        data = msg.data
        try:
            master_dir = Path(data.get("base_dir") or "")
            base_dir = master_dir if data.get("base_dir") and master_dir.is_dir() else self.base_dir
            scenario = worker_scenario(data["text"], data["name"], data["overrides"], int(data["index"]), base_dir)
            workers = max(1, int(data["workers"]))
            self.index = int(data["index"])
            runtime = TrafficRuntime(scenario, base_dir=base_dir, processes=workers,
                                     process_index=self.index % workers)
            classes = user_classes_for(runtime, None, workers)
        except Exception as exc:  # reported to the master, which stops with a clear message
            self.error = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            self.runner.send_message(MSG_READY, {"error": self.error})
            self.done.set()
            return
        self.runtime = runtime
        runtime.stop_requested.add(self._ask_master_to_stop)
        self.environment.user_classes[:] = classes
        self.environment.stop_timeout = self.environment.stop_timeout or 0
        self.runner.send_message(MSG_READY, {"classes": [c.__name__ for c in classes], "pid": os.getpid()})

    def _ask_master_to_stop(self, reason: str) -> None:
        """The spending guard (or another stop request) on this worker ends the whole run."""
        self.runner.send_message(MSG_STOP, {"reason": reason})

    def _on_finish(self, environment: Environment, msg: Message, **_: object) -> None:
        """The master ends the test without Locust's stop message: stop the users (our ``test_stop``
        listener sends the final report); Locust's ``quit`` follows."""
        self.runner.stop()

    def _on_drain(self, environment: Environment, msg: Message, **_: object) -> None:
        runtime = self.runtime
        if runtime is not None:
            runtime.control.start_draining()

    def _on_share(self, environment: Environment, msg: Message, **_: object) -> None:
        share = float(msg.data["share"])
        if self.runtime is not None and self.runtime.limiters is not None:
            self.runtime.limiters.set_share(share)

    def _reachability(self) -> dict[str, object]:
        """This worker's view of the target: failing since when, the last error, a refused key."""
        assert self.runtime is not None
        view = self.runtime.reachability
        refusal = view.refusal
        return {"failing_since": view.failing_since, "last_failure": view.last_failure,
                "refusal": None if refusal is None else {"status": refusal.status, "message": refusal.message}}

    def _job_counts(self) -> dict[str, int]:
        """Jobs submitted since the last report and in flight now (the master's progress line and drain)."""
        assert self.runtime is not None
        jobs = self.runtime.jobs
        delta = {"submitted": jobs.submitted - self._sent_submitted, "in_flight": jobs.in_flight}
        self._sent_submitted = jobs.submitted
        return delta

    def _on_report_to_master(self, client_id: str, data: dict[str, Any], **_: object) -> None:
        if self.runtime is None:
            return
        data[REPORT_KEY] = {"snapshot": self.runtime.recorder.drain(), "jobs": self._job_counts(),
                            "reachability": self._reachability()}

    def _on_test_start(self, environment: Environment, **_: object) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        runtime.control.reset()
        runtime.start_clock()
        self.lag = start_loop_lag_ticker(lambda: runtime.recorder, f"worker {self.index}")
        if self.sample_health and self.index == 0 and environment.host:  # one worker samples /health
            runtime.start_health_sampling(environment.events.request, environment.host)

    def _on_test_stopping(self, environment: Environment, **_: object) -> None:
        if self.runtime is not None:
            self.runtime.control.stop()

    def _on_test_stop(self, environment: Environment, **_: object) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        runtime.stop_health_sampling()
        if self.lag is not None:
            self.lag.stop()
        in_flight = runtime.finish()
        self.runner.send_message(MSG_FINAL, {
            "snapshot": runtime.recorder.drain(), "jobs": self._job_counts(), "in_flight_at_end": in_flight,
            "reachability": self._reachability(),
            "dispatch": dispatch_figures(runtime.dispatcher),
        })
        gevent.spawn_later(0.5, self.done.set)  # after Locust's own client_stopped has gone out

    def close(self) -> None:
        """Nothing is left on the worker's disk (nothing was written)."""


def run_worker(master_host: str, master_port: int, err: TextIO) -> int:
    """``loadtest run --worker``: serve one run for the master at ``master_host:master_port``."""
    import math

    import locust.runners as locust_runners

    from loadtest import exitcodes

    locust_runners.CONNECT_RETRY_COUNT = max(1, math.ceil(WORKER_CONNECT_S / locust_runners.CONNECT_TIMEOUT))
    events = Events()
    environment = Environment(user_classes=[], events=events)
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    except (ConnectionError, OSError) as exc:
        reason = str(exc) or f"no answer within {WORKER_CONNECT_S:g}s"
        print(f"--master-host {master_host}:{master_port}: cannot reach the master ({reason})", file=err)
        return exitcodes.TARGET_ERROR
    agent = WorkerAgent(environment, runner)
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        interrupted = True
        agent.done.set()

    handlers = [gevent.signal_handler(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)]
    try:
        agent.hello()
        while not agent.done.wait(0.2):
            if len(runner.greenlet) == 0:  # the master told us to quit
                break
    finally:
        for handler in handlers:
            handler.cancel()
        if interrupted or agent.error:
            environment.events.quitting.fire(environment=environment, reverse=True)  # tell the master
            gevent.sleep(0.2)
        runner.greenlet.kill(block=False)
        agent.close()
    if agent.error:
        print(f"worker: the master's scenario could not be built here: {agent.error}", file=err)
        return exitcodes.INVALID_INPUT
    return exitcodes.INTERRUPTED if interrupted else exitcodes.OK
