"""Rebuilding the report of a one-million-job run: under 30 s and under 1 GiB of memory (issue 5).

The run directory is generated (``loadtest.metrics.synthetic.large_recorder``: 1000 jobs/s for 1000 s,
with their requests, /health samples, 429s, failures), then ``loadtest report`` is timed in a fresh
subprocess whose peak RSS comes from ``resource.getrusage``. Side by side: the same rebuild for a
10 000-job run (the reference), so the ratio shows how the cost grows with the run's size. The two are
rebuilt in interleaved pairs (ABBA); the verdict is on the median and its interval (``benchmarks/pairs.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.pairs import Interval, abba, load_average, median_interval

TARGET_S = 30.0
TARGET_RSS_MIB = 1024.0
PAIRS = 3

_CHILD = """
import json, resource, sys, time
started = time.perf_counter()
from loadtest.report.build import build_report
built = build_report(sys.argv[1])
elapsed = time.perf_counter() - started
rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "rss_mib": rss_kib / 1024, "plots": len(built.plots)}))
"""


_GENERATE = """
import sys
from loadtest.metrics.synthetic import large_recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.rundir.layout import new_run_directory
jobs = int(sys.argv[2])
recorder = large_recorder(jobs)
run_dir = new_run_directory(f"bench-{jobs}", root=sys.argv[1])
write_run_directory(run_dir, recorder, RunRecord(scenario={"name": f"bench-{jobs}"}, settings={"jobs": jobs}))
print(run_dir)
"""


def _generate(root: Path, jobs: int) -> Path:
    """Generate in a child process: Linux counts a parent's peak RSS at fork in the child's ru_maxrss."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _GENERATE, str(root), str(jobs)], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"generating the run directory failed:\n{result.stderr}")
    print(f"  generated a {jobs:,}-job run directory in {time.perf_counter() - started:.1f} s", flush=True)
    return Path(result.stdout.strip().splitlines()[-1])


def _rebuild(run_dir: Path) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", _CHILD, str(run_dir)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"report rebuild failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_report", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--reference-jobs", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=PAIRS, help="interleaved (big, reference) rebuilds")
    parser.add_argument("--quick", action="store_true", help="one pair")
    options = parser.parse_args(argv)
    pairs = 1 if options.quick else options.pairs
    print(f"  {load_average()} at the start", flush=True)
    runs: dict[str, list[dict[str, float]]] = {"big": [], "small": []}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        root = Path(tmp)
        dirs = {"big": _generate(root, options.jobs), "small": _generate(root, options.reference_jobs)}
        for _, big_first in abba(pairs):
            for side in ("big", "small") if big_first else ("small", "big"):
                runs[side].append(_rebuild(dirs[side]))
    seconds = {side: median_interval([r["seconds"] for r in runs[side]]) for side in runs}
    memory = {side: median_interval([r["rss_mib"] for r in runs[side]]) for side in runs}
    ratio = median_interval([b["seconds"] / s["seconds"] for b, s in zip(runs["big"], runs["small"], strict=True)])
    print(f"\n  medians [range] over {pairs} interleaved pairs of rebuilds ({seconds['big'].confidence:.0%} "
          f"interval of the median)")
    print(f"  {'':28}{f'{options.jobs:,} jobs':>24}{f'{options.reference_jobs:,} jobs':>16}{'ratio':>8}"
          f"{'target':>10}")
    print(f"  {'report rebuild (s)':28}{_cell(seconds['big'], '.2f'):>24}{seconds['small'].median:>16.2f}"
          f"{ratio.median:>8.1f}{TARGET_S:>10.0f}")
    print(f"  {'peak memory (MiB)':28}{_cell(memory['big'], '.0f'):>24}{memory['small'].median:>16.0f}"
          f"{memory['big'].median / memory['small'].median:>8.2f}{TARGET_RSS_MIB:>10.0f}")
    verdicts = (seconds["big"].verdict(TARGET_S, higher_is_better=False),
                memory["big"].verdict(TARGET_RSS_MIB, higher_is_better=False))
    met = all(v == "met" for v in verdicts)
    word = "met" if met else ("MISSED" if "MISSED" in verdicts else "undecided")
    print(f"  target {word}: under {TARGET_S:.0f} s and {TARGET_RSS_MIB:.0f} MiB "
          f"({runs['big'][0]['plots']:.0f} plots; {load_average()} at the end)")
    return 0 if met else 1


def _cell(interval: Interval, fmt: str) -> str:
    return f"{interval.median:{fmt}} [{interval.low:{fmt}}, {interval.high:{fmt}}]"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
