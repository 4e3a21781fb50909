"""Thresholds: is a figure of the run within its bounds, over the whole run or in every time window?

A whole-run threshold reads its figure from ``summary.json`` (the documented figures). A windowed one
(``window: 30s``) slides a window of that length over the run's whole buckets, one bucket apart, and the
worst window counts: the highest figure against ``max``, the lowest against ``min``.

A figure that is only a lower bound (jobs unfinished when the run ended went into it with their time so
far) decides a ``max`` it already exceeds (FAIL: the truth is at least that) and a ``min`` it already
reaches (met); otherwise the threshold is NOT JUDGED, saying why, and never PASSED.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from loadtest.check.criteria import ThresholdSpec
from loadtest.check.formatting import format_value
from loadtest.check.verdicts import FAIL, NO_DATA, NOT_JUDGED, PASS, THRESHOLD, Verdict
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


def undecided(spec: ThresholdSpec, value: float) -> bool:
    """Whether a lower bound ``value`` that breaks no bound still cannot show the threshold is met: a
    ``max`` (the truth may be above it) or a ``min`` the bound does not reach."""
    return spec.max is not None or (spec.min is not None and value < spec.min)


def _undecided_why(spec: ThresholdSpec, value: float, where: str, censored: int) -> str:
    jobs = f"{censored} unfinished job{'s' if censored != 1 else ''}" if censored else "unfinished jobs"
    bound = f"max of {format_value(spec.max, spec.ref.unit)}" if spec.max is not None else \
        f"min of {format_value(spec.min, spec.ref.unit)}"
    return (f"not judged: {format_value(value, spec.ref.unit)} {where} is only a lower bound ({jobs} went in with "
            f"their time so far), so it cannot show the {bound} is kept; a longer drain would tell")


def judge_whole_run(spec: ThresholdSpec, summary: Mapping[str, Any]) -> Verdict:
    value = catalog.value_from_summary(summary, spec.ref)
    if value is None:
        return _verdict(spec, None, NO_DATA, f"the run did not measure {spec.ref} (no samples for it)")
    lower = catalog.is_lower_bound(summary, spec.ref)
    broken = certainly_breaks(spec, value, lower)
    if broken is not None:
        bound = spec.max if broken == "max" else spec.min
        word = "above" if broken == "max" else "below"
        why = f"{word} the {broken} of {format_value(bound, spec.ref.unit)} over the whole run"
        if lower:
            why += " even as a lower bound (unfinished jobs' times so far; the truth is higher still)"
        return _verdict(spec, value, FAIL, why, lower_bound=lower)
    if lower and undecided(spec, value):
        censored = catalog.censored_count(summary, spec.ref)
        return _verdict(spec, value, NOT_JUDGED, _undecided_why(spec, value, "over the whole run", censored),
                        lower_bound=True, censored=censored)
    why = "within bounds over the whole run" + (" (a lower bound that already meets the min)" if lower else "")
    return _verdict(spec, value, PASS, why, lower_bound=lower)


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
    values, lower = figure.evaluate(weights)
    measured = ~np.isnan(values)
    if not measured.any():
        return _verdict(spec, None, NO_DATA, f"no window measured {spec.ref}", windows=len(starts))
    worst_index, worst, broken = _worst(spec, values, lower)

    def where(index: int) -> str:
        offset = max(float(starts[index]) - buckets.start, 0.0)
        return f"window at {offset:.0f}s-{offset + spec.window_s:.0f}s"

    details = {"windows": len(starts), "windows_measured": int(measured.sum()),
               "worst_window_start_s": float(starts[worst_index]) - buckets.start}
    if broken is None:
        open_windows = [i for i in range(len(values)) if measured[i] and lower[i] and undecided(spec, float(values[i]))]
        if open_windows:
            index = open_windows[0]
            why = _undecided_why(spec, float(values[index]), f"in the {where(index)}", 0)
            return _verdict(spec, float(values[index]), NOT_JUDGED, why, lower_bound=True,
                            windows_undecided=len(open_windows), **details)
        return _verdict(spec, worst, PASS, f"all {int(measured.sum())} windows within bounds (worst: "
                                           f"{where(worst_index)})", **details)
    failing = sum(1 for v, low in zip(values, lower, strict=True)
                  if not math.isnan(v) and certainly_breaks(spec, float(v), bool(low)) is not None)
    bound = spec.max if broken == "max" else spec.min
    word = "above" if broken == "max" else "below"
    return _verdict(spec, worst, FAIL,
                    f"{failing} of {int(measured.sum())} windows {word} the {broken} of "
                    f"{format_value(bound, spec.ref.unit)}; worst: {where(worst_index)}"
                    + (" (a lower bound: unfinished jobs' times so far)" if lower[worst_index] else ""),
                    windows_failed=failing, **details)


def certainly_breaks(spec: ThresholdSpec, value: float, lower: bool) -> str | None:
    """The bound ``value`` certainly breaks: any break of ``max``; of ``min`` only by an exact value."""
    broken = breaks(spec, value)
    return None if broken == "min" and lower else broken


def _worst(spec: ThresholdSpec, values: np.ndarray, lower: np.ndarray) -> tuple[int, float, str | None]:
    """The window that is worst for this threshold: a certainly broken one first, else the closest to a bound."""
    finite = np.where(np.isnan(values), np.nan, values)
    if spec.max is not None:
        index = int(np.nanargmax(finite))
        if values[index] > spec.max:
            return index, float(values[index]), "max"
    if spec.min is not None:
        exact = np.where(lower, np.nan, finite)
        if not np.isnan(exact).all():
            index = int(np.nanargmin(exact))
            if values[index] < spec.min:
                return index, float(values[index]), "min"
    index = int(np.nanargmax(finite)) if spec.max is not None else int(np.nanargmin(finite))
    return index, float(values[index]), None


def judge_thresholds(
    specs: tuple[ThresholdSpec, ...], summary: Mapping[str, Any], buckets: RunBuckets | None
) -> list[Verdict]:
    """A verdict per threshold, in the scenario's order."""
    return [judge_windows(s, buckets, summary) if s.window_s else judge_whole_run(s, summary) for s in specs]
