"""Every state transition, expiry and retention, and the simulated workers (cold start, scaling, idle
timeout, concurrency, crash, refresh). Invariants are checked after every test by the ``serve`` harness."""

from __future__ import annotations

import asyncio
import itertools

BASE = {"id": "ep", "workers_max": 2, "cold_start": "20ms", "execution_time": "30ms", "idle_timeout": "5s"}
FAST_POLICY = {"ttl_min": 0, "execution_timeout_min": 0}


def test_execution_timeout_gives_timed_out_and_retry_requeues(serve):
    config = dict(BASE, policy=FAST_POLICY)

    async def body(api):
        job_id = await api.run({"mock_delay": 5}, policy={"executionTimeout": 200})
        timed_out = await api.wait_status(job_id, {"TIMED_OUT"})
        assert 195 <= timed_out["executionTime"] <= 300
        assert "execution timeout" in timed_out["error"]
        _status, answer, _ = await api.post(f"retry/{job_id}")
        assert answer == {"id": job_id, "status": "IN_QUEUE"}
        again = await api.wait_status(job_id, {"TIMED_OUT"})
        assert again["retries"] == 1
        health = (await api.get("health"))[1]
        assert health["jobs"]["failed"] == 2 and health["jobs"]["retried"] == 1

    serve(config, body)


def test_endpoint_execution_timeout_applies_without_policy(serve):
    async def body(api):
        job_id = await api.run({"mock_delay": 1})
        assert (await api.wait_status(job_id, {"TIMED_OUT"}))["executionTime"] < 400

    serve(dict(BASE, execution_timeout="150ms"), body)


def test_ttl_expiry_of_queued_and_running_jobs_gives_404(serve):
    config = dict(BASE, workers_max=1, workers_min=1, policy=FAST_POLICY)

    async def body(api):
        running = await api.run({"mock_delay": 5}, policy={"ttl": 300})
        queued = await api.run({}, policy={"ttl": 300})
        await api.wait_status(running, {"IN_PROGRESS"})
        await asyncio.sleep(0.45)
        assert (await api.get(f"status/{running}"))[0] == 404
        assert (await api.get(f"status/{queued}"))[0] == 404
        truth = await api.ground_truth()
        assert truth["jobs"]["expired_unfinished"] == 2
        assert truth["health"]["jobs"]["inProgress"] == 0 and truth["health"]["jobs"]["inQueue"] == 0
        # the worker was freed
        assert (await api.post("runsync", {"input": {}}))[1]["status"] == "COMPLETED"
        expired = {job.id for job in api.runtime.store.records if job.expired}
        assert expired == {running, queued}

    serve(config, body)


def test_result_retention_by_route_and_status_ttl(serve):
    config = dict(BASE, workers_min=1, retention={"run": "600ms", "runsync": "150ms"})

    async def body(api):
        sync_job = (await api.post("runsync", {"input": {}}))[1]["id"]
        async_job = await api.run({})
        await api.wait_status(async_job, {"COMPLETED"})
        await asyncio.sleep(0.2)
        assert (await api.get(f"status/{sync_job}"))[0] == 404
        assert (await api.get(f"status/{async_job}"))[0] == 200
        await asyncio.sleep(0.5)
        assert (await api.get(f"status/{async_job}"))[0] == 404
        # ?ttl= shortens the retention of a finished job
        other = await api.run({})
        await api.wait_status(other, {"COMPLETED"})
        assert (await api.get(f"status/{other}?ttl=50"))[0] == 200
        await asyncio.sleep(0.1)
        assert (await api.get(f"status/{other}"))[0] == 404
        # an expired job cannot be retried
        failed = await api.run({"mock_error": True})
        await api.wait_status(failed, {"FAILED"})
        await asyncio.sleep(0.65)
        assert (await api.post(f"retry/{failed}"))[0] == 404
        truth = await api.ground_truth()
        assert truth["jobs"]["expired_results"] == 4

    serve(config, body)


