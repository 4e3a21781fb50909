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

Both emulators run for the whole benchmark; the load alternates between them in bursts of
``BURST_JOBS`` jobs (a pair: one burst each, ABBA order, so a busier machine favours neither), and the
CPU of each burst is the emulator process's scheduler time from the first submission until the last
job ended. Per pair: the extra CPU per job and the worker requests per job; reported as medians with
their order-statistic 95 % intervals (``benchmarks/pairs.py``), a target met when the whole interval is
on the right side of it. Latencies are pooled over every real-worker burst.

Targets: no job lost; at most 3 worker requests per job; the protocol's extra emulator CPU at most 2 ms
per job (about 10 % of one core at 50 jobs/s). ``--quick``: fewer pairs.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.pairs import Interval, abba, cpu_ns, load_average, median_interval
from loadtest.emulator.process import EmulatorProcess

RATE = 50.0
BURST_JOBS = 250
PAIRS = 6
QUICK_PAIRS = 2
WORKERS = 8
HANDLER = Path(__file__).with_name("worker_handler.py")
REQUESTS_PER_JOB_TARGET = 3.0
EXTRA_CPU_MS_TARGET = 2.0
LIMITS_OFF = {"rate": False, "concurrency": False, "queue_size": False, "payload": False}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


async def _load(emu: EmulatorProcess, endpoint: str, jobs: int) -> tuple[list[str], float]:
    """Submit ``jobs`` jobs at RATE per second (open loop); their ids and the emulator CPU seconds used from
    the first submission until the last job finished."""
    headers = {"Authorization": "Bearer bench"}
    url = f"{emu.base_url}/{endpoint}"
    ids: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        async def submit(index: int) -> None:
            async with session.post(f"{url}/run", json={"input": {"n": index}}) as response:
                ids.append((await response.json())["id"])

        cpu_before = cpu_ns(emu.pid or 0)
        start = time.monotonic()
        tasks = []
        for index in range(jobs):
            await asyncio.sleep(max(0.0, start + index / RATE - time.monotonic()))
            tasks.append(asyncio.create_task(submit(index)))
        await asyncio.gather(*tasks)
        while True:
            async with session.get(f"{url}/health") as response:
                state = (await response.json())["jobs"]
            if state["inQueue"] == 0 and state["inProgress"] == 0:
                break
            await asyncio.sleep(0.05)
        cpu = (cpu_ns(emu.pid or 0) - cpu_before) / 1e9
    return ids, cpu


async def _outputs(emu: EmulatorProcess, endpoint: str, ids: list[str]) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer bench"}) as session:
        async def status(job_id: str) -> dict[str, Any]:
            async with session.get(f"{emu.base_url}/{endpoint}/status/{job_id}") as response:
                return await response.json()

        return list(await asyncio.gather(*(status(job_id) for job_id in ids)))


def _worker_requests(truth: dict[str, Any]) -> dict[str, int]:
    return {route: sum(codes.values()) for route, codes in truth["worker_requests"].items()}


def _real_burst(emu: EmulatorProcess, latencies: dict[str, list[float]]) -> dict[str, Any]:
    """One burst against the real workers: jobs, completed, CPU, worker requests by route; latencies added."""
    before_truth = emu.ground_truth("real")["endpoints"]["real"]
    before = _worker_requests(before_truth)
    completed_before = before_truth["jobs"]["final"]["COMPLETED"]
    ids, cpu = asyncio.run(_load(emu, "real", BURST_JOBS))
    truth = emu.ground_truth("real")["endpoints"]["real"]
    after = _worker_requests(truth)
    records = {record["id"]: record for record in emu.job_records("real")}
    outputs = asyncio.run(_outputs(emu, "real", ids))
    started_wall = emu.ground_truth()["started_at"]
    for job in outputs:
        if job.get("status") != "COMPLETED":
            continue
        ran = job["output"]["finished"] - job["output"]["started"]
        latencies["added"].append(job["executionTime"] - ran * 1000)
        handed_out = started_wall + records[job["id"]]["startedAt"] / 1000
        latencies["pickup"].append((job["output"]["started"] - handed_out) * 1000)
        latencies["post"].append((started_wall + records[job["id"]]["finishedAt"] / 1000 - job["output"]["finished"])
                                 * 1000)
        latencies["delay"].append(job["delayTime"])
    return {"jobs": len(ids), "completed": truth["jobs"]["final"]["COMPLETED"] - completed_before, "cpu_s": cpu,
            "requests": {route: after.get(route, 0) - before.get(route, 0) for route in after},
            "label": truth["real_workers"]["label"]}


