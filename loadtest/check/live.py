"""Abort a run early once a threshold marked ``abort: true`` is certainly lost.

"Certainly" matters: a whole-run p95 that is too high after a minute may still come back down, so
stopping then would judge a run on a figure it might not have ended with. Only two kinds of thresholds
can be lost for good while the run is going:

* a **windowed** threshold (``window: 30s``): the worst window counts, so once one complete window
  broke it, no later data can repair it;
* a **monotone** whole-run figure: counts only grow (``jobs.failed``, ``errors``, ``throttled``,
  ``dropped``, a histogram's ``count``; against ``max``), the ``max`` of a time or a /health level
  only grows (against ``max``, e.g. ``queue_length.max``) and its ``min`` only falls (against ``min``).

Other thresholds with ``abort: true`` are judged at the end as usual (``docs/ci.md`` says so). The
traffic side calls :meth:`LiveThresholds.check` with its live ``Recorder`` every couple of seconds and
stops the run when it returns a verdict. Buckets are judged only once settled (their end at least
``settle_s`` in the past), and each check reads only the buckets it still needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from loadtest.check.criteria import ThresholdSpec, criteria_from_scenario
from loadtest.check.formatting import format_value
from loadtest.check.thresholds import certainly_breaks, expected_text
from loadtest.metrics.catalog import Kind
from loadtest.metrics.figures import RunBuckets
from loadtest.rundir.documents import FAIL, THRESHOLD, Verdict

DEFAULT_SETTLE_S = 1.0
"""A bucket is judged once its end is this far in the past (answers arriving late land in it)."""


def is_monotone(spec: ThresholdSpec) -> bool:
    """Whether the whole-run figure can only move towards breaking ``spec`` as the run goes on."""
    kind, stat = spec.ref.spec.kind, spec.ref.stat
    extreme = kind in (Kind.HISTOGRAM, Kind.GAUGE)
    growing = kind is Kind.COUNTER or (kind is Kind.HISTOGRAM and stat == "count") or (extreme and stat == "max")
    if spec.max is not None and spec.min is None and growing:
        return True
    return spec.min is not None and spec.max is None and extreme and stat == "min"


def can_abort(spec: ThresholdSpec) -> bool:
    """Whether ``spec`` (with ``abort: true``) can stop a run early (see the module docstring)."""
    return spec.abort and (spec.window_s is not None or is_monotone(spec))


class LiveThresholds:
    """Judges the abortable thresholds of a scenario on a live recorder."""

    def __init__(self, specs: Sequence[ThresholdSpec], *, settle_s: float = DEFAULT_SETTLE_S) -> None:
        self.specs = [spec for spec in specs if can_abort(spec)]
        self.settle_s = settle_s
        self._checked_until: dict[int, int] = {}
        """Per threshold index: the last bucket whose windows were judged."""

    @classmethod
    def from_scenario(cls, scenario: Any, **kwargs: Any) -> LiveThresholds | None:
        """The live judge of ``scenario``'s abortable thresholds, or None when it has none."""
        live = cls(criteria_from_scenario(scenario).thresholds, **kwargs)
        return live if live.specs else None

    def check(self, recorder: Any, now: float | None = None) -> Verdict | None:
        """The first threshold that is certainly lost by now, as a failed verdict; None while all may pass."""
        now = time.time() if now is None else now
        snapshot = recorder.snapshot()
        bucket_s = float(snapshot["bucket_s"])
        start = float(recorder.start)
        settled_end = now - self.settle_s
        newest_settled = math.floor(settled_end / bucket_s) - 1  # its end is <= settled_end
        for spec in self.specs:
            if spec.window_s is not None:
                verdict = self._check_windows(spec, snapshot, start, newest_settled, bucket_s)
            else:
                verdict = self._check_monotone(spec, snapshot, start, settled_end)
            if verdict is not None:
                return verdict
        return None

    def _check_windows(
        self, spec: ThresholdSpec, snapshot: dict[str, Any], start: float, newest: int, bucket_s: float
    ) -> Verdict | None:
        assert spec.window_s is not None
        width = max(1, round(spec.window_s / bucket_s))
        first_full = math.ceil(start / bucket_s)
        done = self._checked_until.get(spec.index, first_full + width - 2)
        if newest <= done:
            return None
        low = max(first_full, done + 2 - width)
        part = _slice(snapshot, low, newest)
        buckets = RunBuckets(part, start=low * bucket_s, end=(newest + 1) * bucket_s)
        self._checked_until[spec.index] = newest
        figure = buckets.figure(spec.ref)
        if figure is None:
            return None
        weights, starts = buckets.windows(spec.window_s)
        if len(starts) == 0:
            return None
        values, _, upper = figure.evaluate(weights)
        for value, high, window_start in zip(values, upper, starts, strict=True):
            if not math.isnan(value) and certainly_breaks(spec, float(value), float(high)) is not None:
                offset = float(window_start) - start
                return self._lost(spec, float(value), f"the window at {offset:.0f}s-{offset + spec.window_s:.0f}s "
                                                      f"broke it")
        return None

    def _check_monotone(
        self, spec: ThresholdSpec, snapshot: dict[str, Any], start: float, end: float
    ) -> Verdict | None:
        part = snapshot if spec.ref.spec.kind is Kind.HISTOGRAM else {**snapshot, "histograms": []}
        buckets = RunBuckets(part, start=start, end=max(end, start))
        figure = buckets.figure(spec.ref)
        if figure is None:
            return None
        values, _, upper = figure.evaluate(buckets.whole_run())
        value = float(values[0])
        if math.isnan(value) or certainly_breaks(spec, value, float(upper[0])) is None:
            return None
        return self._lost(spec, value, "it can only get worse as the run goes on")

    def _lost(self, spec: ThresholdSpec, value: float, why: str) -> Verdict:
        return Verdict(
            criterion=spec.label,
            expected=expected_text(spec),
            measured=format_value(value, spec.ref.unit),
            verdict=FAIL,
            why=f"lost during the run: {why}",
            kind=THRESHOLD,
            metric=str(spec.ref),
            unit=spec.ref.unit,
            value=value,
            case_name=f"threshold[{spec.index}] {spec.label}",
        )

    @staticmethod
    def stop_reason(verdict: Verdict) -> str:
        """The run's stop reason for a lost threshold (shown in the summary and the check's notes)."""
        return f"threshold {verdict.criterion} lost ({verdict.measured}, expected {verdict.expected}); aborted"


def _slice(snapshot: dict[str, Any], low: int, high: int) -> dict[str, Any]:
    """The part of a recorder snapshot in buckets ``low``..``high`` (no job rows)."""
    def keep(entries: list[Any]) -> list[Any]:
        return [entry for entry in entries if low <= int(entry[0]) <= high]

    return {
        "bucket_s": snapshot["bucket_s"],
        "start": snapshot["start"],
        "last_t": snapshot.get("last_t"),
        "histograms": keep(snapshot.get("histograms", [])),
        "requests": keep(snapshot.get("requests", [])),
        "jobs": keep(snapshot.get("jobs", [])),
        "dropped": keep(snapshot.get("dropped", [])),
        "chunks": keep(snapshot.get("chunks", [])),
        "health": [entry for entry in snapshot.get("health", [])
                   if low <= math.floor(float(entry[0]) / float(snapshot["bucket_s"])) <= high],
    }
