"""Simulated time holds whatever the event loop's lateness: transitions apply in simulated-time order, a
request sees every event due before it, FIFO and the reported timings survive a stall, and the stall
itself is measured (``loop_lag`` in the ground truth, a gauge in ``/metrics``).

The stalls are real: the in-process tests block the shared loop with ``time.sleep``; the storm stops the
emulator process with SIGSTOP while the client keeps sending.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import time
from typing import Any

import aiohttp

from loadtest.emulator.jobstore import Job
from loadtest.emulator.simtime import SimulatedTime
from loadtest.looplag import STALL_S

NO_LIMITS = {"rate": False, "concurrency": False, "queue_size": False}
EXEC_BOUND_MS = 1
"""The documented bound: executionTime never exceeds the job's duration by more than integer-ms rounding."""


# --- the event queue itself ---------------------------------------------------------------------------

def test_events_apply_in_time_order_including_those_scheduled_in_the_past():
    async def main() -> list[tuple[str, float]]:
        loop = asyncio.get_running_loop()
        clock = SimulatedTime(loop)
        t0 = clock.now
        seen: list[tuple[str, float]] = []

        def record(name: str) -> None:
            seen.append((name, clock.now))
            if name == "a":  # an event applied late schedules one more, due before "c"
                clock.at(t0 + 0.015, record, "a2")

        clock.at(t0 + 0.03, record, "c")
        clock.at(t0 + 0.01, record, "a")
        dropped = clock.at(t0 + 0.02, record, "dropped")
        clock.at(t0 + 0.02, record, "b")
        clock.at(t0 + 10, record, "later")
        dropped.cancel()
        time.sleep(0.05)  # the loop is late for every one of them
        now = clock.advance()
        assert now >= t0 + 0.05 and clock.now == now
        assert clock.advance(t0) == now  # the present never goes backwards
        clock.close()
        return [(name, at - t0) for name, at in seen]

    seen = asyncio.run(main())
    assert [name for name, _ in seen] == ["a", "a2", "b", "c"]
    assert [round(at, 6) for _, at in seen] == [0.01, 0.015, 0.02, 0.03]  # each applied at its own time


def test_the_loop_timer_applies_due_events_without_a_request():
    async def main() -> float:
        clock = SimulatedTime(asyncio.get_running_loop())
        done = asyncio.get_running_loop().create_future()
        clock.at(clock.now + 0.02, lambda: done.set_result(clock.now))
        return await asyncio.wait_for(done, 5)

    assert asyncio.run(main()) > 0


def test_an_event_that_raises_is_logged_and_the_others_still_apply(caplog):
    async def main() -> list[str]:
        clock = SimulatedTime(asyncio.get_running_loop())
        seen: list[str] = []

        def boom() -> None:
            raise RuntimeError("bug")

        clock.at(clock.now + 0.001, boom)
        clock.at(clock.now + 0.002, seen.append, "after")
        time.sleep(0.01)
        clock.advance()
        return seen

    assert asyncio.run(main()) == ["after"]
    assert "error applying simulated event" in caplog.text


# --- FIFO and timings under a stall -------------------------------------------------------------------

def _check_fifo_and_timings(jobs: list[Job], delays: dict[str, float]) -> None:
    """Start order is submission order; every job starts at its submission or at the end of its worker's
    previous job (no idle worker while it waited); delayTime and executionTime are the simulated ones."""
    started = [job for job in jobs if job.started_at is not None]
    starts = [job.started_at for job in started]
    assert starts == sorted(starts), "a job queued later started first"
    by_worker: dict[str, list[Job]] = {}
    for job in started:
        by_worker.setdefault(job.worker_id or "", []).append(job)
    for worker_jobs in by_worker.values():
        previous_end = None
        for job in worker_jobs:
            assert job.started_at is not None
            assert job.delay_ms == round((job.started_at - job.queued_at) * 1000)
            if previous_end is not None:
                assert job.started_at >= previous_end - 1e-9, "a worker ran two jobs at once"
                assert abs(job.started_at - max(previous_end, job.queued_at)) < 1e-9, "a free worker stayed idle"
            if job.status == "COMPLETED":
                assert job.exec_ms == round(delays[job.id] * 1000)
            previous_end = job.finished_at


