"""A load generator's side of a distributed run: its part of the run built, its measurements shipped.

Two ways in. ``loadtest run --generator`` (:func:`serve_master`): the process connects with nothing but the
master's address and gets the scenario's text and the overrides; its ``build`` (the pipeline's prepare, the
same as every run's) makes the runtime. Under the locustfile (``locust -f ... --worker``, ``loadtest ui
--generators N``) the process prepared its own scenario file and the agent is handed the runtime.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Literal, TextIO

import gevent
import gevent.event
from locust.env import Environment
from locust.event import Events
from locust.rpc import Message
from locust.runners import WorkerRunner

from loadtest import exitcodes
from loadtest.errors import InvalidInput, LoadtestError, TargetFailure
from loadtest.interrupts import on_interrupt
from loadtest.traffic.arrivals import dispatch_figures
from loadtest.traffic.distributed.protocol import (
    LOADGEN_CONNECT_S,
    REPORT_KEY,
    Assignment,
    FinalReport,
    JobDelta,
    Msg,
    Report,
    TargetSeen,
    user_classes_for,
)
from loadtest.traffic.runtime import TrafficRuntime

Build = Callable[[Assignment], TrafficRuntime]
"""Makes a load generator's runtime from the master's assignment (raises a LoadtestError saying why not)."""


class LoadgenAgent:
    """A load generator's side: builds (or is given) its part of the run, ships its measurements to the master.

    ``health``: which load generators sample ``/health`` (``first``: only generator 0, as one process would;
    ``every``: each, as under the locustfile)."""

    def __init__(
        self,
        environment: Environment,
        runner: WorkerRunner,
        *,
        build: Build | None = None,
        runtime: TrafficRuntime | None = None,
        health: Literal["first", "every"] = "first",
    ) -> None:
        self.environment = environment
        self.runner = runner
        self.build = build
        self.health = health
        self.runtime: TrafficRuntime | None = None
        self.index = 0
        self.error: str | None = None
        self.done = gevent.event.Event()
        self._sent_submitted = 0
        events = environment.events
        events.report_to_master.add_listener(self._on_report_to_master)
        events.test_start.add_listener(self._on_test_start)
        events.test_stopping.add_listener(self._on_test_stopping)
        events.test_stop.add_listener(self._on_test_stop)
        handlers = {Msg.SCENARIO: self._on_scenario, Msg.SHARE: self._on_share, Msg.FINISH: self._on_finish,
                    Msg.DRAIN: self._on_drain}
        for name, handler in handlers.items():
            runner.register_message(name, handler)
        if runtime is not None:
            self._adopt(runtime, max(0, runner.worker_index))

    def hello(self) -> None:
        self.runner.send_message(Msg.HELLO, {"pid": os.getpid()})

    def _adopt(self, runtime: TrafficRuntime, index: int) -> None:
        """Take ``runtime`` as this process's part of the run and tell the master it is ready."""
        self.runtime, self.index = runtime, index
        runtime.events.stop_requested.add(self._ask_master_to_stop)
        environment = self.environment
        samples = self.health == "every" or index == 0
        runtime.measure_process(f"load generator {index}", lambda: (
            (environment.events.request, environment.host) if samples and environment.host else None))
        self.runner.send_message(Msg.READY, {"classes": [c.__name__ for c in environment.user_classes],
                                             "pid": os.getpid()})

    def _on_scenario(self, environment: Environment, msg: Message, **_: object) -> None:
        if self.build is None:  # under the locustfile the process built its own part
            return
        try:
            assignment = Assignment.from_message(msg.data)
            runtime = self.build(assignment)
            classes = user_classes_for(runtime, None, assignment.loadgens)
        except Exception as exc:  # reported to the master, which stops with a clear message
            self.error = exc.sentence if isinstance(exc, LoadtestError) else f"{type(exc).__name__}: {exc}"
            self.runner.send_message(Msg.READY, {"error": self.error})
            self.done.set()
            return
        self.environment.user_classes[:] = classes
        self.environment.stop_timeout = self.environment.stop_timeout or 0
        self._adopt(runtime, assignment.index)

    def _ask_master_to_stop(self, reason: str) -> None:
        """The spending guard (or another stop request) on this load generator ends the whole run."""
        self.runner.send_message(Msg.STOP, {"reason": reason})

    def _on_finish(self, environment: Environment, msg: Message, **_: object) -> None:
        """The master ends the test without Locust's stop message: stop the users (our ``test_stop``
        listener sends the final report); Locust's ``quit`` follows."""
        self.runner.stop()

    def _on_drain(self, environment: Environment, msg: Message, **_: object) -> None:
        if self.runtime is not None:
            self.runtime.start_draining()

    def _on_share(self, environment: Environment, msg: Message, **_: object) -> None:
        share = float(msg.data["share"])
        if self.runtime is not None and self.runtime.limiters is not None:
            self.runtime.limiters.set_share(share)

    def _reachability(self, runtime: TrafficRuntime) -> TargetSeen:
        """This load generator's view of the target: failing since when, the last error, a refused key."""
        view = runtime.reachability
        refusal = view.refusal
        return {"failing_since": view.failing_since, "last_failure": view.last_failure,
                "refusal": None if refusal is None else {"status": refusal.status, "message": refusal.message}}

    def _job_counts(self, runtime: TrafficRuntime) -> JobDelta:
        """Jobs submitted since the last report and in flight now (the master's progress line and drain)."""
        jobs = runtime.jobs
        delta: JobDelta = {"submitted": jobs.submitted - self._sent_submitted, "in_flight": jobs.in_flight}
        self._sent_submitted = jobs.submitted
        return delta

    def _on_report_to_master(self, client_id: str, data: dict[str, object], **_: object) -> None:
        runtime = self.runtime
        if runtime is not None:
            report: Report = {"snapshot": runtime.recorder.drain(), "jobs": self._job_counts(runtime),
                              "reachability": self._reachability(runtime)}
            data[REPORT_KEY] = report

    def _on_test_start(self, environment: Environment, **_: object) -> None:
        if self.runtime is not None:
            self.runtime.control.reset()
            self.runtime.begin_test()

    def _on_test_stopping(self, environment: Environment, **_: object) -> None:
        if self.runtime is not None:
            self.runtime.control.stop()

    def _on_test_stop(self, environment: Environment, **_: object) -> None:
        runtime = self.runtime
        if runtime is None:
            return
        in_flight = runtime.end_test()
        final: FinalReport = {
            "snapshot": runtime.recorder.drain(), "jobs": self._job_counts(runtime), "in_flight_at_end": in_flight,
            "reachability": self._reachability(runtime), "dispatch": dispatch_figures(runtime.dispatcher),
        }
        self.runner.send_message(Msg.FINAL, dict(final))
        gevent.spawn_later(0.5, self.done.set)  # after Locust's own client_stopped has gone out


