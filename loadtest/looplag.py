"""Event-loop lag, measured the same way in every process of a run (the emulator's asyncio loop, each
load generator's gevent loop), and what counts as a stall.

A process that stalls (a busy CPU, a paused VM, a long garbage collection) distorts what it measures:
the load generator sends late and in bursts, the emulator stamps arrivals late. Each process runs a
ticker that asks to wake every :data:`TICK_S` and records how late it woke (:meth:`LoopLag.record`);
the lag is kept as the worst per second, and every stretch with lag of at least :data:`STALL_S` is a
stall, named in the report with when and how long. Pure Python: no loop library is imported here; the
caller drives the ticker on its own loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

TICK_S = 0.05
"""How often the ticker asks to wake."""
STALL_S = 0.25
"""A wake-up this late (or later) is a stall: long enough to distort request timing and queue delays."""
KEEP_SECONDS = 86_400
"""Per-second lag kept for at most this many seconds (one day); older seconds are folded away."""


class StallDict(TypedDict):
    start: float
    """When the stall began (Unix seconds)."""
    duration_s: float


class LoopLagDict(TypedDict):
    tick_s: float
    stall_s: float
    max_ms: float
    per_second: list[list[float]]
    """``[second (Unix, whole), worst lag in it (ms)]``, seconds with a lag of 1 ms or more only."""
    stalls: list[StallDict]


@dataclass
class LoopLag:
    """One process's loop lag over a run."""

    tick_s: float = TICK_S
    stall_s: float = STALL_S
    max_ms: float = 0.0
    _per_second: dict[int, float] = field(default_factory=dict)
    _stalls: list[StallDict] = field(default_factory=list)

    def record(self, woke_at: float, lateness_s: float) -> None:
        """The ticker woke at ``woke_at`` (Unix seconds), ``lateness_s`` after it asked to."""
        lateness_s = max(0.0, lateness_s)
        ms = lateness_s * 1000.0
        self.max_ms = max(self.max_ms, ms)
        if ms >= 1.0:
            second = int(woke_at)
            if ms > self._per_second.get(second, 0.0):
                self._per_second[second] = ms
            if len(self._per_second) > KEEP_SECONDS:
                del self._per_second[min(self._per_second)]
        if lateness_s >= self.stall_s:
            self._stalls.append({"start": woke_at - lateness_s, "duration_s": lateness_s})

    def merge(self, other: LoopLagDict) -> None:
        """Fold in another snapshot of the same process (e.g. a worker's drains, merged by its master): the
        worst lag per second, every stall once; merging the same snapshot twice changes nothing."""
        self.max_ms = max(self.max_ms, float(other["max_ms"]))
        for second, ms in other["per_second"]:
            key = int(second)
            if ms > self._per_second.get(key, 0.0):
                self._per_second[key] = float(ms)
        known = {(s["start"], s["duration_s"]) for s in self._stalls}
        for stall in other["stalls"]:
            if (stall["start"], stall["duration_s"]) not in known:
                self._stalls.append({"start": float(stall["start"]), "duration_s": float(stall["duration_s"])})
        self._stalls.sort(key=lambda s: s["start"])

    def stalls(self) -> list[StallDict]:
        return list(self._stalls)

    def snapshot(self) -> LoopLagDict:
        return {
            "tick_s": self.tick_s,
            "stall_s": self.stall_s,
            "max_ms": round(self.max_ms, 3),
            "per_second": [[float(s), round(ms, 3)] for s, ms in sorted(self._per_second.items())],
            "stalls": self.stalls(),
        }


def describe_stalls(stalls: list[StallDict], start: float, who: str) -> list[str]:
    """One sentence per stall, relative to the run's ``start``: "the emulator stalled for 1.2 s at 14.0 s"."""
    return [f"{who} stalled for {s['duration_s']:.1f} s at {s['start'] - start:.1f} s" for s in stalls]
