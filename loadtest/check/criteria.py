"""What a run is judged against: the scenario's thresholds and baseline settings, parsed once.

The scenario model (``loadtest.scenario.model``) holds thresholds and the baseline section as written;
this module turns them into metric references and numbers in the catalogue's units. A check reads them
either from a loaded :class:`~loadtest.scenario.model.Scenario` or from the run directory's
``scenario.yaml``. For the latter only the ``name``, ``thresholds`` and ``baseline`` sections are
validated: the rest of a run's resolved scenario may name ``$file`` values or ``${SECRET}`` variables
that are not available where the check runs, and the check does not need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtest.metrics import catalog
from loadtest.metrics.catalog import Kind, MetricRef
from loadtest.metrics.run_figures import RunFigures
from loadtest.rundir.read import RunDirectory
from loadtest.scenario.quantities import Tolerance, parse_bound, parse_tolerance

DEFAULT_TOLERANCE = "10%"
"""Tolerance of a compared figure the scenario's baseline section does not list."""

DEFAULT_COMPARED_HISTOGRAM_STATS: tuple[str, ...] = ("p50", "p95")
BUILTIN_ERROR_RATE = MetricRef("error_rate", "value")
"""The built-in criterion's figure: the share of requests that failed for reasons other than 429."""
DEFAULT_MAX_ERROR_RATE = 0.5
"""The built-in criterion's bound when a scenario (or an old run directory) does not set one."""
"""Statistics of each time metric compared with a baseline by default (overall)."""


class CriteriaError(ValueError):
    """Thresholds or baseline settings that cannot be used; the message says which and where."""


@dataclass(frozen=True, slots=True)
class ThresholdSpec:
    """One threshold, ready to evaluate: a figure, its bounds (catalogue units), window and abort flag."""

    ref: MetricRef
    max: float | None = None
    min: float | None = None
    window_s: float | None = None
    abort: bool = False
    index: int = 0
    """Position in the scenario's ``thresholds`` list (names the JUnit test case uniquely)."""
    builtin: bool = False
    """The built-in criterion every run is judged on (``guards.max_error_rate``), not one of the scenario's."""

    @property
    def label(self) -> str:
        window = f" in any {self.window_s:g}s window" if self.window_s else ""
        return f"{self.ref}{window}" + (" (built-in)" if self.builtin else "")


@dataclass(frozen=True, slots=True)
class BaselineSpec:
    """How to compare with a saved baseline: its name and a tolerance per figure."""

    name: str | None
    tolerances: dict[MetricRef, Tolerance] = field(default_factory=dict)
    default_tolerance: str | float = DEFAULT_TOLERANCE

    def tolerance_for(self, ref: MetricRef) -> Tolerance:
        """The listed tolerance of ``ref``, else the default.

        A default written as a percentage is relative for every figure, ratios included (``10%`` of a
        4% 429 rate allows 4.4%); a tolerance listed for a ratio follows the scenario's rule, where a
        percentage is an absolute amount (``rate_429: 1%`` allows one more percentage point).
        """
        listed = self.tolerances.get(ref)
        if listed is not None:
            return listed
        default = self.default_tolerance
        if isinstance(default, str) and default.strip().endswith("%"):
            return parse_tolerance(catalog.UNIT_MS, default)  # the relative reading
        return parse_tolerance(ref.unit, default)


@dataclass(frozen=True, slots=True)
class Criteria:
    """Everything a run is judged against."""

    scenario_name: str | None
    thresholds: tuple[ThresholdSpec, ...] = ()
    baseline: BaselineSpec | None = None


def _threshold_spec(index: int, threshold: Any) -> ThresholdSpec:
    where = f"thresholds[{index}]"
    op = getattr(threshold.op, "value", threshold.op)
    try:
        ref = catalog.parse_metric_ref(threshold.metric, flow=threshold.flow, op=op)
    except catalog.MetricRefError as exc:
        raise CriteriaError(f"{where}.metric: {exc}") from None
    bounds: dict[str, float | None] = {}
    for name in ("max", "min"):
        value = getattr(threshold, name)
        try:
            bounds[name] = None if value is None else parse_bound(ref.unit, value)
        except ValueError as exc:
            raise CriteriaError(f"{where}.{name}: {exc} ({ref} is in {ref.unit})") from None
    return ThresholdSpec(ref, bounds["max"], bounds["min"], threshold.window, bool(threshold.abort), index)


