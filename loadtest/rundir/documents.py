"""The run directory's documents as typed values, and each one's plain JSON form both ways.

Every ``*_from_plain`` reads what a file holds (checked, with the file and key of anything wrong, see
:mod:`loadtest.rundir.plain`); every ``*_plain`` gives what a file is written from, in the order the
format fixes (``docs/run-directory.md``). The two are inverse: a document read and written again is the
same file. Keys a reader of format 1 could meet missing (older writers of the same format left some out)
read as their empty value.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from loadtest import __version__
from loadtest.looplag import LoopLagDict, StallDict
from loadtest.metrics import hdr
from loadtest.metrics.catalog import Direction, Kind
from loadtest.metrics.run_figures import MetricFigures, RunFigures, ScopeFigures, Timeseries
from loadtest.rundir.layout import FORMAT
from loadtest.rundir.plain import JsonObject, JsonValue, Node

# ------------------------------------------------------------------------------------------- summary.json

CENSORED = "censored"
"""Key, beside a histogram's statistics, counting the censored samples among ``count``."""
LOWER_BOUNDS = "lower_bounds"
"""Key, beside a histogram's statistics, listing those that are lower bounds only."""
UPPER_BOUNDS = "upper_bounds"
"""Key, beside a histogram's statistics: for lower bounds that are capped, the highest the truth can be."""


@dataclass(frozen=True)
class Tool:
    name: str = "loadtest"
    version: str = __version__
    python: str = field(default_factory=platform.python_version)


@dataclass(frozen=True)
class RunWarning:
    """Something about the run a reader of its figures must know, as one sentence (``run.warnings``)."""

    kind: str
    """``run_failure``, ``unfinished_jobs``, ``stopped_early``, ``lost_workers``..."""
    message: str


