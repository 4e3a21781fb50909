"""Webhooks (full job object, retries, never failing the job) and the ground truth (admin routes, pages,
Prometheus text, reset) agreeing exactly with what clients did."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

BASE = {"id": "ep", "workers_max": 2, "workers_min": 1, "cold_start": "10ms", "execution_time": "10ms",
        "webhook": {"retry_delay": "50ms"}}


class Receiver:
    """A loopback webhook receiver answering each delivery with the next code of ``codes``."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.received: list[dict] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Receiver:
        async def hook(request: web.Request) -> web.Response:
            self.received.append(json.loads(await request.read()))
            code = self.codes[min(len(self.received), len(self.codes)) - 1]
            return web.Response(status=code)

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def _until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def test_webhook_gets_full_job_object_on_completion_and_failure(serve):
    async def body(api):
        async with Receiver([200]) as receiver:
            ok = await api.run({"mock_return": "out"}, webhook=receiver.url)
            bad = await api.run({"mock_error": True}, webhook=receiver.url)
            await _until(lambda: len(receiver.received) == 2)
        by_id = {payload["id"]: payload for payload in receiver.received}
        assert by_id[ok]["status"] == "COMPLETED" and by_id[ok]["output"] == "out"
        assert by_id[ok]["input"] == {"mock_return": "out"} and by_id[ok]["webhook"] == receiver.url
        assert {"delayTime", "executionTime", "workerId"} <= set(by_id[ok])
        assert by_id[bad]["status"] == "FAILED" and "Mock error" in by_id[bad]["error"]
        truth = await api.ground_truth()
        assert truth["webhooks"] == {"attempts": 2, "delivered": 2, "failed": 0}

    serve(BASE, body)


def test_webhook_retried_twice_on_non_2xx_and_failure_does_not_fail_job(serve):
    async def body(api):
        async with Receiver([500, 503, 404]) as receiver:
            job_id = await api.run({}, webhook=receiver.url)
            await _until(lambda: len(receiver.received) == 3)
            await asyncio.sleep(0.15)
            assert len(receiver.received) == 3  # one attempt + two retries, no more
        assert (await api.status(job_id))["status"] == "COMPLETED"
        truth = await api.ground_truth()
        assert truth["webhooks"] == {"attempts": 3, "delivered": 0, "failed": 1}
        async with Receiver([502, 200]) as receiver:
            await api.run({}, webhook=receiver.url)
            await _until(lambda: len(receiver.received) == 2)
        await _until(lambda: api.runtime.counters.webhook_delivered == 1)

    serve(BASE, body)


def test_unreachable_webhook_counts_as_failed(serve):
    async def body(api):
        await api.run({}, webhook="http://127.0.0.1:9/nothing-listens-here")
        await _until(lambda: api.runtime.counters.webhook_failed == 1)
        assert api.runtime.counters.webhook_attempts == 3

    serve(BASE, body)


def test_ground_truth_agrees_exactly_with_client_counts(serve):
    config = dict(BASE, limits={"window": "10s", "rate_overrides": {"status": 5}})

    async def body(api):
        ids = [await api.run({}) for _ in range(6)]
        sync = [(await api.post("runsync", {"input": {"mock_delay": 0.02}}))[1] for _ in range(3)]
        codes = [(await api.get(f"status/{ids[0]}"))[0] for _ in range(7)]
        await api.post(f"cancel/{ids[-1]}")
        await asyncio.sleep(0.3)
        truth = await api.ground_truth()
        assert truth["requests"]["run"] == {"200": 6}
        assert truth["requests"]["runsync"] == {"200": 3}
        assert truth["requests"]["status"] == {"200": codes.count(200), "429": codes.count(429)}
        assert truth["rejected"] == {"status": {"rate": 2}}
        assert truth["jobs"]["submitted_by"] == {"run": 6, "runsync": 3}
        assert sum(truth["jobs"]["final"].values()) == 9
        # per-job records: same timings as the API reported, in submission order, paged
        async with api.session.get(f"{api.server.admin_url}/ground-truth/jobs?endpoint=ep&limit=4") as r:
            page = await r.json()
        assert page["total"] == 9 and page["next_offset"] == 4 and len(page["jobs"]) == 4
        async with api.session.get(f"{api.server.admin_url}/ground-truth/jobs?offset=4&limit=100") as r:
            rest = await r.json()
        records = page["jobs"] + rest["jobs"]
        assert rest["next_offset"] is None
        assert [rec["id"] for rec in records[:6]] == ids
        for rec, job in zip(records[6:], sync, strict=True):
            assert rec["id"] == job["id"] and rec["via"] == "runsync"
            assert (rec["delayTime"], rec["executionTime"], rec["workerId"]) == (
                job["delayTime"], job["executionTime"], job["workerId"])
            assert rec["finishedAt"] > rec["submittedAt"]

    serve(config, body)


