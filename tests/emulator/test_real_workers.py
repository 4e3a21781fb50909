"""Real RunPod workers (the official SDK, unmodified handler scripts) under the real emulator, on loopback.

One emulator process serves three endpoints for the whole module (real SDK workers take seconds to
import): ``sync`` (a sync handler whose input says what to do, 1-2 workers), ``async`` (an async handler
with ``concurrency_modifier`` 3) and ``gen`` (an async generator with ``return_aggregate_stream``). The
emulator runs with a fake ``~/.runpod/config.toml`` and a fake secret in its environment, so the last
test can check that neither reached a file. Timing assertions are orderings and bounds: the handler's own
wall-clock timestamps against the emulator's records, within 10 ms plus the SDK's pickup granularity.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest.contract import RESULT_MAX_BYTES
from loadtest.emulator.process import EmulatorProcess, EmulatorStartError

HANDLERS = Path(__file__).parent / "worker_handlers"
FAKE_FILE_KEY = "rpa_FAKEKEYFROMCONFIGTOML0123456789"
FAKE_SECRET = "s3cr3t-from-the-environment-9876"
CLOCK_SLACK_S = 0.010
PICKUP_GRANULARITY_S = 1.0
BROKEN = "import sys; print('loading model weights from /models/x', file=sys.stderr); sys.exit(3)"
WORKER_TIMING = {"take_hold": "5s", "stop_hold": "5s", "ping_interval": "1s", "stop_grace": "2s"}


PYTHON = os.environ.get("LOADTEST_TEST_WORKER_PYTHON", "python")
"""The workers' interpreter: loadtest's own (runpod 1.12.0), or another environment's to test other SDK
versions, e.g. ``LOADTEST_TEST_WORKER_PYTHON=/path/to/venv-runpod-1.7.9/bin/python``."""
SDK_VERSION = "1.12.0" if PYTHON == "python" else None


def _endpoint(endpoint_id: str, script: str, **settings: Any) -> dict[str, Any]:
    return {
        "id": endpoint_id,
        "worker": {"command": [PYTHON, "-u", script], "cwd": str(HANDLERS), **WORKER_TIMING},
        "limits": {"rate": False, "concurrency": False, "queue_size": False, "payload": False},
        "policy": {"execution_timeout_min": "1s", "ttl_min": "1s"},
        **settings,
    }


class Api:
    """A tiny synchronous client of one endpoint (any key is accepted)."""

    def __init__(self, emu: EmulatorProcess, endpoint: str) -> None:
        self.emu = emu
        self.endpoint = endpoint

    def call(self, method: str, path: str, body: Any = None, base: str | None = None) -> tuple[int, Any]:
        url = f"{base or self.emu.base_url}/{self.endpoint}/{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": "Bearer test"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def run(self, job_input: dict[str, Any], **fields: Any) -> str:
        status, body = self.call("POST", "run", {"input": job_input, **fields})
        assert status == 200, body
        return body["id"]

    def status(self, job_id: str) -> dict[str, Any]:
        status, body = self.call("GET", f"status/{job_id}")
        assert status == 200, body
        return body

    def wait(self, job_id: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.status(job_id)
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout} s"
            time.sleep(0.05)

    def health(self) -> dict[str, Any]:
        return self.call("GET", "health")[1]

    def truth(self) -> dict[str, Any]:
        return self.emu.ground_truth(self.endpoint)["endpoints"][self.endpoint]

    def real(self) -> dict[str, Any]:
        return self.truth()["real_workers"]

    def records(self) -> dict[str, dict[str, Any]]:
        return {record["id"]: record for record in self.emu.job_records(self.endpoint)}

    def wait_for(self, predicate: Any, what: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)


def processes_with(marker: str) -> list[tuple[int, str]]:
    """Live (not zombie) processes whose environment holds ``marker``: (pid, command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if state not in ("Z", "X"):
            found.append((int(entry.name), cmdline))
    return found


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


class Real:
    def __init__(self, emu: EmulatorProcess, marker: str, output: Path, log: Path, home: Path) -> None:
        self.emu = emu
        self.marker = marker
        self.output = output
        self.log = log
        self.home = home
        self.sync = Api(emu, "sync")
        self.async_ = Api(emu, "async")
        self.gen = Api(emu, "gen")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Real]:
    home = tmp_path_factory.mktemp("home")
    (home / ".runpod").mkdir()
    (home / ".runpod" / "config.toml").write_text(f'[default]\napi_key = "{FAKE_FILE_KEY}"\n')
    marker = f"LOADTEST_TEST_MARKER={uuid.uuid4().hex}"
    name, value = marker.split("=")
    env = {**os.environ, "HOME": str(home), name: value, "MY_APP_SECRET_TOKEN": FAKE_SECRET}
    base = tmp_path_factory.mktemp("real-run")
    config = {"endpoints": [
        _endpoint("sync", "sync_ops.py", workers_min=1, workers_max=2, idle_timeout="2s",
                  scaler={"type": "queue_delay", "value": 0.5}),
        _endpoint("async", "async_ops.py", workers_min=1, workers_max=1),
        _endpoint("gen", "gen_ops.py", workers_min=1, workers_max=1),
    ]}
    emu = EmulatorProcess(config, env=env, log_file=base / "emulator.log", log_level="INFO")
    emu.start()
    try:
        yield Real(emu, marker, base / "workers", base / "emulator.log", home)
    finally:
        emu.stop()


