"""The report's charts, built from run data; drawn as PNGs by ``png.py`` and interactively by
``interactive.py``.

Every chart function takes one or more :class:`RunData` and returns a :class:`Chart`, or None when the
runs did not measure what it shows. Several runs in one call are overlaid (compare): each series keeps
its colour and the runs differ by dash (A solid, B dashed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from loadtest.limits_in_force import RateLimit, Source
from loadtest.looplag import STALL_S
from loadtest.metrics.run_figures import ScopeFigures
from loadtest.report import style as st
from loadtest.report import timeline
from loadtest.report.chart_model import Chart, Panel, Series
from loadtest.report.data import RunData
from loadtest.report.png import Plot, render
from loadtest.report.style import Style

ChartMaker = Callable[[Sequence[RunData]], Chart | None]
WORKER_STATES: tuple[str, ...] = ("running", "idle", "initializing", "ready", "throttled", "unhealthy")
THROTTLING_SHOWN_FROM = 0.5
"""An operation gets a 429 panel when it got 429s or its offered rate reached half its limit."""
LIMIT_DASHES: tuple[str, ...] = ("dashed", "dotted", "dashdot")
QUEUE_LIMIT_SHOWN_FROM = 0.25
"""The queue-size limit is drawn when the queue reached a quarter of it (else it would flatten the plot)."""


# ------------------------------------------------------------------------------------------- helpers


def _suffix(run: RunData, runs: Sequence[RunData]) -> str:
    return f" [{run.tag or run.label}]" if len(runs) > 1 else ""


def _time_axis(runs: Sequence[RunData]) -> tuple[float, str]:
    """(divisor from seconds, x label) of a time-since-start axis for these runs."""
    unit, divisor = st.elapsed_unit(max((run.duration_s for run in runs), default=0.0))
    return divisor, f"time since start ({unit})"



def _values(array: np.ndarray | Sequence[float], divisor: float = 1.0) -> list[float | None]:
    """Plain floats for a series (None for gaps), divided into the display unit."""
    return [None if v is None or not math.isfinite(float(v)) else float(v) / divisor for v in array]


def _held(windows: timeline.Windows, values: np.ndarray, tdiv: float) -> tuple[list[float], list[float | None]]:
    """A per-window figure as a level across each window: (edges in display units, values)."""
    edges, held = windows.held(np.asarray(values, dtype=float))
    return [e / tdiv for e in edges], _values(held)


def _largest(arrays: Sequence[np.ndarray]) -> float:
    finite = [float(np.nanmax(a)) for a in arrays if len(a) and np.isfinite(a).any()]
    return max(finite, default=0.0)


def _num(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


# --------------------------------------------------------------------------------- times, over time


def percentiles_over_time(metric: str, label: str, count_label: str = "jobs") -> ChartMaker:
    """p50/p95/p99 of a time per window, each only where its window holds enough samples; the samples per
    window in a panel below (``count_label``: what they are; job times count by when the job ended)."""

    def chart(runs: Sequence[RunData]) -> Chart | None:
        found = [(i, run, ps) for i, run in enumerate(runs)
                 if (ps := run.percentiles(metric)) is not None and float(ps.counts.sum()) > 0]
        if not found:
            return None
        unit, divisor = st.time_unit(_largest([v for _, _, ps in found for v in ps.values.values()]))
        tdiv, x_label = _time_axis(runs)
        lines: list[Series] = []
        counts: list[Series] = []
        for i, run, ps in found:
            x = list(ps.windows.middles / tdiv)
            suffix = _suffix(run, runs)
            for stat in timeline.PERCENTILE_STATS:
                values = _values(ps.values[stat], divisor)
                need = timeline.min_samples(stat)
                shown = stat if any(v is not None for v in values) else \
                    f"{stat} (no window held {need} {count_label})"
                look = Style(st.STAT_COLOURS[stat], st.STAT_DASHES[stat] if len(runs) == 1 else st.RUN_DASHES[i])
                lower = [bool(v) for v in ps.lower[stat]] if ps.lower is not None and any(ps.lower[stat]) else None
                lines.append(Series(shown + suffix, x, values, look, points=True, counts=_values(ps.counts),
                                    count_label=count_label, lower=lower))
            colour = st.COUNT_COLOUR if len(runs) == 1 else st.PALETTE[i % len(st.PALETTE)]
            edges, held = _held(ps.windows, ps.counts, tdiv)
            counts.append(Series(f"{count_label}{suffix}", edges, held, Style(colour), kind="area", where="post",
                                 fill_alpha=0.6, count_label=count_label))
        widths = "/".join(sorted({_num(ps.width_s) for _, _, ps in found}))
        thresholds = ", ".join(f"{s} ≥ {timeline.min_samples(s)}" for s in timeline.PERCENTILE_STATS)
        ended = " (by when each job ended)" if count_label == "jobs" else ""
        panels = [
            Panel(f"p50 / p95 / p99 per {widths} s window", f"{label} ({unit})", lines, x_label, unit,
                  x_is_time=True),
            Panel(f"{count_label} per {widths} s window{ended}", count_label, counts, x_label, "jobs",
                  x_is_time=True, height=0.45),
        ]
        caption = (f"Percentiles of {label.lower()} per {widths} s window (the buckets' histograms merged, "
                   f"so each is exact for its window). A percentile is drawn only where its window held enough "
                   f"{count_label} for it ({thresholds}); the lower panel shows how many.")
        if any(s.lower for s in lines):
            caption += (" Some points are lower bounds (jobs unfinished at the end went in with their time so "
                        "far): the page shows them as ≥ on hover.")
        return Chart(f"{metric}_over_time", f"{label} over time", caption, panels)

    return chart


# -------------------------------------------------------------------------------------- distributions


def distribution(metric: str, label: str, by: str | None = None, count_label: str = "jobs") -> ChartMaker:
    """Value at every percentile over the whole run, on a nines axis; per flow or per operation with
    ``by="flow"``/``by="op"``."""

    def chart(runs: Sequence[RunData]) -> Chart | None:
        prefix = f"{metric}{{{by}="
        keys = (sorted({n for run in runs for n in run.distributions if n.startswith(prefix)}) if by
                else [metric])
        curves: list[tuple[str, list[tuple[float, float]], int, Style]] = []
        for i, run in enumerate(runs):
            for k, name in enumerate(keys):
                points = run.distributions.get(name)
                if not points:
                    continue
                what = name[len(prefix):-1] if by else label
                if by == "op":
                    what = f"/{what}"
                n = run.distribution_counts.get(name, 0)
                curves.append((f"{what} (n={n:,}){_suffix(run, runs)}", points, n, st.run_style(k, i, len(runs))))
        if not curves:
            return None
        unit, divisor = st.time_unit(max(v for _, points, _, _ in curves for _, v in points))
        series = []
        top = 0.0
        for name, points, n, look in curves:
            x = [st.nines(p) for p, _ in points]
            top = max(top, x[-1])
            below = [float(round(p / 100 * n)) for p, _ in points]
            series.append(Series(name, x, [v / divisor for _, v in points], look, counts=below,
                                 count_label=f"{count_label} at or below"))
        panel = Panel("", f"{label} ({unit})", series, "percentile (nines axis: p90, p99, p99.9 equally spaced)",
                      unit, x_ticks=st.nines_ticks(top))
        slug = f"{metric}_by_{by}" if by else f"{metric}_distribution"
        title = f"{label} per {'operation' if by == 'op' else by} (percentile distribution)" if by \
            else f"{label} distribution"
        return Chart(slug, title, "Value at each percentile over the whole run; each curve ends at its largest "
                                  f"sample; n is how many {count_label} it holds.", [panel])

    return chart


# ---------------------------------------------------------------------------------- requests and 429s


def _scoped(run: RunData, counter: str, scope: str) -> list[str]:
    prefix = f"{counter}{{{scope}="
    return sorted(name[len(prefix):-1] for name in run.timeseries.series if name.startswith(prefix))


def rates_over_time(counter: str, scope: str, slug: str, title: str, what: str, count_label: str,
                    caption: str) -> ChartMaker:
    """A counter per second, one line per operation or flow, averaged over windows."""

    def chart(runs: Sequence[RunData]) -> Chart | None:
        names = sorted({n for run in runs for n in _scoped(run, counter, scope)})
        if not names:
            return None
        tdiv, x_label = _time_axis(runs)
        series = []
        widths = set()
        for i, run in enumerate(runs):
            windows = run.counter_windows([f"{counter}{{{scope}={n}}}" for n in names])
            widths.add(_num(windows.width_s))
            present = set(_scoped(run, counter, scope))
            for k, name in enumerate(names):
                if name not in present:
                    continue
                counts = run.counts(f"{counter}{{{scope}={name}}}")
                label = f"/{name}" if scope == "op" else name
                series.append(Series(f"{label}{_suffix(run, runs)}", list(windows.middles / tdiv),
                                     _values(windows.rate(counts)), st.run_style(k, i, len(runs)),
                                     counts=_values(windows.sum(counts)), count_label=count_label))
        width = "/".join(sorted(widths))
        panel = Panel(f"{what} per second, averaged over each {width} s window", f"{what} per second", series,
                      x_label, "/s", x_is_time=True)
        return Chart(slug, title, caption, [panel])

    return chart


throughput = rates_over_time("requests", "op", "throughput_by_op", "Throughput per operation", "requests",
                             "requests", "All requests sent, whatever their answer (429s and errors included).")
chunk_rate = rates_over_time("chunks", "flow", "chunks_by_flow", "Streamed chunks received per second, per flow",
                             "chunks", "chunks", "Chunks read from /stream, by when they arrived.")


def _throttled_ops(runs: Sequence[RunData]) -> list[str]:
    ops = sorted({op for run in runs for op in _scoped(run, "requests", "op")})
    shown = []
    for op in ops:
        for run in runs:
            throttled = run.counts(f"throttled{{op={op}}}")
            limit = run.limits.get(op).rate
            offered = run.counter_windows([f"requests{{op={op}}}"]).rate(run.counts(f"requests{{op={op}}}"))
            peak = float(np.nanmax(offered)) if np.isfinite(offered).any() else 0.0
            if throttled.sum() > 0 or (limit is not None and peak >= THROTTLING_SHOWN_FROM * limit.per_second):
                shown.append(op)
                break
    return shown


def _limit_series(run: RunData, limit: RateLimit, look: Style, tdiv: float, suffix: str) -> Series:
    """The limit as requests per second over the run: constant, or stepping with the running workers
    when the budget is per worker (from the /health samples)."""
    if limit.per_worker and run.health:
        x = [0.0] + [(row["t"] - run.start) / tdiv for row in run.health] + [run.duration_s / tdiv]
        running = [0.0] + [row.get("workers.running", 0.0) for row in run.health]
        running.append(running[-1])
        y = [limit.budget(r) / limit.window_s for r in running]
    else:
        x, y = [0.0, run.duration_s / tdiv], [limit.per_second, limit.per_second]
    return Series(limit.label + suffix, x, y, look, kind="limit", where="post", count_label="")


def _limit_lines(op: str, runs: Sequence[RunData], tdiv: float) -> list[Series]:
    """One line per distinct rate limit of ``op`` in force in the runs, and what the emulator enforced when a
    later source replaced its figure (black; a discovered one purple), named for the run only when the runs'
    limits differ."""
    found: dict[tuple[str, float, float, float | None], list[tuple[RunData, RateLimit, str]]] = {}
    for run in runs:
        entry = run.limits.get(op)
        for limit in (entry.rate, entry.replaced_rate(Source.EMULATOR)):
            if limit is not None:
                colour = st.DISCOVERED_COLOUR if limit.source is Source.DISCOVERED else st.LIMIT_COLOUR
                found.setdefault((limit.source, limit.value, limit.window_s, limit.per_worker), []).append(
                    (run, limit, colour))
    lines: list[Series] = []
    for users in found.values():
        run, limit, colour = users[0]
        same_colour = sum(1 for line in lines if line.style.colour == colour)
        dashes = LIMIT_DASHES if colour == st.LIMIT_COLOUR else ("dashdot", "dotted")
        suffix = "" if len(users) == len(runs) else " [" + ", ".join(r.tag or r.label for r, _, _ in users) + "]"
        lines.append(_limit_series(run, limit, Style(colour, dashes[same_colour % len(dashes)]), tdiv, suffix))
    return lines


def throttling(runs: Sequence[RunData]) -> Chart | None:
    """Per operation that got 429s or came near its limit: answers that were not 429 and 429 answers
    stacked (their top is the offered rate), with the rate limits in force."""
    ops = _throttled_ops(runs)
    if not ops:
        return None
    tdiv, x_label = _time_axis(runs)
    panels = []
    for op in ops:
        series: list[Series] = []
        notes = []
        for i, run in enumerate(runs):
            suffix = _suffix(run, runs)
            windows = run.counter_windows([f"requests{{op={op}}}"])
            x = list(windows.middles / tdiv)
            offered_n = run.counts(f"requests{{op={op}}}")
            throttled_n = run.counts(f"throttled{{op={op}}}")
            offered, throttled = windows.rate(offered_n), windows.rate(throttled_n)
            accepted = offered - throttled
            if len(runs) == 1:
                edges, got = _held(windows, accepted, tdiv)
                _, top = _held(windows, offered, tdiv)
                _, refused = _held(windows, throttled, tdiv)
                _, got_n = _held(windows, windows.sum(offered_n) - windows.sum(throttled_n), tdiv)
                _, refused_n = _held(windows, windows.sum(throttled_n), tdiv)
                series.append(Series("answered, not 429", edges, got, Style(st.ACCEPTED_COLOUR), kind="area",
                                     where="post", value=got, counts=got_n, count_label="requests",
                                     fill_alpha=0.45))
                series.append(Series("429 answers (top: offered rate)", edges, top, Style(st.THROTTLED_COLOUR),
                                     kind="area", where="post", base=[v or 0.0 for v in got], value=refused,
                                     counts=refused_n, count_label="requests", fill_alpha=0.55))
            else:
                dash = st.RUN_DASHES[i % len(st.RUN_DASHES)]
                series.append(Series(f"offered{suffix}", x, _values(offered), Style(st.ACCEPTED_COLOUR, dash),
                                     counts=_values(windows.sum(offered_n)), count_label="requests"))
                series.append(Series(f"429 answers{suffix}", x, _values(throttled),
                                     Style(st.THROTTLED_COLOUR, dash), counts=_values(windows.sum(throttled_n)),
                                     count_label="requests"))
            limits = run.limits.get(op)
            for conc in (limits.concurrency, limits.replaced_concurrency(Source.EMULATOR)):
                if conc is not None and f"concurrency: {conc.label}" not in notes:
                    notes.append(f"concurrency: {conc.label}")
            if limits.rate is None:
                notes.append(f"no rate limit in force ({limits.rate_in_force or 'unknown'}){suffix}")
        lines = _limit_lines(op, runs, tdiv)
        series += lines
        top_limit = max((v for line in lines for v in line.y if v is not None), default=0.0)
        panels.append(Panel(f"/{op}: requests per second, per {_num(windows.width_s)} s window", "requests per second",
                            series, x_label, "/s", x_is_time=True, y_max=top_limit * 1.15 if top_limit else None,
                            note="; ".join(notes)))
    caption = (f"Per operation: requests answered other than 429 (blue) and 429 answers stacked on them (red), so "
               f"the top of the red is the offered rate; the dashed line is the rate limit in force, shown per "
               f"second and labelled with where it comes from ({_SOURCE_TEXT}). Operations that got no 429 and stayed "
               f"under {THROTTLING_SHOWN_FROM:.0%} of their limit are left out; every operation's limits are in "
               f"the table 'Limits in force'.")
    if len(runs) > 1:
        caption = ("Per operation and run: requests offered and 429 answers per second, with the rate limit in "
                   f"force ({_SOURCE_TEXT}).")
    return Chart("rate_429_by_op", "429 answers per operation against the limits in force", caption, panels)


_SOURCE_TEXT = ("documented: the RunPod documentation; emulator: the run's target.emulator.limits; discovered: the "
                "limit discovery the scenario named (limits.json); scenario: its own rate_limits.operations")


# ------------------------------------------------------------------------------------- endpoint health


def _health_rows(run: RunData) -> tuple[list[dict[str, float]], float]:
    """/health samples, at most :data:`timeline.MAX_POINTS`: for longer runs, per window of samples the
    largest queue and jobs in progress and the last worker counts. Returns (rows, samples per row)."""
    rows = run.health
    per = max(1, math.ceil(len(rows) / timeline.MAX_POINTS))
    if per == 1:
        return rows, 1.0
    out = []
    for start in range(0, len(rows), per):
        group = rows[start:start + per]
        merged = dict(group[-1])
        merged["t"] = group[0]["t"]
        for key in ("jobs.inQueue", "jobs.inProgress"):
            merged[key] = max(row.get(key, 0.0) for row in group)
        out.append(merged)
    return out, float(per)


def health(runs: Sequence[RunData]) -> Chart | None:
    if not any(run.health for run in runs):
        return None
    tdiv, x_label = _time_axis(runs)
    jobs: list[Series] = []
    workers: list[Series] = []
    queue_top = 0.0
    queue_limits: set[int] = set()
    thinned = False
    for i, run in enumerate(runs):
        if not run.health:
            continue
        rows, per = _health_rows(run)
        thinned = thinned or per > 1
        x = [(row["t"] - run.start) / tdiv for row in rows]
        suffix = _suffix(run, runs)
        dash = st.RUN_DASHES[i % len(st.RUN_DASHES)] if len(runs) > 1 else "solid"
        queue = [row.get("jobs.inQueue", 0.0) for row in rows]
        queue_top = max(queue_top, max(queue, default=0.0))
        jobs.append(Series(f"in queue{suffix}", x, queue, Style(st.PALETTE[1], dash), kind="step", where="post",
                           count_label=""))
        jobs.append(Series(f"in progress{suffix}", x, [row.get("jobs.inProgress", 0.0) for row in rows],
                           Style(st.PALETTE[0], dash), kind="step", where="post", count_label=""))
        if run.limits.queue_size is not None:
            queue_limits.add(run.limits.queue_size.value)
        if len(runs) == 1:
            base = np.zeros(len(rows))
            for state in WORKER_STATES:
                values = np.array([row.get(f"workers.{state}", 0.0) for row in rows])
                if not values.any():
                    continue
                workers.append(Series(state, x, list(base + values), Style(st.WORKER_STATE_COLOURS[state]),
                                      kind="area", where="post", base=list(base), value=list(values),
                                      count_label="", fill_alpha=0.75))
                base = base + values
            if run.limits.workers_max is not None and workers:
                end = run.duration_s / tdiv
                workers.append(Series(f"workers_max {run.limits.workers_max} (emulator)", [0.0, end],
                                      [float(run.limits.workers_max)] * 2, Style(st.LIMIT_COLOUR, "dotted"),
                                      kind="limit", where="post", count_label=""))
        else:
            for state, colour in (("running", st.WORKER_STATE_COLOURS["running"]),
                                  ("idle", st.WORKER_STATE_COLOURS["idle"])):
                workers.append(Series(f"{state}{suffix}", x, [row.get(f"workers.{state}", 0.0) for row in rows],
                                      Style(colour, dash), kind="step", where="post", count_label=""))
    source = {run.limits.queue_size.source.value for run in runs if run.limits.queue_size is not None}
    for k, limit in enumerate(sorted(queue_limits)):
        if queue_top >= QUEUE_LIMIT_SHOWN_FROM * limit:
            end = max(run.duration_s for run in runs) / tdiv
            jobs.append(Series(f"queue-size limit {limit:,} ({'/'.join(sorted(source))}): above it /run and "
                               f"/runsync get 429", [0.0, end], [float(limit), float(limit)],
                               Style(st.LIMIT_COLOUR, ("dashed", "dotted")[k % 2]), kind="limit", where="post",
                               count_label=""))
    panels = [Panel("queue length and jobs in progress", "jobs", jobs, x_label, "jobs", x_is_time=True)]
    if workers:
        title = "workers by state (stacked)" if len(runs) == 1 else "workers running and idle"
        panels.append(Panel(title, "workers", workers, x_label, "workers", x_is_time=True, height=0.7))
    caption = "Sampled from the endpoint's /health route during the run; levels are held until the next sample."
    if thinned:
        caption += " Long run: each step shows a group of samples (largest queue, last worker counts)."
    return Chart("endpoint_health", "Endpoint queue and workers over time (from /health)", caption, panels)


# ----------------------------------------------------------------------------------------- bar charts


def latency_by_op(runs: Sequence[RunData]) -> Chart | None:
    ops = sorted({op for run in runs for op, v in _latency_by_op(run).items() if v is not None})
    if not ops:
        return None
    stats = ("p50", "p95", "p99")
    largest = max(_stat(_latency_by_op(run).get(op), s) or 0.0 for run in runs for op in ops for s in stats)
    unit, divisor = st.time_unit(largest)
    series = []
    for i, run in enumerate(runs):
        by_op = _latency_by_op(run)
        for stat in stats:
            values = [_stat(by_op.get(op), stat) for op in ops]
            series.append(Series(f"{stat}{_suffix(run, runs)}", [], [None if v is None else v / divisor
                                                                    for v in values],
                                 Style(st.STAT_COLOURS[stat], st.RUN_DASHES[i % len(st.RUN_DASHES)])))
    panel = Panel("", f"request latency ({unit})", series, "operation", unit, kind="bars",
                  categories=[f"/{op}" for op in ops])
    caption = "Whole-run percentiles of HTTP request latency, every answer included."
    if len(runs) > 1:
        caption += " Hatched bars: run B."
    return Chart("latency_by_op", "Request latency per operation (p50 / p95 / p99)", caption, [panel])


def _latency_by_op(run: RunData) -> Mapping[str, ScopeFigures | None]:
    latency = run.metrics.get("latency")
    return latency.by_op if latency is not None else {}


def _stat(figures: ScopeFigures | None, stat: str) -> float | None:
    return figures.get(stat) if figures is not None else None


def job_statuses(runs: Sequence[RunData]) -> Chart | None:
    rows: list[tuple[str, Mapping[str, int]]] = []
    for run in runs:
        for flow, statuses in run.summary.jobs.by_flow.items():
            rows.append((f"{flow}{_suffix(run, runs)}", statuses))
    if not rows:
        return None
    order = [s for s in st.STATUS_COLOURS if any(s in r for _, r in rows)]
    order += sorted({s for _, r in rows for s in r} - set(order))
    extra = iter(st.PALETTE)
    series = [Series(status, [], [float(r.get(status, 0)) for _, r in rows],
                     Style(st.STATUS_COLOURS.get(status) or next(extra, "#455A64"))) for status in order]
    panel = Panel("", "flow", series, "jobs", "jobs", kind="hbars", categories=[name for name, _ in rows],
                  height=max(1.0, 0.25 * len(rows)))
    return Chart("job_statuses", "Final job statuses per flow",
                 "How every submitted job ended; IN_FLIGHT jobs had not finished when the run ended.", [panel])


LAG_SHOWN_FROM_MS = 50.0
"""The loop-lag chart is drawn when some process's loop was at least this late (else a calm line)."""


