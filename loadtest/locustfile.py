"""Locust entry: ``locust -f loadtest/locustfile.py --scenario FILE [locust options]``.

Locust collects user classes when it imports this file, before it parses its options, so the scenario
path is read here from the command line (``--scenario FILE`` / ``--scenario=FILE``) or from the
``LOADTEST_SCENARIO`` environment variable; ``--scenario`` is also declared to Locust so it is accepted
and shown in ``--help``. The module then holds the scenario's real ``User`` class (``--list`` shows it,
``--class-picker`` selects it) and a ``LoadTestShape`` following the scenario's load: the scenario decides
users and duration, so Locust's ``-u``/``-r``/``-t`` are refused with a sentence (use ``loadtest run
--users/--duration``, or change the scenario).

Without ``--host``, a scenario whose target is the emulator gets one started on a free loopback port
(watched, and stopped when Locust quits); a real endpoint's target is its ``base_url``. Every test that
stops is judged and, with ``--run-dir DIR``, written and rendered as ``loadtest run`` does
(:mod:`loadtest.pipeline.locust_session`); a headless run exits with the run's exit code.
"""

from __future__ import annotations

import os
import sys
from argparse import ArgumentParser
from pathlib import Path

import locust
from locust import events
from locust.env import Environment

from loadtest import exitcodes
from loadtest.pipeline.locust_session import LocustSession
from loadtest.queue_api.target_facts import TargetError
from loadtest.scenario.loader import ScenarioError, load_scenario
from loadtest.scenario.model import EndpointTarget
from loadtest.traffic import shape as _shape
from loadtest.traffic import users as _users
from loadtest.traffic.runtime import TrafficRuntime
from loadtest.traffic.webui import runs as ui_runs

SCENARIO_ENV = "LOADTEST_SCENARIO"
RUN_DIR_ENV = "LOADTEST_RUN_DIR"
SHAPE_FLAGS: dict[str, str] = {
    "-u": "users", "--users": "users", "-r": "spawn rate", "--spawn-rate": "spawn rate",
    "-t": "run time", "--run-time": "run time",
}
"""Locust options that the scenario's load section replaces (Locust would ignore them with a warning)."""

_ = locust  # imported by Locust itself (already monkey-patched); kept explicit for direct imports


def scenario_path_from_argv(argv: list[str]) -> str | None:
    """The value of ``--scenario`` in ``argv`` (either spelling), or None."""
    for index, arg in enumerate(argv):
        if arg == "--scenario" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--scenario="):
            return arg.split("=", 1)[1]
    return None


def shape_flags_in(argv: list[str]) -> list[str]:
    """The Locust shape options given in ``argv`` (``-u 10``, ``--run-time=1m``...)."""
    return [arg for arg in argv if arg.split("=", 1)[0] in SHAPE_FLAGS or
            (arg[:2] in ("-u", "-r", "-t") and len(arg) > 2 and not arg.startswith("--"))]


def _fail(message: str, code: int) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


@events.init_command_line_parser.add_listener
def _add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--scenario", type=str, env_var=SCENARIO_ENV, default="",
                        help="loadtest scenario YAML file whose flows become the user classes")
    parser.add_argument("--run-dir", type=str, env_var=RUN_DIR_ENV, default="",
                        help="write loadtest's run directory here at the end of the test")
    ui_runs.add_ui_arguments(parser, SESSION.scenario if SESSION else None)  # the web UI's custom parameters


def _load() -> LocustSession | None:
    path = scenario_path_from_argv(sys.argv) or os.environ.get(SCENARIO_ENV)
    if not path:
        return None
    given = shape_flags_in(sys.argv[1:])
    if given:
        _fail(f"locust -f loadtest/locustfile.py --scenario {path}: {' '.join(given)}: not used: the scenario's load "
              "section decides users, spawn rate and run time. Change the scenario, or use `loadtest run "
              "SCENARIO --users N --duration T`.", exitcodes.INVALID_INPUT)
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
    return LocustSession(scenario, runtime, Path(path))


SESSION = _load()

if SESSION is not None:
    _host = SESSION.scenario.target.base_url if isinstance(SESSION.scenario.target, EndpointTarget) else None
    globals().update({cls.__name__: cls for cls in _users.build_user_classes(SESSION.runtime, _host)})
    ScenarioShape = _shape.make_shape_class(SESSION.scenario)
    globals()[ScenarioShape.__name__] = ScenarioShape
    del ScenarioShape
    _session = SESSION

    @events.init.add_listener
    def _on_init(environment: Environment, **_: object) -> None:
        _session.on_init(environment)

    @events.test_start.add_listener
    def _on_test_start(environment: Environment, **_: object) -> None:
        _session.on_test_start(environment)

    @events.test_stopping.add_listener
    def _on_test_stopping(environment: Environment, **_: object) -> None:
        _session.on_test_stopping(environment)

    @events.test_stop.add_listener
    def _on_test_stop(environment: Environment, **_: object) -> None:
        _session.on_test_stop(environment)

    @events.quit.add_listener
    def _on_quit(**_: object) -> None:
        _session.on_quit()
