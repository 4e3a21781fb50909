"""Races: cancel vs completion, purge vs pickup, retry vs expiry, and a seeded random storm of every
operation. After each: no job lost, none in two terminal states, the counters add up (``check_invariants``
runs after every ``serve`` body and inside the storm)."""

from __future__ import annotations

import asyncio
import random

from loadtest.emulator.jobstore import TERMINAL

BASE = {"id": "ep", "workers_max": 4, "workers_min": 4, "cold_start": "10ms", "execution_time": "20ms",
        "policy": {"ttl_min": 0, "execution_timeout_min": 0}, "limits": {"rate": False, "concurrency": False}}


def _terminal_events(api) -> int:
    return sum(api.runtime.counters.final.values())


def test_cancel_racing_completion(serve):
    async def body(api):
        ids = []
        for i in range(60):
            job_id = await api.run({"mock_delay": 0.01 * (i % 5)})
            ids.append(job_id)
        await asyncio.sleep(0.02)
        answers = await asyncio.gather(*(api.post(f"cancel/{job_id}") for job_id in ids))
        assert all(status == 200 for status, _, _ in answers)
        await asyncio.sleep(0.2)
        finals = {}
        for job_id in ids:
            finals[job_id] = (await api.status(job_id))["status"]
        assert set(finals.values()) <= {"COMPLETED", "CANCELLED"}
        # the answer to cancel agrees with the final state
        for job_id, (_, answer, _) in zip(ids, answers, strict=True):
            assert answer["status"] == finals[job_id]
        assert _terminal_events(api) == 60  # each job reached exactly one terminal state

    serve(BASE, body)


def test_purge_racing_pickup(serve):
    config = dict(BASE, workers_min=0, workers_max=3, cold_start="30ms")

    async def body(api):
        ids = await asyncio.gather(*(api.run({"mock_delay": 0.05}) for _ in range(40)))
        await asyncio.sleep(0.03)  # workers come up while we purge
        _status, purged, _ = await api.post("purge-queue")
        await asyncio.sleep(0.3)
        finals = [(await api.status(job_id))["status"] for job_id in ids]
        assert finals.count("CANCELLED") == purged["removed"]
        assert finals.count("COMPLETED") == 40 - purged["removed"]
        assert _terminal_events(api) == 40

    serve(config, body)


def test_retry_racing_expiry(serve):
    config = dict(BASE, retention={"run": "100ms"})

    async def body(api):
        ids = [await api.run({"mock_error": True}) for _ in range(30)]
        for job_id in ids:
            await api.wait_status(job_id, {"FAILED"})
        await asyncio.sleep(0.09)
        answers = await asyncio.gather(*(api.post(f"retry/{job_id}") for job_id in ids))
        codes = [status for status, _, _ in answers]
        assert set(codes) <= {200, 404}
        await asyncio.sleep(0.05)
        for job_id, code in zip(ids, codes, strict=True):
            status, answer, _ = await api.get(f"status/{job_id}")
            if code == 404:
                assert status == 404  # expired before the retry: stays gone
            else:
                assert status == 200 and answer["retries"] == 1  # re-run, result retained again
        c = api.runtime.counters
        assert c.retried_manual == codes.count(200)

    serve(config, body)


def test_random_operation_storm_keeps_every_invariant(serve, check_invariants):
    config = dict(BASE, workers_min=1, workers_max=3, failure_rate=0.2, seed=3, retention={"run": "300ms"},
                  execution_time={"kind": "exponential", "mean": "20ms"}, limits={"queue_size_limit": 40})
    rng = random.Random(11)

    async def body(api):
        known: list[str] = []
        seen_terminal: dict[str, str] = {}
        for _ in range(400):
            action = rng.random()
            if action < 0.35 or not known:
                status, answer, _ = await api.post("run", {"input": {"mock_delay": rng.choice([0, 0.01, 0.05])},
                                                           "policy": {"ttl": rng.choice([200, 5000])}})
                if status == 200:
                    known.append(answer["id"])
            elif action < 0.55:
                await api.post(f"cancel/{rng.choice(known)}")
            elif action < 0.7:
                await api.post(f"retry/{rng.choice(known)}")
            elif action < 0.72:
                await api.post("purge-queue")
            elif action < 0.8:
                await api.get(f"stream/{rng.choice(known)}?wait=1000")
            else:
                job_id = rng.choice(known)
                status, answer, _ = await api.get(f"status/{job_id}")
                if status == 200 and answer["status"] in TERMINAL and answer["status"] not in ("FAILED", "TIMED_OUT"):
                    # COMPLETED and CANCELLED are final for good
                    previous = seen_terminal.setdefault(job_id, answer["status"])
                    assert previous == answer["status"], (job_id, previous, answer)
            check_invariants(api.runtime)
            if rng.random() < 0.1:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.4)
        check_invariants(api.runtime)
        health = (await api.get("health"))[1]["jobs"]
        truth = await api.ground_truth()
        assert health["inQueue"] + health["inProgress"] == truth["jobs"]["in_queue"] + truth["jobs"]["in_progress"]

    serve(config, body, timeout=60)
