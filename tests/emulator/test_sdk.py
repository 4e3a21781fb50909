"""The unmodified official ``runpod`` SDK (1.12.0) against the emulator process."""

from __future__ import annotations

import asyncio
import os

import pytest

runpod = pytest.importorskip("runpod")

KEY_ENV = "LOADTEST_EMULATOR_TEST_KEY"
KEY = "sdk-secret-key"


@pytest.fixture
def sdk_endpoint(emulator_factory, monkeypatch):
    emu = emulator_factory(
        {"id": "sdk-ep", "workers_max": 2, "cold_start": "20ms", "execution_time": "50ms",
         "api_key_env": KEY_ENV, "stream_interval": "200ms"},
        env={**os.environ, KEY_ENV: KEY},
    )
    monkeypatch.setattr(runpod, "endpoint_url_base", emu.base_url)
    monkeypatch.setattr(runpod, "api_key", KEY)
    return emu, runpod.Endpoint("sdk-ep")


def test_sdk_run_status_output(sdk_endpoint):
    _emu, endpoint = sdk_endpoint
    job = endpoint.run({"input": {"mock_return": {"answer": 42}}})
    assert job.status() in {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
    assert job.output(timeout=10) == {"answer": 42}
    assert job.status() == "COMPLETED"


def test_sdk_run_sync_health_purge(sdk_endpoint):
    emu, endpoint = sdk_endpoint
    assert endpoint.run_sync({"input": {"mock_return": "sync!"}}, timeout=10) == "sync!"
    health = endpoint.health()
    assert health["jobs"]["completed"] == 1
    assert set(health["workers"]) == {"idle", "initializing", "ready", "running", "throttled", "unhealthy"}
    blockers = [endpoint.run({"input": {"mock_delay": 3}}) for _ in range(2)]
    queued = [endpoint.run({"input": {}}) for _ in range(3)]
    purged = endpoint.purge_queue()
    assert purged["status"] == "completed" and purged["removed"] >= 1
    for job in blockers + queued:
        job.cancel()
    truth = emu.ground_truth()["endpoints"]["sdk-ep"]
    assert truth["requests"]["purge-queue"] == {"200": 1}
    assert truth["jobs"]["submitted"] == 6


def test_sdk_stream_yields_each_chunk(sdk_endpoint):
    _emu, endpoint = sdk_endpoint
    job = endpoint.run({"input": {"mock_return": ["one", "two", "three"], "mock_stream": True}})
    assert list(job.stream()) == ["one", "two", "three"]


def test_sdk_cancel_running_job(sdk_endpoint):
    _emu, endpoint = sdk_endpoint
    job = endpoint.run({"input": {"mock_delay": 10}})
    answer = job.cancel()
    assert answer == {"id": job.job_id, "status": "CANCELLED"}
    assert job.status() == "CANCELLED"


def test_sdk_wrong_key_is_401_runtime_error(sdk_endpoint, monkeypatch):
    emu, _ = sdk_endpoint
    monkeypatch.setattr(runpod, "api_key", "wrong-key")
    with pytest.raises(RuntimeError, match="401"):
        runpod.Endpoint("sdk-ep").run({"input": {}})
    log = emu.log_path.read_text() if emu.log_path and emu.log_path.exists() else ""
    assert KEY not in log and "wrong-key" not in log


def test_sdk_asyncio_client(sdk_endpoint):
    _emu, _ = sdk_endpoint
    from runpod import AsyncioEndpoint
    from runpod.http_client import AsyncClientSession

    async def main():
        async with AsyncClientSession() as session:
            endpoint = AsyncioEndpoint("sdk-ep", session)
            job = await endpoint.run({"mock_return": "async ok"})
            assert await job.output(timeout=10) == "async ok"
            assert (await endpoint.health())["jobs"]["completed"] >= 1

    asyncio.run(asyncio.wait_for(main(), 30))
