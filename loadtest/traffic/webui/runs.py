"""What the locustfile does differently when a person drives the test from Locust's web UI.

* The scenario's choices become Locust *custom parameters* (shown under "Custom parameters" on the start
  form): the rate-limit policy and what to do on a 429. They apply to the next test started.
* Every test starts with fresh measurements (the recorder, the job book, the live counts), so a test's
  run directory holds that test only.
* Every test that stops writes its own run directory (``loadtest ui``'s ``--run-dir`` for the first, then
  new ones beside it as ``loadtest run`` would) and its report, which the UI links to
  (:mod:`loadtest.traffic.webui.tabs`).
* :func:`prefill_arguments`: the users, spawn rate and run time the start form shows, from the scenario.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from loadtest.scenario.model import ClosedLoad, EndpointTarget, Scenario

logger = logging.getLogger("loadtest")

POLICY_ARG = "rate_limit_policy"
ON_429_ARG = "on_429"
_runs: Any = None
"""The :class:`loadtest.traffic.webui.tabs.UiRuns` of this process once the UI is attached."""


def policies_for(scenario: Scenario) -> list[str]:
    """Rate-limit policies offered in the UI: never ``probe`` against a real endpoint (it is billed and
    goes past the limits on purpose; ``loadtest run --confirm-probe`` is the way to do that)."""
    if isinstance(scenario.target, EndpointTarget):
        return ["respect", "ignore"]
    return ["respect", "probe", "ignore"]


def add_ui_arguments(parser: Any, scenario: Scenario | None) -> None:
    """Declare the scenario's choices as Locust custom parameters (``init_command_line_parser``)."""
    if scenario is None:
        return
    parser.add_argument(f"--{POLICY_ARG.replace('_', '-')}", type=str, choices=policies_for(scenario),
                        default=scenario.rate_limits.policy,
                        help="loadtest: client-side rate limits (respect: stay under them; probe: go past them "
                             "and measure 429s; ignore: no client limits)")
    parser.add_argument(f"--{ON_429_ARG.replace('_', '-')}", type=str, choices=["retry", "count"],
                        default=scenario.rate_limits.on_429.action,
                        help="loadtest: on a 429, retry with backoff or count it and move on")


def prefill_arguments(scenario: Scenario) -> list[str]:
    """Locust options that pre-fill the start form: users, spawn rate and run time from the scenario."""
    load = scenario.load
    if isinstance(load, ClosedLoad):
        users = load.peak_users
        spawn_rate = float(load.spawn_rate) if load.spawn_rate else float(users)
    else:
        users, spawn_rate = 1, 1.0  # the open model's one arrival dispatcher
    return ["--users", str(users), "--spawn-rate", f"{spawn_rate:g}", "--run-time", f"{scenario.total_duration:g}s"]


def apply_choices(runtime: Any, options: Any) -> None:
    """Apply the custom parameters of the start form to the runtime (before the test's users start)."""
    from loadtest.traffic.runtime import build_limiters

    scenario: Scenario = runtime.scenario
    policy = getattr(options, POLICY_ARG, None) or scenario.rate_limits.policy
    action = getattr(options, ON_429_ARG, None) or scenario.rate_limits.on_429.action
    if policy not in policies_for(scenario):
        logger.warning("rate_limit_policy %r is not allowed here; keeping %r", policy, scenario.rate_limits.policy)
        policy = scenario.rate_limits.policy
    if action not in ("retry", "count"):
        action = scenario.rate_limits.on_429.action
    limits = scenario.rate_limits
    if policy == limits.policy and action == limits.on_429.action:
        return
    on_429 = limits.on_429.model_copy(update={"action": action})
    new_limits = limits.model_copy(update={"policy": policy, "on_429": on_429})
    runtime.scenario = scenario.model_copy(update={"rate_limits": new_limits})
    old = runtime.limiters
    runtime.limiters = build_limiters(runtime.scenario)
    if old is not None and runtime.limiters is not None:
        runtime.limiters.set_share(old.share)  # a distributed worker keeps the share its master gave it
    logger.info("loadtest: rate_limit_policy=%s, on_429=%s for this test", policy, action)


