"""The report's plots: matplotlib (Agg, no pyplot state), each titled, with labelled axes and units.

Every plot function takes one or more :class:`RunData` and returns a :class:`Plot` with its PNG bytes,
or None when the run did not measure what it shows. Several runs in one call overlay them (compare).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from loadtest.contract import OPERATIONS, RATE_WINDOW_S, Op
from loadtest.report.data import RunData

WIDTH_IN, HEIGHT_IN, PANEL_IN, DPI = 10.0, 4.2, 3.0, 100
"""A single-panel plot is 1000 × 420 pixels; a plot of n stacked panels is 1000 × (n × 300 + 120)."""
PERCENTILE_STYLES: tuple[tuple[str, str], ...] = (("p50", "-"), ("p95", "--"), ("p99", ":"))
STATUS_COLOURS: dict[str, str] = {
    "COMPLETED": "#2e7d32", "FAILED": "#c62828", "TIMED_OUT": "#ef6c00", "CANCELLED": "#6a1b9a",
    "IN_FLIGHT": "#9e9e9e", "IN_QUEUE": "#90a4ae", "IN_PROGRESS": "#607d8b",
}
RUN_COLOURS = ("#1565c0", "#d84315", "#2e7d32", "#6a1b9a")


@dataclass(frozen=True)
class Plot:
    """One rendered plot: a file-name slug, the title, a caption saying how to read it, PNG bytes."""

    slug: str
    title: str
    caption: str
    png: bytes
    width_px: int
    height_px: int


def _figure(panels: int = 1) -> Figure:
    height = HEIGHT_IN if panels == 1 else panels * PANEL_IN + HEIGHT_IN - PANEL_IN
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _render(fig: Figure, slug: str, title: str, caption: str) -> Plot:
    fig.suptitle(title, fontsize=13, fontweight="bold")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    width, height = (round(float(v)) for v in fig.get_size_inches() * DPI)
    return Plot(slug, title, caption, buffer.getvalue(), width, height)


def _time_axis(ax, runs: Sequence[RunData]) -> None:
    ax.set_xlabel("time since start (s)")
    ax.grid(True, alpha=0.3)
    if len(runs) > 0:
        ax.set_xlim(left=0)


def _run_suffix(run: RunData, runs: Sequence[RunData]) -> str:
    return f" [{run.tag or run.label}]" if len(runs) > 1 else ""


def _line_style(index: int, runs: Sequence[RunData], default: str) -> dict[str, object]:
    if len(runs) > 1:
        return {"color": RUN_COLOURS[index % len(RUN_COLOURS)]}
    return {"color": default}


# ------------------------------------------------------------------------------------- time series


def percentiles_over_time(metric: str, label: str) -> Callable[[Sequence[RunData]], Plot | None]:
    def plot(runs: Sequence[RunData]) -> Plot | None:
        if not any(run.series(metric) for run in runs):
            return None
        fig = _figure()
        ax = fig.add_subplot()
        palette = {"p50": "#1565c0", "p95": "#ef6c00", "p99": "#c62828"}
        for index, run in enumerate(runs):
            columns = run.series(metric)
            if not columns:
                continue
            x = run.elapsed()
            for stat, style in PERCENTILE_STYLES:
                colour = RUN_COLOURS[index % len(RUN_COLOURS)] if len(runs) > 1 else palette[stat]
                values = [float("nan") if v is None else v for v in columns[stat]]
                ax.plot(x, values, linestyle=style, color=colour, linewidth=1.4,
                        label=f"{stat}{_run_suffix(run, runs)}")
        _time_axis(ax, runs)
        ax.set_ylabel(f"{label} (ms)")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", fontsize=8, ncol=3)
        return _render(fig, f"{metric}_over_time", f"{label} over time (p50 / p95 / p99 per second)",
                       f"Each point is one time bucket's percentile of {label.lower()}, by when jobs ended.")

    return plot


def distribution(metric: str, label: str, by_flow: bool = False) -> Callable[[Sequence[RunData]], Plot | None]:
    def plot(runs: Sequence[RunData]) -> Plot | None:
        curves: list[tuple[str, list[tuple[float, float]], dict[str, object]]] = []
        for index, run in enumerate(runs):
            names = (
                [n for n in run.distributions if n.startswith(f"{metric}{{flow=")] if by_flow else [metric]
            )
            for k, name in enumerate(names):
                points = run.distributions.get(name)
                if not points:
                    continue
                legend = name.partition("=")[2].rstrip("}") if by_flow else label
                colour = RUN_COLOURS[(index if len(runs) > 1 else k) % len(RUN_COLOURS)]
                style = {"color": colour, "linestyle": ("-", "--", ":", "-.")[k % 4] if len(runs) > 1 else "-"}
                curves.append((f"{legend}{_run_suffix(run, runs)}", points, style))
        if not curves:
            return None
        fig = _figure()
        ax = fig.add_subplot()
        top = 0.0
        for legend, points, style in curves:
            nines = [_nines(p) for p, _ in points]
            top = max(top, nines[-1])
            ax.plot(nines, [v for _, v in points], linewidth=1.6, label=legend, **style)
        ticks = [t for t in (0.0, math.log10(2), 1.0, 2.0, 3.0, 4.0, 5.0) if t <= top + 1e-9]
        if top - ticks[-1] > 0.25:
            ticks.append(top)  # the last percentile drawn, so the right end is labelled
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _nines_label(v)))
        ax.set_xlabel("percentile")
        ax.set_ylabel(f"{label} (ms)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
        slug = f"{metric}_by_flow" if by_flow else f"{metric}_distribution"
        title = f"{label} per flow (percentile distribution)" if by_flow else f"{label} distribution"
        return _render(fig, slug, title,
                       "Value at each percentile over the whole run; the right end is the worst samples.")

    return plot


def _nines(percentile: float) -> float:
    return -math.log10(max(1e-9, 1 - percentile / 100))


def _nines_label(v: float) -> str:
    pct = 100 * (1 - 10.0 ** (-float(v)))
    return f"p{pct:.4g}" if v > 0 else "p0"


def throughput(runs: Sequence[RunData]) -> Plot | None:
    fig = _figure()
    ax = fig.add_subplot()
    drawn = False
    for index, run in enumerate(runs):
        ops = _ops_with(run, "requests")
        for k, op in enumerate(ops):
            counts = run.series(f"requests{{op={op}}}")["count"]
            style = {"color": RUN_COLOURS[(index if len(runs) > 1 else k) % len(RUN_COLOURS)],
                     "linestyle": ("-", "--", ":", "-.")[k % 4] if len(runs) > 1 else "-"}
            ax.plot(run.elapsed(), run.per_second(counts), linewidth=1.4,
                    label=f"{op}{_run_suffix(run, runs)}", **style)
            drawn = True
    if not drawn:
        return None
    _time_axis(ax, runs)
    ax.set_ylabel("requests per second")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    return _render(fig, "throughput_by_op", "Throughput per operation (requests sent per second)",
                   "All requests sent, whatever their answer (429s and errors included).")


def throttling(runs: Sequence[RunData]) -> Plot | None:
    """One panel per operation: offered rate, 429s per second, and the documented limit."""
    ops: list[str] = []
    for run in runs:
        for op in _ops_with(run, "requests"):
            if op not in ops and (_limit_per_s(op) is not None or run.series(f"throttled{{op={op}}}")):
                ops.append(op)
    if not ops:
        return None
    fig = _figure(len(ops))
    axes = fig.subplots(len(ops), 1, squeeze=False)[:, 0]
    for ax, op in zip(axes, ops, strict=True):
        for index, run in enumerate(runs):
            offered = run.series(f"requests{{op={op}}}")
            if not offered:
                continue
            throttled = run.series(f"throttled{{op={op}}}") or {"count": [0] * len(offered["count"])}
            x = run.elapsed()
            suffix = _run_suffix(run, runs)
            colour = RUN_COLOURS[index % len(RUN_COLOURS)]
            ax.plot(x, run.per_second(offered["count"]), color=colour, linewidth=1.4,
                    label=f"offered{suffix}")
            ax.fill_between(x, run.per_second(throttled["count"]), color="#c62828",
                            alpha=0.35 if index == 0 else 0.2, step=None, label=f"429 answers{suffix}")
        limit = _limit_per_s(op)
        if limit is not None:
            ax.axhline(limit, color="black", linestyle="--", linewidth=1.2,
                       label=f"documented limit {limit:g}/s ({OPERATIONS[Op(op)].rate_limit} per {RATE_WINDOW_S:g} s)")
        ax.set_title(f"/{op}", fontsize=10, loc="left")
        ax.set_ylabel("requests per second")
        ax.set_ylim(bottom=0)
        _time_axis(ax, runs)
        ax.legend(loc="upper left", fontsize=8, ncol=3)
    return _render(fig, "rate_429_by_op", "429 answers per operation against the offered rate and documented limit",
                   "Red area: requests answered 429 per second; line: requests offered; dashed: the documented "
                   "rate limit (per 10 s window, shown per second).")


def _limit_per_s(op: str) -> float | None:
    try:
        limit = OPERATIONS[Op(op)].rate_limit
    except ValueError:
        return None
    return None if limit is None else limit / RATE_WINDOW_S


def _ops_with(run: RunData, counter: str) -> list[str]:
    prefix = f"{counter}{{op="
    return sorted(name[len(prefix):-1] for name in run.timeseries.get("series", {}) if name.startswith(prefix))


def health(runs: Sequence[RunData]) -> Plot | None:
    if not any(run.health for run in runs):
        return None
    fig = _figure(2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    worker_states = ("idle", "initializing", "ready", "running", "throttled", "unhealthy")
    for index, run in enumerate(runs):
        if not run.health:
            continue
        x = [row["t"] - run.start for row in run.health]
        suffix = _run_suffix(run, runs)
        dash = "-" if index == 0 else "--"
        top.plot(x, [row.get("jobs.inQueue", 0) for row in run.health], color="#c62828", linestyle=dash,
                 label=f"in queue{suffix}")
        top.plot(x, [row.get("jobs.inProgress", 0) for row in run.health], color="#1565c0", linestyle=dash,
                 label=f"in progress{suffix}")
        if len(runs) == 1:
            stacks = [[row.get(f"workers.{s}", 0) for row in run.health] for s in worker_states]
            bottom.stackplot(x, stacks, labels=list(worker_states), alpha=0.8)
        else:
            bottom.plot(x, [row.get("workers.running", 0) for row in run.health], linestyle=dash,
                        color=RUN_COLOURS[index % len(RUN_COLOURS)], label=f"running{suffix}")
    top.set_ylabel("jobs")
    top.set_title("queue length and jobs in progress", fontsize=10, loc="left")
    top.set_ylim(bottom=0)
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    bottom.set_ylabel("workers")
    bottom.set_title("workers by state", fontsize=10, loc="left")
    bottom.set_ylim(bottom=0)
    _time_axis(bottom, runs)
    bottom.legend(loc="upper left", fontsize=8, ncol=6)
    return _render(fig, "endpoint_health", "Endpoint queue and workers over time (from /health)",
                   "Sampled from the endpoint's /health route during the run.")


# ----------------------------------------------------------------------------------------- bar charts


def latency_by_op(runs: Sequence[RunData]) -> Plot | None:
    ops = sorted({op for run in runs for op, v in run.metrics.get("latency", {}).get("by_op", {}).items() if v})
    if not ops:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    stats = ("p50", "p95", "p99")
    groups = [(run, stat) for run in runs for stat in stats]
    width = 0.8 / len(groups)
    for g, (run, stat) in enumerate(groups):
        by_op = run.metrics["latency"]["by_op"]
        values = [(by_op.get(op) or {}).get(stat, 0.0) for op in ops]
        colour = ({"p50": "#1565c0", "p95": "#ef6c00", "p99": "#c62828"}[stat] if len(runs) == 1
                  else RUN_COLOURS[runs.index(run) % len(RUN_COLOURS)])
        alpha = 1.0 if len(runs) == 1 else (1.0, 0.7, 0.45)[stats.index(stat)]
        bars = ax.bar([i + (g - (len(groups) - 1) / 2) * width for i in range(len(ops))], values, width,
                      color=colour, alpha=alpha, label=f"{stat}{_run_suffix(run, runs)}")
        ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
    ax.set_xticks(range(len(ops)), [f"/{op}" for op in ops])
    ax.set_xlabel("operation")
    ax.set_ylabel("request latency (ms)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    return _render(fig, "latency_by_op", "Request latency per operation (p50 / p95 / p99)",
                   "Whole-run percentiles of HTTP request latency, every answer included.")


def job_statuses(runs: Sequence[RunData]) -> Plot | None:
    rows: list[tuple[str, dict[str, int]]] = []
    for run in runs:
        for flow, statuses in run.summary.get("jobs", {}).get("by_flow", {}).items():
            rows.append((f"{flow}{_run_suffix(run, runs)}", statuses))
    if not rows:
        return None
    order = [s for s in STATUS_COLOURS if any(s in r for _, r in rows)]
    order += sorted({s for _, r in rows for s in r} - set(order))
    fig = _figure()
    ax = fig.add_subplot()
    left = [0.0] * len(rows)
    for status in order:
        values = [float(r.get(status, 0)) for _, r in rows]
        bars = ax.barh([name for name, _ in rows], values, left=left, color=STATUS_COLOURS.get(status, "#455a64"),
                       label=status)
        ax.bar_label(bars, labels=[f"{int(v)}" if v else "" for v in values], label_type="center", fontsize=7,
                     color="white")
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("jobs")
    ax.set_ylabel("flow")
    ax.invert_yaxis()
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, ncol=len(order))
    return _render(fig, "job_statuses", "Final job statuses per flow",
                   "How every submitted job ended; IN_FLIGHT jobs had not finished when the run ended.")


PLOTS: tuple[Callable[[Sequence[RunData]], Plot | None], ...] = (
    percentiles_over_time("queue_delay", "Queue delay"),
    distribution("queue_delay", "Queue delay"),
    percentiles_over_time("execution_time", "Execution time"),
    distribution("execution_time", "Execution time"),
    distribution("end_to_end", "End-to-end job time", by_flow=True),
    percentiles_over_time("end_to_end", "End-to-end job time"),
    distribution("first_chunk", "Time to first chunk", by_flow=True),
    throughput,
    throttling,
    latency_by_op,
    health,
    job_statuses,
)
"""Every plot of a report, in report order."""


def render_all(runs: Sequence[RunData]) -> list[Plot]:
    """Every plot the runs have data for."""
    return [plot for make in PLOTS if (plot := make(runs)) is not None]
