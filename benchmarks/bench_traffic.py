"""Our Locust users' requests per CPU-second against a bare Locust FastHttpUser: same request, same emulator.

Both load generators send ``GET /v2/{id}/health`` in a closed loop (no think time) with the same number of
users: a bare ``FastHttpUser`` and ours (``loadtest run``: the flow machinery, the API client with request
naming and the 429 policy, the recorder, the job book; the limiter off, as the bare user has none). The
emulator runs on one core, both generators on the other.

Both generator processes run for the whole benchmark, but only one at a time: the other is stopped
(SIGSTOP). Each *slice* lets one run for :data:`SLICE_S` and measures what it did: requests from the
emulator's own count of answered requests, CPU time from the scheduler's per-thread accounting (ns). A
pair is one slice of each, in ABBA order; its figure is ours / bare in **requests per CPU-second**, which
stays put when another process takes the generator core now and then (raw requests/s does not), and the
two halves of a pair are a second apart, so both see the same machine. The verdict is on the median of
the pairs and its order-statistic 95 % interval (see ``benchmarks/pairs.py``): the target is met when the
whole interval is at or above 90 %.

The requests a stopped process had in flight are answered while it is stopped and counted in its slice;
their responses are read in its next slice: both sides carry the same few dozen over each switch, so the
per-slice counts are unbiased.

``--quick``: fewer pairs. ``--source=DIR``: run our side from another checkout of loadtest (to measure a
change before and after with the same harness).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks.pairs import abba, cpu_ns, load_average, median_interval

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.90
USERS = 32
SLICE_S = 1.0
PAIRS = 40
QUICK_PAIRS = 12
WARM_UP_PAIRS = 3
"""Pairs run first and not counted (connections, caches, Locust's and our start-up)."""
START_S = 4.0
"""Time each generator gets alone to start and spawn its users before the slices begin."""

SCENARIO = """
name: bench-traffic
duration: 1h
target:
  emulator: {{id: bench}}
load: {{users: {users}, spawn_rate: 1000/s}}
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


@dataclass
class Slice:
    requests: int
    cpu_s: float
    wall_s: float

    @property
    def per_cpu_s(self) -> float:
        return self.requests / self.cpu_s if self.cpu_s > 0 else 0.0


class Generator:
    """One load-generator process, started and then stopped and continued slice by slice."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cpu: int | None, cwd: Path = REPO) -> None:
        self.name = name
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, preexec_fn=pin)

    def check(self) -> None:
        if self.process.poll() is not None:
            _, err = self.process.communicate(timeout=10)
            raise RuntimeError(f"{self.name} exited early ({self.process.returncode}):\n{err[-3000:]}")

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)
        stat = Path(f"/proc/{self.process.pid}/stat")
        for _ in range(1000):  # until every thread is stopped
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("T", "t"):
                return
            time.sleep(0.001)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.communicate(timeout=30)


def _answered(ground_truth_url: str) -> int:
    with urllib.request.urlopen(ground_truth_url, timeout=10) as response:
        truth = json.loads(response.read())
    return int(truth["endpoints"]["bench"]["requests"].get("health", {}).get("200", 0))


def _slice(generator: Generator, ground_truth_url: str) -> Slice:
    generator.check()
    before, cpu_before, began = _answered(ground_truth_url), cpu_ns(generator.process.pid), time.perf_counter()
    generator.resume()
    time.sleep(SLICE_S)
    generator.pause()
    wall = time.perf_counter() - began
    time.sleep(0.02)  # let the emulator answer what was sent just before the stop
    cpu = (cpu_ns(generator.process.pid) - cpu_before) / 1e9
    return Slice(_answered(ground_truth_url) - before, cpu, wall)


