"""Checks that need the whole scenario: things each key can be right about on its own yet wrong together.

Each check yields :class:`ScenarioMistake` items with the document path to point at; the loader turns them into
``file:line:column`` errors. Limits come from ``loadtest.contract`` and metric names from
``loadtest.metrics.catalog``, never restated here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest import contract
from loadtest.contract import Op
from loadtest.discovery_document import LimitsFileError, read_limits_file
from loadtest.limits_in_force import RateLimit, Source
from loadtest.metrics import catalog
from loadtest.rundir.layout import limits_file
from loadtest.scenario.errors import did_you_mean
from loadtest.scenario.limit_sources import scenario_limits
from loadtest.scenario.model import (
    FLOW_OPERATIONS,
    ClosedLoad,
    EmulatorTarget,
    FileGen,
    GeneratorNode,
    OpenLoad,
    Payload,
    Scenario,
)
from loadtest.scenario.payload import load_file_values
from loadtest.scenario.quantities import parse_bound, parse_tolerance
from loadtest.units import MAX_DURATION_S, format_duration, shown

__all__ = ["ScenarioMistake", "check", "normalise", "resolve_paths"]

_EPSILON = 1e-6


class _ReferenceProblem(ValueError):
    """A metric reference this scenario cannot measure; ``scope`` says whether its scope is to blame."""

    def __init__(self, message: str, scope: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope


@dataclass(frozen=True, slots=True)
class ScenarioMistake:
    """A whole-scenario mistake, at a document path (the key itself when ``at_key``)."""

    path: tuple[str | int, ...]
    message: str
    at_key: bool = False


def check(scenario: Scenario, base_dir: Path | None = None) -> list[ScenarioMistake]:
    """Every whole-scenario mistake in ``scenario``."""
    base = base_dir if base_dir is not None else scenario.base_dir
    mistakes: list[ScenarioMistake] = []
    for checker in (_weights, _flow_names, _stages, _respect_fits, _thresholds, _baseline, _policies):
        mistakes.extend(checker(scenario))
    mistakes.extend(_files(scenario, base))
    mistakes.extend(_worker(scenario, base))
    mistakes.extend(_limits_file(scenario, base))
    return mistakes


# ------------------------------------------------------------------------------------------- the mix


def _weights(scenario: Scenario) -> Iterator[ScenarioMistake]:
    if sum(flow.weight for flow in scenario.mix) <= 0:
        yield ScenarioMistake(
            ("mix",),
            "the weights of the mix add up to 0, so no flow would ever run; give at least one flow a weight "
            "above 0 (health flows weigh 0 unless told otherwise: they are sampled in the background)",
        )


def _flow_names(scenario: Scenario) -> Iterator[ScenarioMistake]:
    seen: dict[str, int] = {}
    for index, name in enumerate(scenario.flow_names()):
        if name in seen:
            yield ScenarioMistake(("mix", index, "name"), f"flow name {name!r} is already used by mix[{seen[name]}]")
        else:
            seen[name] = index


# ------------------------------------------------------------------------------------------ the load


def _stages(scenario: Scenario) -> Iterator[ScenarioMistake]:
    load = scenario.load
    stages_total = scenario.stages_duration
    if isinstance(load, ClosedLoad) and load.stages and "users" in load.model_fields_set:
        yield ScenarioMistake(("load", "users"), "give either users or stages, not both (stages set the user count)",
                              True)
    if scenario.duration is not None and stages_total is not None and abs(stages_total - scenario.duration) > _EPSILON:
        where = "load.stages" if isinstance(load, ClosedLoad) else "load.arrival_rate"
        yield ScenarioMistake(
            ("duration",),
            f"duration is {format_duration(scenario.duration)} but {where} add up to "
            f"{format_duration(stages_total)}; make them agree or leave duration out",
        )
    if stages_total is not None and stages_total > MAX_DURATION_S + _EPSILON:
        where = "load.stages" if isinstance(load, ClosedLoad) else "load.arrival_rate"
        yield ScenarioMistake(
            ("load", "stages" if isinstance(load, ClosedLoad) else "arrival_rate"),
            f"the stages of {where} add up to {format_duration(stages_total)}; a run may last at most "
            f"{format_duration(MAX_DURATION_S)} (the upper bound of a duration)",
        )
    if isinstance(load, OpenLoad) and load.peak_rate <= 0:
        yield ScenarioMistake(("load", "arrival_rate"), "the arrival rate is 0 throughout, so no flow would ever start")
    if isinstance(load, ClosedLoad) and load.stages and load.peak_users == 0:
        yield ScenarioMistake(("load", "stages"), "every stage has 0 users, so no flow would ever run")


# ---------------------------------------------------------------------------------------- rate limits


def _described(limit: RateLimit) -> str:
    """``documented: 100 per 10s`` (a discovered limit at its cautious end)."""
    return f"{limit.source}: {limit.safe_value:g} per {limit.safe_window_s:g}s"


def _respect_fits(scenario: Scenario) -> Iterator[ScenarioMistake]:
    """Under ``respect``, an override above the target's limit, or an open-model arrival rate that
    needs more of an operation than the limit allows, can never fit. The target's limit is the one in force
    without the scenario's own figures (a discovery's, at its cautious end; the emulator's; the documented)."""
    limits = scenario.rate_limits
    if limits.policy != "respect":
        return
    in_force = scenario_limits(scenario, skip_unreadable=True)  # an unreadable file is _limits_file's finding
    for op, override in limits.operations.items():
        figures = in_force.get(op)
        target_rate = figures.rate_below(Source.SCENARIO)
        if override.rate is not None and target_rate is not None \
                and override.rate > target_rate.safe_per_second + _EPSILON:
            yield ScenarioMistake(
                ("rate_limits", "operations", op.value, "rate"),
                f"policy respect: {override.rate:g}/s is above the limit of /{op.value} "
                f"({target_rate.safe_per_second:g}/s, {_described(target_rate)}); lower it, or use policy probe "
                "to exceed the limit on purpose",
            )
        target_concurrency = figures.concurrency_below(Source.SCENARIO)
        if override.concurrency is not None and target_concurrency is not None \
                and override.concurrency > target_concurrency.safe_value:
            yield ScenarioMistake(
                ("rate_limits", "operations", op.value, "concurrency"),
                f"policy respect: {override.concurrency} in flight is above the {target_concurrency.source} limit "
                f"of /{op.value} ({target_concurrency.safe_value}); lower it, or use policy probe",
            )
    load = scenario.load
    if not isinstance(load, OpenLoad):
        return
    total_weight = sum(flow.weight for flow in scenario.mix)
    if total_weight <= 0:
        return
    needed: dict[Op, float] = {}
    for flow in scenario.mix:
        share = flow.weight / total_weight
        for op in FLOW_OPERATIONS[flow.flow]:
            if op in (Op.RUN, Op.RUNSYNC, Op.CANCEL, Op.RETRY, Op.PURGE_QUEUE):  # one call per flow at most
                needed[op] = needed.get(op, 0.0) + share * load.peak_rate
    for op, rate in needed.items():
        limit = in_force.get(op).rate
        if limit is None:
            continue
        if limit.source is Source.SCENARIO:
            allowed, source = limit.per_second, "rate_limits.operations override"
        else:
            allowed, source = limit.safe_per_second * limits.margin, f"{_described(limit)} x margin {limits.margin:g}"
        if rate > allowed + _EPSILON:
            yield ScenarioMistake(
                ("load", "arrival_rate"),
                f"policy respect can never fit: at its peak the arrival rate needs {rate:g}/s of /{op.value}, "
                f"but respect allows {allowed:g}/s ({source}); lower the rate or the weight of those flows, "
                "or use policy probe",
            )


