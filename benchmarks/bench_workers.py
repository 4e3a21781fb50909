"""What the emulator's queue side costs per job when real workers take the jobs (the worker protocol).

Eight real workers (``benchmarks/worker_handler.py``: the official runpod SDK, an async handler of 20 ms
with ``concurrency_modifier`` 10, so eight workers have room for 50 jobs/s despite the SDK's one-second
re-check of a full worker) take ``JOBS`` jobs submitted open-loop at ``RATE`` jobs/s. The same load then
runs against eight simulated workers (20 ms jobs, concurrency 10) for reference. Measured:

- worker requests per job (job-take, job-take-batch, job-done, job-stop, ping), from the ground truth;
- emulator CPU per job (user + system time of the emulator process over the load window, divided by the
  jobs), real workers against simulated ones: the difference is what serving the worker protocol costs;
- latency the queue side adds to a job: ``executionTime`` minus the handler's own run time (the SDK's
  internal 0.1 s pickup poll and the result post are in it, as they would be on the platform), and the
  time from hand-out to the handler's start (the SDK's share) and from the handler's end to the result
  being recorded (the result post: HTTP and the emulator); ``delayTime`` shows whether the workers kept up.

Targets: no job lost; at most 3 worker requests per job; the protocol's extra emulator CPU at most 2 ms
per job (about 10 % of one core at 50 jobs/s).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from loadtest.emulator.process import EmulatorProcess

RATE = 50.0
JOBS = 1000
WORKERS = 8
HANDLER = Path(__file__).with_name("worker_handler.py")
REQUESTS_PER_JOB_TARGET = 3.0
EXTRA_CPU_MS_TARGET = 2.0
LIMITS_OFF = {"rate": False, "concurrency": False, "queue_size": False, "payload": False}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def _load(emu: EmulatorProcess, endpoint: str) -> tuple[list[str], float]:
    """Submit JOBS jobs at RATE per second (open loop); their ids and the emulator CPU seconds used from the
    first submission until the last job finished."""
    headers = {"Authorization": "Bearer bench"}
    url = f"{emu.base_url}/{endpoint}"
    ids: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        async def submit(index: int) -> None:
            async with session.post(f"{url}/run", json={"input": {"n": index}}) as response:
                ids.append((await response.json())["id"])

        cpu_before = _cpu_seconds(emu.pid or 0)
        start = time.monotonic()
        tasks = []
        for index in range(JOBS):
            await asyncio.sleep(max(0.0, start + index / RATE - time.monotonic()))
            tasks.append(asyncio.create_task(submit(index)))
        await asyncio.gather(*tasks)
        while True:
            async with session.get(f"{url}/health") as response:
                jobs = (await response.json())["jobs"]
            if jobs["inQueue"] == 0 and jobs["inProgress"] == 0:
                break
            await asyncio.sleep(0.05)
        cpu = _cpu_seconds(emu.pid or 0) - cpu_before
    return ids, cpu


async def _outputs(emu: EmulatorProcess, endpoint: str, ids: list[str]) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer bench"}) as session:
        async def status(job_id: str) -> dict[str, Any]:
            async with session.get(f"{emu.base_url}/{endpoint}/status/{job_id}") as response:
                return await response.json()

        return list(await asyncio.gather(*(status(job_id) for job_id in ids)))


def _worker_requests(truth: dict[str, Any]) -> dict[str, int]:
    return {route: sum(codes.values()) for route, codes in truth["worker_requests"].items()}


def _real_run() -> dict[str, Any]:
    config = {
        "id": "real", "workers_min": WORKERS, "workers_max": WORKERS, "limits": LIMITS_OFF,
        "worker": {"command": ["python", "-u", HANDLER.name], "cwd": str(HANDLER.parent)},
    }
    with EmulatorProcess(config) as emu:
        time.sleep(2.0)  # let the start-up pings settle
        before = _worker_requests(emu.ground_truth("real")["endpoints"]["real"])
        began = time.monotonic()
        ids, cpu = asyncio.run(_load(emu, "real"))
        took = time.monotonic() - began
        truth = emu.ground_truth("real")["endpoints"]["real"]
        after = _worker_requests(truth)
        records = {record["id"]: record for record in emu.job_records("real")}
        outputs = asyncio.run(_outputs(emu, "real", ids))
        started_wall = emu.ground_truth()["started_at"]
    delta = {route: after.get(route, 0) - before.get(route, 0) for route in after}
    added, pickup, post, delays = [], [], [], []
    for job in outputs:
        if job.get("status") != "COMPLETED":
            continue
        ran = job["output"]["finished"] - job["output"]["started"]
        added.append(job["executionTime"] - ran * 1000)
        handed_out = started_wall + records[job["id"]]["startedAt"] / 1000
        pickup.append((job["output"]["started"] - handed_out) * 1000)
        post.append((started_wall + records[job["id"]]["finishedAt"] / 1000 - job["output"]["finished"]) * 1000)
        delays.append(job["delayTime"])
    return {
        "completed": truth["jobs"]["final"]["COMPLETED"], "jobs": len(ids), "cpu_s": cpu, "took_s": took,
        "requests": delta, "added_ms": added, "pickup_ms": pickup, "post_ms": post, "delay_ms": delays,
        "label": truth["real_workers"]["label"],
    }


def _simulated_run() -> dict[str, Any]:
    config = {
        "id": "sim", "workers_min": WORKERS, "workers_max": WORKERS, "concurrency": 10, "cold_start": 0,
        "execution_time": "20ms", "limits": LIMITS_OFF,
    }
    with EmulatorProcess(config) as emu:
        ids, cpu = asyncio.run(_load(emu, "sim"))
        truth = emu.ground_truth("sim")["endpoints"]["sim"]
    return {"completed": truth["jobs"]["final"]["COMPLETED"], "jobs": len(ids), "cpu_s": cpu}


def main(argv: list[str]) -> int:
    real = _real_run()
    simulated = _simulated_run()
    jobs = real["jobs"]
    per_route = {route: count / jobs for route, count in sorted(real["requests"].items())}
    requests_per_job = sum(real["requests"].values()) / jobs
    real_cpu_ms = real["cpu_s"] / jobs * 1000
    sim_cpu_ms = simulated["cpu_s"] / simulated["jobs"] * 1000
    extra_cpu_ms = real_cpu_ms - sim_cpu_ms
    lost = jobs - real["completed"]
    print(f"{real['label']}; {WORKERS} workers, {jobs} jobs at {RATE:g} jobs/s (took {real['took_s']:.1f} s)")
    print(f"{'measure':52} {'value':>12} {'target':>10} verdict")
    rows = [
        ("jobs lost or not completed", f"{lost}", "0", lost == 0),
        ("worker requests per job", f"{requests_per_job:.2f}", f"<= {REQUESTS_PER_JOB_TARGET:g}",
         requests_per_job <= REQUESTS_PER_JOB_TARGET),
        ("emulator CPU per job, real workers (ms)", f"{real_cpu_ms:.3f}", "", None),
        ("emulator CPU per job, simulated workers (ms)", f"{sim_cpu_ms:.3f}", "", None),
        ("extra emulator CPU per job for the protocol (ms)", f"{extra_cpu_ms:.3f}", f"<= {EXTRA_CPU_MS_TARGET:g}",
         extra_cpu_ms <= EXTRA_CPU_MS_TARGET),
        ("executionTime minus handler time, p50 / p99 (ms)",
         f"{_percentile(real['added_ms'], 0.5):.1f} / {_percentile(real['added_ms'], 0.99):.1f}", "", None),
        ("hand-out to handler start, p50 / p99 (ms)",
         f"{_percentile(real['pickup_ms'], 0.5):.1f} / {_percentile(real['pickup_ms'], 0.99):.1f}", "", None),
        ("handler end to result recorded, p50 / p99 (ms)",
         f"{_percentile(real['post_ms'], 0.5):.1f} / {_percentile(real['post_ms'], 0.99):.1f}", "", None),
        ("delayTime, p50 / p99 (ms)",
         f"{_percentile(real['delay_ms'], 0.5):.0f} / {_percentile(real['delay_ms'], 0.99):.0f}", "", None),
    ]
    for name, value, target, met in rows:
        verdict = "" if met is None else ("met" if met else "MISSED")
        print(f"{name:52} {value:>12} {target:>10} {verdict}")
    print("worker requests per job by route: " + json.dumps({k: round(v, 3) for k, v in per_route.items()}))
    return 0 if all(met is not False for *_, met in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
