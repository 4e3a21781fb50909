"""Plots that read at a glance: every series of a panel looks different (in the PNG and in the page), times
past 10 s are in seconds, percentile points need enough jobs, states are steps, labels are clean."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from loadtest.contract import Op
from loadtest.metrics.recorder import JobRecord, Recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.report import interactive, style
from loadtest.report.chart_model import Chart
from loadtest.report.data import RunData, load_run
from loadtest.report.run_charts import charts, render_all
from loadtest.rundir import layout

T0 = 1_750_000_000.0
FLOWS = [f"flow_{k:02d}" for k in range(11)]
OPS = [op.value for op in Op]


def _busy_run(root: Path, name: str, seed: int, slow: bool = False) -> Path:
    """A run with eleven flows, every operation, streams, 429s, failures and /health samples."""
    rng = random.Random(seed)
    rec = Recorder(start=T0)
    duration = 40.0
    for i in range(1600):
        t = T0 + duration * (i + 0.5) / 1600
        flow = FLOWS[i % len(FLOWS)]
        op = OPS[i % len(OPS)]
        throttled = rng.random() < 0.1
        rec.record_request(op, flow, 429 if throttled else 200, rng.uniform(1, 40), t=t)
        if throttled:
            rec.record_throttle(op, flow, 1000.0 * rng.randint(1, 3), rng.uniform(500, 3000), t=t)
        if i % 11 == 0:
            rec.record_health({"jobs": {"inQueue": i % 17, "inProgress": 3},
                               "workers": {"idle": 1, "initializing": i % 2, "running": 2, "ready": 0,
                                           "throttled": 0, "unhealthy": 0}}, t=t)
        base = 12_000.0 if slow else 300.0
        rec.record_job(JobRecord(
            job_id=f"j{i}", flow=flow, submitted_at=t, final_status=rng.choice(["COMPLETED"] * 8 + ["FAILED"]),
            delay_ms=rng.uniform(10, base), execution_ms=rng.uniform(50, base),
            end_to_end_ms=rng.uniform(100, 2 * base),
            first_chunk_ms=rng.uniform(20, 200), chunk_gaps_ms=[rng.uniform(5, 50) for _ in range(3)], chunks=4,
            chunk_batches=[(rng.uniform(20, 200), 2), (rng.uniform(200, 400), 2)],
        ), t=t)
    path = layout.new_run_directory(name, root=root, when=T0 + seed)
    write_run_directory(path, rec, RunRecord(scenario={"name": name}, duration_s=duration, started_at=T0))
    return path


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunData, RunData]:
    root = tmp_path_factory.mktemp("busy")
    a, b = load_run(_busy_run(root, "busy", 1)), load_run(_busy_run(root, "busy", 2, slow=True))
    return a, b


def _drawn_styles(chart: Chart) -> list[tuple[int, str, tuple[str, ...]]]:
    """(panel, label, look) of every series as the page draws it."""
    document = json.loads(interactive.chart_json(chart))
    return [(p, s["label"], (s["kind"] == "area", s["colour"].lower(), s["dash"], s["marker"]))
            for p, panel in enumerate(document["panels"]) for s in panel["series"]]


@pytest.mark.parametrize("overlay", [False, True], ids=["one run", "compare"])
def test_no_two_series_of_a_panel_look_alike(busy: tuple[RunData, RunData], overlay: bool) -> None:
    a, b = busy
    if overlay:
        a.tag, b.tag = "A", "B"
    runs = [a, b] if overlay else [a]
    plots = render_all(runs)
    assert {"throughput_by_op", "end_to_end_by_flow", "rate_429_by_op", "endpoint_health", "chunks_by_flow",
            "retry_after_by_op", "retry_after_over_time", "backoff_wait_by_op"} <= {p.slug for p in plots}
    series_seen = 0
    for plot in plots:
        for where, looks in (("PNG", [(p, label, look) for p, label, look in plot.legend]),
                             ("page", _drawn_styles(plot.chart) if plot.chart.interactive else [])):
            by_panel: dict[int, Counter[tuple[object, ...]]] = {}
            for panel, _, look in looks:
                by_panel.setdefault(panel, Counter())[look] += 1
            for panel, counter in by_panel.items():
                shared = [look for look, n in counter.items() if n > 1]
                labels = [label for p, label, look in looks if p == panel and look in shared]
                assert not shared, f"{plot.slug} ({where}), panel {panel}: {labels} are drawn alike"
            series_seen += len(looks)
    assert series_seen > 100
    throughput = next(p for p in plots if p.slug == "throughput_by_op")
    assert len(throughput.legend) == len(OPS) * len(runs)  # all eleven operations, each its own look


def test_palette_styles_are_distinct_for_many_series() -> None:
    looks = [style.nth_style(i).key for i in range(200)]
    assert len(set(looks)) == 160  # 8 colours × 4 dashes × 5 markers
    assert len({style.run_style(i, r, 2).key for i in range(40) for r in range(2)}) == 80
    assert style.LIMIT_COLOUR not in style.PALETTE and style.THROTTLED_COLOUR not in style.PALETTE


def test_times_past_ten_seconds_are_drawn_in_seconds(busy: tuple[RunData, RunData]) -> None:
    fast, slow = busy
    label = {c.slug: c.panels[0].y_label for c in charts([slow])}
    assert label["queue_delay_over_time"] == "Queue delay (s)"
    assert label["end_to_end_by_flow"] == "End-to-end job time (s)"
    assert {c.slug: c.panels[0].y_label for c in charts([fast])}["queue_delay_over_time"] == "Queue delay (ms)"
    chart = next(c for c in charts([slow]) if c.slug == "execution_time_distribution")
    assert max(v for s in chart.panels[0].series for v in s.y if v is not None) < 13  # seconds, not 12000


def test_nines_axis_labels_are_round_percentiles(busy: tuple[RunData, RunData]) -> None:
    for chart in charts(list(busy[:1])):
        for panel in chart.panels:
            for _, label in panel.x_ticks or []:
                assert label in {"p0", "p50", "p90", "p99", "p99.9", "p99.99", "p99.999", "p99.9999"}, label
    assert style.nines_ticks(2.3) == [(0.0, "p0"), (pytest.approx(0.30103), "p50"), (1.0, "p90"), (2.0, "p99")]


def test_percentile_points_only_where_a_window_holds_enough_jobs(busy: tuple[RunData, RunData]) -> None:
    chart = next(c for c in charts([busy[0]]) if c.slug == "queue_delay_over_time")
    lines, counts = chart.panels
    jobs = lines.series[0].counts  # each point carries its window's job count (shown on hover)
    assert jobs is not None and counts.series[0].y[:-1] == jobs  # the lower panel draws the same counts
    need = {"p50": 5, "p95": 20, "p99": 100}
    for series in lines.series:
        stat = series.label.split()[0]
        assert series.counts == jobs
        for value, n in zip(series.y, jobs, strict=True):
            if value is not None:
                assert n is not None and n >= need[stat], (series.label, n)
    assert any(v is not None for v in lines.series[0].y)  # p50 is drawn
    p99 = lines.series[2]  # 40 jobs per 1 s window: never enough for a p99, and the legend says so
    assert all(v is None for v in p99.y) and p99.label == "p99 (no window held 100 jobs)"


def test_states_are_steps_and_legends_sit_outside_the_data(busy: tuple[RunData, RunData]) -> None:
    chart = next(c for c in charts([busy[0]]) if c.slug == "endpoint_health")
    kinds = {(s.label, s.kind, s.where) for panel in chart.panels for s in panel.series}
    assert ("in queue", "step", "post") in kinds and ("running", "area", "post") in kinds
    assert all(s.kind != "line" for panel in chart.panels for s in panel.series)
    from loadtest.report.png import LEGEND

    assert LEGEND["loc"] == "upper left" and LEGEND["bbox_to_anchor"][0] > 1  # right of the axes


def test_labels_are_clean(busy: tuple[RunData, RunData]) -> None:
    for chart in charts(list(busy)):
        texts = [chart.title] + [t for p in chart.panels for t in (p.title, p.y_label, *(s.label for s in p.series))]
        for text in texts:
            assert not re.search(r"p\d+\.\d{2,}", text), text  # no p99.49
            assert "nan" not in text.lower().split(), text
