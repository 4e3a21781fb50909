"""Two runs side by side: every headline figure with its difference, and the plots overlaid."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from loadtest.metrics.catalog import METRICS, Direction, Kind
from loadtest.metrics.rundir import write_atomic
from loadtest.report import tables
from loadtest.report.build import write_plots
from loadtest.report.data import RunData, load_run
from loadtest.report.html import page, plots_html, table_html
from loadtest.report.markdown import md_table
from loadtest.report.plots import render_all

COMPARE_HTML = "compare.html"
COMPARE_MD = "compare.md"
COMPARE_JSON = "compare.json"


@dataclass(frozen=True)
class Difference:
    """One figure in both runs. ``change`` is ``better``, ``worse``, ``same`` or ``""`` (neutral/unknown)."""

    ref: str
    unit: str
    a: float | None
    b: float | None
    delta: float | None
    relative: float | None
    change: str


def _difference(ref: str, unit: str, direction: Direction, a: float | None, b: float | None) -> Difference:
    if a is None or b is None:
        return Difference(ref, unit, a, b, None, None, "")
    delta = b - a
    relative = delta / a if a else None
    if delta == 0:
        change = "same"
    elif direction is Direction.NEUTRAL:
        change = ""
    else:
        worse = delta > 0 if direction is Direction.HIGHER_IS_WORSE else delta < 0
        change = "worse" if worse else "better"
    return Difference(ref, unit, a, b, delta, relative, change)


def differences(a: RunData, b: RunData) -> list[Difference]:
    """Headline figures overall, then per operation and per flow present in either run."""
    out: list[Difference] = []
    for metric in tables.HEADLINE_HISTOGRAMS:
        if not ((a.metrics.get(metric) or {}).get("overall") or (b.metrics.get(metric) or {}).get("overall")):
            continue
        for stat in tables.HEADLINE_STATS:
            spec = METRICS[metric]
            direction = Direction.NEUTRAL if stat == "count" else spec.direction
            out.append(_difference(f"{metric}.{stat}", spec.unit_of(stat), direction,
                                   tables.figure(a.metrics, metric, stat), tables.figure(b.metrics, metric, stat)))
    for metric in tables.HEADLINE_SCALARS:
        spec = METRICS[metric]
        out.append(_difference(metric, spec.unit, spec.direction, tables.figure(a.metrics, metric, "value"),
                               tables.figure(b.metrics, metric, "value")))
    for scope, columns in (("op", tables.OP_COLUMNS), ("flow", tables.FLOW_COLUMNS)):
        names = sorted({n for run in (a, b) for m, _ in columns
                        for n in ((run.metrics.get(m) or {}).get(f"by_{scope}") or {})})
        for name in names:
            for metric, stat in columns:
                spec = METRICS[metric]
                unit = spec.unit_of(stat) if spec.kind is Kind.HISTOGRAM else spec.unit
                ref = (metric if stat == "value" else f"{metric}.{stat}") + f"{{{scope}={name}}}"
                out.append(_difference(ref, unit, spec.direction, tables.figure(a.metrics, metric, stat, scope, name),
                                       tables.figure(b.metrics, metric, stat, scope, name)))
    return out


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
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{run.summary['run'].get('scenario') or 'run'}-{run.path.name}")

    return Path(root) / "compare" / f"{name(a)}_vs_{name(b)}"


def build_comparison(run_a: Path | str, run_b: Path | str, out_dir: Path | str | None = None) -> Path:
    """Write ``compare.html`` (self-contained), ``compare.md``, ``compare.json`` and overlaid plots into
    ``out_dir`` (default ``reports/compare/<A>_vs_<B>/``); returns the HTML path."""
    a, b = load_run(run_a), load_run(run_b)
    a.tag, b.tag = "A", "B"
    out = Path(out_dir) if out_dir is not None else default_output(a, b)
    out.mkdir(parents=True, exist_ok=True)
    diffs = differences(a, b)
    plots = render_all([a, b])
    write_plots(plots, out / "plots")
    headers = ["figure", "A", "B", "B − A", "change"]
    text_rows = [[d.ref, tables.fmt(d.a, d.unit), tables.fmt(d.b, d.unit), _delta_text(d), d.change] for d in diffs]
    html_rows = [[*(_esc(c) for c in row[:4]), f'<span class="{row[4]}">{row[4]}</span>' if row[4] else ""]
                 for row in text_rows]
    worse = sum(1 for d in diffs if d.change == "worse")
    better = sum(1 for d in diffs if d.change == "better")
    intro = (
        "<h1>Comparison</h1>"
        f"<p class=\"sub\">A = <code>{_esc(str(a.path))}</code> ({_esc(a.summary['run']['started_at'])})"
        f"<br>B = <code>{_esc(str(b.path))}</code> ({_esc(b.summary['run']['started_at'])})</p>"
        f"<p>B is better on {better} figures and worse on {worse} (by each figure's direction; "
        "neutral figures describe the load and are not judged).</p>"
    )
    body = [intro, "<h2>Figures</h2>", table_html(headers, html_rows, raw=True), "<h2>Plots (A and B overlaid)</h2>"]
    body.append(plots_html(plots))
    html = out / COMPARE_HTML
    write_atomic(html, page(f"loadtest compare: {a.label} vs {b.label}", "\n".join(body)))
    markdown = [f"# Comparison: {a.label} (A) vs {b.label} (B)", "",
                f"B is better on {better} figures and worse on {worse}.", "", md_table(headers, text_rows), ""]
    write_atomic(out / COMPARE_MD, "\n".join(markdown))
    document = {"format": 1, "a": str(a.path), "b": str(b.path), "differences": [asdict(d) for d in diffs]}
    write_atomic(out / COMPARE_JSON, json.dumps(document, indent=2))
    return html


def _esc(text: str) -> str:
    from html import escape

    return escape(text)
