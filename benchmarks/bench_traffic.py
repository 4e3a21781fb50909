"""Our Locust users' requests/s against a bare Locust FastHttpUser: same request, same emulator, one core each.

Both sides send ``GET /v2/{id}/health`` in a closed loop (no think time) with the same number of users for
the same time, one Locust process each, run one after the other in pairs (bare, ours) so they never
compete with each other. The emulator is pinned to one core and the load generator to the other (when
the machine has two).

The figure compared is **requests per second of load-generator CPU**: the requests/s one process would
reach with a core to itself. On a shared machine the raw requests/s of two runs a minute apart can differ
by a factor of two (other processes take the generator's core), while requests per CPU-second stays put.
It is measured over the steady part of each run (after a warm-up, before the end) from Locust's own
``_stats_history.csv`` request totals and the process's CPU time sampled from ``/proc`` at the same
instants; imports and start-up do not count. Raw requests/s is printed beside it. Verdict: the median of
the per-pair ratios, ours / bare, must be at least 90 %.

What "ours" adds per request: the flow machinery, the API client (request naming, 429 policy, JSON
parsing), the recorder (HDR histogram records and counters) and the job book; the limiter is off
(``policy: ignore``), as the bare user has none.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.90
USERS = 32
SECONDS = 8
WARM_UP_S = 3
TAIL_S = 1
PAIRS = 4
SAMPLE_EVERY_S = 0.2

SCENARIO = """
name: bench-traffic
duration: {seconds}s
target:
  emulator: {{id: bench}}
load: {{users: {users}, spawn_rate: 100/s}}
mix:
  - flow: health
    weight: 1
    every: 1h
rate_limits: {{policy: ignore}}
"""

BARE_LOCUSTFILE = '''
import os
from locust import FastHttpUser, constant, task

PATH = os.environ["BENCH_PATH"]
HEADERS = {"Authorization": "Bearer bench", "Accept": "application/json"}


class BareUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def health(self):
        self.client.get(PATH, headers=HEADERS, name="GET /health")
'''


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _history(path: Path) -> list[tuple[int, int]]:
    """(Unix second, cumulative requests) from Locust's stats history, last row of each second."""
    totals: dict[int, int] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                totals[int(row["Timestamp"])] = int(row["Total Request Count"])
    return sorted(totals.items())


def _interpolate(samples: list[tuple[float, float]], t: float) -> float:
    before = max((s for s in samples if s[0] <= t), default=samples[0])
    after = min((s for s in samples if s[0] >= t), default=samples[-1])
    if after[0] == before[0]:
        return before[1]
    return before[1] + (after[1] - before[1]) * (t - before[0]) / (after[0] - before[0])


def _measure(command: list[str], env: dict[str, str], cpu: int | None, history_csv: Path) -> dict[str, float]:
    """Run one load generator; its requests/s and requests per CPU-second over the steady window."""
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, preexec_fn=pin)
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + SECONDS * 6
    while process.poll() is None and time.monotonic() < deadline:
        used = _cpu_seconds(process.pid)
        if used is not None:
            samples.append((time.time(), used))
        time.sleep(SAMPLE_EVERY_S)
    if process.poll() is None:
        process.kill()
    _, err = process.communicate(timeout=30)
    if process.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed ({process.returncode}):\n{err[-3000:]}")
    history = [(t, n) for t, n in _history(history_csv)]
    started = next(t for t, n in history if n > 0)
    window = [(t, n) for t, n in history if started + WARM_UP_S <= t <= history[-1][0] - TAIL_S]
    (t0, n0), (t1, n1) = window[0], window[-1]
    cpu_used = _interpolate(samples, t1) - _interpolate(samples, t0)
    return {"rps": (n1 - n0) / (t1 - t0), "per_cpu_s": (n1 - n0) / cpu_used, "cpu_share": cpu_used / (t1 - t0)}


def main(argv: list[str]) -> int:
    from loadtest.emulator.process import EmulatorProcess
    from loadtest.emulator_config import EndpointConfig, LimitsConfig

    cpus = sorted(os.sched_getaffinity(0))
    emulator_cpu, generator_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    config = EndpointConfig(id="bench", limits=LimitsConfig(rate=False, concurrency=False, queue_size=False))
    rows: dict[str, list[dict[str, float]]] = {"bare": [], "ours": []}
    with tempfile.TemporaryDirectory(prefix="bench-traffic-") as tmp_name, EmulatorProcess(config) as emulator:
        tmp = Path(tmp_name)
        if emulator_cpu is not None and emulator.pid is not None:
            os.sched_setaffinity(emulator.pid, {emulator_cpu})
        scenario = tmp / "bench.yaml"
        scenario.write_text(SCENARIO.format(seconds=SECONDS, users=USERS))
        bare_file = tmp / "bare_locustfile.py"
        bare_file.write_text(BARE_LOCUSTFILE)
        env = {**os.environ, "BENCH_PATH": f"/v2/{emulator.endpoint_id}/health"}
        env.pop("LOADTEST_SCENARIO", None)
        for pair in range(PAIRS):
            prefix = tmp / f"bare{pair}"
            bare = [sys.executable, "-m", "locust", "-f", str(bare_file), "--headless", "-u", str(USERS), "-r", "100",
                    "-t", f"{SECONDS}s", "--host", emulator.url, "--csv", str(prefix), "--only-summary"]
            rows["bare"].append(_measure(bare, env, generator_cpu, Path(f"{prefix}_stats_history.csv")))
            run_dir = tmp / f"ours{pair}"
            ours = [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--host", emulator.base_url,
                    "--run-dir", str(run_dir), "--no-report", "--no-progress"]
            rows["ours"].append(_measure(ours, env, generator_cpu, run_dir / "locust_stats_history.csv"))

    ratios = [o["per_cpu_s"] / b["per_cpu_s"] for b, o in zip(rows["bare"], rows["ours"], strict=True)]
    ratio = statistics.median(ratios)
    print(f"GET /health, {USERS} users, {SECONDS}s per run ({WARM_UP_S}s warm-up not counted), {PAIRS} pairs; "
          f"emulator on cpu {emulator_cpu}, load generator on cpu {generator_cpu}")
    print(f"{'':28}{'req per cpu-s':>14}{'requests/s':>12}{'cpu share':>11}")
    for side, label in (("bare", "bare Locust FastHttpUser"), ("ours", "loadtest users")):
        for index, row in enumerate(rows[side]):
            print(f"{label if index == 0 else '':28}{row['per_cpu_s']:14.0f}{row['rps']:12.0f}{row['cpu_share']:11.0%}")
    print(f"ratio ours/bare (requests per cpu-second), per pair: {', '.join(f'{r:.1%}' for r in ratios)}")
    print(f"median ratio: {ratio:.1%}   target: >= {TARGET_RATIO:.0%}   {'met' if ratio >= TARGET_RATIO else 'MISSED'}")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