def serve_master(master_host: str, master_port: int, build: Build, err: TextIO) -> int:
    """``loadtest run --generator``: serve one run for the master at ``master_host:master_port``, building its
    part with ``build``; the exit code. Nothing is written on this machine."""
    import locust.runners as locust_runners

    locust_runners.CONNECT_RETRY_COUNT = max(1, math.ceil(LOADGEN_CONNECT_S / locust_runners.CONNECT_TIMEOUT))
    environment = Environment(user_classes=[], events=Events())
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    except (ConnectionError, OSError) as exc:
        reason = str(exc) or f"no answer within {LOADGEN_CONNECT_S:g}s"
        raise TargetFailure(f"--master-host {master_host}:{master_port}: cannot reach the master ({reason})") from None
    agent = LoadgenAgent(environment, runner, build=build)
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        agent.done.set()

    try:
        with on_interrupt(interrupt):
            agent.hello()
            while not agent.done.wait(0.2):
                if len(runner.greenlet) == 0:  # the master told us to quit
                    break
    finally:
        if interrupted or agent.error:
            environment.events.quitting.fire(environment=environment, reverse=True)  # tell the master
            gevent.sleep(0.2)
        runner.greenlet.kill(block=False)
    if agent.error:
        raise InvalidInput(f"the master's scenario could not be built here: {agent.error}")
    return exitcodes.INTERRUPTED if interrupted else exitcodes.OK
