"""Every limit: rate per window, requests in flight, queue size, payload size; each can be switched off."""

from __future__ import annotations

import asyncio
import copy
import random

import pytest
from pydantic import ValidationError

from loadtest import contract
from loadtest.contract import Op
from loadtest.emulator.admission import Admission
from loadtest.emulator_config import EndpointConfig, LimitsConfig
from loadtest.limits_in_force import LimitsInForce

BASE = {"id": "ep", "workers_max": 1, "cold_start": "10ms", "execution_time": "10ms"}


def test_documented_figures_come_from_the_contract():
    limits = Admission(EndpointConfig())
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
    assert Admission(EndpointConfig(workers_max=1)).queue_size_limit == 500
    assert Admission(EndpointConfig(workers_max=3)).queue_size_limit == 1500
    limits = Admission(EndpointConfig(workers_max=1))
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
        assert api.runtime.admission.rate_budget("status") == 6  # 2 running workers * 3
        busy_codes = [(await api.get("status/none"))[0] for _ in range(5)]
        assert busy_codes == [404, 404, 404, 404, 429]  # the same window, now 6 allowed
        _status, answer, _ = await api.get("status/none")
        assert "6 requests per 5 s" in answer["error"]
        for job_id in ids:
            await api.post(f"cancel/{job_id}")
        assert api.runtime.admission.rate_budget("status") == 2

    serve(config, body)


# --- configured limits are enforced exactly (a discovery run is checked against them) -------------------

def _limits(**limits) -> Admission:
    return Admission(EndpointConfig(limits=limits))


def _admitted_times(limits: Admission, op: str, times: list[float]) -> tuple[list[float], list[float]]:
    admitted, refused = [], []
    for t in times:
        if limits.admit(op, t) is None:
            limits.release(op)
            admitted.append(t)
        else:
            refused.append(t)
    return admitted, refused


def test_fixed_window_opens_with_the_first_request_and_admits_exactly_the_rate():
    limits = _limits(window="2s", window_kind="fixed", rate_overrides={"status": 3})
    admitted, refused = _admitted_times(limits, "status", [10.0, 10.5, 11.0, 11.5, 11.999, 12.0, 12.0, 12.0, 12.0])
    assert admitted == [10.0, 10.5, 11.0, 12.0, 12.0, 12.0]  # a new window at 12.0 = 10.0 + 2 s
    assert refused == [11.5, 11.999, 12.0]
    # a fixed window lets 2 x rate through across its edge; a rolling one never does
    limits = _limits(window="2s", window_kind="fixed", rate_overrides={"status": 3})
    assert len(_admitted_times(limits, "status", [0.0, 1.9, 1.9, 1.9, 2.0, 2.0, 2.0])[0]) == 6
    limits = _limits(window="2s", window_kind="rolling", rate_overrides={"status": 3})
    assert _admitted_times(limits, "status", [0.0, 1.9, 1.9, 1.9, 2.0, 2.0, 2.0])[0] == [0.0, 1.9, 1.9, 2.0]


def test_rolling_window_counts_the_window_before_each_request():
    limits = _limits(window="2s", window_kind="rolling", rate_overrides={"run": 3})
    admitted, refused = _admitted_times(limits, "run", [0.0, 0.5, 1.0, 1.5, 2.0, 2.1, 2.5, 2.5])
    assert admitted == [0.0, 0.5, 1.0, 2.0, 2.5]  # 0.0 leaves at 2.0, 0.5 at 2.5
    assert refused == [1.5, 2.1, 2.5]


def test_any_window_of_either_kind_holds_at_most_the_rate_and_refusals_are_forced():
    rng = random.Random(3)
    times = sorted(rng.uniform(0, 20) for _ in range(600))
    for kind in ("fixed", "rolling"):
        limits = _limits(window="1.5s", window_kind=kind, rate_overrides={"cancel": 7})
        admitted, refused = _admitted_times(limits, "cancel", times)
        if kind == "rolling":
            for t in admitted:  # every interval of one window length holds at most the rate
                assert sum(1 for a in admitted if t - 1.5 < a <= t) <= 7
            for t in refused:  # and a request was refused only when the window before it was full
                assert sum(1 for a in admitted if t - 1.5 < a <= t) == 7
        else:
            starts = [admitted[0]]
            for t in admitted[1:]:
                if t >= starts[-1] + 1.5:
                    starts.append(t)
            for start in starts:
                assert sum(1 for a in admitted if start <= a < start + 1.5) <= 7
        assert 7 * 20 / 1.5 * 0.8 <= len(admitted) <= 7 * (20 / 1.5 + 1) * (2 if kind == "fixed" else 1)


def test_retry_after_is_truthful_for_both_window_kinds():
    rng = random.Random(5)
    for kind in ("fixed", "rolling"):
        limits = _limits(window="3s", window_kind=kind, rate_overrides={"run": 4})
        t, checked = 0.0, 0
        for _ in range(300):
            t += rng.expovariate(4.0)
            reason = limits.admit("run", t)
            if reason is None:
                limits.release("run")
                continue
            wait = limits.retry_after("run", reason, t)
            assert 1 <= wait <= 3
            probe = copy.deepcopy(limits)
            assert probe.admit("run", t + wait) is None  # admitted after the wait it was told
            if wait > 1:
                assert copy.deepcopy(limits).admit("run", t + wait - 1) is not None  # and not a second sooner
            checked += 1
        assert checked > 20


