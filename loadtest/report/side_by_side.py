"""Two runs side by side: every headline figure, its difference, and a judgement of that difference; the
plots overlaid; warnings at the top when the two runs are not comparable as they stand.

A difference is judged by the noise interval the baseline check uses (:mod:`loadtest.metrics.noise`): the
99% block-bootstrap interval of B − A from both runs' per-bucket data. If it holds 0, the difference is
**within noise** (run-to-run variation explains it); if it lies wholly on the worse side of the figure's
direction, **worse**; on the better side, **better**. There is no tolerance: compare says what changed,
the baseline check decides what may change. Neutral figures (requests sent, job counts) describe the load
and are not judged.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path

from loadtest.atomic import write_atomic
from loadtest.metrics.catalog import METRICS, Direction, MetricRef, Scope
from loadtest.metrics.figures import RunBuckets
from loadtest.metrics.noise import DEFAULT_CONFIDENCE, noise_interval
from loadtest.metrics.run_figures import RunFigures
from loadtest.report import tables
from loadtest.report.build import write_plots
from loadtest.report.data import RunData, load_run
from loadtest.report.html import page, plots_html, table_html, warnings_html
from loadtest.report.markdown import md_table
from loadtest.report.run_charts import render_all

COMPARE_HTML = "compare.html"
COMPARE_MD = "compare.md"
COMPARE_JSON = "compare.json"

BETTER, WORSE, WITHIN_NOISE, SAME, NO_ESTIMATE, NOT_JUDGED = (
    "better", "worse", "within noise", "same", "no noise estimate", "")
DURATION_MISMATCH = 0.1
"""Durations differing by more than this share make count figures incomparable: a warning."""


@dataclass(frozen=True)
class Difference:
    """One figure in both runs, and what the difference means.

    ``change``: ``better``/``worse`` (beyond run-to-run noise, by the figure's direction), ``within noise``,
    ``same``, ``no noise estimate`` (``why`` says why) or ``""`` (not judged: a neutral figure, or
    measured by one run only). ``interval``: the 99% noise interval of B − A, when estimated."""

    ref: str
    unit: str
    a: float | None
    b: float | None
    delta: float | None
    relative: float | None
    change: str
    interval: tuple[float, float] | None = None
    why: str = ""


def _range(ref: MetricRef, a: float, b: float, figures_a: RunFigures,
           figures_b: RunFigures) -> tuple[float, float] | None:
    """The range B − A can truly take when either figure is only a lower bound (unfinished jobs' times so
    far went into it, up to a cap or none), else None."""
    lower_a, lower_b = figures_a.is_lower_bound(ref), figures_b.is_lower_bound(ref)
    if not (lower_a or lower_b):
        return None
    high_a = figures_a.upper_bound(ref) if lower_a else a
    high_b = figures_b.upper_bound(ref) if lower_b else b
    return (b - (math.inf if high_a is None else high_a), (math.inf if high_b is None else high_b) - a)


def _judge(ref: MetricRef, direction: Direction, a: float | None, b: float | None, run_a: RunBuckets | None,
           run_b: RunBuckets | None, confidence: float, figures: tuple[RunFigures, RunFigures]) -> Difference:
    unit = ref.unit
    name = _ref_text(ref)
    if a is None or b is None:
        which = "A" if a is not None else "B"
        why = f"measured by {which} only" if (a is not None) != (b is not None) else "measured by neither"
        return Difference(name, unit, a, b, None, None, NOT_JUDGED, why=why)
    delta = b - a
    relative = delta / a if a else None
    if direction is Direction.NEUTRAL:
        return Difference(name, unit, a, b, delta, relative, NOT_JUDGED, why="describes the load; not judged")
    bounds = _range(ref, a, b, *figures)
    if bounds is not None and bounds[0] <= 0 <= bounds[1]:
        return Difference(name, unit, a, b, delta, relative, NOT_JUDGED,
                          why=f"a range (unfinished jobs went in with their time so far): B − A lies between "
                              f"{_signed(bounds[0], unit)} and {_signed(bounds[1], unit)}")
    if delta == 0:
        return Difference(name, unit, a, b, delta, relative, SAME)
    noise = noise_interval(ref, run_b, run_a, confidence=confidence)
    if not noise.known:
        return Difference(name, unit, a, b, delta, relative, NO_ESTIMATE, why=noise.reason)
    assert noise.low is not None and noise.high is not None
    low, high = delta + noise.low, delta + noise.high
    if low <= 0 <= high:
        change = WITHIN_NOISE
    else:
        worse = low > 0 if direction is Direction.HIGHER_IS_WORSE else high < 0
        change = WORSE if worse else BETTER
    why = f"{confidence:.0%} noise interval of B − A: {_signed(low, unit)} to {_signed(high, unit)}"
    return Difference(name, unit, a, b, delta, relative, change, (low, high), why)


def _ref_text(ref: MetricRef) -> str:
    """``queue_delay.p95``, ``throughput``, ``latency.p95{op=run}``: as the tables name figures."""
    body = ref.metric if ref.stat == "value" else f"{ref.metric}.{ref.stat}"
    return body + (f"{{{ref.scope.value}={ref.scope_value}}}" if ref.scope is not None else "")


def _signed(value: float, unit: str) -> str:
    return ("+" if value > 0 else "") + tables.fmt(value, unit).lstrip()


def differences(a: RunData, b: RunData, *, confidence: float = DEFAULT_CONFIDENCE) -> list[Difference]:
    """Headline figures overall, then per operation and per flow present in either run, each judged."""
    buckets_a, buckets_b = a.buckets(), b.buckets()
    out: list[Difference] = []

    def add(metric: str, stat: str, scope: Scope | None = None, name: str | None = None) -> None:
        spec = METRICS[metric]
        direction = Direction.NEUTRAL if stat == "count" else spec.direction
        ref = MetricRef(metric, stat, scope, name)
        out.append(_judge(ref, direction, tables.figure(a.metrics, metric, stat, scope, name),
                          tables.figure(b.metrics, metric, stat, scope, name), buckets_a, buckets_b, confidence,
                          (a.metrics, b.metrics)))

    for metric in tables.HEADLINE_HISTOGRAMS:
        if tables.measured(a.metrics, metric) or tables.measured(b.metrics, metric):
            for stat in tables.HEADLINE_STATS:
                add(metric, stat)
    for metric in tables.HEADLINE_SCALARS:
        add(metric, "value")
    for scope, columns in ((Scope.OP, tables.OP_COLUMNS), (Scope.FLOW, tables.FLOW_COLUMNS)):
        names = sorted(tables.scope_names(a.metrics, columns, scope) | tables.scope_names(b.metrics, columns, scope))
        for name in names:
            for metric, stat in columns:
                add(metric, stat, scope, name)
    return out


def comparability_warnings(a: RunData, b: RunData) -> list[str]:
    """What makes the two runs' figures differ for reasons other than the system under test."""
    warnings = []
    ra, rb = a.summary.run, b.summary.run
    if ra.scenario != rb.scenario:
        warnings.append(f"A and B ran different scenarios ({ra.scenario!r} and {rb.scenario!r}): "
                        "their differences may be the scenarios', not the system's.")
    elif a.scenario is not None and b.scenario is not None:
        differ = _differing_sections(a.scenario, b.scenario)
        if differ:
            warnings.append(f"A and B ran scenario {ra.scenario!r} with different settings "
                            f"({', '.join(differ)}): their differences may come from those.")
    for tag, run in (("A", a), ("B", b)):
        if run.summary.run.interrupted:
            warnings.append(f"{tag} was interrupted: its figures cover only the part that ran "
                            f"({run.duration_s:.1f} s).")
    longer, shorter = max(a.duration_s, b.duration_s), min(a.duration_s, b.duration_s)
    if longer > 0 and (longer - shorter) / longer > DURATION_MISMATCH:
        warnings.append(f"The runs lasted {a.duration_s:.1f} s (A) and {b.duration_s:.1f} s (B): counts (requests, "
                        "jobs) differ with the length; compare rates and times.")
    return warnings


def _differing_sections(a: Mapping[str, object], b: Mapping[str, object]) -> list[str]:
    """Top-level scenario sections (``load``, ``target.emulator``, ``mix``...) that differ, seed included."""
    differ = []
    for key in sorted(set(a) | set(b)):
        if key in ("name", "description"):
            continue
        left, right = a.get(key), b.get(key)
        if key == "target" and isinstance(left, Mapping) and isinstance(right, Mapping):
            differ += [f"target.{k}" for k in sorted(set(left) | set(right)) if left.get(k) != right.get(k)]
        elif left != right:
            differ.append(key)
    return differ


def verdict_line(diffs: list[Difference]) -> str:
    """One sentence: how many figures changed beyond noise, and which way."""
    count = {c: sum(1 for d in diffs if d.change == c) for c in (BETTER, WORSE, WITHIN_NOISE, SAME, NO_ESTIMATE)}
    judged = sum(count.values())
    text = (f"Of {judged} judged figures, B is better on {count[BETTER]} and worse on {count[WORSE]} beyond "
            f"run-to-run noise; {count[WITHIN_NOISE] + count[SAME]} differ within noise")
    if count[NO_ESTIMATE]:
        text += f"; {count[NO_ESTIMATE]} could not be judged (no noise estimate)"
    return text + "."


def _delta_text(d: Difference) -> str:
    if d.delta is None:
        return "–"
    sign = "+" if d.delta > 0 else ""
    text = sign + tables.fmt(d.delta, d.unit).lstrip()
    if d.relative is not None:
        text += f" ({sign}{100 * d.relative:.3g}%)"
    return text


def default_output(a: RunData, b: RunData, root: Path | str = "reports") -> Path:
    def name(run: RunData) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{run.summary.run.scenario or 'run'}-{run.path.name}")

    return Path(root) / "compare" / f"{name(a)}_vs_{name(b)}"


HEADERS = ["figure", "A", "B", "B − A", "change", "why"]
TEXT_COLUMNS = (4, 5)
_CLASSES = {BETTER: "better", WORSE: "worse", WITHIN_NOISE: "noise", SAME: "noise"}


def _rows(diffs: list[Difference]) -> list[list[str]]:
    return [[d.ref, tables.fmt(d.a, d.unit), tables.fmt(d.b, d.unit), _delta_text(d), d.change, d.why]
            for d in diffs]


def _html_rows(diffs: list[Difference]) -> list[list[str]]:
    return [[*(escape(c) for c in row[:4]),
             f'<span class="{_CLASSES.get(row[4], "other")}">{escape(row[4])}</span>' if row[4] else "",
             f'<span class="sub">{escape(row[5])}</span>']
            for row in _rows(diffs)]


def build_comparison(run_a: Path | str, run_b: Path | str, out_dir: Path | str | None = None) -> Path:
    """Write ``compare.html`` (one file), ``compare.md``, ``compare.json`` and overlaid plots into ``out_dir``
    (default ``reports/compare/<A>_vs_<B>/``); returns the HTML path."""
    a, b = load_run(run_a), load_run(run_b)
    a.tag, b.tag = "A", "B"
    out = Path(out_dir) if out_dir is not None else default_output(a, b)
    out.mkdir(parents=True, exist_ok=True)
    diffs = differences(a, b)
    warnings = comparability_warnings(a, b) + [f"A: {w}" for w in a.warnings] + [f"B: {w}" for w in b.warnings]
    plots = render_all([a, b])
    write_plots(plots, out / "plots")
    changed = [d for d in diffs if d.change in (BETTER, WORSE)]
    line = verdict_line(diffs)
    intro = (
        "<h1>Comparison</h1>"
        f"<p class=\"sub\">A = <code>{escape(str(a.path))}</code> ({escape(a.summary.run.started_at)})"
        f"<br>B = <code>{escape(str(b.path))}</code> ({escape(b.summary.run.started_at)})</p>"
        + warnings_html(warnings)
        + f"<p><b>{escape(line)}</b></p>"
        "<p class=\"sub\">A difference is judged against the noise interval the baseline check uses (the 99% "
        "block-bootstrap interval of B − A from both runs' per-second data): inside it, run-to-run variation "
        "explains the difference. At 99%, about one figure in a hundred that did not really change is "
        "flagged by chance; variation between runs that no second of either run shows (a machine that is "
        "slower today) is not in the interval. Figures that describe the load (requests sent, jobs) are not "
        "judged.</p>"
    )
    body = [intro, "<h2>Changes beyond noise</h2>",
            table_html(HEADERS, _html_rows(changed), raw=True) if changed
            else "<p>None: every judged difference is within run-to-run noise.</p>",
            "<h2>Every figure</h2>", table_html(HEADERS, _html_rows(diffs), raw=True),
            "<h2>Plots (A and B overlaid)</h2>", plots_html(plots)]
    html = out / COMPARE_HTML
    write_atomic(html, page(f"loadtest compare: {a.label} vs {b.label}", "\n".join(body)))
    markdown = [f"# Comparison: {a.label} (A) vs {b.label} (B)", ""]
    markdown += [f"> **Warning**: {w}" for w in warnings] + ([""] if warnings else [])
    markdown += [line, ""]
    if changed:
        markdown += ["## Changes beyond noise", "", md_table(HEADERS, _rows(changed), TEXT_COLUMNS), ""]
    markdown += ["## Every figure", "", md_table(HEADERS, _rows(diffs), TEXT_COLUMNS), ""]
    write_atomic(out / COMPARE_MD, "\n".join(markdown))
    document = {"format": 1, "a": str(a.path), "b": str(b.path), "warnings": warnings, "summary": line,
                "differences": [asdict(d) for d in diffs]}
    write_atomic(out / COMPARE_JSON, json.dumps(document, indent=2))
    return html
