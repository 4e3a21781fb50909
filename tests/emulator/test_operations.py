"""Every operation of the queue API, with the shapes of runpod-api.md sections 2-8."""

from __future__ import annotations

import asyncio

from loadtest.contract import HEALTH_JOB_KEYS, HEALTH_WORKER_KEYS

FAST = {"id": "ep", "workers_max": 2, "cold_start": "20ms", "execution_time": "30ms", "idle_timeout": "5s"}


def test_run_then_status_goes_queued_to_completed(serve):
    async def body(api):
        job_id = await api.run({"prompt": "hi"})
        first = await api.status(job_id)
        assert first == {"id": job_id, "status": "IN_QUEUE"}
        done = await api.wait_status(job_id, {"COMPLETED"})
        assert done["output"] == "Hello World!"
        assert set(done) == {"id", "status", "delayTime", "executionTime", "workerId", "output"}
        assert isinstance(done["delayTime"], int) and isinstance(done["executionTime"], int)
        assert done["delayTime"] >= 15  # waited for the cold start
        assert 29 <= done["executionTime"] <= 60
        assert len(done["workerId"]) == 14

    serve(FAST, body)


def test_status_accepts_post_and_in_progress_carries_worker(serve):
    async def body(api):
        job_id = await api.run({"mock_delay": 0.3})
        running = await api.wait_status(job_id, {"IN_PROGRESS"})
        assert "workerId" in running and "delayTime" in running and "output" not in running
        status, posted, _ = await api.post(f"status/{job_id}")
        assert status == 200 and posted["id"] == job_id

    serve(FAST, body)


def test_runsync_returns_finished_job_with_sync_id(serve):
    async def body(api):
        status, job, _ = await api.post("runsync", {"input": {"mock_return": {"a": [1, 2]}}})
        assert status == 200
        assert job["id"].startswith("sync-")
        assert job["status"] == "COMPLETED" and job["output"] == {"a": [1, 2]}
        assert {"delayTime", "executionTime", "workerId"} <= set(job)
        # also readable through /status afterwards
        assert (await api.status(job["id"]))["output"] == {"a": [1, 2]}

    serve(FAST, body)


def test_runsync_wait_runs_out_returns_non_terminal_status(serve):
    async def body(api):
        started = asyncio.get_running_loop().time()
        status, job, _ = await api.post("runsync?wait=1000", {"input": {"mock_delay": 3}})
        took = asyncio.get_running_loop().time() - started
        assert status == 200
        assert job["status"] in {"IN_QUEUE", "IN_PROGRESS"} and set(job) == {"id", "status"}
        assert 0.95 <= took < 2.0
        await api.post(f"cancel/{job['id']}")

    serve(FAST, body)


def test_runsync_failed_job_is_200_with_error(serve):
    async def body(api):
        status, job, _ = await api.post("runsync", {"input": {"mock_error": "boom"}})
        assert status == 200 and job["status"] == "FAILED"
        assert isinstance(job["error"], str) and "boom" in job["error"]
        assert "output" not in job

    serve(FAST, body)


def test_status_sync_long_polls_until_terminal(serve):
    async def body(api):
        job_id = await api.run({"mock_delay": 0.2})
        status, job, _ = await api.get(f"status-sync/{job_id}?wait=5000")
        assert status == 200 and job["status"] == "COMPLETED"
        status, job, _ = await api.post(f"status-sync/{job_id}")
        assert job["status"] == "COMPLETED"
        slow = await api.run({"mock_delay": 5})
        started = asyncio.get_running_loop().time()
        status, job, _ = await api.get(f"status-sync/{slow}?wait=1000")
        assert job["status"] in {"IN_QUEUE", "IN_PROGRESS"}
        assert asyncio.get_running_loop().time() - started >= 0.95
        await api.post(f"cancel/{slow}")

    serve(FAST, body)


def test_stream_drains_chunks_once_and_final_chunk_comes_with_completed(serve):
    config = dict(FAST, stream_interval="100ms", workers_min=1)

    async def body(api):
        job_id = await api.run({"mock_return": ["a", "b", "c"], "mock_stream": True, "mock_delay": 0})
        seen: list[str] = []
        statuses = []
        for _ in range(50):
            status, part, _ = await api.get(f"stream/{job_id}?wait=2000")
            assert status == 200 and set(part) == {"status", "stream"}
            seen += [chunk["output"] for chunk in part["stream"]]
            statuses.append(part["status"])
            if part["status"] == "COMPLETED":
                break
        assert seen == ["a", "b", "c"]
        assert statuses[-1] == "COMPLETED"
        status, after, _ = await api.get(f"stream/{job_id}")
        assert after == {"status": "COMPLETED", "stream": []}
        # platform default: no aggregated output for a streaming job
        assert "output" not in await api.status(job_id)

    serve(config, body)


def test_stream_holds_an_empty_answer_until_a_chunk(serve):
    config = dict(FAST, workers_min=1, stream_interval="100ms")

    async def body(api):
        job_id = await api.run({"mock_return": ["x"], "mock_stream": True, "mock_delay": 0.4})
        loop = asyncio.get_running_loop()
        started = loop.time()
        _status, part, _ = await api.get(f"stream/{job_id}?wait=5000")
        took = loop.time() - started
        assert part["stream"] == [{"output": "x"}]
        assert 0.3 <= took < 2.0  # held, then answered when the chunk came

    serve(config, body)