def test_cold_start_shows_in_delay_time_and_workers_initializing(serve):
    config = dict(BASE, cold_start="300ms", workers_max=1)

    async def body(api):
        job_id = await api.run({})
        await asyncio.sleep(0.05)
        health = (await api.get("health"))[1]
        assert health["workers"]["initializing"] == 1 and health["jobs"]["inQueue"] == 1
        done = await api.wait_status(job_id, {"COMPLETED"})
        assert 290 <= done["delayTime"] <= 450
        second = (await api.post("runsync", {"input": {}}))[1]
        assert second["delayTime"] < 50  # warm now
        assert second["workerId"] == done["workerId"]

    serve(config, body)


def test_idle_timeout_stops_workers_above_min(serve):
    config = dict(BASE, idle_timeout="200ms", workers_max=1)

    async def body(api):
        await api.post("runsync", {"input": {}})
        assert (await api.get("health"))[1]["workers"]["idle"] == 1
        await asyncio.sleep(0.35)
        health = (await api.get("health"))[1]
        assert sum(health["workers"].values()) == 0
        assert (await api.ground_truth())["workers"]["stopped"] == 1

    serve(config, body)


def test_workers_min_stay_up(serve):
    config = dict(BASE, idle_timeout="50ms", workers_min=2, workers_max=3)

    async def body(api):
        await asyncio.sleep(0.2)
        assert (await api.get("health"))[1]["workers"]["idle"] == 2

    serve(config, body)


def test_queue_delay_scaler_adds_workers_for_jobs_that_waited(serve):
    config = dict(BASE, workers_max=4, cold_start="50ms", scaler={"type": "queue_delay", "value": 0.2})

    async def body(api):
        ids = [await api.run({"mock_delay": 1}) for _ in range(4)]
        await asyncio.sleep(0.1)
        assert api.runtime.pool.worker_counts()["total"] == 1  # the first worker starts at once
        for _ in range(200):  # the others once jobs have waited > 0.2 s
            if api.runtime.pool.worker_counts()["total"] == 4:
                break
            await asyncio.sleep(0.01)
        assert api.runtime.pool.worker_counts()["total"] == 4
        assert api.runtime.loop.time() - api.runtime.store.records[0].submitted_at >= 0.2
        for job_id in ids:
            await api.post(f"cancel/{job_id}")

    serve(config, body)


def test_request_count_scaler(serve):
    config = dict(BASE, workers_max=5, cold_start="1s", scaler={"type": "request_count", "value": 2})

    async def body(api):
        ids = [await api.run({}) for _ in range(5)]
        assert api.runtime.pool.worker_counts()["initializing"] == 3  # ceil(5 / 2)
        more = [await api.run({}) for _ in range(10)]
        assert api.runtime.pool.worker_counts()["initializing"] == 5  # capped at workers_max
        for job_id in ids + more:
            await api.post(f"cancel/{job_id}")

    serve(config, body)


def test_low_priority_jobs_do_not_scale_and_run_after_normal_ones(serve):
    config = dict(BASE, workers_max=3, workers_min=0)

    async def body(api):
        low = await api.run({}, policy={"lowPriority": True})
        await asyncio.sleep(0.1)
        assert api.runtime.pool.worker_counts()["total"] == 0
        assert (await api.status(low))["status"] == "IN_QUEUE"
        normal = await api.run({})
        await api.wait_status(normal, {"COMPLETED"})
        await api.wait_status(low, {"COMPLETED"})  # ran on the worker the normal job brought up

    serve(config, body)