# --- start-up, health -----------------------------------------------------------------------------------


def test_always_on_workers_are_up_when_the_emulator_is_ready(real: Real) -> None:
    assert real.emu.worker_output_dir == real.output
    for api in (real.sync, real.async_, real.gen):
        assert api.health()["workers"] == {
            "idle": 1, "initializing": 0, "ready": 0, "running": 0, "throttled": 0, "unhealthy": 0
        }
    truth = real.sync.real()
    assert truth["label"] == f"real worker: {PYTHON} -u sync_ops.py, runpod SDK {truth['sdk_version']}"
    assert truth["sdk_version_source"] == "interpreter"
    assert truth["sdk_version"] == (SDK_VERSION or truth["sdk_version"])
    (worker,) = truth["workers"]
    assert worker["coldStartMs"] > 0 and worker["state"] == "idle"
    assert truth["timings_ms"]["cold_start"]["count"] == 1
    assert Path(worker["stdout"]).parent == real.output


# --- results and timings --------------------------------------------------------------------------------


def test_runsync_timings_match_the_handlers_own_timestamps(real: Real) -> None:
    api = real.sync
    jobs = []
    for _ in range(3):
        status, job = api.call("POST", "runsync", {"input": {"op": "sleep", "seconds": 0.2}})
        assert status == 200 and job["status"] == "COMPLETED", job
        assert job["output"]["keys"] == ["id", "input"]
        jobs.append(job)
    started_wall = real.emu.ground_truth()["started_at"]
    records = api.records()
    for job in jobs:
        record = records[job["id"]]
        handed_out = started_wall + record["startedAt"] / 1000
        submitted = started_wall + record["submittedAt"] / 1000
        finished = started_wall + record["finishedAt"] / 1000
        ran = job["output"]["finished"] - job["output"]["started"]
        assert abs(job["delayTime"] - (record["startedAt"] - record["submittedAt"])) <= 1
        assert submitted <= handed_out + CLOCK_SLACK_S
        assert handed_out <= job["output"]["started"] + CLOCK_SLACK_S  # handed out before the handler ran
        assert job["output"]["started"] - handed_out <= PICKUP_GRANULARITY_S + CLOCK_SLACK_S
        assert job["output"]["finished"] <= finished + CLOCK_SLACK_S  # the result arrived after it was made
        assert ran - CLOCK_SLACK_S <= job["executionTime"] / 1000 <= ran + PICKUP_GRANULARITY_S + CLOCK_SLACK_S
    timings = api.real()["timings_ms"]
    assert timings["execution"]["count"] >= 3 and timings["queue_delay"]["count"] >= 3


