"""Distributed runs for real: a master and load-generator processes against a real emulator.

Every Locust run is a subprocess (gevent monkey-patching stays out of pytest's process). The emulator is
started by the test so that after the run its per-job records can be compared with ours job by job.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]

ENDPOINT = {"id": "dist", "workers_min": 2, "workers_max": 4, "cold_start": "50ms", "execution_time": "20ms"}

MIXED = """
name: distributed-mix
seed: 7
duration: {duration}
target:
  emulator:
    id: dist
    workers_min: 2
    workers_max: 4
    cold_start: 50ms
    execution_time: 20ms
load:
  users: 4
  spawn_rate: 20/s
mix:
  - flow: run_poll
    weight: 3
    poll: {{interval: 50ms, max_wait: 5s}}
  - flow: runsync
    weight: 1
    wait: 5s
  - flow: health
    every: 500ms
"""


def loadtest(args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    return subprocess.run([sys.executable, "-m", "loadtest.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def our_jobs(run_dir: Path) -> dict[str, str]:
    with (run_dir / "jobs.csv").open() as handle:
        return {row["job_id"]: row["final_status"] for row in csv.DictReader(handle)}


def assert_matches_emulator(run_dir: Path, emulator: Any) -> dict[str, Any]:
    """Requests per operation and status, and every job's final status, agree exactly with the emulator."""
    summary = read_json(run_dir / "summary.json")
    truth = emulator.ground_truth()
    (endpoint,) = truth["endpoints"].values()
    assert summary["requests_by_status"] == endpoint["requests"]

    records = {record["id"]: record for record in emulator.job_records()}
    ours = our_jobs(run_dir)
    assert set(ours) == set(records), "every job the emulator accepted is in jobs.csv, and no other"
    assert summary["jobs"]["rows_omitted"] == 0
    seen_final: dict[str, int] = {}
    for job_id, status in ours.items():
        if status != "IN_FLIGHT":  # a job we saw end ended that way on the emulator too
            assert records[job_id]["status"] == status, job_id
        final = records[job_id]["status"]
        seen_final[final] = seen_final.get(final, 0) + 1
    expected_final = {status: n for status, n in endpoint["jobs"]["final"].items() if n}
    assert seen_final == expected_final
    by_status: dict[str, int] = {}
    for statuses in summary["jobs"]["by_flow"].values():
        for status, n in statuses.items():
            by_status[status] = by_status.get(status, 0) + n
    assert sum(by_status.values()) == endpoint["jobs"]["submitted"]
    return summary


@pytest.fixture
def mixed_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "mix.yaml"
    path.write_text(MIXED.format(duration="3s"))
    return path


@pytest.mark.parametrize("generators", [None, 2], ids=["one-process", "two-generators"])
def test_totals_match_the_emulator_with_one_process_and_two_load_generators(
    generators: int | None, mixed_scenario: Path, tmp_path: Path, emulator_factory
) -> None:
    emulator = emulator_factory(dict(ENDPOINT))
    run_dir = tmp_path / "run"
    extra = ["--generators", str(generators)] if generators else []
    result = loadtest(["run", str(mixed_scenario), "--host", emulator.base_url, "--run-dir", str(run_dir),
                       "--no-report", *extra])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    summary = assert_matches_emulator(run_dir, emulator)
    assert summary["metrics"]["requests"]["overall"]["value"] > 20
    settings = summary["run"]["settings"]
    if generators:
        dist = settings["distributed"]
        assert settings["generators"] == 2 and dist["mode"] == "generators"
        assert [g["index"] for g in dist["generators"]] == [0, 1]
        assert all(g["final_report"] for g in dist["generators"])
        assert dist["lost_generators"] == []
        assert dist["limiter_shares"][-1] == {"at_s": dist["limiter_shares"][-1]["at_s"], "generators": 2,
                                              "share": 0.5}
        assert (run_dir / "locust_stats.csv").read_text().count("\n") > 2  # Locust's stats came from them
        logs = sorted(path.name for path in (run_dir / "generators").iterdir())
        assert logs == ["generator-1.log", "generator-2.log"] and not (run_dir / "workers").exists()
    else:
        assert "distributed" not in settings


