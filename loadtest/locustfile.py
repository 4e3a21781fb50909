"""Locust entry: ``locust -f loadtest/locustfile.py --scenario FILE [locust options]``.

Locust collects user classes when it imports this file, before it parses its options, so the scenario
path is read here from the command line (``--scenario FILE`` / ``--scenario=FILE``) or from the
``LOADTEST_SCENARIO`` environment variable; ``--scenario`` is also declared to Locust so it is accepted
and shown in ``--help``. The module then holds one real ``User`` class per flow (``--list`` shows them,
``--class-picker`` selects them) and a ``LoadTestShape`` following the scenario's load.

Without ``--host``, a scenario whose target is the emulator gets one started on a free loopback port
(stopped when Locust quits); a real endpoint's target is its ``base_url``. At the end of each test the
jobs still unfinished are recorded as in flight, and with ``--run-dir DIR`` the run directory is written.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import locust
from locust import events

from loadtest import exitcodes
from loadtest.scenario.loader import ScenarioError, load_scenario
from loadtest.scenario.model import EmulatorTarget, EndpointTarget, Scenario
from loadtest.traffic import shape as _shape
from loadtest.traffic import users as _users
from loadtest.traffic.runtime import TargetError, TrafficRuntime

SCENARIO_ENV = "LOADTEST_SCENARIO"
RUN_DIR_ENV = "LOADTEST_RUN_DIR"
logger = logging.getLogger("loadtest")

_ = locust  # imported by Locust itself (already monkey-patched); kept explicit for direct imports


def scenario_path_from_argv(argv: list[str]) -> str | None:
    """The value of ``--scenario`` in ``argv`` (either spelling), or None."""
    for index, arg in enumerate(argv):
        if arg == "--scenario" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--scenario="):
            return arg.split("=", 1)[1]
    return None


def _fail(message: str, code: int) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    parser.add_argument("--scenario", type=str, env_var=SCENARIO_ENV, default="",
                        help="loadtest scenario YAML file whose flows become the user classes")
    parser.add_argument("--run-dir", type=str, env_var=RUN_DIR_ENV, default="",
                        help="write loadtest's run directory here at the end of the test")
    from loadtest.traffic.webui import runs as uihooks

    uihooks.add_ui_arguments(parser, SCENARIO)  # the scenario's choices as the web UI's custom parameters


def _load() -> tuple[Scenario, TrafficRuntime] | None:
    path = scenario_path_from_argv(sys.argv) or os.environ.get(SCENARIO_ENV)
    if not path:
        return None
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        _fail("\n".join(str(e) for e in exc.errors) + f"\n{path}: invalid scenario", exitcodes.INVALID_INPUT)
        raise AssertionError from exc  # unreachable
    try:
        runtime = TrafficRuntime(scenario, base_dir=Path(path).resolve().parent)
    except TargetError as exc:
        _fail(str(exc), exitcodes.INVALID_INPUT)
        raise AssertionError from exc
    return scenario, runtime


_loaded = _load()
SCENARIO: Scenario | None = _loaded[0] if _loaded else None
RUNTIME: TrafficRuntime | None = _loaded[1] if _loaded else None
_emulator: Any = None

if RUNTIME is not None and SCENARIO is not None:
    _host = SCENARIO.target.base_url if isinstance(SCENARIO.target, EndpointTarget) else None
    globals().update({cls.__name__: cls for cls in _users.build_user_classes(RUNTIME, _host)})
    ScenarioShape = _shape.make_shape_class(SCENARIO)
    globals()[ScenarioShape.__name__] = ScenarioShape
    del ScenarioShape

    @events.init.add_listener
    def _on_init(environment: Any, **_: Any) -> None:
        global _emulator
        import gevent
        from locust.runners import LocalRunner, WorkerRunner

        scenario = SCENARIO
        assert scenario is not None and RUNTIME is not None
        if environment.stop_timeout in (None, 0):
            environment.stop_timeout = _users.network_timeout_for(list(RUNTIME.flows.values()))
        if isinstance(environment.runner, LocalRunner):
            # the spending guard (or anything else) asking the run to end stops Locust's runner too
            RUNTIME.on_stop_requested = lambda reason: gevent.spawn(environment.runner.stop)
        from loadtest.traffic.webui import runs as uihooks

        uihooks.attach(environment, RUNTIME)  # job metrics tabs and report links in the web UI
        from loadtest.traffic import distributed

        distributed.attach_to_locust(environment, RUNTIME)  # master/worker: measurements to the master
        if isinstance(environment.runner, WorkerRunner) or environment.host:
            return
        if isinstance(scenario.target, EmulatorTarget):
            from loadtest.pipeline.target import start_emulator

            _emulator = start_emulator(scenario, log_path=None)
            environment.host = _emulator.base_url
            logger.info("emulator started at %s", environment.host)

    @events.test_start.add_listener
    def _on_test_start(environment: Any, **_: Any) -> None:
        from locust.runners import MasterRunner

        assert RUNTIME is not None
        from loadtest.traffic.webui import runs as uihooks

        uihooks.on_test_start(environment, RUNTIME)  # web UI: fresh measurements and the chosen policy
        RUNTIME.control.reset()
        RUNTIME.started_at = time.time()
        RUNTIME.started_monotonic = time.monotonic()
        if not isinstance(environment.runner, MasterRunner) and environment.host:
            RUNTIME.health_sampler = _users.start_health_sampler(RUNTIME, environment, environment.host)

    @events.test_stopping.add_listener
    def _on_test_stopping(environment: Any, **_: Any) -> None:
        assert RUNTIME is not None
        RUNTIME.control.stop()

    @events.test_stop.add_listener
    def _on_test_stop(environment: Any, **_: Any) -> None:
        assert RUNTIME is not None and SCENARIO is not None
        in_flight = RUNTIME.finish()
        run_dir = getattr(environment.parsed_options, "run_dir", "") if environment.parsed_options else ""
        from locust.runners import WorkerRunner

        if run_dir and not isinstance(environment.runner, WorkerRunner):  # only the master writes it
            from loadtest.traffic.webui import runs as uihooks

            # one run directory per test (web UI), else --run-dir as given
            uihooks.write_test_run(RUNTIME, environment, Path(run_dir), in_flight_at_end=in_flight)

    @events.quit.add_listener
    def _on_quit(**_: Any) -> None:
        if _emulator is not None:
            _emulator.stop()
