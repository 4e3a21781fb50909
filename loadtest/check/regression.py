"""Baseline comparison that survives a noisy machine: a regression must be both large and clear.

For each compared figure (say ``end_to_end.p95``) with baseline value B and run value R (both from
``summary.json``), and the figure's direction (higher or lower is worse):

1. **Tolerance**: the worse-direction difference must exceed the allowance A (``10%`` of B, or an
   absolute amount such as ``200ms``). Within it: pass.
2. **Noise**: the difference must exceed the allowance even allowing for run-to-run variation. Both
   runs' time buckets are cut into at most 50 consecutive blocks; a block bootstrap (1000 resamples of
   blocks, with replacement, separately for each run) recomputes the figure from the resampled
   buckets' merged histograms or counters; the resampled differences R* - B* give a 99% interval for
   R - B (the union of the basic and the percentile bootstrap intervals, see
   :func:`loadtest.metrics.noise.noise_interval`, shared with ``loadtest compare``).
   If the interval's better end still lies beyond
   the allowance, the run is worse than the baseline by more than the tolerance with 99.5% confidence:
   a regression. Otherwise noise could explain the excess: pass, and the verdict says so.

So a regression must be both larger than the tolerance and statistically clear of it; the smallest
reliably caught is about A plus 2.6 standard errors of the difference. Blocks keep bursts and drifts
together (buckets are not independent), and resampling the recorded histograms needs no assumption
about the distribution. Figures without per-bucket data (``jobs.retried``), or runs too short for a
noise estimate (fewer than :data:`loadtest.metrics.noise.MIN_BLOCKS` blocks), are judged on the
tolerance alone, and the verdict says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from loadtest.check.criteria import BaselineSpec, default_compared_refs
from loadtest.check.formatting import format_delta, format_percent, format_value
from loadtest.metrics.catalog import MetricRef
from loadtest.metrics.figures import RunBuckets
from loadtest.metrics.noise import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, noise_interval
from loadtest.metrics.run_figures import RunFigures
from loadtest.rundir.documents import BASELINE, FAIL, NO_DATA, NOT_JUDGED, PASS, Verdict
from loadtest.scenario.quantities import Tolerance


def allowance(tolerance: Tolerance, baseline_value: float) -> float:
    """How much worse than ``baseline_value`` a figure may be, in its unit."""
    return tolerance.amount * abs(baseline_value) if tolerance.relative else tolerance.amount


def tolerance_text(tolerance: Tolerance, unit: str) -> str:
    return f"{tolerance.amount * 100:g}%" if tolerance.relative else format_value(tolerance.amount, unit)


def _direction(ref: MetricRef) -> int:
    """+1 when higher is worse, -1 when lower is worse, 0 when neutral (judged both ways)."""
    worse_up = ref.spec.higher_is_worse
    return 0 if worse_up is None else (1 if worse_up else -1)


@dataclass(frozen=True)
class Comparison:
    """A run and the baseline it is judged against: each one's headline figures and time buckets (None
    without per-bucket data, for the noise interval), and how sure a regression must be."""

    run_figures: RunFigures
    base_figures: RunFigures
    run: RunBuckets | None
    base: RunBuckets | None
    baseline_name: str
    confidence: float = DEFAULT_CONFIDENCE
    resamples: int = DEFAULT_RESAMPLES


def compare_figure(ref: MetricRef, tolerance: Tolerance, sides: Comparison) -> Verdict:
    """The verdict on one figure against the baseline (see the module docstring for the rule)."""
    run_figures, base_figures, baseline_name = sides.run_figures, sides.base_figures, sides.baseline_name
    confidence = sides.confidence
    unit = ref.unit
    base_value = base_figures.value(ref)
    run_value = run_figures.value(ref)
    direction = _direction(ref)
    allowed = allowance(tolerance, base_value) if base_value is not None else None
    tol = tolerance_text(tolerance, unit)

    def verdict(state: str, measured: str, why: str, **details: Any) -> Verdict:
        return Verdict(
            criterion=f"{ref} vs baseline",
            expected=_expected(direction, base_value, allowed, unit, tol),
            measured=measured,
            verdict=state,
            why=why,
            kind=BASELINE,
            metric=str(ref),
            unit=unit,
            value=run_value,
            details={"baseline": baseline_name, "baseline_value": base_value, "tolerance": tol,
                     "allowance": allowed, **details},
            case_name=f"baseline {ref}",
        )

    if base_value is None:
        return verdict(NO_DATA, format_value(run_value, unit), f"baseline {baseline_name!r} did not measure {ref}")
    if run_value is None:
        return verdict(NO_DATA, "n/a", f"the run did not measure {ref} (the baseline did)")
    assert allowed is not None
    difference = run_value - base_value
    relative = difference / abs(base_value) if base_value else (0.0 if difference == 0 else math.inf)
    change = format_percent(relative) if math.isfinite(relative) else format_delta(difference, unit)
    measured = f"{format_value(run_value, unit)} ({change})"
    worse_by = abs(difference) if direction == 0 else direction * difference
    details: dict[str, Any] = {"difference": difference, "relative_difference": relative if math.isfinite(relative)
                               else None, "confidence": confidence}
    run_lower, base_lower = run_figures.is_lower_bound(ref), base_figures.is_lower_bound(ref)
    if run_lower or base_lower:
        # Unfinished jobs make a figure a range [value, cap]: the difference is decided only when the whole
        # range of differences is (every figure that can be a range is one where higher is worse).
        run_high = run_figures.upper_bound(ref) if run_lower else run_value
        base_high = base_figures.upper_bound(ref) if base_lower else base_value
        least = run_value - (math.inf if base_high is None else base_high)
        most = (math.inf if run_high is None else run_high) - base_value
        worst = (least, most) if direction >= 0 else (-most, -least)
        details.update(lower_bound=True, difference_range=[least, most])
        if worst[1] <= allowed + 1e-12:
            return verdict(PASS, measured, f"{change} vs baseline, within the {tol} tolerance whatever the "
                                           f"unfinished jobs do", **details)
        if not worst[0] > allowed:
            which = "both runs'" if run_lower and base_lower else ("the run's" if run_lower else "the baseline's")
            return verdict(NOT_JUDGED, measured, f"not judged: {which} {ref} is a range (unfinished jobs went in "
                                                 f"with their time so far), so {change} vs baseline cannot show "
                                                 f"whether it is within the {tol} tolerance", **details)
    if worse_by <= allowed + 1e-12:
        better = direction != 0 and direction * difference < 0
        why = f"{change} vs baseline ({'better' if better else 'within the ' + tol + ' tolerance'})"
        return verdict(PASS, measured, why, **details)
    noise = noise_interval(ref, sides.run, sides.base, confidence=confidence, resamples=sides.resamples)
    if not noise.known:
        why = f"{change} vs baseline, beyond the {tol} tolerance; judged on the tolerance alone: {noise.reason}"
        return verdict(FAIL, measured, why, noise_estimated=False, **details)
    assert noise.low is not None and noise.high is not None
    low, high = difference + noise.low, difference + noise.high
    details.update(interval=[low, high], noise_estimated=True)
    interval = (f"{confidence * 100:g}% interval of the difference {format_delta(low, unit)} to "
                f"{format_delta(high, unit)}")
    if direction > 0:
        clear = low > allowed
    elif direction < 0:
        clear = high < -allowed
    else:
        clear = low > allowed or high < -allowed
    if not clear:
        return verdict(PASS, measured, f"{change} vs baseline, beyond the {tol} tolerance but run-to-run noise "
                                       f"could explain that ({interval} reaches within the tolerance)", **details)
    return verdict(FAIL, measured, f"regression: {change} vs baseline, beyond the {tol} tolerance even after "
                                   f"run-to-run noise ({interval})", **details)


def _expected(direction: int, base_value: float | None, allowed: float | None, unit: str, tol: str) -> str:
    if base_value is None or allowed is None:
        return "as in the baseline"
    if direction > 0:
        return f"<= {format_value(base_value + allowed, unit)} (baseline {format_value(base_value, unit)} + {tol})"
    if direction < 0:
        return f">= {format_value(base_value - allowed, unit)} (baseline {format_value(base_value, unit)} - {tol})"
    return f"{format_value(base_value, unit)} ± {tol}"


def compared_refs(spec: BaselineSpec, base_figures: RunFigures) -> list[MetricRef]:
    """The figures to compare: those the scenario lists, then the defaults not listed."""
    refs = list(spec.tolerances)
    refs += [ref for ref in default_compared_refs(base_figures) if ref not in spec.tolerances]
    return refs


def compare_runs(spec: BaselineSpec, sides: Comparison) -> list[Verdict]:
    """A verdict per compared figure."""
    return [compare_figure(ref, spec.tolerance_for(ref), sides) for ref in compared_refs(spec, sides.base_figures)]