# ----------------------------------------------------------------------------------- what is measured


def _measured_kinds(scenario: Scenario) -> set[str]:
    return {flow.flow for flow in scenario.mix}


def _measured_ops(scenario: Scenario) -> set[str]:
    return {op.value for flow in scenario.mix for op in FLOW_OPERATIONS[flow.flow]}


def _reference_problem(scenario: Scenario, ref: catalog.MetricRef) -> tuple[str, str | None] | None:
    """Why ``ref`` can never be measured by this scenario (and whether its scope, ``flow`` or ``op``, is
    the cause), or ``None`` when it can."""
    spec = ref.spec
    kinds = _measured_kinds(scenario)
    if ref.metric in ("queue_length", "in_progress", "workers_running") and "health" not in kinds:
        return f"{ref.metric} comes from /health samples, and the mix has no health flow; add {{flow: health}}", None
    if ref.metric == "dropped" and not isinstance(scenario.load, OpenLoad):
        return "dropped counts open-model arrivals that could not start; this scenario uses a closed model", None
    if spec.flow_kinds and not (spec.flow_kinds & kinds):
        producers = ", ".join(sorted(spec.flow_kinds))
        return f"no flow in the mix measures {ref.metric} (it comes from {producers} flows)", None
    if ref.flow is not None:
        flows = scenario.flows_by_name()
        if ref.flow not in flows:
            hint = did_you_mean(ref.flow, flows)
            return f"no flow named {ref.flow!r} in the mix{hint} (flows: {', '.join(flows)})", "flow"
        kind = flows[ref.flow].flow
        if spec.flow_kinds and kind not in spec.flow_kinds:
            return f"flow {ref.flow!r} is a {kind} flow, which does not measure {ref.metric}", "flow"
    if ref.op is not None and ref.op not in _measured_ops(scenario):
        return f"no flow in the mix calls /{ref.op}, so {ref.metric} for it is never measured", "op"
    return None