def test_progress_updates_show_while_running_and_late_ones_are_ignored(real: Real) -> None:
    api = real.sync
    job_id = api.run({"op": "progress", "seconds": 1.5})
    running = api.wait_for(lambda: (lambda j: j if j.get("output") == {"step": 1} else None)(api.status(job_id)),
                           "the progress update")
    assert running["status"] == "IN_PROGRESS"
    done = api.wait(job_id, {"COMPLETED"})
    time.sleep(0.5)  # the SDK posts progress from a thread: "last-moment" may land after the result
    assert api.status(job_id)["output"] == done["output"] and done["output"]["op"] == "progress"


def test_raising_handler_and_error_dict_fail_the_job(real: Real) -> None:
    api = real.sync
    raised = api.wait(api.run({"op": "raise", "message": "no such model"}), {"FAILED"})
    error = json.loads(raised["error"])
    assert error["error_type"] == "<class 'ValueError'>" and error["error_message"] == "no such model"
    assert error["worker_id"] == raised["workerId"] and "Traceback" in error["error_traceback"]
    assert "output" not in raised
    returned = api.wait(api.run({"op": "error_dict"}), {"FAILED"})
    assert returned["error"] == "bad thing" and returned["output"] == {"partial": 1}


def test_result_over_the_size_limit_completes_without_output(real: Real) -> None:
    api = real.sync
    refused = api.truth()["worker_requests"].get("job-done", {}).get("400", 0)
    job = api.wait(api.run({"op": "big", "bytes": RESULT_MAX_BYTES + 1024}), {"COMPLETED"})
    assert "output" not in job  # the platform refuses the upload with 400; the client sees no output
    assert api.truth()["worker_requests"]["job-done"]["400"] == refused + 1


def test_retry_runs_a_failed_job_again(real: Real, tmp_path: Path) -> None:
    api = real.sync
    job_id = api.run({"op": "raise_once", "marker": str(tmp_path / "marker")})
    api.wait(job_id, {"FAILED"})
    status, body = api.call("POST", f"retry/{job_id}")
    assert status == 200 and body == {"id": job_id, "status": "IN_QUEUE"}
    done = api.wait(job_id, {"COMPLETED"})
    assert done["retries"] == 1 and done["output"]["op"] == "raise_once"


def test_credentials_file_key_never_reaches_the_sdk(real: Real) -> None:
    output = real.sync.wait(real.sync.run({"op": "credentials"}), {"COMPLETED"})["output"]
    assert output == {"authorization_is_per_run_key": True, "credentials_file_read": False}


# --- streaming ------------------------------------------------------------------------------------------


def test_generator_streams_chunks_in_order_and_aggregates(real: Real) -> None:
    api = real.gen
    job_id = api.run({"n": 5, "gap": 0.1})
    chunks: list[Any] = []
    while True:
        status, body = api.call("GET", f"stream/{job_id}?wait=2000")
        assert status == 200
        chunks.extend(item["output"] for item in body["stream"])
        if body["status"] == "COMPLETED":
            break
    assert [chunk["token"] for chunk in chunks] == [0, 1, 2, 3, 4]
    final = api.status(job_id)
    assert final["output"] == chunks  # return_aggregate_stream
    timings = api.real()["timings_ms"]
    assert timings["first_chunk"]["count"] >= 1 and timings["chunk_gap"]["count"] >= 4
    assert timings["chunk_gap"]["min"] >= 90  # the handler sleeps 100 ms between tokens


def test_generator_raising_midway_keeps_its_chunks_and_fails(real: Real) -> None:
    api = real.gen
    job_id = api.run({"n": 5, "gap": 0.05, "fail_at": 2})
    failed = api.wait(job_id, {"FAILED"})
    assert failed["error"].startswith("handler: generator failed at chunk 2")
    _, body = api.call("GET", f"stream/{job_id}")
    assert [item["output"]["token"] for item in body["stream"]] == [0, 1]


