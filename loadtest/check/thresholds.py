"""Thresholds: is a figure of the run within its bounds, over the whole run or in every time window?

A whole-run threshold reads its figure from ``summary.json`` (the documented figures). A windowed one
(``window: 30s``) slides a window of that length over the run's whole buckets, one bucket apart, and the
worst window counts: the highest figure against ``max``, the lowest against ``min``.

A histogram figure into which unfinished jobs went with their time so far is a range, not a number: the
truth lies between the reported lower bound and its cap (``upper_bounds`` in ``summary.json``; none for
``max``, ``mean`` or a percentile most of whose samples are unfinished). A threshold is decided only when
the whole range decides it: a ``max`` the lower bound already exceeds FAILS, one the cap keeps PASSES;
otherwise it is NOT JUDGED, saying why, never PASSED.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from loadtest.check.criteria import ThresholdSpec
from loadtest.check.formatting import format_value
from loadtest.metrics.figures import RunBuckets
from loadtest.metrics.run_figures import RunFigures
from loadtest.rundir.documents import FAIL, NO_DATA, NOT_JUDGED, PASS, THRESHOLD, Verdict


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


def certainly_breaks(spec: ThresholdSpec, low: float, high: float) -> str | None:
    """The bound a figure whose truth lies in [``low``, ``high``] certainly breaks, or None: ``max`` when even
    the lowest it can be is above it, ``min`` when even the highest is below it."""
    if spec.max is not None and low > spec.max:
        return "max"
    if spec.min is not None and high < spec.min:
        return "min"
    return None


def certainly_kept(spec: ThresholdSpec, low: float, high: float) -> bool:
    """Whether every value the truth can take in [``low``, ``high``] keeps both bounds."""
    return (spec.max is None or high <= spec.max) and (spec.min is None or low >= spec.min)


def _range_text(low: float, high: float, unit: str) -> str:
    if math.isinf(high):
        return f"at least {format_value(low, unit)}"
    return f"between {format_value(low, unit)} and {format_value(high, unit)}"


def _open_why(spec: ThresholdSpec, low: float, high: float, where: str, censored: int) -> str:
    jobs = f"{censored} unfinished job{'s' if censored != 1 else ''}" if censored else "unfinished jobs"
    bound = f"max of {format_value(spec.max, spec.ref.unit)}" if spec.max is not None and high > spec.max \
        else f"min of {format_value(spec.min, spec.ref.unit)}"
    return (f"not judged: {where} it is {_range_text(low, high, spec.ref.unit)} ({jobs} went in with their "
            f"time so far), which cannot show whether the {bound} is kept; a longer drain would tell")


def judge_whole_run(spec: ThresholdSpec, figures: RunFigures) -> Verdict:
    value = figures.value(spec.ref)
    if value is None:
        return _verdict(spec, None, NO_DATA, f"the run did not measure {spec.ref} (no samples for it)")
    lower = figures.is_lower_bound(spec.ref)
    cap = figures.upper_bound(spec.ref)
    high = value if not lower else (math.inf if cap is None else cap)
    details: dict[str, Any] = {"lower_bound": True, "upper_bound": cap} if lower else {}
    broken = certainly_breaks(spec, value, high)
    if broken is not None:
        bound = spec.max if broken == "max" else spec.min
        word = "above" if broken == "max" else "below"
        why = f"{word} the {broken} of {format_value(bound, spec.ref.unit)} over the whole run"
        if lower and broken == "max":
            why += " even as a lower bound (unfinished jobs' times so far; the truth is higher still)"
        elif lower:
            why += f" whatever the unfinished jobs do (it is at most {format_value(high, spec.ref.unit)})"
        if spec.builtin:
            limit = format_value(bound, spec.ref.unit)
            why = (f"{format_value(value, spec.ref.unit)} of the requests failed (errors other than 429): the run "
                   f"is broken, whatever its thresholds say (guards.max_error_rate {limit})")
        return _verdict(spec, value, FAIL, why, **details)
    if not certainly_kept(spec, value, high):
        censored = figures.censored_count(spec.ref)
        return _verdict(spec, value, NOT_JUDGED, _open_why(spec, value, high, "over the whole run", censored),
                        censored=censored, **details)
    why = "within bounds over the whole run"
    if lower:
        why += f" whatever the unfinished jobs do (it is {_range_text(value, high, spec.ref.unit)})"
    return _verdict(spec, value, PASS, why, **details)


def judge_windows(spec: ThresholdSpec, buckets: RunBuckets | None, figures: RunFigures) -> Verdict:
    """The worst window against the bounds; the whole run when it is shorter than one window."""
    assert spec.window_s is not None
    if buckets is None:
        return _verdict(spec, None, NO_DATA, "the run directory has no recorder.json, so windows cannot be judged")
    figure = buckets.figure(spec.ref)
    if figure is None:
        return _verdict(spec, None, NO_DATA, f"{spec.ref.metric} is not kept per time bucket; drop the window")
    weights, starts = buckets.windows(spec.window_s)
    if len(starts) == 0:
        verdict = judge_whole_run(spec, figures)
        return replace(verdict, why=verdict.why + f" (the run holds no complete {spec.window_s:g}s window, so the "
                                                  "whole run was judged)")
    values, lower, upper = figure.evaluate(weights)
    measured = ~np.isnan(values)
    if not measured.any():
        return _verdict(spec, None, NO_DATA, f"no window measured {spec.ref}", windows=len(starts))
    broken = [certainly_breaks(spec, float(v), float(u)) if ok else None
              for v, u, ok in zip(values, upper, measured, strict=True)]
    failing = [i for i, b in enumerate(broken) if b is not None]

    window_s = spec.window_s

    def where(index: int) -> str:
        offset = max(float(starts[index]) - buckets.start, 0.0)
        return f"window at {offset:.0f}s-{offset + window_s:.0f}s"

    details: dict[str, Any] = {"windows": len(starts), "windows_measured": int(measured.sum())}
    if failing:
        index = max(failing, key=lambda i: values[i] if broken[i] == "max" else -upper[i])
        which = broken[index]
        bound = spec.max if which == "max" else spec.min
        word = "above" if which == "max" else "below"
        return _verdict(spec, float(values[index]), FAIL,
                        f"{len(failing)} of {int(measured.sum())} windows {word} the {which} of "
                        f"{format_value(bound, spec.ref.unit)}; worst: {where(index)}"
                        + (" (a lower bound: unfinished jobs' times so far)" if lower[index] else ""),
                        windows_failed=len(failing), worst_window_start_s=float(starts[index]) - buckets.start,
                        **details)
    open_windows = [i for i in range(len(values))
                    if measured[i] and not certainly_kept(spec, float(values[i]), float(upper[i]))]
    if open_windows:
        index = open_windows[0]
        why = _open_why(spec, float(values[index]), float(upper[index]), f"in the {where(index)}", 0)
        return _verdict(spec, float(values[index]), NOT_JUDGED, why, lower_bound=True,
                        windows_undecided=len(open_windows), **details)
    finite = np.where(measured, values, np.nan)
    index = int(np.nanargmax(finite)) if spec.max is not None else int(np.nanargmin(finite))
    return _verdict(spec, float(values[index]), PASS, f"all {int(measured.sum())} windows within bounds (worst: "
                                                      f"{where(index)})",
                    worst_window_start_s=float(starts[index]) - buckets.start, **details)


def judge_thresholds(
    specs: tuple[ThresholdSpec, ...], figures: RunFigures, buckets: RunBuckets | None
) -> list[Verdict]:
    """A verdict per threshold, in the scenario's order (``figures``: the run's headline figures)."""
    return [judge_windows(s, buckets, figures) if s.window_s else judge_whole_run(s, figures) for s in specs]
