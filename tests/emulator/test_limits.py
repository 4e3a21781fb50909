"""Every limit: rate per window, requests in flight, queue size, payload size; each can be switched off."""

from __future__ import annotations

import asyncio

from loadtest import contract
from loadtest.contract import Op
from loadtest.emulator.limits import Limits
from loadtest.emulator_config import EndpointConfig

BASE = {"id": "ep", "workers_max": 1, "cold_start": "10ms", "execution_time": "10ms"}


def test_documented_figures_come_from_the_contract():
    limits = Limits(EndpointConfig())
    for op, operation in contract.OPERATIONS.items():
        assert limits.ops[op.value].rate == operation.rate_limit
        assert limits.ops[op.value].max_in_flight == operation.concurrency_limit
    assert limits.queue_size_limit == contract.queue_size_limit(3)
    assert limits.payload_limits["run"] == contract.PAYLOAD_LIMIT_BYTES[Op.RUN]
    assert limits.payload_limits["runsync"] == contract.PAYLOAD_LIMIT_BYTES[Op.RUNSYNC]
    assert limits.window == contract.RATE_WINDOW_S


def test_rate_limit_per_window_with_retry_after_and_reset(serve):
    config = dict(BASE, limits={"window": "1s", "rate_overrides": {"status": 3, "purge-queue": 2}})

    async def body(api):
        job_id = await api.run({})
        codes = [(await api.get(f"status/{job_id}"))[0] for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        status, answer, headers = await api.get(f"status/{job_id}")
        assert status == 429
        assert answer["limit"] == "rate" and answer["operation"] == "status" and "3 requests per 1 s" in answer["error"]
        assert headers["Retry-After"] == "1"
        # status-sync has its own budget of the documented size
        assert (await api.get(f"status-sync/{job_id}?wait=1000"))[0] == 200
        purge = [(await api.post("purge-queue"))[0] for _ in range(3)]
        assert purge == [200, 200, 429]
        await asyncio.sleep(1.05)
        assert (await api.get(f"status/{job_id}"))[0] == 200  # a new window
        truth = await api.ground_truth()
        assert truth["rejected"]["status"] == {"rate": 3}
        assert truth["rejected"]["purge-queue"] == {"rate": 1}
        assert truth["requests"]["status"] == {"200": 4, "429": 3}

    serve(config, body)


def test_rate_limit_is_per_endpoint(serve):
    one = dict(BASE, id="a", limits={"window": "5s", "rate_overrides": {"health": 1}})
    config = {"endpoints": [one, dict(one, id="b")]}

    async def body(api):
        base = api.server.base_url
        assert (await api.get(f"{base}/a/health", absolute=True))[0] == 200
        assert (await api.get(f"{base}/a/health", absolute=True))[0] == 429
        assert (await api.get(f"{base}/b/health", absolute=True))[0] == 200

    serve(config, body)


def test_concurrency_limit_counts_held_long_polls(serve):
    config = dict(BASE, workers_min=1, limits={"concurrency_overrides": {"status-sync": 2}})

    async def body(api):
        job_id = await api.run({"mock_delay": 3})
        holds = [asyncio.create_task(api.get(f"status-sync/{job_id}?wait=1000")) for _ in range(2)]
        await asyncio.sleep(0.2)
        status, answer, headers = await api.get(f"status-sync/{job_id}?wait=1000")
        assert status == 429 and answer["limit"] == "concurrency" and headers["Retry-After"] == "1"
        assert [r[0] for r in await asyncio.gather(*holds)] == [200, 200]
        assert (await api.get(f"status-sync/{job_id}?wait=1000"))[0] == 200  # slots were given back
        await api.post(f"cancel/{job_id}")
        truth = await api.ground_truth()
        assert truth["rejected"]["status-sync"] == {"concurrency": 1}

    serve(config, body)


def test_queue_size_rule_refuses_run_and_runsync_above_the_limit(serve):
    config = dict(BASE, workers_max=1, cold_start="10s", limits={"queue_size_limit": 3})

    async def body(api):
        for _ in range(4):  # the queue may reach 4: refused only while it *exceeds* 3
            await api.run({})
        status, answer, headers = await api.post("run", {"input": {}})
        assert status == 429 and answer["limit"] == "queue_size" and "Retry-After" in headers
        status, answer, _ = await api.post("runsync", {"input": {}})
        assert status == 429 and answer["limit"] == "queue_size"
        await api.post("purge-queue")
        assert (await api.post("run", {"input": {}}))[0] == 200
        truth = await api.ground_truth()
        assert truth["rejected"]["run"] == {"queue_size": 1}
        assert truth["jobs"]["submitted"] == 5

    serve(config, body)


def test_documented_queue_size_rule_needs_both_conditions():
    assert Limits(EndpointConfig(workers_max=1)).queue_size_limit == 500
    assert Limits(EndpointConfig(workers_max=3)).queue_size_limit == 1500
    limits = Limits(EndpointConfig(workers_max=1))
    assert not limits.queue_full(500) and limits.queue_full(501)


def test_payload_limits_answer_413(serve):
    config = dict(BASE, limits={"payload_overrides": {"run": 1000, "runsync": 2000}})
    padding = "x" * 1500

    async def body(api):
        status, answer, _ = await api.post("run", {"input": {"p": padding}})
        assert status == 413 and "at most 1000 bytes" in answer["error"]
        status, job, _ = await api.post("runsync", {"input": {"p": padding}})
        assert status == 200 and job["status"] == "COMPLETED"
        status, _, _ = await api.post("runsync", {"input": {"p": padding * 2}})
        assert status == 413
        truth = await api.ground_truth()
        assert truth["requests"]["run"] == {"413": 1}

    serve(config, body)


def test_documented_payload_limit_is_enforced_at_10_mib(serve):
    async def body(api):
        big = b'{"input": {"p": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
        status, _answer, _ = await api.post("run", raw=big)
        assert status == 413
        status, _job, _ = await api.post("runsync", raw=big)
        assert status == 200

    serve(BASE, body)


def test_limits_can_be_switched_off(serve):
    config = dict(BASE, cold_start="10s", limits={
        "rate": False, "concurrency": False, "queue_size": False, "payload": False,
        "rate_overrides": {"run": 1}, "queue_size_limit": 0, "payload_overrides": {"run": 10},
    })

    async def body(api):
        codes = [(await api.post("run", {"input": {"p": "x" * 100}}))[0] for _ in range(5)]
        assert codes == [200] * 5
        truth = await api.ground_truth()
        assert truth["rejected"] == {}

    serve(config, body)


def test_dynamic_rate_limit_grows_with_running_workers(serve):
    config = dict(BASE, workers_min=2, workers_max=2, limits={
        "window": "5s", "rate_overrides": {"status": 2}, "rate_per_worker": {"status": 3}})

    async def body(api):
        idle_codes = [(await api.get("status/none"))[0] for _ in range(3)]
        assert idle_codes == [404, 404, 429]  # no running worker: the base budget of 2
        ids = [await api.run({"mock_delay": 3}) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert api.runtime.limits.rate_budget("status") == 6  # 2 running workers * 3
        busy_codes = [(await api.get("status/none"))[0] for _ in range(5)]
        assert busy_codes == [404, 404, 404, 404, 429]  # the same window, now 6 allowed
        _status, answer, _ = await api.get("status/none")
        assert "6 requests per 5 s" in answer["error"]
        for job_id in ids:
            await api.post(f"cancel/{job_id}")
        assert api.runtime.limits.rate_budget("status") == 2

    serve(config, body)
