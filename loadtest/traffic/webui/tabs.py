"""Our job metrics inside Locust's web UI, through its documented extension points.

Locust's UI shows request statistics; a load test of a queue endpoint is judged on jobs. Two extra tabs
(``template_args["extendedTabs"]`` / ``["extendedTables"]``, filled on every ``/stats/requests`` poll
through ``extended_stats``) show, live:

* **Job metrics**: queue delay, execution time, end-to-end (and first chunk for streams) percentiles per
  flow and overall, next to request latency;
* **Jobs**: jobs submitted, in flight and by final status, requests, 429s and the 429 rate, errors, and
  once a test has stopped: where its run directory and report are.

Routes (under the UI's own address): ``/loadtest/metrics`` (the same figures as JSON),
``/loadtest/report`` (the last test's report) and ``/loadtest/runs/<n>/<file>`` (files of the n-th
test's run directory, read-only). The "Download Data" tab links to both. Everything reads the process's
:class:`~loadtest.traffic.runtime.TrafficRuntime`: in a distributed UI that is the master's, into which
the workers' measurements are merged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from loadtest.contract import TERMINAL_STATUSES
from loadtest.metrics.classify import job_outcome
from loadtest.metrics.figures import run_counts
from loadtest.metrics.recent import RecentWindows
from loadtest.metrics.recorder import Recorder, aggregate
from loadtest.metrics.summary import series_statistics
from loadtest.rundir.layout import REPORT_HTML
from loadtest.scenario.model import Scenario
from loadtest.traffic.runtime import JobCounts


class ShownRuntime(Protocol):
    """What the tabs read of a process's runtime (:class:`loadtest.traffic.runtime.TrafficRuntime`)."""

    recorder: Recorder
    job_counts: JobCounts
    scenario: Scenario


TAB_PERCENTILES = "jobmetrics"
TAB_JOBS = "jobcounts"
JOB_METRICS_SHOWN: tuple[str, ...] = ("queue_delay", "execution_time", "end_to_end", "first_chunk", "latency")
"""Histogram metrics shown in the Job metrics tab, in this order (latency: request latency, for scale)."""
STATS_SHOWN: tuple[str, ...] = ("count", "p50", "p90", "p95", "p99", "max")
METRICS_ROUTE = "/loadtest/metrics"
REPORT_ROUTE = "/loadtest/report"
RUNS_ROUTE = "/loadtest/runs"
SERIES_ROUTE = "/loadtest/series"
UI_SCRIPT_ROUTE = "/loadtest/ui.js"
UPLOT_ROUTE = "/loadtest/uplot.js"
UPLOT_CSS_ROUTE = "/loadtest/uplot.css"