def test_concurrency_modifier_takes_batches(real: Real) -> None:
    api = real.async_
    ids = [api.run({"seconds": 1.0}) for _ in range(6)]
    jobs = [api.wait(job_id, {"COMPLETED"}) for job_id in ids]
    truth = api.truth()
    assert truth["worker_requests"]["job-take-batch"]["200"] >= 1
    worker = next(w for w in truth["real_workers"]["workers"] if w["state"] != "stopped")
    # How many a take gets depends on what is queued at that moment (and the SDK counts a job it has not
    # started twice), but never more than the modifier allows.
    assert 2 <= worker["jobsHeldMax"] <= 3
    spans = [(job["output"]["started"], job["output"]["finished"]) for job in jobs]
    side_by_side = max(sum(1 for start, end in spans if start <= at < end) for at, _ in spans)
    assert 2 <= side_by_side <= 3, (spans, jobs)


# --- cancel, timeouts, purge ----------------------------------------------------------------------------


def test_cancel_stops_an_async_handler_and_frees_the_worker(real: Real) -> None:
    api = real.async_
    version = tuple(int(part) for part in api.real()["sdk_version"].split(".")[:2])
    if version < (1, 10):
        pytest.skip("runpod < 1.10 has no job-stop channel: a cancelled async handler runs to its end")
    late_before = api.real()["late"]["results"]
    job_id = api.run({"seconds": 20})
    api.wait(job_id, {"IN_PROGRESS"})
    assert api.call("POST", f"cancel/{job_id}")[1]["status"] == "CANCELLED"
    quick = api.wait(api.run({"seconds": 0}), {"COMPLETED"}, timeout=10)
    assert quick["executionTime"] < 1000
    time.sleep(0.5)
    assert api.status(job_id)["status"] == "CANCELLED"
    assert api.real()["late"]["results"] == late_before  # the cancelled task never posted


def test_cancel_of_a_sync_handler_ignores_its_late_result(real: Real) -> None:
    api = real.sync
    late_before = api.real()["late"]["results"]
    job_id = api.run({"op": "sleep", "seconds": 1.0})
    api.wait(job_id, {"IN_PROGRESS"})
    assert api.call("POST", f"cancel/{job_id}")[1]["status"] == "CANCELLED"
    api.wait_for(lambda: api.real()["late"]["results"] > late_before, "the late result")
    job = api.status(job_id)
    assert job["status"] == "CANCELLED" and "output" not in job


def test_execution_timeout_times_out_and_ignores_the_late_result(real: Real) -> None:
    api = real.sync
    late_before = api.real()["late"]["results"]
    job_id = api.run({"op": "sleep", "seconds": 2.0}, policy={"executionTimeout": 1000})
    job = api.wait(job_id, {"TIMED_OUT"})
    assert job["executionTime"] == 1000
    assert job["error"] == "job timed out: execution exceeded the 1000 ms execution timeout"
    api.wait_for(lambda: api.real()["late"]["results"] > late_before, "the late result")
    assert api.status(job_id)["status"] == "TIMED_OUT"


def test_purge_removes_queued_jobs_and_running_ones_finish(real: Real) -> None:
    api = real.sync
    running = api.run({"op": "sleep", "seconds": 1.0})
    api.wait(running, {"IN_PROGRESS"})
    queued = [api.run({"op": "echo"}) for _ in range(5)]
    status, body = api.call("POST", "purge-queue")
    assert status == 200
    statuses = [api.status(job_id)["status"] for job_id in queued]
    assert body["removed"] == statuses.count("CANCELLED") >= 1
    assert api.wait(running, {"COMPLETED"})["output"]["op"] == "sleep"


# --- concurrency, bursts, scaling -----------------------------------------------------------------------