def test_window_length_can_differ_per_operation():
    limits = _limits(window="10s", window_overrides={"run": "1s"}, rate_overrides={"run": 2, "status": 2})
    assert limits.ops["run"].window == 1.0 and limits.ops["status"].window == 10.0
    assert _admitted_times(limits, "run", [0, 0.5, 0.9, 1.0, 1.5])[0] == [0, 0.5, 1.0, 1.5]
    assert _admitted_times(limits, "status", [0, 0.5, 0.9, 1.0, 9.9, 10.0])[0] == [0, 0.5, 10.0]
    assert "2 requests per 1 s (fixed window)" in limits.describe("run", "rate")


def test_concurrency_cap_is_exact_and_independent_of_the_rate():
    limits = _limits(concurrency_overrides={"status": 3}, rate_overrides={"status": 100})
    assert [limits.admit("status", 0.0) for _ in range(4)] == [None, None, None, "concurrency"]
    limits.release("status")
    assert limits.admit("status", 0.1) is None
    assert limits.ops["status"].count == 4  # the refused request used no rate budget


def test_limits_config_values_are_checked():
    for bad in ({"window": 0}, {"window_overrides": {"run": "0s"}}, {"rate_overrides": {"run": -1}},
                {"window_kind": "sliding"}, {"concurrency_overrides": {"status": -2}}):
        with pytest.raises(ValidationError):
            LimitsConfig.model_validate(bad)
    config = LimitsConfig(window="4s", window_overrides={"run": "1s"}, rate_overrides={"health": 5})
    figures = LimitsInForce.resolve(emulator=config)
    run, status, health = (figures.get(op).rate for op in (Op.RUN, Op.STATUS, Op.HEALTH))
    assert run is not None and status is not None and health is not None
    assert run.window_s == 1.0 and status.window_s == 4.0
    assert health.value == 5 and run.value == contract.OPERATIONS[Op.RUN].rate_limit
    assert LimitsInForce.resolve(emulator=LimitsConfig(rate=False)).get(Op.RUN).rate is None
    assert LimitsInForce.resolve(emulator=LimitsConfig(concurrency=False)).get(Op.RUN).concurrency is None


def test_fixed_and_rolling_windows_through_http(serve):
    """Two endpoints with the same budget (3 per 2 s), one fixed, one rolling, get the same requests: they
    agree until the first window ends, then the rolling one still counts the request made at 1 s."""
    one = {"workers_max": 1, "limits": {"window": "2s", "rate_overrides": {"status": 3}}}
    config = {"endpoints": [dict(one, id="fixed"), {**one, "id": "rolling",
                                                    "limits": dict(one["limits"], window_kind="rolling")}]}

    async def body(api):
        loop = asyncio.get_running_loop()
        base = api.server.base_url

        async def status(endpoint: str) -> tuple[int, str | None]:
            code, _answer, headers = await api.get(f"{base}/{endpoint}/status/none", absolute=True)
            return code, headers.get("Retry-After")

        for endpoint in ("fixed", "rolling"):
            assert [(await status(endpoint))[0] for _ in range(2)] == [404, 404]
        first_batch_done = loop.time()
        await asyncio.sleep(1.0)
        for endpoint in ("fixed", "rolling"):
            assert (await status(endpoint))[0] == 404  # the third of the window
            code, retry_after = await status(endpoint)
            assert code == 429 and retry_after == "1"  # both: about 1 s until the first requests leave
        await asyncio.sleep(max(0.0, first_batch_done + 2.05 - loop.time()))
        fixed = [await status("fixed") for _ in range(4)]
        rolling = [await status("rolling") for _ in range(3)]
        assert [code for code, _ in fixed] == [404, 404, 404, 429]  # a new window: the whole budget
        assert [code for code, _ in rolling] == [404, 404, 429]  # the request made at 1 s still counts
        assert fixed[-1][1] == "2" and rolling[-1][1] == "1"

    serve(config, body)


def test_configured_concurrency_cap_counts_held_runsync_requests(serve):
    config = dict(BASE, workers_min=3, workers_max=3, limits={"concurrency_overrides": {"runsync": 3}})

    async def body(api):
        holds = [asyncio.create_task(api.post("runsync", {"input": {"mock_delay": 0.5}})) for _ in range(3)]
        await asyncio.sleep(0.2)
        status, answer, headers = await api.post("runsync", {"input": {}})
        assert status == 429 and answer["limit"] == "concurrency" and headers["Retry-After"] == "1"
        assert "allows 3 requests in flight" in answer["error"]
        assert [r[1]["status"] for r in await asyncio.gather(*holds)] == ["COMPLETED"] * 3
        assert (await api.post("runsync", {"input": {}}))[0] == 200

    serve(config, body)
