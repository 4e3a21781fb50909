"""Thresholds: is a figure of the run within its bounds, over the whole run or in every time window?

A whole-run threshold reads its figure from ``summary.json`` (the documented figures). A windowed one
(``window: 30s``) slides a window of that length over the run's whole buckets, one bucket apart, and the
worst window counts: the highest figure against ``max``, the lowest against ``min``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from loadtest.check.criteria import ThresholdSpec
from loadtest.check.formatting import format_value
from loadtest.check.verdicts import FAIL, NO_DATA, PASS, THRESHOLD, Verdict
from loadtest.metrics import catalog
from loadtest.metrics.figures import RunBuckets


def expected_text(spec: ThresholdSpec) -> str:
    unit = spec.ref.unit
    parts = []
    if spec.min is not None:
        parts.append(f">= {format_value(spec.min, unit)}")
    if spec.max is not None:
        parts.append(f"<= {format_value(spec.max, unit)}")
    return " and ".join(parts)


def breaks(spec: ThresholdSpec, value: float) -> str | None:
    """Which bound ``value`` breaks (``"max"``/``"min"``), or None when it is within both."""
    if spec.max is not None and value > spec.max:
        return "max"
    if spec.min is not None and value < spec.min:
        return "min"
    return None


def _verdict(spec: ThresholdSpec, value: float | None, verdict: str, why: str, **details: Any) -> Verdict:
    unit = spec.ref.unit
    return Verdict(
        criterion=spec.label,
        expected=expected_text(spec),
        measured=format_value(value, unit),
        verdict=verdict,
        why=why,
        kind=THRESHOLD,
        metric=str(spec.ref),
        unit=unit,
        value=value,
        details={"max": spec.max, "min": spec.min, "window_s": spec.window_s, "abort": spec.abort, **details},
        case_name=f"threshold[{spec.index}] {spec.label}",
    )


def judge_whole_run(spec: ThresholdSpec, summary: Mapping[str, Any]) -> Verdict:
    value = catalog.value_from_summary(summary, spec.ref)
    if value is None:
        return _verdict(spec, None, NO_DATA, f"the run did not measure {spec.ref} (no samples for it)")
    broken = breaks(spec, value)
    if broken is None:
        return _verdict(spec, value, PASS, "within bounds over the whole run")
    bound = spec.max if broken == "max" else spec.min
    word = "above" if broken == "max" else "below"
    why = f"{word} the {broken} of {format_value(bound, spec.ref.unit)} over the whole run"
    if spec.builtin:
        why = (f"{format_value(value, spec.ref.unit)} of the requests failed (errors other than 429): the run is "
               f"broken, whatever its thresholds say (guards.max_error_rate {format_value(bound, spec.ref.unit)})")
    return _verdict(spec, value, FAIL, why)


def judge_windows(spec: ThresholdSpec, buckets: RunBuckets | None, summary: Mapping[str, Any]) -> Verdict:
    """The worst window against the bounds; the whole run when it is shorter than one window."""
    assert spec.window_s is not None
    if buckets is None:
        return _verdict(spec, None, NO_DATA, "the run directory has no recorder.json, so windows cannot be judged")
    figure = buckets.figure(spec.ref)
    if figure is None:
        return _verdict(spec, None, NO_DATA, f"{spec.ref.metric} is not kept per time bucket; drop the window")
    weights, starts = buckets.windows(spec.window_s)
    if len(starts) == 0:
        verdict = judge_whole_run(spec, summary)
        verdict.why += f" (the run holds no complete {spec.window_s:g}s window, so the whole run was judged)"
        return verdict
    values = figure.values(weights)
    measured = ~np.isnan(values)
    if not measured.any():
        return _verdict(spec, None, NO_DATA, f"no window measured {spec.ref}", windows=len(starts))
    worst_index, worst, broken = _worst(spec, values)
    start_offset = float(starts[worst_index]) - buckets.start
    where = f"window at {max(start_offset, 0.0):.0f}s-{max(start_offset, 0.0) + spec.window_s:.0f}s"
    details = {"windows": len(starts), "windows_measured": int(measured.sum()), "worst_window_start_s": start_offset}
    if broken is None:
        return _verdict(spec, worst, PASS, f"all {int(measured.sum())} windows within bounds (worst: {where})",
                        **details)
    failing = sum(1 for v in values if not math.isnan(v) and breaks(spec, float(v)) is not None)
    bound = spec.max if broken == "max" else spec.min
    word = "above" if broken == "max" else "below"
    return _verdict(spec, worst, FAIL,
                    f"{failing} of {int(measured.sum())} windows {word} the {broken} of "
                    f"{format_value(bound, spec.ref.unit)}; worst: {where}", windows_failed=failing, **details)


def _worst(spec: ThresholdSpec, values: np.ndarray) -> tuple[int, float, str | None]:
    """The window that is worst for this threshold: a broken one first, else the closest to a bound."""
    finite = np.where(np.isnan(values), np.nan, values)
    if spec.max is not None:
        index = int(np.nanargmax(finite))
        if values[index] > spec.max:
            return index, float(values[index]), "max"
    if spec.min is not None:
        index = int(np.nanargmin(finite))
        if values[index] < spec.min:
            return index, float(values[index]), "min"
    index = int(np.nanargmax(finite)) if spec.max is not None else int(np.nanargmin(finite))
    return index, float(values[index]), None


def judge_thresholds(
    specs: tuple[ThresholdSpec, ...], summary: Mapping[str, Any], buckets: RunBuckets | None
) -> list[Verdict]:
    """A verdict per threshold, in the scenario's order."""
    return [judge_windows(s, buckets, summary) if s.window_s else judge_whole_run(s, summary) for s in specs]