def fresh_measurements(runtime: Any) -> None:
    """Start the test with empty measurements (a new recorder, job book and live counts)."""
    from loadtest.metrics.recorder import Recorder
    from loadtest.traffic.flows import JobBook, SpendingGuard
    from loadtest.traffic.runtime import LiveCounts

    old = runtime.recorder
    runtime.recorder = Recorder(bucket_s=old.bucket_s, keep_jobs=old.keep_jobs)
    runtime.jobs = JobBook(runtime.recorder)
    runtime.live = LiveCounts()
    runtime.stop_reason = None
    runtime.dispatcher = None
    runtime.guard = SpendingGuard(runtime.guard.max_jobs, on_reached=runtime._guard_reached)


def attach(environment: Any, runtime: Any) -> None:
    """At Locust's ``init``: add our tabs and routes to the web UI (when there is one)."""
    global _runs
    from loadtest.traffic.webui import tabs as webui

    if environment.web_ui is None:
        return
    from loadtest.traffic.distributed import coordinator

    def worker_rows() -> list[dict[str, Any]]:
        master = coordinator()
        return master.ui_rows() if master is not None else []

    _runs = webui.UiRuns()
    webui.install(environment.web_ui, lambda: runtime, _runs, extra_rows=worker_rows)


def on_test_start(environment: Any, runtime: Any) -> None:
    """A test starts from the UI: fresh measurements, the chosen policy, a new entry in the runs list."""
    from locust.runners import WorkerRunner

    if isinstance(environment.runner, WorkerRunner):  # the master's custom parameters came with the spawn
        apply_choices(runtime, environment.parsed_options)
        return
    from loadtest.traffic.distributed import coordinator

    master = coordinator()
    if _runs is None:  # headless locust -f: only the master's bookkeeping
        if master is not None:
            master.begin_test()
        return

    apply_choices(runtime, environment.parsed_options)  # a master too: its run directory says what ran
    fresh_measurements(runtime)
    runtime.recorder.start = time.time()
    if master is not None:  # the workers' counts and measurements flow into the fresh runtime
        master.begin_test()
    _runs.begin()


def test_run_directory(first: Path, scenario_name: str, number: int) -> Path:
    """Test 1 writes ``first`` (what ``loadtest ui`` made); later ones get new directories beside it."""
    if number <= 1:
        return first
    from loadtest.metrics.rundir import new_run_directory

    return new_run_directory(scenario_name, first.parent.parent)


def write_test_run(runtime: Any, environment: Any, first_run_dir: Path, *, in_flight_at_end: int) -> Path | None:
    """At ``test_stop`` in the UI: write this test's run directory and report; the UI then links to it."""
    from loadtest.traffic.distributed import coordinator
    from loadtest.traffic.results import write_locust_run

    master = coordinator()
    extra: dict[str, Any] = {}
    if master is not None:  # a distributed master: every worker's final report first
        master.collect_finals()
        master.end_test()
        extra = {"distributed": master.describe("locust master"), "locust_processes": master.expected}
    record = _runs.last if _runs is not None else None
    if record is None:  # the UI was not attached: behave as the headless locustfile does
        return write_locust_run(runtime, environment, first_run_dir, in_flight_at_end=in_flight_at_end,
                                extra_settings=extra)
    record.state = "writing"
    try:
        run_dir = test_run_directory(first_run_dir, runtime.scenario.name, record.number)
        record.run_dir = run_dir
        write_locust_run(runtime, environment, run_dir, in_flight_at_end=in_flight_at_end, extra_settings=extra)
    except Exception as exc:  # shown in the UI's Jobs tab; the UI keeps running
        record.state, record.error = "failed", f"{type(exc).__name__}: {exc}"
        logger.exception("loadtest: the run directory of test %d could not be written", record.number)
        return None
    record.state = "written" if (run_dir / "report.html").exists() else "failed"
    if record.state == "failed":
        record.error = "the report was not built (see the terminal)"
    return run_dir
