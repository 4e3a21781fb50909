"""Figures a benchmark can stand on: medians with distribution-free intervals over many interleaved pairs.

On a shared machine a single measurement says little: another process takes the core for a second, the
CPU clock steps, caches go cold. So every benchmark here measures *pairs* (ours and the reference, one
right after the other, the order alternating ABBA so a drift favours neither), takes a ratio per pair,
and reports the median ratio with an order-statistic confidence interval: the exact, distribution-free
interval of a median (sorted ratios ``x(k)`` to ``x(n+1-k)``, ``k`` the largest rank whose binomial tail
is within the error allowed). A target counts as met when the whole interval is on the right side of it,
missed when the whole interval is on the wrong side, and undecided otherwise (measure again, quieter).
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

CONFIDENCE = 0.95


@dataclass(frozen=True, slots=True)
class Interval:
    """A median and its confidence interval."""

    median: float
    low: float
    high: float
    confidence: float
    """The interval's exact coverage (at least the confidence asked for when there are enough samples)."""
    n: int

    def verdict(self, target: float, *, higher_is_better: bool = True) -> str:
        """``met`` when the whole interval is on the right side of ``target``, ``MISSED`` when it is wholly
        on the wrong side, ``undecided`` when it straddles it."""
        good_low, good_high = (self.low >= target, self.high >= target) if higher_is_better else (
            self.high <= target, self.low <= target)
        if good_low:
            return "met"
        return "undecided" if good_high else "MISSED"

    def text(self, fmt: str = "{:.1%}") -> str:
        return (f"{fmt.format(self.median)} [{fmt.format(self.low)}, {fmt.format(self.high)}] "
                f"({self.confidence:.0%} interval, {self.n} pairs)")


def _binomial_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The median of ``values`` and its order-statistic confidence interval (at least ``confidence`` where
    ``len(values)`` allows; with few values the widest interval, min to max, and its true coverage)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    alpha = (1.0 - confidence) / 2.0
    k = 1
    while k + 1 <= (n + 1) // 2 and _binomial_cdf(k, n) <= alpha:
        k += 1  # x(k+1)..x(n-k) still covers the median with the confidence asked for
    coverage = 1.0 - 2.0 * _binomial_cdf(k - 1, n)
    return Interval(statistics.median(ordered), ordered[k - 1], ordered[n - k], coverage, n)


def abba(pairs: int) -> Iterator[tuple[int, bool]]:
    """(pair number, whether the reference goes first) for ``pairs`` pairs in ABBA order."""
    for pair in range(pairs):
        yield pair, pair % 2 == 0


def cpu_ns(pid: int) -> int:
    """CPU time a process's threads have run, in nanoseconds (scheduler accounting: exact, unlike the
    10 ms ticks of ``/proc/<pid>/stat``)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total


def load_average() -> str:
    """The 1-minute load average against the core count, for the record of how busy the machine was."""
    one, _, _ = os.getloadavg()
    return f"load average {one:.2f} on {os.cpu_count()} cores"