def test_fifo_and_delays_hold_when_the_loop_stalls(serve):
    config = {"id": "fifo", "workers_min": 3, "workers_max": 3, "cold_start": 0, "limits": NO_LIMITS}
    cycle = [0.013, 0.021, 0.034, 0.017, 0.029, 0.008]

    async def body(api):
        wanted = [cycle[index % len(cycle)] for index in range(90)]  # 0.6 s of work for the three workers
        ids = await asyncio.gather(*(api.run({"mock_delay": delay}) for delay in wanted))
        delays = dict(zip(ids, wanted, strict=True))
        time.sleep(0.5)  # the emulator's loop stalls with jobs running and a queue waiting
        deadline = time.monotonic() + 20
        while api.runtime.store.in_queue or api.runtime.store.in_progress:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        jobs = list(api.runtime.store.records)
        assert {job.status for job in jobs} == {"COMPLETED"}
        _check_fifo_and_timings(jobs, delays)
        truth = await api.ground_truth()
        assert truth["completion_lateness"]["max_ms"] >= 400  # the stall was real: ends were applied late

    serve(config, body)


def test_a_request_handled_late_sees_every_event_due_before_it(serve):
    """Through HTTP: cancels handled after a stall find the jobs that ended during it COMPLETED, with their
    simulated times, each started when the one before it ended (one worker). Without simulated-time order
    the loop needs one turn per job to catch up, and the cancels overtake it."""
    config = {"id": "late", "workers_min": 1, "workers_max": 1, "cold_start": 0, "limits": NO_LIMITS}

    async def body(api):
        ids = [await api.run({"mock_delay": 0.01}) for _ in range(30)]
        time.sleep(0.45)  # thirty jobs' worth (0.3 s) of simulated time passes unseen
        answers = await asyncio.gather(*(api.post(f"cancel/{job_id}") for job_id in ids))
        assert [a[1]["status"] for a in answers] == ["COMPLETED"] * 30  # none overturned
        assert {a[1]["executionTime"] for a in answers} == {10}
        records = {job.id: job for job in api.runtime.store.records}
        for first, second in itertools.pairwise(ids):
            a, b = records[first], records[second]
            assert a.finished_at is not None and b.started_at is not None
            assert abs(b.started_at - max(a.finished_at, b.queued_at)) < 1e-9

    serve(config, body)


def test_timeouts_and_ttl_apply_at_their_simulated_time_whatever_arrives_later(serve):
    """A cancel handled after a job's execution timeout finds it TIMED_OUT; a job whose TTL fell during a
    stall is removed at its deadline, freeing its worker then (the next job starts at that moment); a
    job that completed before its TTL stays a completed job in the ground truth."""
    config = {"id": "ttl", "workers_min": 1, "workers_max": 1, "cold_start": 0, "limits": NO_LIMITS,
              "policy": {"ttl_min": 0, "execution_timeout_min": 0}}

    async def body(api):
        timed = await api.run({"mock_delay": 5}, policy={"executionTimeout": 50})
        expiring = await api.run({"mock_delay": 5}, policy={"ttl": 200})
        completes = await api.run({"mock_delay": 0.02}, policy={"ttl": 300})
        time.sleep(0.45)  # the timeout (50 ms), the TTL (200 ms) and the third job's end all fall in here
        status, answer, _ = await api.post(f"cancel/{timed}")
        assert status == 200 and answer["status"] == "TIMED_OUT" and answer["executionTime"] == 50
        assert (await api.get(f"status/{expiring}"))[0] == 404
        assert (await api.get(f"status/{completes}"))[0] == 404  # its TTL (300 ms) has passed too
        records = {job.id: job for job in api.runtime.store.records}
        t, e, c = records[timed], records[expiring], records[completes]
        assert e.started_at is not None and c.started_at is not None and t.finished_at is not None
        assert abs(e.started_at - max(t.finished_at, e.queued_at)) < 1e-9
        # the worker was freed at the TTL deadline (the third job started then, or on arrival if later)
        assert abs(c.started_at - max(e.ttl_deadline, c.queued_at)) < 1e-9
        assert c.status == "COMPLETED" and c.exec_ms == 20
        counters = api.runtime.counters
        assert (counters.expired_unfinished, counters.expired_results) == (1, 1)

    serve(config, body)


# --- the storm: thousands of jobs, concurrent cancels, a stopped emulator --------------------------------

STORM_JOBS = 2000


async def _storm(emu: Any, delays: list[float]) -> tuple[list[str], list[dict[str, Any]]]:
    base = f"{emu.base_url}/{emu.endpoint_id}"
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": "Bearer k"}) as session:

        async def call(method: str, path: str, body: Any = None) -> dict[str, Any]:
            async with session.request(method, f"{base}/{path}", json=body) as response:
                assert response.status == 200, await response.text()
                return await response.json()

        ids = [(await call("POST", "run", {"input": {"mock_delay": d}}))["id"] for d in delays[:100]]
        ids += [a["id"] for a in await asyncio.gather(*(call("POST", "run", {"input": {"mock_delay": d}})
                                                      for d in delays[100:]))]
        completed = (await call("GET", "health"))["jobs"]["completed"]
        # cancel first the jobs at the head of the queue (those the stall overtakes), then the others from
        # the tail (still queued when cancelled), then the finished ones
        head = max(0, completed - 20)
        order = list(range(head, min(head + 300, len(ids))))
        order += list(range(len(ids) - 1, head + 299, -1)) + list(range(head))
        os.kill(emu.pid, signal.SIGSTOP)
        try:
            cancels = [asyncio.create_task(call("POST", f"cancel/{ids[i]}")) for i in order]
            await asyncio.sleep(0.5)
        finally:
            os.kill(emu.pid, signal.SIGCONT)
        answers = await asyncio.gather(*cancels)
        by_id = {ids[i]: answer for i, answer in zip(order, answers, strict=True)}
        return ids, [by_id[job_id] for job_id in ids]