def _loadgen_children(master: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in master.children():
        try:
            if "--generator" in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _two_process_run(tmp_path: Path, emulator: Any, duration: str, *extra: str
                     ) -> tuple[subprocess.Popen, list[psutil.Process], Path]:
    """A ``--generators 2`` run of the mix against ``emulator``, once both load generators exist and traffic
    flows: the master, its two load generators and the run directory."""
    scenario = tmp_path / "mix.yaml"
    scenario.write_text(MIXED.format(duration=duration))
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    master = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--host", emulator.base_url,
         "--run-dir", str(run_dir), "--generators", "2", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 30
    loadgens: list[psutil.Process] = []
    while time.monotonic() < deadline and len(loadgens) < 2:
        loadgens = _loadgen_children(psutil.Process(master.pid))
        time.sleep(0.2)
    if len(loadgens) < 2:
        master.kill()
        master.communicate()
        raise AssertionError("the master did not start two load generators")
    # wait until traffic flows (the emulator has accepted jobs)
    while time.monotonic() < deadline and emulator.ground_truth()["endpoints"]["dist"]["jobs"]["submitted"] < 5:
        time.sleep(0.2)
    return master, loadgens, run_dir


def test_a_killed_load_generator_is_reported_and_the_master_finishes(tmp_path: Path, emulator_factory) -> None:
    emulator = emulator_factory(dict(ENDPOINT))
    master, loadgens, run_dir = _two_process_run(tmp_path, emulator, "8s")
    try:
        time.sleep(1.5)  # a bit into the run
        victim = loadgens[1]
        victim.send_signal(signal.SIGKILL)
        killed_at = time.time()
        out, err = master.communicate(timeout=90)
    finally:
        if master.poll() is None:
            master.kill()
            master.communicate()
    assert master.returncode == 0, out + err
    assert "Traceback" not in err
    summary = read_json(run_dir / "summary.json")
    dist = summary["run"]["settings"]["distributed"]
    (lost,) = dist["lost_generators"]
    assert lost["pid"] == victim.pid
    victim_entry = next(g for g in dist["generators"] if g["pid"] == victim.pid)
    assert lost["name"] == victim_entry["name"] and lost["index"] == victim_entry["index"]
    assert lost["reason"] == "stopped sending heartbeats"
    start = summary["run"]["start_unix"]
    assert abs((start + lost["lost_at_s"]) - killed_at) < 3.0  # last heard from about when it was killed
    duration = summary["run"]["duration_s"]
    assert lost["missed_s"] == pytest.approx(duration - lost["lost_at_s"], abs=0.5)
    assert lost["missed_fraction"] == pytest.approx(lost["missed_s"] / duration, abs=0.01)
    assert 0.0 < lost["missed_fraction"] < 1.0  # lost mid-run: neither at the start nor after the end
    survivor = next(g for g in dist["generators"] if g["pid"] != victim.pid)
    assert survivor["final_report"] is True
    # the budget went back to the one load generator left
    assert dist["limiter_shares"][-1]["generators"] == 1 and dist["limiter_shares"][-1]["share"] == 1.0
    assert f"LOST      load generator {lost['index']} ({lost['name']})" in out
    assert (run_dir / "report.html").exists(), "the run still ends with a report"
    assert lost["name"] in (run_dir / "report.html").read_text()  # its settings section names the lost one
    # what the survivor measured is all there: its requests are a subset of what the emulator saw
    truth = emulator.ground_truth()["endpoints"]["dist"]
    for op, codes in summary["requests_by_status"].items():
        for code, n in codes.items():
            assert n <= truth["requests"][op][code]


RESPECT = """
name: distributed-respect
duration: 4s
target:
  emulator:
    id: dist
    workers_min: 4
    workers_max: 4
    cold_start: 0s
    execution_time: 20ms
    limits:
      window: 0.5s
      rate_overrides: {run: 10}
load:
  users: 12
mix:
  - flow: run_poll
    poll: {interval: 100ms, max_wait: 5s}
rate_limits:
  policy: respect
  on_429: {action: count}
"""


def test_a_stalled_load_generator_is_taken_back_and_nothing_it_measured_is_lost(
    tmp_path: Path, emulator_factory
) -> None:
    """A load generator frozen (SIGSTOP) long enough to miss its heartbeats is lost for a while, then heard from
    again: it is taken back, what it measured is merged (our counts still equal the emulator's), and the stall
    is named instead of a loss."""
    emulator = emulator_factory(dict(ENDPOINT))
    master, loadgens, run_dir = _two_process_run(tmp_path, emulator, "10s", "--drain", "10s", "--no-report")
    try:
        time.sleep(0.5)
        frozen = loadgens[1]
        frozen.send_signal(signal.SIGSTOP)
        time.sleep(5.5)  # Locust calls a worker missing after about 3 s without heartbeats
        frozen.send_signal(signal.SIGCONT)
        out, err = master.communicate(timeout=120)
    finally:
        for loadgen in loadgens:
            with contextlib.suppress(psutil.NoSuchProcess):
                loadgen.send_signal(signal.SIGCONT)
        if master.poll() is None:
            master.kill()
            master.communicate()
    assert "Traceback" not in err
    summary = read_json(run_dir / "summary.json")
    dist = summary["run"]["settings"]["distributed"]
    assert dist["lost_generators"] == [], dist
    (stalled,) = dist["stalled_generators"]
    assert stalled["name"] == next(g["name"] for g in dist["generators"] if g["pid"] == frozen.pid)
    assert all(2.0 <= stall["seconds"] <= 20.0 for stall in stalled["stalls"]), stalled
    assert all(g["final_report"] for g in dist["generators"])
    truth = emulator.ground_truth()["endpoints"]["dist"]
    assert summary["requests_by_status"] == truth["requests"]  # nothing the frozen one did was dropped
    assert summary["metrics"]["jobs.submitted"]["overall"]["value"] == truth["jobs"]["submitted"]
    warnings = " ".join(w["message"] if isinstance(w, dict) else str(w) for w in summary["run"]["warnings"])
    assert f"load generator {stalled['index']} sent no heartbeats" in warnings
    assert master.returncode == 0, out + err


def test_respect_divides_the_budget_between_two_load_generators(tmp_path: Path) -> None:
    """Twelve users loop on /run as fast as the limiter lets them, on two load generators: if each used the
    whole budget they would offer twice the limit and meet 429s; divided, none are met. Started with the
    flag's old spelling (``--processes 2``), which keeps working."""
    scenario = tmp_path / "respect.yaml"
    scenario.write_text(RESPECT)
    run_dir = tmp_path / "run"
    result = loadtest(["run", str(scenario), "--run-dir", str(run_dir), "--no-report", "--processes", "2"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_json(run_dir / "summary.json")
    (truth,) = read_json(run_dir / "ground_truth.json")["endpoints"].values()
    assert summary["requests_by_status"] == truth["requests"]
    assert "429" not in truth["requests"]["run"]
    limit_per_s = 10 / 0.5
    accepted = summary["metrics"]["accepted_rate"]["by_op"]["run"]["value"]
    # never over the limit; well on the way to it (about 70% on a quiet machine, less beside busy processes:
    # how the budget was divided is judged from the shares below, not from how fast a starved machine sent)
    assert 0.3 * limit_per_s <= accepted <= limit_per_s
    # divided in two once both were in; whole for one only before the second came, or after the
    # traffic, when one had finished its part (a busy machine may order the ends either way)
    shares = summary["run"]["settings"]["distributed"]["limiter_shares"]
    halved = [s["at_s"] for s in shares if s == {"at_s": s["at_s"], "generators": 2, "share": 0.5}]
    assert halved, shares
    duration = summary["run"]["duration_s"]
    assert all(s["at_s"] <= halved[0] or s["at_s"] >= duration for s in shares if s["share"] != 0.5), shares


def test_explicit_master_and_a_load_generator_started_elsewhere(tmp_path: Path, emulator_factory) -> None:
    """``--master --expect-generators 1`` and ``--generator --master-host``: the load generator runs in another
    directory without the scenario file (it gets it from the master) and writes nothing; the master writes
    it all."""
    emulator = emulator_factory(dict(ENDPOINT))
    scenario = tmp_path / "mix.yaml"
    scenario.write_text(MIXED.format(duration="3s"))
    run_dir = tmp_path / "run"
    elsewhere = tmp_path / "generator-machine"
    elsewhere.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    env["PYTHONPATH"] = str(REPO)
    master = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--host", emulator.base_url,
         "--run-dir", str(run_dir), "--no-report", "--master", "--expect-generators", "1",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    loadgen = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "run", "--generator", "--master-host", "127.0.0.1",
         "--master-port", str(port)],
        cwd=elsewhere, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        out, err = master.communicate(timeout=90)
        loadgen_out, loadgen_err = loadgen.communicate(timeout=30)
    finally:
        for process in (master, loadgen):
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert master.returncode == 0, out + err
    assert loadgen.returncode == 0, loadgen_out + loadgen_err
    assert "Traceback" not in err + loadgen_err
    assert "waiting for 1 load generator(s) on port" in err
    assert list(elsewhere.iterdir()) == [], "the load generator wrote nothing"
    summary = assert_matches_emulator(run_dir, emulator)
    dist = summary["run"]["settings"]["distributed"]
    assert dist["mode"] == "master" and dist["lost_generators"] == []
    assert len(dist["generators"]) == 1 and dist["generators"][0]["final_report"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--generator", "scenarios/smoke.yaml", "--master-host", "x"], "--generator: takes no SCENARIO"),
    (["run", "--generator"], "--generator: needs --master-host HOST"),
    (["run"], "SCENARIO: a scenario file is required"),
    (["run", "scenarios/smoke.yaml", "--generators", "0"], "--generators: must be at least 1, got 0"),
    (["run", "scenarios/smoke.yaml", "--generators", "2", "--master"], "--generators and --master: choose one"),
    (["run", "scenarios/smoke.yaml", "--expect-generators", "2"], "--expect-generators: only with --master"),
    (["run", "scenarios/smoke.yaml", "--master-host", "h"], "--master-host: only with --generator"),
    (["run", "scenarios/smoke.yaml", "--master-bind-port", "6000"], "--master-bind-port: only with --master"),
    # the spellings from before load generators had their name still work, and messages name them as typed
    (["run", "--worker"], "--worker: needs --master-host HOST"),
    (["run", "scenarios/smoke.yaml", "--processes", "0"], "--processes: must be at least 1, got 0"),
    (["run", "scenarios/smoke.yaml", "--expect-workers", "2"], "--expect-workers: only with --master"),
    (["run", "scenarios/smoke.yaml", "--master", "--expect-workers-max-wait", "-1"],
     "--expect-workers-max-wait: must be 0 or more"),
])
def test_misused_distributed_flags_are_refused_clearly(args: list[str], message: str) -> None:
    import argparse

    from loadtest.cli import run as command_run
    from loadtest.cli.flags import distributed_requested, usage_problems

    parser = argparse.ArgumentParser()
    command_run.add_arguments(parser)
    parsed = parser.parse_args(args[1:])
    assert distributed_requested(parsed) or not parsed.scenario
    assert any(problem.startswith(message) for problem in usage_problems(parsed))


def test_the_old_flag_spellings_mean_the_new_flags() -> None:
    """``--processes``, ``--worker``, ``--expect-workers`` and ``--expect-workers-max-wait`` (hidden from
    ``--help``) set what ``--generators``, ``--generator``, ``--expect-generators`` and
    ``--expect-generators-max-wait`` set; ``loadtest ui --processes`` too."""
    import argparse

    from loadtest.cli import run as command_run
    from loadtest.cli import ui as command_ui

    def parsed(add: Any, argv: list[str]) -> dict[str, object]:
        parser = argparse.ArgumentParser()
        add(parser)
        values = vars(parser.parse_args(argv))
        values.pop("_spelled", None)
        return values

    pairs = [
        (["s.yaml", "--processes", "3"], ["s.yaml", "--generators", "3"]),
        (["--worker", "--master-host", "h"], ["--generator", "--master-host", "h"]),
        (["s.yaml", "--master", "--expect-workers", "2", "--expect-workers-max-wait", "5"],
         ["s.yaml", "--master", "--expect-generators", "2", "--expect-generators-max-wait", "5"]),
    ]
    for old, new in pairs:
        assert parsed(command_run.add_arguments, old) == parsed(command_run.add_arguments, new)
    assert parsed(command_ui.add_arguments, ["s.yaml", "--processes", "2"])["generators"] == 2
    parser = argparse.ArgumentParser()
    command_run.add_arguments(parser)
    shown = parser.format_help()
    assert "--generators N" in shown and "--processes" not in shown and "--worker" not in shown


def test_a_misused_flag_exits_2_with_the_message_and_no_traceback(tmp_path: Path) -> None:
    result = loadtest(["run", "scenarios/smoke.yaml", "--expect-generators", "2", "--run-dir",
                       str(tmp_path / "run")])
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == "loadtest run: --expect-generators: only with --master"
    assert not (tmp_path / "run").exists()


def test_ctrl_c_stops_master_and_load_generators_with_every_measurement(tmp_path: Path, emulator_factory) -> None:
    """A terminal's Ctrl-C (SIGINT to the foreground group): the master stops the load generators, which still
    send their final reports; the run directory is complete and marked interrupted, none counts as lost."""
    emulator = emulator_factory(dict(ENDPOINT))
    scenario = tmp_path / "mix.yaml"
    scenario.write_text(MIXED.format(duration="30s"))
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "LOADTEST_SCENARIO"}
    master = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--host", emulator.base_url,
         "--run-dir", str(run_dir), "--no-report", "--generators", "2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and emulator.ground_truth()["endpoints"]["dist"]["jobs"]["submitted"] < 10:
            time.sleep(0.2)
        os.killpg(master.pid, signal.SIGINT)
        out, err = master.communicate(timeout=60)
    finally:
        if master.poll() is None:
            os.killpg(master.pid, signal.SIGKILL)
            master.communicate()
    assert master.returncode == 130, out + err
    assert "Traceback" not in err
    summary = assert_matches_emulator(run_dir, emulator)
    assert summary["run"]["interrupted"] is True
    dist = summary["run"]["settings"]["distributed"]
    assert dist["lost_generators"] == [] and all(g["final_report"] for g in dist["generators"])


