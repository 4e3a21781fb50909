"""Run every benchmark module ``benchmarks/bench_*.py`` (or those named on the command line).

Each module provides ``main(argv) -> int`` and prints its own side-by-side table of ours against a
reference, with the ratio and the target; this runner prints a one-line verdict per benchmark.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks


def _discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or _discover()
    results: list[tuple[str, int, float]] = []
    for name in names:
        module = importlib.import_module(f"benchmarks.{name.removesuffix('.py')}")
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        code = int(module.main([a for a in argv if a.startswith("-")]) or 0)
        results.append((name, code, time.monotonic() - started))
    print("\n=== summary ===")
    for name, code, took in results:
        print(f"{'met' if code == 0 else 'MISSED':7} {name} ({took:.0f}s)")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