def main(argv: list[str]) -> int:
    from loadtest.emulator.process import EmulatorProcess
    from loadtest.emulator_config import EndpointConfig, LimitsConfig

    pairs = QUICK_PAIRS if "--quick" in argv else PAIRS
    # --source=DIR: our side from another checkout (e.g. the commit before a change), same harness
    source = next((a.split("=", 1)[1] for a in argv if a.startswith("--source=")), None)
    cpus = sorted(os.sched_getaffinity(0))
    emulator_cpu, generator_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    config = EndpointConfig(id="bench", limits=LimitsConfig(rate=False, concurrency=False, queue_size=False))
    load_before = load_average()
    measured: list[tuple[Slice, Slice]] = []
    with tempfile.TemporaryDirectory(prefix="bench-traffic-") as tmp_name, EmulatorProcess(config) as emulator:
        tmp = Path(tmp_name)
        if emulator_cpu is not None and emulator.pid is not None:
            os.sched_setaffinity(emulator.pid, {emulator_cpu})
        truth_url = f"{emulator.url}/_emulator/ground-truth?endpoint=bench"
        scenario = tmp / "bench.yaml"
        scenario.write_text(SCENARIO.format(users=USERS))
        bare_file = tmp / "bare_locustfile.py"
        bare_file.write_text(BARE_LOCUSTFILE)
        env = {**os.environ, "BENCH_PATH": f"/v2/{emulator.endpoint_id}/health"}
        env.pop("LOADTEST_SCENARIO", None)
        ours_env = {**env, "PYTHONPATH": str(Path(source).resolve())} if source else env
        commands = {
            "bare": [sys.executable, "-m", "locust", "-f", str(bare_file), "--headless", "-u", str(USERS), "-r",
                     "1000", "-t", "1h", "--host", emulator.url, "--only-summary", "--loglevel", "WARNING"],
            "ours": [sys.executable, "-m", "loadtest.cli", "run", str(scenario), "--host", emulator.base_url,
                     "--run-dir", str(tmp / "ours"), "--no-report", "--no-progress"],
        }
        generators: dict[str, Generator] = {}
        try:
            for name, command in commands.items():  # each starts alone, then waits stopped
                ours = name == "ours" and source is not None
                generators[name] = Generator(name, command, ours_env if ours else env, generator_cpu,
                                             Path(source).resolve() if ours and source else REPO)
                time.sleep(START_S)
                generators[name].check()
                generators[name].pause()
            for pair, bare_first in abba(WARM_UP_PAIRS + pairs):
                order = ("bare", "ours") if bare_first else ("ours", "bare")
                taken = {name: _slice(generators[name], truth_url) for name in order}
                if pair >= WARM_UP_PAIRS:
                    measured.append((taken["bare"], taken["ours"]))
        finally:
            for generator in generators.values():
                generator.close()

    ratio = median_interval([ours.per_cpu_s / bare.per_cpu_s for bare, ours in measured])
    sides = {name: [pair[i] for pair in measured] for i, name in enumerate(("bare", "ours"))}
    if source:
        print(f"ours from {source}")
    print(f"GET /health, {USERS} users; {pairs} interleaved pairs of {SLICE_S:g} s slices (ABBA, "
          f"{WARM_UP_PAIRS} warm-up pairs not counted); emulator on cpu {emulator_cpu}, both load generators "
          f"on cpu {generator_cpu}; {load_before} at the start, {load_average()} at the end")
    print(f"{'':28}{'req per cpu-s':>26}{'requests/s':>12}{'cpu share':>11}")
    for name, label in (("bare", "bare Locust FastHttpUser"), ("ours", "loadtest users")):
        per_cpu = median_interval([s.per_cpu_s for s in sides[name]])
        rps = median_interval([s.requests / s.wall_s for s in sides[name]])
        share = median_interval([s.cpu_s / s.wall_s for s in sides[name]])
        print(f"{label:28}{per_cpu.median:>10.0f} [{per_cpu.low:.0f}, {per_cpu.high:.0f}]"
              f"{rps.median:>12.0f}{share.median:>11.0%}")
    verdict = ratio.verdict(TARGET_RATIO)
    print(f"ratio ours/bare (requests per cpu-second): median {ratio.text()}   target: interval >= "
          f"{TARGET_RATIO:.0%}   {verdict}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