def test_burst_beyond_capacity_loses_and_repeats_nothing_then_scales_down(real: Real) -> None:
    api = real.sync
    # earlier tests may have scaled up: wait for the idle scale-down to workers_min
    api.wait_for(lambda: api.truth()["workers"]["current"]["total"] == 1, "back to one worker", 30)
    before = api.truth()
    ids = [api.run({"op": "sleep", "seconds": 0.2}) for _ in range(12)]
    # the scaler starts a second worker: initializing from its spawn to its first job request
    api.wait_for(lambda: api.health()["workers"]["initializing"] == 1, "a second worker starting", 10)
    jobs = [api.wait(job_id, {"COMPLETED"}, timeout=60) for job_id in ids]
    assert len({job["id"] for job in jobs}) == 12 and all(job["status"] == "COMPLETED" for job in jobs)
    after = api.truth()
    finished_delta = sum(after["jobs"]["final"].values()) - sum(before["jobs"]["final"].values())
    assert finished_delta == 12  # each job reached a terminal state exactly once
    assert after["workers"]["started"] > before["workers"]["started"]  # the scaler added a worker
    assert len({job["workerId"] for job in jobs}) == 2
    api.wait_for(lambda: api.truth()["workers"]["stopped"] > before["workers"]["stopped"], "idle scale-down", 30)
    assert api.health()["workers"]["idle"] + api.health()["workers"]["running"] == 1  # back to workers_min


def test_refresh_worker_restarts_the_worker(real: Real) -> None:
    api = real.sync
    restarts = api.real()["restarts"]
    done = api.wait(api.run({"op": "refresh"}), {"COMPLETED"})
    assert set(done["output"]) == {"pid"}  # refresh_worker is not part of the output
    assert api.real()["restarts"] == restarts + 1
    after = api.wait(api.run({"op": "echo"}), {"COMPLETED"}, timeout=60)
    assert after["output"]["pid"] != done["output"]["pid"]
    api.wait_for(lambda: all(
        w["exitReason"] == "refresh" for w in api.real()["workers"] if w["id"] == done["workerId"]
    ), "the refreshed worker's exit")


def test_crashing_worker_requeues_its_job_then_fails_it(real: Real) -> None:
    api = real.sync
    crashes = api.real()["crashes"]
    job = api.wait(api.run({"op": "crash"}), {"FAILED"}, timeout=90)
    assert job["retries"] == 1 and "crashed" in job["error"]
    truth = api.real()
    assert truth["crashes"] == crashes + 2
    crashed = [w for w in truth["workers"] if w["exitReason"] == "crashed"]
    assert all(w["exitCode"] == 7 and isinstance(w["outputTail"], list) for w in crashed)
    for worker in crashed:  # the SDK's ping process, orphaned by os._exit, was killed and reaped
        api.wait_for(lambda worker=worker: not group_members(worker["pid"]), f"group {worker['pid']} gone", 10)
    assert api.wait(api.run({"op": "echo"}), {"COMPLETED"}, timeout=60)["output"]["op"] == "echo"


# --- accounting and the worker routes -------------------------------------------------------------------