def test_cancel_storm_during_a_stall_never_overturns_a_finished_job(emulator_factory):
    emu = emulator_factory({"id": "storm", "workers_min": 4, "workers_max": 4, "concurrency": 2, "cold_start": 0,
                            "limits": NO_LIMITS, "seed": 5})
    rng = random.Random(7)
    delays = [rng.randint(20, 100) / 1000 for _ in range(STORM_JOBS)]
    ids, answers = asyncio.run(_storm(emu, delays))
    truth = emu.ground_truth()
    endpoint = truth["endpoints"]["storm"]
    assert endpoint["jobs"]["in_queue"] == endpoint["jobs"]["in_progress"] == 0
    records = {r["id"]: r for r in emu.job_records()}
    delay_ms = {job_id: round(d * 1000) for job_id, d in zip(ids, delays, strict=True)}
    kinds = {"completed before the cancel": 0, "cancelled running": 0, "cancelled queued": 0}
    for job_id, answer in zip(ids, answers, strict=True):
        record = records[job_id]
        assert answer["status"] == record["status"], (answer, record)  # the cancel's answer is the truth
        execution = record["executionTime"]
        if execution is not None:
            assert execution <= delay_ms[job_id] + EXEC_BOUND_MS, (record, delay_ms[job_id])
            assert abs(record["finishedAt"] - record["startedAt"] - execution) <= 1
        if record["startedAt"] is not None:
            assert abs(record["startedAt"] - record["submittedAt"] - record["delayTime"]) <= 1
        if record["status"] == "COMPLETED":
            assert abs(execution - delay_ms[job_id]) <= EXEC_BOUND_MS
            kinds["completed before the cancel"] += 1
        elif execution is not None:
            assert record["status"] == "CANCELLED"
            assert record["finishedAt"] < record["startedAt"] + delay_ms[job_id] + EXEC_BOUND_MS
            kinds["cancelled running"] += 1
        else:
            assert record["status"] == "CANCELLED" and record["startedAt"] is None
            kinds["cancelled queued"] += 1
    assert all(kinds.values()), kinds  # the storm reached every case
    started = [records[job_id]["startedAt"] for job_id in ids if records[job_id]["startedAt"] is not None]
    assert started == sorted(started)  # FIFO held through the stall
    assert endpoint["completion_lateness"]["max_ms"] >= 300  # job ends really were applied late
    stalls = truth["loop_lag"]["stalls"]
    assert any(s["duration_s"] >= 0.3 for s in stalls), truth["loop_lag"]


# --- loop lag -----------------------------------------------------------------------------------------

def test_loop_lag_is_in_the_ground_truth_and_metrics(serve):
    async def body(api):
        before = time.time()
        time.sleep(STALL_S + 0.15)
        await asyncio.sleep(0.12)  # the ticker wakes (late) and records it
        async with api.session.get(f"{api.server.admin_url}/ground-truth") as response:
            lag = (await response.json())["loop_lag"]
        assert set(lag) == {"tick_s", "stall_s", "max_ms", "per_second", "stalls"}
        assert lag["stall_s"] == STALL_S
        assert lag["max_ms"] >= (STALL_S + 0.1) * 1000
        stall = max(lag["stalls"], key=lambda s: s["duration_s"])  # ours (a busy machine may add others)
        assert stall["duration_s"] >= STALL_S + 0.1 and before - 0.1 <= stall["start"] <= before + 0.2
        assert any(ms >= STALL_S * 1000 for _, ms in lag["per_second"])
        async with api.session.get(f"{api.server.url}/metrics") as response:
            text = await response.text()
        gauge = next(line for line in text.splitlines() if line.startswith("loadtest_emulator_loop_lag_max_ms "))
        assert float(gauge.split()[1]) >= (STALL_S + 0.1) * 1000
        stalls = next(line for line in text.splitlines() if line.startswith("loadtest_emulator_loop_stalls_total "))
        assert int(stalls.split()[1]) >= len(lag["stalls"]) >= 1

    serve({"id": "lag"}, body)