def main(argv: list[str]) -> int:
    pairs = QUICK_PAIRS if "--quick" in argv else PAIRS
    real_config = {
        "id": "real", "workers_min": WORKERS, "workers_max": WORKERS, "limits": LIMITS_OFF,
        "worker": {"command": ["python", "-u", HANDLER.name], "cwd": str(HANDLER.parent)},
    }
    sim_config = {
        "id": "sim", "workers_min": WORKERS, "workers_max": WORKERS, "concurrency": 10, "cold_start": 0,
        "execution_time": "20ms", "limits": LIMITS_OFF,
    }
    latencies: dict[str, list[float]] = {"added": [], "pickup": [], "post": [], "delay": []}
    bursts: list[tuple[dict[str, Any], float]] = []
    print(f"{load_average()} at the start", flush=True)
    with EmulatorProcess(real_config) as real, EmulatorProcess(sim_config) as simulated:
        time.sleep(2.0)  # let the start-up pings settle
        for _, real_first in abba(pairs):
            taken: dict[str, Any] = {}
            for side in ("real", "sim") if real_first else ("sim", "real"):
                if side == "real":
                    taken["real"] = _real_burst(real, latencies)
                else:
                    ids, cpu = asyncio.run(_load(simulated, "sim", BURST_JOBS))
                    taken["sim"] = cpu / len(ids) * 1000
            bursts.append((taken["real"], taken["sim"]))
    lost = sum(burst["jobs"] - burst["completed"] for burst, _ in bursts)
    jobs = sum(burst["jobs"] for burst, _ in bursts)
    extra = median_interval([burst["cpu_s"] / burst["jobs"] * 1000 - sim_ms for burst, sim_ms in bursts])
    real_ms = median_interval([burst["cpu_s"] / burst["jobs"] * 1000 for burst, _ in bursts])
    sim_ms = median_interval([ms for _, ms in bursts])
    per_job = median_interval([sum(burst["requests"].values()) / burst["jobs"] for burst, _ in bursts])
    routes: dict[str, int] = {}
    for burst, _ in bursts:
        for route, count in burst["requests"].items():
            routes[route] = routes.get(route, 0) + count
    print(f"{bursts[0][0]['label']}; {WORKERS} workers, {pairs} interleaved pairs of {BURST_JOBS}-job bursts at "
          f"{RATE:g} jobs/s (real workers, simulated workers); medians [{extra.confidence:.0%} interval]")
    print(f"{'measure':52} {'value':>24} {'target':>10} verdict")

    def cell(interval: Interval, fmt: str) -> str:
        return f"{interval.median:{fmt}} [{interval.low:{fmt}}, {interval.high:{fmt}}]"

    rows = [
        ("jobs lost or not completed", f"{lost} of {jobs}", "0", "met" if lost == 0 else "MISSED"),
        ("worker requests per job", cell(per_job, ".2f"), f"<= {REQUESTS_PER_JOB_TARGET:g}",
         per_job.verdict(REQUESTS_PER_JOB_TARGET, higher_is_better=False)),
        ("emulator CPU per job, real workers (ms)", cell(real_ms, ".3f"), "", ""),
        ("emulator CPU per job, simulated workers (ms)", cell(sim_ms, ".3f"), "", ""),
        ("extra emulator CPU per job for the protocol (ms)", cell(extra, ".3f"), f"<= {EXTRA_CPU_MS_TARGET:g}",
         extra.verdict(EXTRA_CPU_MS_TARGET, higher_is_better=False)),
        ("executionTime minus handler time, p50 / p99 (ms)",
         f"{_percentile(latencies['added'], 0.5):.1f} / {_percentile(latencies['added'], 0.99):.1f}", "", ""),
        ("hand-out to handler start, p50 / p99 (ms)",
         f"{_percentile(latencies['pickup'], 0.5):.1f} / {_percentile(latencies['pickup'], 0.99):.1f}", "", ""),
        ("handler end to result recorded, p50 / p99 (ms)",
         f"{_percentile(latencies['post'], 0.5):.1f} / {_percentile(latencies['post'], 0.99):.1f}", "", ""),
        ("delayTime, p50 / p99 (ms)",
         f"{_percentile(latencies['delay'], 0.5):.0f} / {_percentile(latencies['delay'], 0.99):.0f}", "", ""),
    ]
    for name, value, target, verdict in rows:
        print(f"{name:52} {value:>24} {target:>10} {verdict}")
    print("worker requests per job by route: " + json.dumps({k: round(v / jobs, 3) for k, v in sorted(routes.items())}))
    print(f"({load_average()} at the end)")
    return 0 if all(verdict in ("", "met") for *_, verdict in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