def loop_lag(runs: Sequence[RunData]) -> Chart | None:
    """The worst event-loop lag per second of every process of the run, against the stall threshold."""
    run = runs[0]
    lags = run.loop_lag()
    if not lags or max((float(lag.get("max_ms") or 0.0) for lag in lags.values()), default=0.0) < LAG_SHOWN_FROM_MS:
        return None
    tdiv, x_label = _time_axis([run])
    series = []
    first, last = math.floor(run.start), math.ceil(run.start + run.duration_s)
    for index, (process, lag) in enumerate(sorted(lags.items())):
        worst = {int(t): float(ms) for t, ms in lag.get("per_second") or []}
        seconds = range(first, last + 1)  # every second of the run: those not kept were under 1 ms
        series.append(Series(process, [(t - run.start) / tdiv for t in seconds], [worst.get(t, 0.0) for t in seconds],
                             st.nth_style(index), kind="step", where="post"))
    stall_ms = 1000.0 * float(next(iter(lags.values())).get("stall_s") or STALL_S)
    span = max(run.duration_s, 1.0) / tdiv
    series.append(Series(f"stall threshold {stall_ms:.0f} ms", [0.0, span], [stall_ms, stall_ms],
                         Style("#000000", "dashed"), kind="limit"))
    panel = Panel("", "worst lag in the second (ms)", series, x_label, "ms", x_is_time=True)
    return Chart("loop_lag", "Event-loop lag of each process",
                 "How late each process's event loop woke, at worst, in each second (seconds under 1 ms are not "
                 "kept). A lag above the stall threshold means that process sent, stamped or measured late "
                 "there: figures around a stall may be distorted.", [panel])