def _baseline_spec(baseline: Any) -> BaselineSpec:
    tolerances: dict[MetricRef, Tolerance] = {}
    for text, value in baseline.tolerances.items():
        where = f"baseline.tolerances[{text!r}]"
        try:
            ref = catalog.parse_metric_ref(text)
            tolerances[ref] = parse_tolerance(ref.unit, value)
        except catalog.MetricRefError as exc:
            raise CriteriaError(f"{where}: {exc}") from None
        except ValueError as exc:
            raise CriteriaError(f"{where}: {exc}") from None
    try:
        parse_tolerance(catalog.UNIT_MS, baseline.default_tolerance)
    except ValueError as exc:
        raise CriteriaError(f"baseline.default_tolerance: {exc}") from None
    return BaselineSpec(baseline.name, tolerances, baseline.default_tolerance)


def builtin_criterion(thresholds: tuple[ThresholdSpec, ...], max_error_rate: float) -> ThresholdSpec | None:
    """No run where most requests failed may pass, whatever thresholds it has: ``error_rate <= max`` (50% by
    default), unless the scenario judges the whole run's error_rate itself (its bound then replaces this
    one) or sets the guard to 100%."""
    own = any(t.ref == BUILTIN_ERROR_RATE and t.window_s is None and t.max is not None for t in thresholds)
    if own or max_error_rate >= 1.0:
        return None
    return ThresholdSpec(BUILTIN_ERROR_RATE, max=max_error_rate, index=len(thresholds), builtin=True)


def criteria_from_scenario(scenario: Any, *, scenario_thresholds: bool = True) -> Criteria:
    """Criteria of a loaded scenario (anything with ``name``, ``thresholds``, ``baseline`` and ``guards``);
    ``scenario_thresholds=False`` keeps only the built-in criterion (``loadtest run --no-thresholds``)."""
    thresholds = tuple(_threshold_spec(i, t) for i, t in enumerate(scenario.thresholds))
    guards = getattr(scenario, "guards", None)
    builtin = builtin_criterion(thresholds, float(getattr(guards, "max_error_rate", DEFAULT_MAX_ERROR_RATE)))
    judged = thresholds if scenario_thresholds else ()
    baseline = _baseline_spec(scenario.baseline) if scenario.baseline is not None else None
    return Criteria(scenario.name, (*judged, *([builtin] if builtin is not None else [])), baseline)


def criteria_from_mapping(
    data: Mapping[str, Any], source: str = "scenario", *, scenario_thresholds: bool = True
) -> Criteria:
    """Criteria from a scenario as plain data, validating only ``thresholds``, ``baseline`` and ``guards``."""
    from pydantic import TypeAdapter, ValidationError

    from loadtest.scenario.model import Baseline, Guards, Threshold

    if not isinstance(data, Mapping):
        raise CriteriaError(f"{source}: not a scenario (expected a mapping)")
    try:
        thresholds = TypeAdapter(list[Threshold]).validate_python(data.get("thresholds") or [])
        baseline = Baseline.model_validate(data["baseline"]) if data.get("baseline") else None
        guards = Guards.model_validate(data.get("guards") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise CriteriaError(f"{source}: {where}: {first.get('msg')} ({exc.error_count()} problem(s))") from None
    name = data.get("name")
    holder = _Holder(str(name) if name is not None else None, thresholds, baseline, guards)
    return criteria_from_scenario(holder, scenario_thresholds=scenario_thresholds)


def criteria_from_run(run: RunDirectory, *, scenario_thresholds: bool = True) -> Criteria:
    """Criteria from a run directory's ``scenario.yaml`` (the built-in criterion alone when it is absent)."""
    from loadtest.scenario.source import YamlFileError, load_yaml_text

    text = run.scenario_text()
    if text is None:
        builtin = builtin_criterion((), DEFAULT_MAX_ERROR_RATE)
        return Criteria(None, (builtin,) if builtin is not None else ())
    try:
        data = load_yaml_text(text, run.scenario_path, "the run's scenario")
    except YamlFileError as exc:
        raise CriteriaError(str(exc)) from None
    return criteria_from_mapping(data or {}, str(run.scenario_path), scenario_thresholds=scenario_thresholds)


@dataclass
class _Holder:
    name: str | None
    thresholds: list[Any]
    baseline: Any
    guards: Any


def default_compared_refs(figures: RunFigures) -> list[MetricRef]:
    """Figures compared with a baseline when the scenario lists none: every overall figure with a
    direction (neutral ones describe the load, not its quality) that the baseline measured.

    Time metrics: p50 and p95. Ratios and rates: their value. Counters and /health gauges only when the
    scenario lists them (counts grow with the run's length; gauges are judged better by thresholds).
    """
    refs: list[MetricRef] = []
    for name, spec in catalog.METRICS.items():
        if spec.higher_is_worse is None or spec.kind in (Kind.COUNTER, Kind.GAUGE):
            continue
        stats = DEFAULT_COMPARED_HISTOGRAM_STATS if spec.kind is Kind.HISTOGRAM else (spec.default_stat,)
        for stat in stats:
            ref = MetricRef(name, stat)
            if figures.value(ref) is not None:
                refs.append(ref)
    return refs