def _resolve(scenario: Scenario, text: str, *, flow: str | None = None, op: str | None = None) -> catalog.MetricRef:
    """Parse a metric reference and make sure this scenario measures it; ``ValueError`` otherwise."""
    try:
        ref = catalog.parse_metric_ref(text, flow=flow, op=op)
    except catalog.MetricRefError as exc:
        raise ValueError(str(exc)) from None
    problem = _reference_problem(scenario, ref)
    if problem:
        raise _ReferenceProblem(*problem)
    return ref


def _thresholds(scenario: Scenario) -> Iterator[ScenarioMistake]:
    for index, threshold in enumerate(scenario.thresholds):
        path = ("thresholds", index)
        try:
            ref = _resolve(scenario, threshold.metric, flow=threshold.flow, op=threshold.op)
        except ValueError as exc:
            scope = getattr(exc, "scope", None)
            key = scope if scope is not None and getattr(threshold, scope) is not None else "metric"
            yield ScenarioMistake((*path, key), str(exc))
            continue
        for bound in ("max", "min"):
            value = getattr(threshold, bound)
            if value is None:
                continue
            try:
                parse_bound(ref.unit, value)
            except ValueError as exc:
                yield ScenarioMistake((*path, bound), f"{exc} ({ref} is in {ref.unit})")
        if threshold.window is not None and threshold.window > scenario.total_duration + _EPSILON:
            yield ScenarioMistake(
                (*path, "window"),
                f"window {format_duration(threshold.window)} is longer than the run "
                f"({format_duration(scenario.total_duration)})",
            )


def _baseline(scenario: Scenario) -> Iterator[ScenarioMistake]:
    baseline = scenario.baseline
    if baseline is None:
        return
    try:
        parse_tolerance(catalog.UNIT_MS, baseline.default_tolerance)
    except ValueError as exc:
        yield ScenarioMistake(("baseline", "default_tolerance"), str(exc))
    for text, value in baseline.tolerances.items():
        path = ("baseline", "tolerances", text)
        try:
            ref = _resolve(scenario, text)
        except ValueError as exc:
            yield ScenarioMistake(path, str(exc), at_key=True)
            continue
        try:
            parse_tolerance(ref.unit, value)
        except ValueError as exc:
            yield ScenarioMistake(path, f"{exc} ({ref} is in {ref.unit})")


# ------------------------------------------------------------------------------------------- payload


