"""Limit discovery at realistic limits: under 2 minutes per operation, figures within 5% (issue 15).

An emulator enforces limits the discovery is not told (the documented table by default: 10 s windows,
/run 1000 and 200 in flight, /runsync and /status 2000 and 400, ...; or other cases below); ``loadtest
limits`` searches one operation after another (not ``--parallel``: the time per operation is the point)
and this compares what it found with what was configured, side by side with the time each took and the
jobs it created. Target per operation: under 120 s, and each rate and concurrency limit within 5% of the
configured one or the configured value inside the interval reported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from loadtest import contract
from loadtest.contract import OPERATIONS, Op

TARGET_S = 120.0
TOLERANCE = 0.05

CASES: dict[str, dict[str, Any]] = {
    "documented": {"limits": {}, "ops": "run,runsync,status,stream"},
    "rolling": {"limits": {"window_kind": "rolling", "rate_overrides": {"run": 600, "status": 1500},
                           "concurrency_overrides": {"stream": 120}}, "ops": "run,status,stream"},
    "short": {"limits": {"window": "1s", "rate_overrides": {"run": 30, "status": 60, "stream": 50},
                         "concurrency_overrides": {"stream": 12}}, "ops": "run,status,stream"},
}
"""``documented``: the documented table as it is; ``rolling``: other figures in a rolling window (needs an
emulator that offers ``window_kind``); ``short``: a 1 s window with small limits (what the tests use)."""


def _endpoint(limits: dict[str, Any]) -> dict[str, Any]:
    return {"id": "bench", "workers_min": 20, "workers_max": 20, "concurrency": 4, "cold_start": "0s",
            "execution_time": "5ms", "limits": limits}


def _configured(op: Op, limits: dict[str, Any]) -> tuple[float | None, float, int | None]:
    """(requests per window, window seconds, concurrency) the emulator enforces for ``op``."""
    window = float(str(limits.get("window", f"{contract.RATE_WINDOW_S}s")).removesuffix("s"))
    rate = limits.get("rate_overrides", {}).get(op.value, OPERATIONS[op].rate_limit)
    concurrency = limits.get("concurrency_overrides", {}).get(op.value, OPERATIONS[op].concurrency_limit)
    return rate, window, concurrency


def _within(value: float, interval: list[float] | None, true: float) -> bool:
    inside = interval is not None and interval[0] <= true <= interval[1]
    return inside or abs(value - true) <= TOLERANCE * true


def run_case(name: str, ops: str | None, out: Path) -> list[dict[str, Any]]:
    case = CASES[name]
    scenario = {"name": f"bench-limits-{name}", "duration": "10s", "target": {"emulator": _endpoint(case["limits"])},
                "mix": [{"flow": "run_poll"}]}
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    run_dir = out / name
    command = [sys.executable, "-m", "loadtest.cli", "limits", str(path), "--ops", ops or case["ops"], "--run-dir",
               str(run_dir), "--no-progress"]
    print(f"  {name}: {' '.join(command[3:])}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    print("\n".join("    " + line for line in result.stdout.splitlines()), flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"loadtest limits failed ({result.returncode}):\n{result.stderr}")
    doc = json.loads((run_dir / "limits.json").read_text())
    rows = []
    for op_name, entry in doc["operations"].items():
        op = Op(op_name)
        rate, window, concurrency = _configured(op, case["limits"])
        found = entry.get("rate_limit")
        row: dict[str, Any] = {"case": name, "op": op_name, "seconds": entry["elapsed_s"],
                               "jobs": entry["jobs_created"], "rate_ok": True, "conc_ok": True}
        if rate is not None:
            true = rate / window
            row["rate_true"] = true
            if found:
                row["rate_found"] = found["per_second"]
                row["rate_interval"] = found["per_second_interval"]
                row["rate_ok"] = _within(found["per_second"], found["per_second_interval"], true)
                row["kind"] = found.get("window_kind")
            else:
                row["rate_ok"] = False
        conc = entry.get("concurrency_limit")
        if concurrency is not None and op in (Op.RUNSYNC, Op.STATUS_SYNC, Op.STREAM):
            row["conc_true"] = concurrency
            row["conc_found"] = conc["value"] if conc else None
            row["conc_ok"] = bool(conc) and _within(conc["value"], conc["interval"], concurrency)
        rows.append(row)
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_limits", description=__doc__)
    parser.add_argument("--case", choices=[*CASES, "all"], default="documented",
                        help="which emulator limits (give it as --case=NAME under `python -m benchmarks`)")
    parser.add_argument("--ops", help="operations to search (default: the case's; give it as --ops=LIST)")
    parser.add_argument("--keep", metavar="DIR", help="write the discovery directories here and keep them")
    parser.add_argument("--quick", action="store_true", help="only the short case (1 s windows, about a minute)")
    options = parser.parse_args(argv)
    names = ["short"] if options.quick else list(CASES) if options.case == "all" else [options.case]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        out = Path(options.keep) if options.keep else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            rows.extend(run_case(name, options.ops, out))
    print(f"\n  {'case':11}{'op':13}{'rate set':>10}{'found':>10}{'interval':>18}{'kind':>9}{'conc set':>9}"
          f"{'found':>7}{'time s':>8}{'jobs':>7}  verdict")
    met = True
    for row in rows:
        interval = row.get("rate_interval")
        ok = row["rate_ok"] and row["conc_ok"] and row["seconds"] < TARGET_S
        met = met and ok
        print(f"  {row['case']:11}{'/' + row['op']:13}{_n(row.get('rate_true')):>10}{_n(row.get('rate_found')):>10}"
              f"{(f'{interval[0]:.4g}-{interval[1]:.4g}' if interval else '-'):>18}{row.get('kind') or '-':>9}"
              f"{_n(row.get('conc_true')):>9}{_n(row.get('conc_found')):>7}{row['seconds']:>8.1f}{row['jobs']:>7}"
              f"  {'met' if ok else 'MISSED'}")
    print(f"  target {'met' if met else 'MISSED'}: every operation under {TARGET_S:.0f} s, every limit within "
          f"{TOLERANCE:.0%} (or inside the interval found)")
    return 0 if met else 1


def _n(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