@dataclass(frozen=True)
class RunInfo:
    """How the run went: its scenario, measured window, whether it was interrupted, how it was made."""

    scenario: str | None
    start_unix: float
    duration_s: float
    started_at: str
    ended_at: str
    interrupted: bool = False
    bucket_s: float = 1.0
    settings: JsonObject = field(default_factory=dict)
    """How the run was made (CLI flags, target kind, load generators, seed, stop reason...), secrets redacted."""
    warnings: tuple[RunWarning, ...] = ()

    @property
    def end_unix(self) -> float:
        return self.start_unix + self.duration_s

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped before its end (a watcher's sentence), when it did."""
        reason = self.settings.get("stop_reason")
        return reason if isinstance(reason, str) and reason else None


def iso(t: float) -> str:
    """``2026-11-28T10:30:00.000Z``: how summary.json writes a moment."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Jobs:
    """Jobs by flow and final status (``IN_FLIGHT``: unfinished), per-flow totals, and what jobs.csv holds."""

    by_flow: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    totals_by_flow: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per flow: ``retried_jobs``, ``retries``, ``throttled``, ``chunks``."""
    rows_written: int = 0
    rows_omitted: int = 0

    def by_status(self) -> dict[str, int]:
        """Every flow's jobs added up, by final status."""
        counts: dict[str, int] = {}
        for statuses in self.by_flow.values():
            for status, n in statuses.items():
                counts[status] = counts.get(status, 0) + n
        return counts


@dataclass(frozen=True)
class HealthSampling:
    samples: int = 0
    stride: int = 1
    """Every how many ``/health`` samples one was kept (1 unless the run was very long)."""


@dataclass(frozen=True)
class Notes:
    clamped_values: int = 0
    """Samples beyond the histograms' range (14 days), clamped."""
    histogram_significant_digits: int = hdr.SIGNIFICANT_DIGITS


@dataclass(frozen=True)
class Summary:
    """``summary.json``: every headline figure of the run and how the run was made."""

    run: RunInfo
    metrics: RunFigures
    requests_by_status: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Requests per operation per status code (``"0"``: no answer)."""
    error_messages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """The target's first words per operation and error status."""
    jobs: Jobs = field(default_factory=Jobs)
    health: HealthSampling = field(default_factory=HealthSampling)
    loop_lag: Mapping[str, LoopLagDict] = field(default_factory=dict)
    """Each load-generator process's event-loop lag, by process name."""
    notes: Notes = field(default_factory=Notes)
    files: Mapping[str, str] = field(default_factory=dict)
    """The files the run wrote or copied in, each with a line saying what it holds."""
    tool: Tool = field(default_factory=Tool)
    format: int = FORMAT


def summary_plain(summary: Summary) -> JsonObject:
    run = summary.run
    return {
        "format": summary.format,
        "tool": {"name": summary.tool.name, "version": summary.tool.version, "python": summary.tool.python},
        "run": {
            "scenario": run.scenario, "started_at": run.started_at, "ended_at": run.ended_at,
            "start_unix": run.start_unix, "duration_s": run.duration_s, "interrupted": run.interrupted,
            "bucket_s": run.bucket_s, "settings": run.settings,
            "warnings": [{"kind": w.kind, "message": w.message} for w in run.warnings],
        },
        "metrics": figures_plain(summary.metrics),
        "requests_by_status": _nested(summary.requests_by_status),
        "error_messages": _nested(summary.error_messages),
        "jobs": {
            "by_flow": _nested(summary.jobs.by_flow),
            "totals_by_flow": _nested(summary.jobs.totals_by_flow),
            "rows_written": summary.jobs.rows_written,
            "rows_omitted": summary.jobs.rows_omitted,
        },
        "health": {"samples": summary.health.samples, "stride": summary.health.stride},
        "loop_lag": {process: _loop_lag_plain(lag) for process, lag in summary.loop_lag.items()},
        "notes": {"clamped_values": summary.notes.clamped_values,
                  "histogram_significant_digits": summary.notes.histogram_significant_digits},
        "files": dict(summary.files),
    }


def _nested(value: Mapping[str, Mapping[str, int]] | Mapping[str, Mapping[str, str]]) -> JsonObject:
    return {key: dict(inner) for key, inner in value.items()}


def summary_from_plain(node: Node) -> Summary:
    """A ``summary.json`` whose format has been checked (:func:`loadtest.rundir.read.RunDirectory.summary`)."""
    tool, run, jobs = node["tool"], node["run"], node["jobs"]
    start = run["start_unix"].number()
    duration = run["duration_s"].number(0.0)
    return Summary(
        format=node["format"].integer(),
        tool=Tool(tool["name"].text("loadtest"), tool["version"].text("?"), tool["python"].text("?"))
        if not tool.null else Tool("loadtest", "?", "?"),
        run=RunInfo(
            scenario=run["scenario"].optional_text(),
            start_unix=start,
            duration_s=duration,
            started_at=run["started_at"].text(iso(start)),
            ended_at=run["ended_at"].text(iso(start + duration)),
            interrupted=run["interrupted"].flag(False),
            bucket_s=run["bucket_s"].number(1.0),
            settings=run["settings"].json_object(),
            warnings=tuple(RunWarning(w["kind"].text(""), w["message"].text()) for w in run["warnings"].items()
                           if not w["message"].null),
        ),
        metrics=figures_from_plain(node["metrics"]),
        requests_by_status={op: {code: n.integer() for code, n in codes.entries()}
                            for op, codes in node["requests_by_status"].entries()},
        error_messages={op: {code: words.text() for code, words in codes.entries()}
                        for op, codes in node["error_messages"].entries()},
        jobs=Jobs(
            by_flow={flow: {status: n.integer() for status, n in statuses.entries()}
                     for flow, statuses in jobs["by_flow"].entries()} if not jobs.null else {},
            totals_by_flow={flow: {name: n.integer() for name, n in totals.entries()}
                            for flow, totals in jobs["totals_by_flow"].entries()} if not jobs.null else {},
            rows_written=jobs["rows_written"].integer(0) if not jobs.null else 0,
            rows_omitted=jobs["rows_omitted"].integer(0) if not jobs.null else 0,
        ),
        health=HealthSampling(node["health"]["samples"].integer(0), node["health"]["stride"].integer(1))
        if not node["health"].null else HealthSampling(),
        loop_lag={process: loop_lag_from_plain(lag) for process, lag in node["loop_lag"].entries()},
        notes=Notes(node["notes"]["clamped_values"].integer(0),
                    node["notes"]["histogram_significant_digits"].integer(hdr.SIGNIFICANT_DIGITS))
        if not node["notes"].null else Notes(),
        files={name: what.text() for name, what in node["files"].entries()},
    )


# ---------------------------------------------------------------------------------------- the figures


def figures_plain(figures: RunFigures) -> JsonObject:
    """``summary.json``'s ``metrics``: per metric its unit, kind, direction and figures by scope."""
    return {
        name: {
            "unit": metric.unit, "kind": metric.kind.value, "direction": metric.direction.value,
            "overall": _scope_plain(metric.overall),
            "by_flow": {flow: _scope_plain(f) for flow, f in metric.by_flow.items()},
            "by_op": {op: _scope_plain(f) for op, f in metric.by_op.items()},
        }
        for name, metric in figures.items()
    }


def _scope_plain(figures: ScopeFigures | None) -> JsonValue:
    if figures is None:
        return None
    out: JsonObject = dict(figures.stats)
    if figures.censored is not None:
        out[CENSORED] = figures.censored
        out[LOWER_BOUNDS] = list(figures.lower_bounds)
        out[UPPER_BOUNDS] = dict(figures.upper_bounds)
    return out


def figures_from_plain(node: Node) -> RunFigures:
    metrics: dict[str, MetricFigures] = {}
    for name, entry in node.entries():
        kind, direction = entry["kind"], entry["direction"]
        if kind.text() not in {k.value for k in Kind}:
            kind.fail(f"one of {', '.join(k.value for k in Kind)}")
        if direction.text() not in {d.value for d in Direction}:
            direction.fail(f"one of {', '.join(d.value for d in Direction)}")
        metrics[name] = MetricFigures(
            unit=entry["unit"].text(), kind=Kind(kind.text()), direction=Direction(direction.text()),
            overall=_scope_from_plain(entry["overall"]),
            by_flow={flow: _scope_from_plain(f) for flow, f in entry["by_flow"].entries()},
            by_op={op: _scope_from_plain(f) for op, f in entry["by_op"].entries()},
        )
    return RunFigures(metrics)


def _scope_from_plain(node: Node) -> ScopeFigures | None:
    if node.null:
        return None
    stats = {stat: value.optional_number() for stat, value in node.entries()
             if stat not in (CENSORED, LOWER_BOUNDS, UPPER_BOUNDS)}
    if not node.has(CENSORED):
        return ScopeFigures(stats)
    return ScopeFigures(stats, node[CENSORED].number(),
                        tuple(item.text() for item in node[LOWER_BOUNDS].items()),
                        {stat: cap.number() for stat, cap in node[UPPER_BOUNDS].entries()})


def timeseries_plain(timeseries: Timeseries) -> JsonObject:
    """``timeseries.json``."""
    series: JsonObject = {name: {stat: list(column) for stat, column in columns.items()}
                          for name, columns in timeseries.series.items()}
    return {"format": 1, "bucket_s": timeseries.bucket_s, "t": list(timeseries.t), "series": series}


def timeseries_from_plain(node: Node) -> Timeseries:
    return Timeseries(
        bucket_s=node["bucket_s"].number(1.0),
        t=[t.number() for t in node["t"].items()],
        series={name: {stat: [v.optional_number() for v in column.items()] for stat, column in columns.entries()}
                for name, columns in node["series"].entries()},
    )


# ------------------------------------------------------------------------------------------ loop lag


def loop_lag_from_plain(node: Node) -> LoopLagDict:
    return {
        "tick_s": node["tick_s"].number(0.0),
        "stall_s": node["stall_s"].number(0.0),
        "max_ms": node["max_ms"].number(0.0),
        "per_second": [[pair.number() for pair in second.items()] for second in node["per_second"].items()],
        "stalls": [StallDict(start=stall["start"].number(), duration_s=stall["duration_s"].number())
                   for stall in node["stalls"].items()],
    }


def _loop_lag_plain(lag: LoopLagDict) -> JsonObject:
    return {"tick_s": lag["tick_s"], "stall_s": lag["stall_s"], "max_ms": lag["max_ms"],
            "per_second": [list(pair) for pair in lag["per_second"]],
            "stalls": [{"start": s["start"], "duration_s": s["duration_s"]} for s in lag["stalls"]]}


# ---------------------------------------------------------------------------------- histograms.json


@dataclass(frozen=True)
class HistogramEntry:
    """One whole-run histogram: a metric in a flow (and operation, ``""`` for job metrics), encoded (HDR
    V2, compressed, base64: :func:`loadtest.metrics.hdr.decode`)."""

    metric: str
    flow: str
    op: str
    encoded: str


@dataclass(frozen=True)
class Histograms:
    """``histograms.json``: every whole-run histogram, values in whole microseconds."""

    entries: tuple[HistogramEntry, ...] = ()
    unit: str = "us"
    significant_digits: int = hdr.SIGNIFICANT_DIGITS


def histograms_plain(histograms: Histograms) -> JsonObject:
    return {"format": 1, "unit": histograms.unit, "significant_digits": histograms.significant_digits,
            "histograms": [[e.metric, e.flow, e.op, e.encoded] for e in histograms.entries]}


def histograms_from_plain(node: Node) -> Histograms:
    entries = []
    for item in node["histograms"].items():
        parts = list(item.items())
        if len(parts) != 4:
            item.fail("[metric, flow, op, encoded]")
        entries.append(HistogramEntry(*(part.text() for part in parts)))
    return Histograms(tuple(entries), node["unit"].text("us"),
                      node["significant_digits"].integer(hdr.SIGNIFICANT_DIGITS))


# ------------------------------------------------------------------------------------------- jobs.csv


@dataclass(frozen=True)
class JobRow:
    """One line of ``jobs.csv``: one job as the client saw it (empty cells: not known). The fields are the
    file's columns, in the recorder's order (``JOB_ROW_FIELDS``; a test ties the two)."""

    job_id: str
    flow: str
    submitted_at: float | None
    """Unix seconds."""
    final_status: str
    """A job status, or ``IN_FLIGHT`` (unfinished when the run ended)."""
    delay_ms: float | None
    execution_ms: float | None
    end_to_end_ms: float | None
    observe_interval_ms: float | None
    first_chunk_ms: float | None
    chunks: int | None
    retries: int | None
    throttled: int | None
    """429 answers the job's requests met."""
    last_status: str | None
    """The last job status the client saw."""
    unfinished_ms: float | None
    """For an unfinished job: its end-to-end time so far (a censored sample)."""
    queued_ms: float | None
    """For an unfinished job last seen queued: its queue wait so far (a censored sample)."""


def job_row_from_plain(row: Mapping[str, str | None], where: Node) -> JobRow:
    """A ``csv.DictReader`` row; ``where`` names the line in errors."""

    def cell(name: str) -> str | None:
        value = row.get(name)
        return None if value in (None, "") else value

    def number(name: str) -> float | None:
        value = cell(name)
        if value is None:
            return None
        try:
            return float(value)
        except ValueError:
            Node(value, where.file, f"{where.path} {name}").fail("a number")

    def whole(name: str) -> int | None:
        value = number(name)
        return None if value is None else int(value)

    return JobRow(
        job_id=cell("job_id") or "", flow=cell("flow") or "", submitted_at=number("submitted_at"),
        final_status=cell("final_status") or "", delay_ms=number("delay_ms"), execution_ms=number("execution_ms"),
        end_to_end_ms=number("end_to_end_ms"), observe_interval_ms=number("observe_interval_ms"),
        first_chunk_ms=number("first_chunk_ms"), chunks=whole("chunks"), retries=whole("retries"),
        throttled=whole("throttled"), last_status=cell("last_status"), unfinished_ms=number("unfinished_ms"),
        queued_ms=number("queued_ms"),
    )


# ------------------------------------------------------------------------------------- verdicts.json

PASS = "pass"
FAIL = "fail"
NO_DATA = "no data"
NOT_JUDGED = "not judged"
"""The figure exists but cannot decide the criterion (e.g. a lower bound within a maximum); the why says why."""
VERDICTS_FORMAT = 1
THRESHOLD = "threshold"
BASELINE = "baseline"


@dataclass(frozen=True)
class Verdict:
    """The judgement of one criterion (a threshold or a baseline comparison); the first five fields are the
    table's columns, the rest are for machines."""

    criterion: str
    expected: str
    measured: str
    verdict: str
    """:data:`PASS`, :data:`FAIL`, :data:`NO_DATA` or :data:`NOT_JUDGED`."""
    why: str
    kind: str = THRESHOLD
    metric: str = ""
    unit: str = ""
    value: float | None = None
    details: JsonObject = field(default_factory=dict)
    """Numbers behind the verdict (bounds, baseline value, difference, interval, window...)."""
    case_name: str = ""
    """Unique test case name for JUnit (criterion plus position)."""

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL

    @property
    def unjudged(self) -> bool:
        return self.verdict in (NO_DATA, NOT_JUDGED)


@dataclass(frozen=True)
class VerdictsDocument:
    """``verdicts.json``: every verdict of one check, what they add up to and the exit code it earned."""

    verdicts: tuple[Verdict, ...]
    outcome: str = ""
    """``passed``, ``failed`` or ``not judged``."""
    exit_code: int | None = None
    scenario: str | None = None
    baseline: str | None = None
    notes: tuple[str, ...] = ()
    format: int = VERDICTS_FORMAT


def verdict_plain(verdict: Verdict) -> JsonObject:
    return {"criterion": verdict.criterion, "expected": verdict.expected, "measured": verdict.measured,
            "verdict": verdict.verdict, "why": verdict.why, "kind": verdict.kind, "metric": verdict.metric,
            "unit": verdict.unit, "value": verdict.value, "details": verdict.details, "case_name": verdict.case_name}


def verdicts_plain(document: VerdictsDocument) -> JsonObject:
    items = document.verdicts
    return {
        "format": document.format,
        "outcome": document.outcome,
        "exit_code": document.exit_code,
        "scenario": document.scenario,
        "baseline": document.baseline,
        "counts": {"criteria": len(items), "passed": sum(1 for v in items if v.passed),
                   "failed": sum(1 for v in items if v.failed), "no_data": sum(1 for v in items if v.unjudged)},
        "notes": list(document.notes),
        "verdicts": [verdict_plain(v) for v in items],
    }


def verdicts_from_plain(node: Node) -> VerdictsDocument:
    """``verdicts.json``: the document :func:`verdicts_plain` writes, or (older writers) a bare list."""
    listed = node if isinstance(node.value, list) else node["verdicts"]
    verdicts = tuple(
        Verdict(
            criterion=item["criterion"].text(""), expected=item["expected"].text(""),
            measured=item["measured"].text(""), verdict=item["verdict"].text(""), why=item["why"].text(""),
            kind=item["kind"].text(THRESHOLD), metric=item["metric"].text(""), unit=item["unit"].text(""),
            value=item["value"].optional_number(), details=item["details"].json_object(),
            case_name=item["case_name"].text(""),
        )
        for item in listed.items() if isinstance(item.value, dict)
    )
    if isinstance(node.value, list):
        return VerdictsDocument(verdicts)
    return VerdictsDocument(
        verdicts, outcome=node["outcome"].text(""), exit_code=node["exit_code"].optional_integer(),
        scenario=node["scenario"].optional_text(), baseline=node["baseline"].optional_text(),
        notes=tuple(note.text() for note in node["notes"].items()), format=node["format"].integer(VERDICTS_FORMAT),
    )


# ----------------------------------------------------------------------------------- ground_truth.json


@dataclass(frozen=True)
class WorkerEnd:
    """How one real worker process behind the emulator ended, with the last lines it printed."""

    id: str
    exit_code: int | None
    exit_reason: str | None
    output_tail: tuple[str, ...]

    @property
    def why(self) -> str:
        return self.exit_reason or f"exit code {self.exit_code}"


@dataclass(frozen=True)
class RealWorkers:
    """One endpoint whose workers were the user's own handler (``real_workers`` in the ground truth)."""

    label: str | None
    workers: tuple[WorkerEnd, ...]

    @property
    def failed(self) -> tuple[WorkerEnd, ...]:
        """The workers that crashed or failed to start (they left their last output)."""
        return tuple(worker for worker in self.workers if worker.output_tail)


@dataclass(frozen=True)
class GroundTruth:
    """``ground_truth.json``: the emulator's own figures for the run (the whole document, as it wrote it),
    with the parts loadtest itself reads typed."""

    document: JsonObject
    loop_lag: LoopLagDict | None = None
    """The emulator's event-loop lag."""
    real_workers: tuple[RealWorkers, ...] = ()


def ground_truth_from_plain(node: Node) -> GroundTruth:
    lag = node["loop_lag"]
    sections = []
    for _, endpoint in node["endpoints"].entries():
        section = endpoint["real_workers"] if isinstance(endpoint.value, dict) else Node(None, node.file)
        if section.null or not section.value:
            continue
        workers = []
        for worker in section["workers"].items():
            tail = worker["outputTail"]
            lines = (tuple(line.text() for line in tail.items()) if not isinstance(tail.value, str)
                     else tuple(tail.text().splitlines()))
            workers.append(WorkerEnd(str(worker["id"].json()), worker["exitCode"].optional_integer(),
                                     worker["exitReason"].optional_text(), lines))
        sections.append(RealWorkers(section["label"].optional_text(), tuple(workers)))
    return GroundTruth(node.json_object(), loop_lag_from_plain(lag) if isinstance(lag.value, dict) else None,
                       tuple(sections))
