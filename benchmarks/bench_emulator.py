"""The emulator must never be the bottleneck: throughput against a minimal aiohttp app, memory, timing.

1. Requests/s for ``POST /run`` and ``GET /status/{id}``, the emulator and a minimal aiohttp JSON handler
   (same paths, same event loop, access log off; for POST it parses the JSON body and answers JSON, for
   GET it answers a job object), each pinned to core 0 with ``taskset``, driven by ``wrk`` (one thread,
   64 connections) pinned to core 1: many short interleaved pairs (reference and emulator one right
   after the other, ABBA order), the ratio per pair, its median and order-statistic 95 % interval
   (``benchmarks/pairs.py``). Target: the whole interval >= 80 % of the reference. Also shown: the
   ratio of server CPU time per request (the capacity ratio, robust when other work shares the machine)
   and, for information, POST /run against a reference that ignores the body.
2. RSS of the emulator machinery holding one million finished jobs (submitted through the same code path
   the HTTP handler uses, in a fresh process), a few times: median and range. Target: under 1 GiB.
3. executionTime error for 500 concurrent 100 ms jobs (500 simultaneous ``/runsync`` against an emulator
   pinned to one core): |reported executionTime - 100 ms| at p99, over several bursts: median and
   interval. Target: within 5 ms. Shown with it: how late the busy loop noticed job ends (the emulator
   reports simulated time, so this lateness delays when a result becomes visible, not the timings it
   reports) and the client-side overhead.

Needs ``wrk`` and ``taskset`` (``make perf`` installs wrk with apt-get when missing).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks.pairs import Interval, abba, cpu_ns, load_average, median_interval
from loadtest.emulator.process import EmulatorProcess

THROUGHPUT_TARGET = 0.80
RSS_TARGET_BYTES = 1 << 30
EXEC_ERROR_TARGET_MS = 5.0
JOBS_FOR_RSS = 1_000_000
CONCURRENT_JOBS = 500
JOB_MS = 100
PAIRS = 15
"""Interleaved (reference, emulator) wrk pairs per throughput case."""
PAIR_SECONDS = 1.0
RSS_RUNS = 3
BURSTS = 5

EMULATOR_CORE = "0"
LOAD_CORE = "1"
ENDPOINT = "bench"
BODY = '{"input": {"prompt": "hello world", "max_tokens": 16}}'

REFERENCE_APP = textwrap.dedent(
    """
    import asyncio, json, sys
    from aiohttp import web

    JOB = {"id": "0c2b7d4e-5a1f-4c3e-9b8a-000000000001-e1", "status": "COMPLETED", "delayTime": 12,
           "executionTime": 100, "workerId": "abcdefghijklmn", "output": "Hello World!"}

    async def run(request):
        data = await request.json()
        return web.json_response({"id": JOB["id"], "status": "IN_QUEUE", "n": len(data)})

    async def run_bare(request):
        return web.json_response({"id": JOB["id"], "status": "IN_QUEUE"})

    async def status(request):
        return web.json_response(JOB)

    async def main():
        app = web.Application()
        app.router.add_post("/v2/{endpoint}/run", run)
        app.router.add_post("/v2/{endpoint}/run-bare", run_bare)
        app.router.add_get("/v2/{endpoint}/status/{job}", status)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def _wrk(
    url: str, seconds: float, script: Path | None, connections: int, pid: int | None = None
) -> tuple[float, int, float]:
    """(requests/s, non-2xx answers, server CPU microseconds per request)."""
    cpu_before = cpu_ns(pid) if pid else 0
    command = ["taskset", "-c", LOAD_CORE, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not match:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    cpu_us = 0.0
    if pid and total and int(total.group(1)):
        cpu_us = (cpu_ns(pid) - cpu_before) / int(total.group(1)) / 1e3
    return float(match.group(1)), int(bad.group(1)) if bad else 0, cpu_us


def _lua(tmp: Path, method: str) -> Path:
    script = tmp / f"{method.lower()}.lua"
    lines = [f'wrk.method = "{method}"', 'wrk.headers["Authorization"] = "Bearer bench-key"']
    if method == "POST":
        lines += [f"wrk.body = '{BODY}'", 'wrk.headers["Content-Type"] = "application/json"']
    script.write_text("\n".join(lines) + "\n")
    return script


def _start_reference() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        ["taskset", "-c", EMULATOR_CORE, sys.executable, "-c", REFERENCE_APP], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    if not port:
        raise RuntimeError("the reference app did not start")
    return process, f"http://127.0.0.1:{port}/v2/{ENDPOINT}"


Row = tuple[str, bool, Interval, Interval, float, float]


def bench_throughput(seconds: float, pairs: int, connections: int) -> list[Row]:
    """Rows of (case, judged, req/s ratio ours/reference, capacity ratio (reference CPU per request / ours),
    our median req/s, the reference's median req/s), each ratio a median over interleaved pairs."""
    config = {
        "id": ENDPOINT, "workers_min": 10, "workers_max": 10, "cold_start": 0, "execution_time": "100ms",
        "limits": {"rate": False, "concurrency": False, "queue_size": False, "payload": False},
        "retention": {"run": "2m"},
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        post, get = _lua(tmp, "POST"), _lua(tmp, "GET")
        reference, ref_url = _start_reference()
        try:
            with EmulatorProcess(config, wrapper=["taskset", "-c", EMULATOR_CORE]) as emu:
                emu_url = f"{emu.base_url}/{ENDPOINT}"
                import urllib.request

                request = urllib.request.Request(
                    f"{emu_url}/run", data=BODY.encode(), method="POST",
                    headers={"Authorization": "k", "Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    job_id = json.loads(response.read())["id"]
                cases = [
                    ("POST /run", True, f"{emu_url}/run", f"{ref_url}/run", post),
                    ("GET /status", True, f"{emu_url}/status/{job_id}", f"{ref_url}/status/{job_id}", get),
                    ("POST /run vs body-ignoring ref", False, f"{emu_url}/run", f"{ref_url}/run-bare", post),
                ]
                for name, judged, ours_url, ref_case_url, script in cases:
                    _wrk(ours_url, 1, script, connections)  # warm up both
                    _wrk(ref_case_url, 1, script, connections)
                    ratios: list[float] = []
                    capacity: list[float] = []
                    rates: dict[str, list[float]] = {"ours": [], "ref": []}
                    for _, reference_first in abba(pairs):  # interleaved, so both see the same machine
                        runs = [("ref", ref_case_url, reference.pid), ("ours", ours_url, emu.pid)]
                        measured = {}
                        for side, url, pid in runs if reference_first else runs[::-1]:
                            rps, bad, cpu = _wrk(url, seconds, script, connections, pid)
                            if bad:
                                raise RuntimeError(f"{name}: {bad} non-2xx answers from {side}")
                            measured[side] = (rps, cpu)
                            rates[side].append(rps)
                        ratios.append(measured["ours"][0] / measured["ref"][0])
                        if measured["ours"][1] > 0:
                            capacity.append(measured["ref"][1] / measured["ours"][1])
                    rows.append((name, judged, median_interval(ratios), median_interval(capacity or [0.0]),
                                 median_interval(rates["ours"]).median, median_interval(rates["ref"]).median))
        finally:
            reference.terminate()
            reference.wait(timeout=10)
    return rows


RSS_SCRIPT = textwrap.dedent(
    """
    import asyncio, gc, json, sys
    from loadtest.emulator.app import Emulator
    from loadtest.emulator_config import EmulatorConfig
    from loadtest.emulator.parsing import parse_submission

    COUNT = int(sys.argv[1])
    BODY = sys.argv[2].encode()

    def rss():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

    async def main():
        config = EmulatorConfig.model_validate({"endpoints": [{
            "id": "rss", "workers_min": 10, "workers_max": 10, "concurrency": 1000, "cold_start": 0,
            "execution_time": 0, "retention": {"run": "1h"},
            "limits": {"rate": False, "concurrency": False, "queue_size": False, "payload": False}}]})
        emulator = Emulator(config)
        emulator.start(asyncio.get_running_loop())
        runtime = emulator.endpoints["rss"]
        before = rss()
        for i in range(COUNT):
            body = BODY.replace(b"hello", b"h%07d" % i)   # distinct inputs, as real traffic has
            sub = parse_submission(body, runtime.config.policy)
            runtime.submit("run", body, sub.job_input)
            if i % 10000 == 9999:
                await asyncio.sleep(0)   # let workers finish jobs
        while runtime.store.in_queue or runtime.store.in_progress:
            await asyncio.sleep(0.01)
        gc.collect()
        finished = sum(runtime.counters.final.values())
        print(json.dumps({"rss": rss(), "before": before, "finished": finished, "retained": len(runtime.store.jobs)}))
        await emulator.close()

    asyncio.run(main())
    """
)


def bench_rss(count: int) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT, str(count), BODY], capture_output=True, text=True, timeout=900
    )
    if out.returncode != 0:
        raise RuntimeError(f"RSS benchmark failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


async def _concurrent_jobs(base_url: str, count: int) -> list[tuple[int, int, float]]:
    """(executionTime, delayTime, client-observed seconds) of ``count`` simultaneous /runsync jobs."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    headers = {"Authorization": "Bearer k"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one() -> tuple[int, int, float]:
            started = time.perf_counter()
            async with session.post(f"{base_url}/{ENDPOINT}/runsync", json={"input": {}}) as response:
                job = await response.json()
            took = time.perf_counter() - started
            assert job["status"] == "COMPLETED", job
            return int(job["executionTime"]), int(job["delayTime"]), took

        return list(await asyncio.gather(*(one() for _ in range(count))))


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))])


def bench_execution_error(count: int, bursts: int) -> list[dict[str, Any]]:
    """The executionTime error of ``bursts`` bursts of ``count`` simultaneous jobs, one emulator, reset between."""
    config = {
        "id": ENDPOINT, "workers_min": 50, "workers_max": 50, "concurrency": 10, "cold_start": 0,
        "execution_time": f"{JOB_MS}ms",
        "limits": {"rate": False, "concurrency": False, "queue_size": False, "payload": False},
    }
    out = []
    with EmulatorProcess(config, wrapper=["taskset", "-c", EMULATOR_CORE]) as emu:
        asyncio.run(_concurrent_jobs(emu.base_url, 50))  # warm up
        for _ in range(bursts):
            emu.reset()
            results = asyncio.run(_concurrent_jobs(emu.base_url, count))
            records = emu.job_records()
            lateness = emu.ground_truth(ENDPOINT)["endpoints"][ENDPOINT]["completion_lateness"]
            times = [r[0] for r in results]
            assert sorted(r["executionTime"] for r in records) == sorted(times), "ground truth disagrees"
            errors = [abs(t - JOB_MS) for t in times]
            overhead_ms = [(took * 1000) - (exec_ms + delay_ms) for exec_ms, delay_ms, took in results]
            buckets = lateness["buckets_ms"]
            total, running, late_p99 = sum(buckets.values()), 0, ""
            for label, n in buckets.items():
                running += n
                if running >= 0.99 * total:
                    late_p99 = label
                    break
            out.append({
                "p50": _percentile(errors, 50), "p99": _percentile(errors, 99), "max": float(max(errors)),
                "jobs": float(len(errors)), "overhead_p50": _percentile(overhead_ms, 50),
                "overhead_p99": _percentile(overhead_ms, 99), "late_p99": late_p99, "late_max": lateness["max_ms"],
            })
    return out


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    if shutil.which("wrk") is None or shutil.which("taskset") is None:
        print("bench_emulator: needs wrk and taskset (make perf installs wrk with apt-get)", file=sys.stderr)
        return 1
    if (os.cpu_count() or 1) < 2:
        print("bench_emulator: needs two cores (emulator on one, wrk on the other)", file=sys.stderr)
        return 1
    pairs, rss_runs, bursts = (5, 1, 3) if quick else (PAIRS, RSS_RUNS, BURSTS)
    ok = True
    started = time.monotonic()
    print(f"{load_average()} at the start; ratios: median [95 % interval] over {pairs} interleaved pairs of "
          f"{PAIR_SECONDS:g} s wrk runs")
    print(f"{'measure':<34}{'emulator':>10}{'reference':>11}  {'ratio (median [interval])':<30}{'target':>8}  verdict")
    for name, judged, ratio, capacity, ours, ref in bench_throughput(PAIR_SECONDS, pairs, connections=64):
        verdict = ratio.verdict(THROUGHPUT_TARGET) if judged else "(info)"
        if judged:
            ok &= verdict == "met"
        print(f"{name + ' (req/s)':<34}{ours:>10,.0f}{ref:>11,.0f}  "
              f"{f'{ratio.median:.2f} [{ratio.low:.2f}, {ratio.high:.2f}]':<30}{'>= 0.80' if judged else '':>8}  "
              f"{verdict}  (capacity ratio, reference CPU per request / ours: {capacity.median:.2f} "
              f"[{capacity.low:.2f}, {capacity.high:.2f}])")
    count = 200_000 if quick else JOBS_FOR_RSS
    rss_results = [bench_rss(count) for _ in range(rss_runs)]
    rss = median_interval([r["rss"] / 2**20 for r in rss_results])
    verdict = rss.verdict(RSS_TARGET_BYTES / 2**20, higher_is_better=False)
    finished = all(r["finished"] == count for r in rss_results)
    ok &= verdict == "met" and finished
    per_job = median_interval([(r["rss"] - r["before"]) / max(1, count) for r in rss_results]).median
    print(f"{f'RSS, {count:,} finished jobs (MiB)':<34}{rss.median:>10,.0f}{'':>11}  "
          f"{f'[{rss.low:,.0f}, {rss.high:,.0f}] over {rss.n} runs':<30}{'< 1024':>8}  "
          f"{verdict if finished else 'MISSED (jobs unfinished)'}  ({per_job:.0f} B/job, "
          f"{rss_results[0]['retained']:,} retained)")
    errors = bench_execution_error(CONCURRENT_JOBS, bursts)
    p99 = median_interval([e["p99"] for e in errors])
    verdict = p99.verdict(EXEC_ERROR_TARGET_MS, higher_is_better=False)
    ok &= verdict == "met"
    print(f"{'executionTime error p99 (ms)':<34}{p99.median:>10.1f}{'':>11}  "
          f"{f'[{p99.low:.1f}, {p99.high:.1f}] over {p99.n} bursts':<30}{'<= 5':>8}  {verdict}  "
          f"(p50 {median_interval([e['p50'] for e in errors]).median:.1f}, max {max(e['max'] for e in errors):.1f}, "
          f"{CONCURRENT_JOBS} concurrent {JOB_MS} ms jobs per burst)")
    print(f"{'  job-end lateness of the loop':<34}{errors[0]['late_p99']:>10}{'':>11}  (info) p99 bucket of the "
          f"first burst, max {max(e['late_max'] for e in errors):.1f} ms: when ends became visible; not in "
          f"reported timings")
    overhead = median_interval([e["overhead_p99"] for e in errors])
    print(f"{'  client latency - delay - exec':<34}{overhead.median:>10.1f}{'':>11}  (info) p99 ms "
          f"[{overhead.low:.1f}, {overhead.high:.1f}]: HTTP and loop overhead seen by the client")
    print(f"({time.monotonic() - started:.0f} s; emulator pinned to core {EMULATOR_CORE}, load on core {LOAD_CORE}; "
          f"{load_average()} at the end)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