def test_a_load_generator_that_cannot_build_the_run_stops_the_master_with_its_reason(tmp_path: Path) -> None:
    """The emulator demands a key the master has but the load generator's machine lacks: the master says so.
    The load generator is started with the flag's old spelling (``--worker``), which keeps working."""
    scenario = tmp_path / "keyed.yaml"
    keyed = MIXED.format(duration="3s").replace("    id: dist\n", "    id: dist\n    api_key_env: LT_DIST_KEY\n")
    scenario.write_text(keyed)
    port = _free_port()
    base_env = {k: v for k, v in os.environ.items() if k not in ("LOADTEST_SCENARIO", "LT_DIST_KEY")}
    master = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--run-dir", str(tmp_path / "run"),
         "--no-report", "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**base_env, "LT_DIST_KEY": "k" * 16},
    )
    loadgen = subprocess.Popen(
        [sys.executable, "-m", "loadtest.cli", "run", "--worker", "--master-host", "127.0.0.1", "--master-port",
         str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=base_env,
    )
    try:
        out, err = master.communicate(timeout=90)
        _, loadgen_err = loadgen.communicate(timeout=30)
    finally:
        for process in (master, loadgen):
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert master.returncode == 4, out + err
    assert "load generator 0: target.emulator.api_key_env: environment variable LT_DIST_KEY is not set" in err
    assert loadgen.returncode == 2 and "LT_DIST_KEY is not set" in loadgen_err
    assert "Traceback" not in err + loadgen_err
    assert "k" * 16 not in out + err + loadgen_err


OPEN = """
name: distributed-open
duration: 4s
target:
  emulator:
    workers_min: 4
    workers_max: 4
    cold_start: 0s
    execution_time: 20ms
load:
  arrival_rate: 30/s
  arrivals: constant
  max_in_flight: 20
mix:
  - flow: runsync
    wait: 5s
"""


def test_open_model_schedule_is_shared_between_load_generators(tmp_path: Path) -> None:
    """Each load generator runs its own dispatcher at half the rate; together they keep the scheduled arrivals."""
    scenario = tmp_path / "open.yaml"
    scenario.write_text(OPEN)
    run_dir = tmp_path / "run"
    result = loadtest(["run", str(scenario), "--run-dir", str(run_dir), "--no-report", "--generators", "2"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_json(run_dir / "summary.json")
    (truth,) = read_json(run_dir / "ground_truth.json")["endpoints"].values()
    assert summary["requests_by_status"] == truth["requests"]
    arrivals = summary["run"]["settings"]["open_model"]
    assert arrivals["dropped"] == 0
    assert abs(arrivals["scheduled"] - 30 * 4) <= 2  # 120 arrivals, 60 per load generator
    assert arrivals["started"] == arrivals["scheduled"] == truth["jobs"]["submitted"]