def test_stream_of_non_generator_job_is_empty_and_terminal(serve):
    async def body(api):
        _, job, _ = await api.post("runsync", {"input": {}})
        _status, part, _ = await api.get(f"stream/{job['id']}")
        assert part == {"status": "COMPLETED", "stream": []}

    serve(FAST, body)


def test_generator_endpoint_with_aggregate_and_large_chunks_split(serve):
    config = dict(FAST, generator=True, return_aggregate_stream=True, workers_min=1)
    big = "é" * 700_000  # 1.4 MB of UTF-8: more than one chunk

    async def body(api):
        _, job, _ = await api.post("runsync", {"input": {"mock_return": ["small", big]}})
        assert job["status"] == "COMPLETED" and job["output"] == ["small", big]
        _status, part, _ = await api.get(f"stream/{job['id']}")
        pieces = [c["output"] for c in part["stream"]]
        assert pieces[0] == "small" and len(pieces) >= 3
        assert "".join(pieces[1:]) == big
        assert all(len(p.encode()) <= 1024 * 1024 for p in pieces)

    serve(config, body)


def test_cancel_queued_and_running_and_finished(serve):
    config = dict(FAST, workers_max=1, workers_min=1)

    async def body(api):
        running = await api.run({"mock_delay": 5})
        queued = await api.run({})
        await api.wait_status(running, {"IN_PROGRESS"})
        status, answer, _ = await api.post(f"cancel/{queued}")
        assert (status, answer) == (200, {"id": queued, "status": "CANCELLED"})
        status, answer, _ = await api.post(f"cancel/{running}")
        assert answer == {"id": running, "status": "CANCELLED"}
        cancelled = await api.status(running)
        assert cancelled["status"] == "CANCELLED" and "workerId" in cancelled
        # the worker is free again: a new job completes
        done = await api.run({})
        await api.wait_status(done, {"COMPLETED"})
        status, answer, _ = await api.post(f"cancel/{done}")
        assert status == 200 and answer["status"] == "COMPLETED"  # unchanged

    serve(config, body)


def test_retry_failed_job_keeps_id_and_removes_previous_output(serve):
    async def body(api):
        job_id = await api.run({"mock_error": True})
        failed = await api.wait_status(job_id, {"FAILED"})
        assert "Mock error" in failed["error"]
        status, answer, _ = await api.post(f"retry/{job_id}")
        assert (status, answer) == (200, {"id": job_id, "status": "IN_QUEUE"})
        requeued = await api.status(job_id)
        assert requeued["status"] in {"IN_QUEUE", "IN_PROGRESS", "FAILED"}
        assert "error" not in requeued or requeued["status"] == "FAILED"
        again = await api.wait_status(job_id, {"FAILED"})
        assert again["retries"] == 1
        health = (await api.get("health"))[1]
        assert health["jobs"]["retried"] == 1 and health["jobs"]["failed"] == 2

    serve(FAST, body)


def test_purge_removes_only_queued_jobs(serve):
    config = dict(FAST, workers_max=1, workers_min=1)

    async def body(api):
        running = await api.run({"mock_delay": 0.4})
        await api.wait_status(running, {"IN_PROGRESS"})
        queued = [await api.run({}) for _ in range(3)]
        status, answer, _ = await api.post("purge-queue")
        assert (status, answer) == (200, {"removed": 3, "status": "completed"})
        for job_id in queued:
            assert (await api.status(job_id))["status"] == "CANCELLED"
        assert (await api.wait_status(running, {"COMPLETED"}))["status"] == "COMPLETED"
        truth = await api.ground_truth()
        assert truth["jobs"]["purged"] == 3

    serve(config, body)


def test_health_has_all_counters_as_integers(serve):
    async def body(api):
        status, health, _ = await api.get("health")
        assert status == 200
        assert set(health) == {"jobs", "workers"}
        assert tuple(sorted(health["jobs"])) == tuple(sorted(HEALTH_JOB_KEYS))
        assert tuple(sorted(health["workers"])) == tuple(sorted(HEALTH_WORKER_KEYS))
        assert all(type(v) is int for group in health.values() for v in group.values())
        assert health["workers"]["idle"] == 1  # workers_min is warm at start

    serve(dict(FAST, workers_min=1), body)


def test_requests_lists_recent_jobs(serve):
    async def body(api):
        ids = [await api.run({}) for _ in range(3)]
        status, answer, _ = await api.get("requests")
        assert status == 200
        assert [r["id"] for r in answer["requests"]] == ids[::-1]

    serve(FAST, body)


def test_s3config_accepted_and_never_echoed(serve):
    async def body(api):
        s3 = {"accessId": "AKIA", "accessSecret": "s3cret", "bucketName": "b", "endpointUrl": "http://x"}
        status, job, _ = await api.post("runsync", {"input": {}, "s3Config": s3})
        assert status == 200 and "s3Config" not in job and "s3cret" not in str(job)

    serve(FAST, body)


def test_multiple_endpoints_each_with_own_config(serve):
    config = {"endpoints": [dict(FAST, id="a"), dict(FAST, id="b", execution_time="0s")]}

    async def body(api):
        status, job, _ = await api.post("runsync", {"input": {}})
        assert job["executionTime"] >= 29
        status, other, _ = await api.post(f"{api.server.base_url}/b/runsync", {"input": {}}, absolute=True)
        assert other["status"] == "COMPLETED" and other["executionTime"] < 20
        status, _missing, _ = await api.get(f"{api.server.base_url}/zzz/health", absolute=True)
        assert status == 404

    serve(config, body)
