"""Our Locust users' requests/s against a bare Locust FastHttpUser: same request, same emulator, one core each.

Both sides send ``GET /v2/{id}/health`` in a closed loop (no think time) with the same number of users for
the same time, one Locust process each, run one after the other (alternating, best of ``ROUNDS``) so they
never compete for the CPU. The emulator is pinned to one core and the load generator to the other
(when the machine has two), so each gets a core of its own. Requests/s is Locust's own "Aggregated"
figure from each run's ``_stats.csv``: the same arithmetic on both sides. Target: ours >= 90 % of bare.

What "ours" adds per request: the flow machinery, the API client (naming, 429 policy, JSON parsing),
the recorder (an HDR histogram record and counters) and the job book; the limiter is off (``ignore``),
as the bare user has none. The CPU each process used is printed beside the rates: when the emulator is at
100 % of its core the comparison is bounded by the target, not by the load generators, and says so.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.90
USERS = 16
SECONDS = 8
ROUNDS = 3

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


def _pin(cpu: int | None):
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _aggregated_rps(stats_csv: Path) -> float:
    with open(stats_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return float(row["Requests/s"])
    raise RuntimeError(f"no Aggregated row in {stats_csv}")


def _run(command: list[str], env: dict[str, str], cpu: int | None, emulator_pid: int) -> tuple[float, float]:
    """Run one load generator to completion; (its CPU share, the emulator's CPU share) over the run."""
    emulator_before = _cpu_seconds(emulator_pid)
    began = time.monotonic()
    usage_before = os.times()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=SECONDS * 6,
                            preexec_fn=_pin(cpu))
    wall = time.monotonic() - began
    usage_after = os.times()
    if result.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    generator_cpu = (usage_after.children_user - usage_before.children_user
                     + usage_after.children_system - usage_before.children_system) / wall
    emulator_cpu = (_cpu_seconds(emulator_pid) - emulator_before) / wall
    return generator_cpu, emulator_cpu


def main(argv: list[str]) -> int:
    from loadtest.emulator.config import EndpointConfig, LimitsConfig
    from loadtest.emulator.process import EmulatorProcess

    cpus = sorted(os.sched_getaffinity(0))
    emulator_cpu, generator_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    config = EndpointConfig(id="bench", limits=LimitsConfig(rate=False, concurrency=False, queue_size=False))
    results: dict[str, list[tuple[float, float, float]]] = {"bare": [], "ours": []}
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
        for round_index in range(ROUNDS):
            bare_prefix = tmp / f"bare{round_index}"
            bare = [sys.executable, "-m", "locust", "-f", str(bare_file), "--headless", "-u", str(USERS), "-r", "100",
                    "-t", f"{SECONDS}s", "--host", emulator.url, "--csv", str(bare_prefix), "--only-summary"]
            gen, emu = _run(bare, env, generator_cpu, emulator.pid or 0)
            results["bare"].append((_aggregated_rps(Path(f"{bare_prefix}_stats.csv")), gen, emu))

            run_dir = tmp / f"ours{round_index}"
            ours = [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--host", emulator.base_url,
                    "--run-dir", str(run_dir), "--no-report", "--no-progress"]
            gen, emu = _run(ours, env, generator_cpu, emulator.pid or 0)
            results["ours"].append((_aggregated_rps(run_dir / "locust_stats.csv"), gen, emu))

    best = {side: max(rows, key=lambda r: r[0]) for side, rows in results.items()}
    ratio = best["ours"][0] / best["bare"][0] if best["bare"][0] else 0.0
    print(f"GET /health, {USERS} users, {SECONDS}s per run, best of {ROUNDS}; "
          f"emulator on cpu {emulator_cpu}, load generator on cpu {generator_cpu}")
    print(f"{'':28}{'requests/s':>12}{'generator cpu':>15}{'emulator cpu':>14}")
    for side, label in (("bare", "bare Locust FastHttpUser"), ("ours", "loadtest users")):
        rps, gen, emu = best[side]
        runs = ", ".join(f"{r[0]:.0f}" for r in results[side])
        print(f"{label:28}{rps:12.0f}{gen:14.0%}{emu:14.0%}   (runs: {runs})")
    print(f"ratio ours/bare: {ratio:.1%}   target: >= {TARGET_RATIO:.0%}   "
          f"{'met' if ratio >= TARGET_RATIO else 'MISSED'}")
    if best["bare"][2] > 0.9:
        print("note: the emulator used most of its core during the bare run; the ratio is bounded by the target")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