@cache
def _asset(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


@dataclass
class RunRecord:
    """One test started from the UI and its run directory once written."""

    number: int
    run_dir: Path | None = None
    state: str = "running"
    """``running``, ``writing`` (run directory and report being written), ``written`` or ``failed``."""
    error: str | None = None
    verdicts: str | None = None
    """The outcome of judging the test's thresholds (``passed``, ``failed``, ``not judged``), once written."""

    @property
    def report_path(self) -> Path | None:
        return self.run_dir / REPORT_HTML if self.run_dir is not None else None


@dataclass
class UiRuns:
    """Tests started from this UI, newest last."""

    runs: list[RunRecord] = field(default_factory=list)

    def begin(self) -> RunRecord:
        record = RunRecord(number=len(self.runs) + 1)
        self.runs.append(record)
        return record

    @property
    def last(self) -> RunRecord | None:
        return self.runs[-1] if self.runs else None

    def last_written(self) -> RunRecord | None:
        for record in reversed(self.runs):
            if record.state == "written" and record.run_dir is not None:
                return record
        return None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def percentile_rows(runtime: ShownRuntime) -> list[dict[str, Any]]:
    """Rows for the Job metrics tab: one per (metric, flow) plus each metric overall; times in ms.

    The same statistics as ``summary.json`` (the figure engine's); a value that is only a lower bound
    (unfinished jobs' times so far went into it, once a test has stopped) is shown as ``>= value``.
    """
    totals = runtime.recorder.total_counts()
    series = aggregate(totals)
    rows: list[dict[str, Any]] = []
    flows = sorted({flow for (_, flow, _) in totals})
    for metric in JOB_METRICS_SHOWN:
        for flow in [None, *flows]:
            (stats, bounds, _), _ = series_statistics(series, metric, flow=flow, names=STATS_SHOWN)
            if not stats:
                continue
            rows.append({
                "name": metric if flow is None else f"{metric} [{flow}]",
                "flow": flow or "all",
                **{name: _shown(name, stats[name], name in bounds) for name in STATS_SHOWN},
            })
    return rows


def _shown(stat: str, value: float, lower_bound: bool) -> int | float | str | None:
    if stat == "count":
        return int(value)
    shown = _ms(value)
    return f">= {shown}" if lower_bound else shown


def count_figures(runtime: ShownRuntime) -> dict[str, Any]:
    """Jobs by final status, in flight, requests, 429s and errors, from the recorder (classified as every
    figure is, :func:`loadtest.metrics.figures.run_counts`) and the job book's jobs not yet recorded."""
    counts = run_counts(runtime.recorder)
    by_status = {status.value: counts.jobs[job_outcome(status.value)] for status in TERMINAL_STATUSES}
    jobs = runtime.job_counts
    return {
        "jobs_submitted": max(jobs.submitted, counts.jobs_submitted),
        "jobs_in_flight": jobs.in_flight + counts.in_flight,
        "jobs_by_status": by_status,
        "requests": counts.requests,
        "throttled": counts.throttled,
        "rate_429": counts.rate_429 or 0.0,
        "errors": counts.errors,
    }


def count_rows(figures: dict[str, Any], last: RunRecord | None, base_path: str = "") -> list[dict[str, Any]]:
    rows = [
        {"name": "jobs submitted", "value": figures["jobs_submitted"]},
        {"name": "jobs in flight", "value": figures["jobs_in_flight"]},
    ]
    rows += [{"name": f"jobs {status}", "value": n} for status, n in figures["jobs_by_status"].items()]
    rows += [
        {"name": "requests", "value": figures["requests"]},
        {"name": "429 responses", "value": figures["throttled"]},
        {"name": "429 rate", "value": f"{100 * figures['rate_429']:.2f}%"},
        {"name": "errors (not 429)", "value": figures["errors"]},
    ]
    if last is not None:
        rows.append({"name": "test", "value": f"#{last.number}: {last.state}"})
        if last.error:
            rows.append({"name": "run directory error", "value": last.error})
        if last.verdicts:
            rows.append({"name": "thresholds", "value": last.verdicts})
        if last.run_dir is not None:
            rows.append({"name": "run directory", "value": str(last.run_dir)})
        if last.state == "written":
            rows.append({"name": "report", "value": f"{base_path}{REPORT_ROUTE}"})
    return rows


def metrics_document(runtime: ShownRuntime, runs: UiRuns, base_path: str = "") -> dict[str, Any]:
    """Everything the tabs show, as one JSON-ready document (also served at ``/loadtest/metrics``)."""
    figures = count_figures(runtime)
    last = runs.last
    return {
        "scenario": runtime.scenario.name,
        "percentiles": percentile_rows(runtime),
        "counts": figures,
        "test": None if last is None else {
            "number": last.number, "state": last.state, "error": last.error,
            "run_dir": str(last.run_dir) if last.run_dir else None,
            "report": f"{base_path}{REPORT_ROUTE}" if last.state == "written" else None,
        },
    }


def install(
    web_ui: Any,
    runtime_of: Callable[[], ShownRuntime],
    runs: UiRuns,
    *,
    extra_rows: Callable[[], list[dict[str, Any]]] | None = None,
) -> None:
    """Add our tabs, data and routes to a Locust ``WebUI`` (before it starts serving, ideally).

    ``runtime_of`` returns the runtime whose recorder holds the current test's measurements (it may be
    swapped between tests); ``extra_rows`` adds rows to the Jobs tab (a distributed master's workers).
    """
    from flask import Response, abort, redirect, request, send_from_directory

    app = web_ui.app
    web_ui.template_args["extendedTabs"] = [
        {"title": "Job metrics", "key": TAB_PERCENTILES},
        {"title": "Jobs", "key": TAB_JOBS},
    ]
    web_ui.template_args["extendedTables"] = [
        {"key": TAB_PERCENTILES, "structure": [
            {"key": "name", "title": "Metric"},
            *({"key": s, "title": s if s == "count" else f"{s} (ms)"} for s in STATS_SHOWN),
        ]},
        {"key": TAB_JOBS, "structure": [{"key": "name", "title": "Figure"}, {"key": "value", "title": "Value"}]},
    ]
    web_ui.template_args["extendedCsvFiles"] = [
        {"href": f".{REPORT_ROUTE}", "title": "loadtest report of the last test"},
        {"href": f".{METRICS_ROUTE}", "title": "loadtest job metrics (JSON)"},
    ]

    @app.after_request
    def _add_job_metrics(response: Any) -> Any:
        if not request.path.endswith("/stats/requests") or response.status_code != 200:
            return response
        try:
            body = json.loads(response.get_data(as_text=True))
        except ValueError:
            return response
        runtime = runtime_of()
        body["extended_stats"] = [
            {"key": TAB_PERCENTILES, "data": percentile_rows(runtime)},
            {"key": TAB_JOBS, "data": count_rows(count_figures(runtime), runs.last, ".")
             + (extra_rows() if extra_rows is not None else [])},
        ]
        response.set_data(json.dumps(body))
        return response

    install_charts(app, runtime_of)

    @app.route(METRICS_ROUTE)
    def _metrics() -> Any:
        return Response(json.dumps(metrics_document(runtime_of(), runs)), mimetype="application/json")

    @app.route(REPORT_ROUTE)
    def _report() -> Any:
        record = runs.last_written()
        if record is None:
            last = runs.last
            state = "no test has stopped yet" if last is None else f"test #{last.number} is {last.state}"
            return Response(f"No loadtest report yet: {state}. It is written when a test stops.\n",
                            status=404, mimetype="text/plain")
        return redirect(f"runs/{record.number}/{REPORT_HTML}")  # relative: keeps any --web-base-path

    @app.route(f"{RUNS_ROUTE}/<int:number>/<path:name>")
    def _run_file(number: int, name: str) -> Any:
        if not 1 <= number <= len(runs.runs):
            abort(404)
        record = runs.runs[number - 1]
        if record.run_dir is None:
            abort(404)
        return send_from_directory(record.run_dir.resolve(), name)  # refuses paths outside the directory


def install_charts(app: Any, runtime_of: Callable[[], ShownRuntime]) -> None:
    """Locust's page loads our script (the Job metrics tab's live charts, the report as a link), the
    charting library it draws with, and the windowed figures it polls (``/loadtest/series``)."""
    from flask import Response, request

    @app.after_request
    def _load_our_script(response: Any) -> Any:
        """Locust's page loads our script (live charts, the report as a link) and the charting library."""
        if response.status_code != 200 or response.mimetype != "text/html" or "/loadtest/" in request.path \
                or request.path.endswith("/report"):  # Locust's page, not a run's report or Locust's own report
            return response
        page = response.get_data(as_text=True)
        if "</head>" in page and UI_SCRIPT_ROUTE not in page:
            tags = "".join(f'<script src=".{route}"></script>' for route in (UPLOT_ROUTE, UI_SCRIPT_ROUTE))
            response.set_data(page.replace("</head>", f'<link rel="stylesheet" href=".{UPLOT_CSS_ROUTE}">{tags}</head>',
                                           1))
        return response

    @app.route(UI_SCRIPT_ROUTE)
    def _ui_script() -> Any:
        return Response(_asset("loadtest.traffic.webui", "ui.js"), mimetype="text/javascript")

    @app.route(UPLOT_ROUTE)
    def _uplot() -> Any:
        return Response(_asset("loadtest.vendor", "uplot/uPlot.iife.min.js"), mimetype="text/javascript")

    @app.route(UPLOT_CSS_ROUTE)
    def _uplot_css() -> Any:
        return Response(_asset("loadtest.vendor", "uplot/uPlot.min.css"), mimetype="text/css")

    recent: list[RecentWindows] = []

    @app.route(SERIES_ROUTE)
    def _series() -> Any:
        """The current test's last minutes in windows (the Job metrics tab's charts)."""
        recorder = runtime_of().recorder
        if not recent or recent[0].recorder is not recorder:  # a new test: a new recorder
            recent[:] = [RecentWindows(recorder)]
        return Response(json.dumps(recent[0].document()), mimetype="application/json")