def test_concurrency_per_worker(serve):
    config = dict(BASE, workers_max=1, workers_min=1, concurrency=3)

    async def body(api):
        ids = [await api.run({"mock_delay": 0.3}) for _ in range(4)]
        await asyncio.sleep(0.1)
        health = (await api.get("health"))[1]
        assert health["jobs"]["inProgress"] == 3 and health["jobs"]["inQueue"] == 1
        assert health["workers"]["running"] == 1
        done = [await api.wait_status(i, {"COMPLETED"}) for i in ids]
        assert len({d["workerId"] for d in done}) == 1
        assert done[3]["delayTime"] >= 250

    serve(config, body)


def test_crash_retries_once_on_another_worker_then_fails_and_worker_is_replaced(serve):
    config = dict(BASE, workers_max=2, workers_min=1, cold_start="300ms")

    async def body(api):
        job_id = await api.run({"mock_crash": True})
        await asyncio.sleep(0.1)  # the warm worker crashed at 30 ms; its replacement is ready at 330 ms
        health = (await api.get("health"))[1]
        assert health["workers"]["unhealthy"] == 1 and health["workers"]["initializing"] == 1
        failed = await api.wait_status(job_id, {"FAILED"})
        assert failed["retries"] == 1 and "crashed" in failed["error"]
        truth = await api.ground_truth()
        assert truth["workers"]["crashed"] == 2
        assert truth["jobs"]["retried_auto"] == 1 and truth["health"]["jobs"]["retried"] == 1
        for _ in range(300):  # the second replacement comes up after its cold start
            health = (await api.get("health"))[1]
            if health["workers"]["unhealthy"] == 0:
                break
            await asyncio.sleep(0.01)
        assert health["workers"]["unhealthy"] == 0 and health["workers"]["idle"] == 1
        assert (await api.post("runsync", {"input": {}}))[1]["status"] == "COMPLETED"

    serve(config, body)


def test_refresh_restarts_the_worker_with_a_cold_start(serve):
    config = dict(BASE, workers_max=1, workers_min=1, cold_start="200ms")

    async def body(api):
        first = (await api.post("runsync", {"input": {"mock_refresh": True, "mock_return": 7}}))[1]
        assert first["output"] == {"mock_return": 7}
        health = (await api.get("health"))[1]
        assert health["workers"]["initializing"] == 1
        second = (await api.post("runsync", {"input": {}}))[1]
        assert second["delayTime"] >= 150 and second["workerId"] == first["workerId"]

    serve(config, body)


def test_failure_rate_and_seeded_execution_times_are_reproducible(serve):
    config = dict(BASE, workers_max=4, workers_min=4, failure_rate=0.5, seed=7,
                  execution_time={"kind": "uniform", "min": "10ms", "max": "60ms"})

    async def body(api):
        ids = [await api.run({}) for _ in range(40)]
        results = [await api.wait_status(i, {"COMPLETED", "FAILED"}) for i in ids]
        return [(r["status"], r["executionTime"]) for r in results]

    first = serve(config, body)
    second = serve(config, body)
    statuses = [s for s, _ in first]
    assert 8 <= statuses.count("FAILED") <= 32
    assert statuses == [s for s, _ in second]
    for (_, a), (_, b) in zip(first, second, strict=True):
        assert abs(a - b) <= 15  # same draws; only timer jitter differs


def test_simulated_time_keeps_timings_exact_when_the_loop_is_late(serve):
    config = dict(BASE, workers_max=1, workers_min=1, execution_time="100ms")

    async def body(api):
        first = await api.run({})
        second = await api.run({})
        await asyncio.sleep(0.05)
        import time

        time.sleep(0.2)  # block the loop past the first job's end (a stand-in for a burst of work)
        done_first = await api.wait_status(first, {"COMPLETED"})
        done_second = await api.wait_status(second, {"COMPLETED"})
        assert done_first["executionTime"] == 100
        assert done_second["executionTime"] == 100
        # the second job started on the worker the moment the first one ended, not when the loop woke up
        records = {job.id: job for job in api.runtime.store.records}
        one, two = records[first], records[second]
        assert one.finished_at is not None and two.started_at == max(one.finished_at, two.queued_at)
        assert done_second["delayTime"] == round((two.started_at - two.queued_at) * 1000)
        lateness = (await api.ground_truth())["completion_lateness"]
        assert lateness["max_ms"] >= 100

    serve(config, body)