def test_metrics_text_and_reset(serve):
    async def body(api):
        await api.post("runsync", {"input": {}})
        async with api.session.get(api.server.url + "/metrics") as response:
            assert response.status == 200 and response.content_type == "text/plain"
            text = await response.text()
        assert 'loadtest_emulator_requests_total{endpoint="ep",operation="runsync",code="200"} 1' in text
        assert 'loadtest_emulator_jobs_final_total{endpoint="ep",status="COMPLETED"} 1' in text
        assert 'loadtest_emulator_health_workers{endpoint="ep",state="idle"} 1' in text
        assert "# TYPE loadtest_emulator_requests_total counter" in text
        async with api.session.post(f"{api.server.admin_url}/reset") as response:
            assert (await response.json()) == {"reset": ["ep"]}
        truth = await api.ground_truth()
        assert truth["jobs"]["submitted"] == 0 and truth["requests"] == {}
        assert truth["health"]["workers"]["idle"] == 1
        _status, job, _ = await api.post("runsync", {"input": {}})
        assert job["status"] == "COMPLETED"

    serve(BASE, body)


def test_records_cap_drops_oldest(serve):
    async def body(api):
        ids = [await api.run({}) for _ in range(5)]
        async with api.session.get(f"{api.server.admin_url}/ground-truth/jobs?offset=0") as r:
            page = await r.json()
        assert page["first_offset"] == 2 and [rec["id"] for rec in page["jobs"]] == ids[2:]
        assert (await api.ground_truth())["jobs"]["records_dropped"] == 2

    serve(dict(BASE, job_records_max=3), body)


def test_ground_truth_agrees_with_many_concurrent_clients(serve):
    config = dict(BASE, workers_min=2, workers_max=6, concurrency=2, cold_start="20ms",
                  execution_time={"kind": "exponential", "mean": "20ms"}, failure_rate=0.1, seed=9,
                  limits={"rate": False})

    async def body(api):
        from collections import Counter

        sent: Counter = Counter()
        seen: dict[str, dict] = {}

        async def client(index: int) -> None:
            for _ in range(10):
                status, answer, _ = await api.post("run", {"input": {"client": index}})
                sent[("run", status)] += 1
                job_id = answer["id"]
                while True:
                    status, job, _ = await api.get(f"status/{job_id}")
                    sent[("status", status)] += 1
                    if job["status"] in {"COMPLETED", "FAILED"}:
                        seen[job_id] = job
                        break
                    await asyncio.sleep(0.005)

        await asyncio.gather(*(client(i) for i in range(20)))
        truth = await api.ground_truth()
        for (op, code), count in sent.items():
            assert truth["requests"][op][str(code)] == count, (op, code)
        assert sum(truth["requests"]["status"].values()) == sum(n for (op, _), n in sent.items() if op == "status")
        assert truth["jobs"]["submitted"] == 200
        final = truth["jobs"]["final"]
        assert final["COMPLETED"] + final["FAILED"] == 200
        assert final["FAILED"] == sum(1 for job in seen.values() if job["status"] == "FAILED")
        async with api.session.get(f"{api.server.admin_url}/ground-truth/jobs?limit=1000") as response:
            records = {r["id"]: r for r in (await response.json())["jobs"]}
        for job_id, job in seen.items():
            record = records[job_id]
            assert (record["status"], record["delayTime"], record["executionTime"], record["workerId"]) == (
                job["status"], job["delayTime"], job["executionTime"], job["workerId"])

    serve(config, body, timeout=60)