CHARTS: tuple[ChartMaker, ...] = (
    percentiles_over_time("queue_delay", "Queue delay"),
    distribution("queue_delay", "Queue delay"),
    percentiles_over_time("execution_time", "Execution time"),
    distribution("execution_time", "Execution time"),
    distribution("end_to_end", "End-to-end job time", by="flow"),
    percentiles_over_time("end_to_end", "End-to-end job time"),
    distribution("first_chunk", "Time to first chunk", by="flow"),
    percentiles_over_time("first_chunk", "Time to first chunk"),
    distribution("chunk_gap", "Gap between streamed chunks", by="flow", count_label="gaps"),
    chunk_rate,
    throughput,
    throttling,
    distribution("retry_after", "Retry-After asked for", by="op", count_label="429 answers"),
    percentiles_over_time("retry_after", "Retry-After asked for", count_label="429 answers"),
    distribution("backoff_wait", "Wait after a 429 before sending again", by="op", count_label="waits"),
    latency_by_op,
    health,
    loop_lag,
    job_statuses,
)
"""Every chart of a report, in report order."""


def charts(runs: Sequence[RunData]) -> list[Chart]:
    """Every chart the runs have data for; time axes span the whole (longest) run, whatever a series covers."""
    divisor, _ = _time_axis(runs)
    span = (0.0, max((run.duration_s for run in runs), default=0.0) / divisor)
    made = [chart for make in CHARTS if (chart := make(runs)) is not None]
    for chart in made:
        for panel in chart.panels:
            if panel.x_is_time and panel.x_range is None and span[1] > 0:
                panel.x_range = span
    return made


def render_all(runs: Sequence[RunData]) -> list[Plot]:
    """Every chart the runs have data for, drawn as PNGs."""
    return [render(chart) for chart in charts(runs)]