def test_mock_progress_shows_as_output_while_running(serve):
    config = dict(BASE, workers_min=1)

    async def body(api):
        job_id = await api.run({"mock_delay": 0.5, "mock_return": "final",
                                "mock_progress": {"updates": ["25%", "50%"], "wait_time": 0.15}})
        await asyncio.sleep(0.05)
        first = await api.status(job_id)
        assert first["status"] == "IN_PROGRESS" and "output" not in first
        await asyncio.sleep(0.15)
        assert (await api.status(job_id))["output"] == "25%"
        await asyncio.sleep(0.15)
        assert (await api.status(job_id))["output"] == "50%"
        done = await api.wait_status(job_id, {"COMPLETED"})
        assert done["output"] == "final"
        _status, bad, _ = await api.post("runsync", {"input": {"mock_progress": ["x"]}})
        assert bad["status"] == "FAILED" and "mock_progress" in bad["error"]

    serve(config, body)


def _starts(api) -> list[float]:
    return [job.started_at for job in api.runtime.store.records]


def test_recheck_when_full_quantizes_pickup_like_the_sdk_worker(serve):
    """A full worker looks for work only at its re-checks (every ``recheck_when_full`` from when it filled
    up); a worker with room takes a job at once."""
    config = dict(BASE, workers_min=1, workers_max=1, cold_start=0, recheck_when_full="200ms")

    async def body(api):
        # the first job fills the worker for 0.3 s, so the others are queued before their re-checks
        ids = [await api.run({"mock_delay": 0.3})]
        ids += await asyncio.gather(*(api.run({"mock_delay": 0.02}) for _ in range(3)))
        for job_id in ids:
            await api.wait_status(job_id, {"COMPLETED"})
        starts = _starts(api)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert [round(gap, 9) for gap in gaps] == [0.4, 0.2, 0.2]  # not 0.3, 0.02, 0.02: each waited
        assert [(await api.status(job_id))["executionTime"] for job_id in ids] == [300, 20, 20, 20]
        await asyncio.sleep(0.25)  # past the re-check after the last job: the worker has room again
        late = await api.run({"mock_delay": 0.02})
        assert (await api.wait_status(late, {"COMPLETED"}))["delayTime"] == 0

    serve(config, body)


def test_recheck_when_full_frees_slots_of_a_concurrent_worker_together(serve):
    config = dict(BASE, workers_min=1, workers_max=1, cold_start=0, concurrency=2, recheck_when_full="300ms")

    async def body(api):
        ids = [await api.run({"mock_delay": delay}) for delay in (0.25, 0.2)]
        ids += await asyncio.gather(*(api.run({"mock_delay": 0.01}) for _ in range(2)))
        for job_id in ids:
            await api.wait_status(job_id, {"COMPLETED"})
        first, second, third, fourth = _starts(api)
        assert second - first < 0.25  # room for two: the second started on arrival, filling the worker
        # both slots freed before the re-check 300 ms after the worker filled up; both taken then
        assert round(third - second, 9) == 0.3 and round(fourth - second, 9) == 0.3

    serve(config, body)


def test_without_recheck_a_freed_slot_takes_the_next_job_at_once(serve):
    config = dict(BASE, workers_min=1, workers_max=1, cold_start=0)

    async def body(api):
        ids = [await api.run({"mock_delay": 0.02}) for _ in range(4)]
        for job_id in ids:
            await api.wait_status(job_id, {"COMPLETED"})
        starts = _starts(api)
        assert [round(b - a, 9) for a, b in itertools.pairwise(starts)] == [0.02, 0.02, 0.02]

    serve(config, body)