def _templates(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], GeneratorNode]]:
    if isinstance(value, GeneratorNode):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _templates(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _templates(item, (*path, index))


def _payloads(scenario: Scenario) -> Iterator[tuple[tuple[str | int, ...], Payload]]:
    yield ("payload",), scenario.payload
    for index, flow in enumerate(scenario.mix):
        if flow.payload is not None:
            yield ("mix", index, "payload"), flow.payload


def _policy_bounds(scenario: Scenario) -> dict[str, tuple[float, float]]:
    """Accepted (min, max) seconds of each policy value: the emulator's configuration or the documents."""
    target = scenario.target
    if isinstance(target, EmulatorTarget):
        bounds = target.emulator.policy
        return {
            "execution_timeout": (bounds.execution_timeout_min, bounds.max),
            "ttl": (bounds.ttl_min, bounds.max),
        }
    top = contract.POLICY_MAX_MS / 1000
    return {
        "execution_timeout": (contract.EXECUTION_TIMEOUT_MIN_MS / 1000, top),
        "ttl": (contract.TTL_MIN_MS / 1000, top),
    }


def _policies(scenario: Scenario) -> Iterator[ScenarioMistake]:
    bounds = _policy_bounds(scenario)
    source = "the emulator's policy bounds" if isinstance(scenario.target, EmulatorTarget) else "documented"
    for payload_path, payload in _payloads(scenario):
        if payload.policy is None:
            continue
        for key, (low, high) in bounds.items():
            value = getattr(payload.policy, key)
            if value is not None and not low - _EPSILON <= value <= high + _EPSILON:
                yield ScenarioMistake(
                    (*payload_path, "policy", key),
                    f"{key} must be between {format_duration(low)} and {format_duration(high)} ({source}), "
                    f"found {format_duration(value)}",
                )


def _files(scenario: Scenario, base_dir: Path) -> Iterator[ScenarioMistake]:
    checked: dict[str, str | None] = {}  # each values file is read once, however often it is named
    for payload_path, payload in _payloads(scenario):
        for path, node in _templates(payload.input, (*payload_path, "input")):
            if not isinstance(node.spec, FileGen):
                continue
            name = node.spec.path
            if name not in checked:
                checked[name] = _values_file_problem(name, base_dir)
            problem = checked[name]
            if problem is not None:
                yield ScenarioMistake((*path, "$file"), problem)


def _values_file_problem(name: str, base_dir: Path) -> str | None:
    try:
        load_file_values(base_dir / name)
    except FileNotFoundError:
        return f"values file {shown(name)} not found (looked in {base_dir})"
    except (OSError, ValueError) as exc:
        return f"cannot use values file {shown(name)}: {getattr(exc, 'strerror', None) or exc}"
    return None


def _limits_file(scenario: Scenario, base_dir: Path) -> Iterator[ScenarioMistake]:
    """``rate_limits.limits_from`` must name a discovery's limits.json (read now, so a run never starts
    without the limits it was told to respect)."""
    name = scenario.rate_limits.limits_from
    if name is None:
        return
    try:
        read_limits_file(limits_file(base_dir / name))
    except LimitsFileError as exc:
        yield ScenarioMistake(("rate_limits", "limits_from"), str(exc))


def _worker(scenario: Scenario, base_dir: Path) -> Iterator[ScenarioMistake]:
    """The real worker's directory and handler script exist (relative to the scenario's directory)."""
    target = scenario.target
    if not isinstance(target, EmulatorTarget) or target.emulator.worker is None:
        return
    worker = target.emulator.worker.resolved(base_dir)
    path = ("target", "emulator", "worker")
    cwd = Path(worker.cwd or base_dir)
    if not cwd.is_dir():
        yield ScenarioMistake((*path, "cwd"), f"worker directory {cwd} does not exist")
        return
    first = worker.command[0]
    if "/" in first and not (cwd / first).is_file():
        yield ScenarioMistake((*path, "command", 0), f"worker program {first!r} not found (looked in {cwd})")
    for index, word in enumerate(worker.command[1:], start=1):
        if word.endswith(".py") and not word.startswith("-") and not (cwd / word).is_file():
            yield ScenarioMistake((*path, "command", index), f"handler script {word!r} not found (looked in {cwd})")


def resolve_paths(scenario: Scenario) -> None:
    """Make the real worker's ``cwd`` absolute (relative to the scenario's directory), so the emulator,
    started from anywhere, runs the worker where the scenario meant."""
    target = scenario.target
    if isinstance(target, EmulatorTarget) and target.emulator.worker is not None:
        target.emulator.worker = target.emulator.worker.resolved(scenario.base_dir)


# ------------------------------------------------------------------------------------------ normalise


def normalise(scenario: Scenario) -> None:
    """Convert threshold bounds to plain floats in the metric's catalogue unit (after :func:`check`
    found no problem), so consumers never parse ``"2s"`` or ``"5%"`` again."""
    for threshold in scenario.thresholds:
        ref = catalog.parse_metric_ref(threshold.metric, flow=threshold.flow, op=threshold.op)
        for bound in ("max", "min"):
            value = getattr(threshold, bound)
            if value is not None:
                setattr(threshold, bound, parse_bound(ref.unit, value))