def test_worker_traffic_is_counted_apart_from_client_traffic(real: Real) -> None:
    truth = real.sync.truth()
    assert {"job-take", "job-done", "ping"} <= set(truth["worker_requests"])
    assert not {"job-take", "job-done", "ping", "job-stop"} & set(truth["requests"])
    with urllib.request.urlopen(f"{real.emu.url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'loadtest_emulator_worker_requests_total{endpoint="sync",route="job-take",code="200"}' in metrics


def test_worker_routes_need_the_run_token(real: Real) -> None:
    api = real.sync
    worker = next(w for w in api.real()["workers"] if w["state"] in ("idle", "running"))
    status, body = api.call("GET", f"job-take/{worker['id']}?token=wrong")
    assert status == 401 and "token" in body["error"]
    environ = Path(f"/proc/{worker['pid']}/environ").read_bytes().split(b"\0")
    template = next(v for v in environ if v.startswith(b"RUNPOD_WEBHOOK_GET_JOB=")).decode().split("=", 1)[1]
    token = template.split("?token=", 1)[1]
    assert template.startswith("http://127.0.0.1:")  # loopback only
    assert api.call("GET", f"job-take/nosuchworker?token={token}")[0] == 404
    assert api.call("POST", f"job-done/{worker['id']}?token={token}", {})[0] == 404  # no job id
    assert api.truth()["worker_requests"]["unknown"]["404"] >= 1


def test_reset_restarts_the_real_workers_and_waits_for_them(real: Real) -> None:
    api = real.gen
    (old,) = [w for w in api.real()["workers"] if w["state"] == "idle"]
    real.emu.reset("gen")
    assert api.health()["workers"]["idle"] == 1  # the always-on worker is up again when reset returns
    (new,) = api.real()["workers"]
    assert new["id"] != old["id"] and new["pid"] != old["pid"]
    api.wait_for(lambda: not group_members(old["pid"]), "the old worker gone", 10)
    assert api.wait(api.run({"n": 2, "gap": 0.01}), {"COMPLETED"})["output"][1]["token"] == 1


def test_zz_emulator_killed_takes_its_workers_along_and_no_secret_is_in_any_file(real: Real) -> None:
    # (a graceful stop leaving nothing behind: tests/traffic/test_real_worker_run.py)
    assert len(processes_with(real.marker)) >= 3  # workers, their ping processes, the watchdog
    os.kill(real.emu.pid or 0, signal.SIGKILL)
    real.sync.wait_for(lambda: not processes_with(real.marker), "every worker process gone", timeout=10)
    files = [path for path in real.output.iterdir()] + [real.log]
    assert len(files) > 3
    for path in files:
        text = path.read_bytes()
        assert FAKE_FILE_KEY.encode() not in text, path
        assert FAKE_SECRET.encode() not in text, path


# --- failures around the workers ------------------------------------------------------------------------


def test_always_on_worker_that_cannot_start_fails_the_start_with_its_output(tmp_path: Path) -> None:
    marker = f"LOADTEST_TEST_MARKER={uuid.uuid4().hex}"
    name, value = marker.split("=")
    emu = EmulatorProcess(
        {"id": "broken", "workers_min": 1, "worker": {"command": ["python3", "-c", BROKEN]}},
        log_file=tmp_path / "emulator.log", env={**os.environ, name: value},
    )
    with pytest.raises(EmulatorStartError) as caught:
        emu.start()
    message = str(caught.value)
    assert "the worker (python3 -c" in message and "start failed with exit code 3" in message
    assert "loading model weights from /models/x" in message and "Traceback" not in message
    assert not processes_with(marker)


def test_worker_that_cannot_start_on_demand_is_reported_and_backed_off(tmp_path: Path) -> None:
    emu = EmulatorProcess(
        {"id": "broken", "workers_max": 1, "worker": {"command": ["/bin/sh", "-c", f"exec python3 -c \"{BROKEN}\""]}},
        log_file=tmp_path / "emulator.log",
    )
    with emu:
        api = Api(emu, "broken")
        job_id = api.run({"prompt": "x"})
        real = api.wait_for(lambda: (lambda r: r if r["start_failures"] >= 1 else None)(api.real()), "a failure")
        assert api.health()["workers"]["unhealthy"] == 1
        failed = next(w for w in real["workers"] if w["exitReason"] == "start_failed")
        assert failed["exitCode"] == 3 and failed["coldStartMs"] is None
        assert failed["outputTail"] == ["loading model weights from /models/x"]
        assert (tmp_path / "workers").is_dir() and real["sdk_version"] is None
        assert any("does not start Python directly" in warning for warning in real["warnings"])
        time.sleep(1.5)
        assert api.real()["start_failures"] <= 3  # backs off instead of restarting in a tight loop
        assert api.status(job_id)["status"] == "IN_QUEUE"  # the job waits for a worker that can start


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs a Python without runpod")
def test_interpreter_without_runpod_is_refused_at_start(tmp_path: Path) -> None:
    import subprocess

    config = tmp_path / "emu.yaml"
    config.write_text("endpoints:\n  - id: x\n    worker: {command: [/usr/bin/python3, -u, handler.py]}\n")
    probe = subprocess.run(["/usr/bin/python3", "-c", "import runpod"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("/usr/bin/python3 has runpod")
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.cli", "emulate", "--config", str(config)], capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "cannot import runpod" in done.stderr and "Traceback" not in done.stderr
