"""``report.html``: one self-contained file that opens offline: inline CSS, the charting library and each
chart's data inline (``interactive.py``), bar charts as PNG data URIs; nothing is fetched."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape

from loadtest.metrics.catalog import Scope
from loadtest.report import interactive, tables
from loadtest.report.data import RunData
from loadtest.report.png import Plot
from loadtest.rundir.documents import RealWorkers, RunWarning, VerdictsDocument

CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1200px;
padding:16px 24px;color:#1b1b1b;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:2px solid #e0e0e0;padding-bottom:4px;margin-top:32px}
.sub{color:#555;margin-top:4px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.9em}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:right}th{background:#f5f5f5;vertical-align:bottom}
td{white-space:nowrap}td.wrap{white-space:normal;text-align:left}th.wrap{text-align:left}
td:first-child,th:first-child{text-align:left}
code{background:#f5f5f5;padding:1px 4px;border-radius:3px}
.pass{color:#1b5e20;font-weight:bold}.fail{color:#b71c1c;font-weight:bold}.other{color:#e65100;font-weight:bold}
.banner{padding:8px 12px;border-radius:4px;margin:12px 0}
.banner.warn{background:#fff3e0;border:1px solid #ffb74d}.banner.bad{background:#ffebee;border:1px solid #e57373}
.banner.good{background:#e8f5e9;border:1px solid #81c784}
figure{margin:16px 0 28px}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:0.9em}
pre{background:#fafafa;border:1px solid #eee;padding:8px;overflow:auto;font-size:0.85em}
.better{color:#1b5e20;font-weight:bold}.worse{color:#b71c1c;font-weight:bold}.noise{color:#555}
figure.chart .chart-title{font-weight:bold;font-size:1.1em;margin-bottom:4px}
.chart-panel{margin-bottom:6px}.uplot .u-title{font-size:0.9em;font-weight:normal;text-align:left}
.uplot .u-legend{font-size:0.82em;text-align:left}.uplot .u-legend .u-marker{width:1.2em}
.chart-error{color:#b71c1c}.hint{color:#555;font-size:0.9em}
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_html(plot: Plot, plots_dir: str | None = "plots") -> str:
    """A chart: drawn in the page when it can be (with its PNG for readers without scripts), else the PNG
    embedded as a data URI."""
    png = f"{plots_dir}/{plot.slug}.png" if plots_dir else None
    if plot.chart.interactive:
        return interactive.figure_html(plot.chart, png)
    return (
        f'<figure id="plot-{escape(plot.slug)}"><img alt="{escape(plot.title)}" src="{data_uri(plot.png)}" '
        f'width="{plot.width_px}" height="{plot.height_px}"><figcaption>{escape(plot.caption)}</figcaption></figure>'
    )


def plots_html(plots: Sequence[Plot], plots_dir: str | None = "plots") -> str:
    """The list of charts, the library once, then every chart."""
    out = ["<ul>" + "".join(f'<li><a href="#plot-{escape(p.slug)}">{escape(p.title)}</a></li>' for p in plots)
           + "</ul>"]
    if any(p.chart.interactive for p in plots):
        out.append('<p class="hint">Hover a chart to read its values and the samples behind them; click a legend '
                   "entry to hide or show it; drag across a chart to zoom into that time range, double-click to "
                   "zoom out. The same charts are PNG files in <code>plots/</code>.</p>")
        out.append(interactive.assets())
    out += [figure_html(p, plots_dir) for p in plots]
    return "\n".join(out)


def _header(text: str) -> str:
    """A column header that may wrap after ``.`` and ``_`` (long metric names)."""
    return escape(text).replace(".", ".<wbr>").replace("_", "_<wbr>")


def table_html(headers: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False, wrap: bool = False) -> str:
    """A table; cells are figures kept on one line, or text that wraps (``wrap``)."""
    head_tag = '<th class="wrap">' if wrap else "<th>"
    head = "".join(f"{head_tag}{_header(h)}</th>" for h in headers)
    cell_tag = '<td class="wrap">' if wrap else "<td>"
    body = "".join(
        "<tr>" + "".join(f"{cell_tag}{cell if raw else escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    # Wide tables (many flows or statistics) scroll inside their box instead of widening the page.
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def verdict_class(verdict: str) -> str:
    word = verdict.strip().lower()
    if word in ("pass", "passed", "ok", "met"):
        return "pass"
    if word in ("fail", "failed", "missed", "regression"):
        return "fail"
    return "other"


def page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def warnings_html(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return f'<div class="banner warn"><b>Warnings</b><ul>{items}</ul></div>'


def findings_html(findings: Sequence[RunWarning]) -> str:
    """A banner per thing that went wrong in the run: a failure in red, the rest in amber."""
    banners = []
    for finding in findings:
        tone = "bad" if finding.kind == "run_failure" else "warn"
        banners.append(f'<div class="banner {tone}">{escape(finding.message)}</div>')
    return "\n".join(banners)


def failed_workers_html(sections: Sequence[RealWorkers]) -> str:
    """The last lines a real worker printed, for each worker that crashed or failed to start."""
    parts = [f"<details open><summary>worker {escape(worker.id)} ended: {escape(worker.why)}"
             f"</summary><pre>{escape(chr(10).join(worker.output_tail))}</pre></details>"
             for section in sections for worker in section.failed]
    return ("<h2>Workers that failed</h2>" + "".join(parts)) if parts else ""


def render_report(run: RunData, plots: Sequence[Plot], files: Sequence[Sequence[str]] = ()) -> str:
    """The report page of one run; ``files``: (name, what) rows of the run directory."""
    s = run.summary
    r = s.run
    parts = [
        f"<h1>Load test report: {escape(r.scenario or run.path.name)}</h1>",
        f"<p class=\"sub\">{escape(r.started_at)} → {escape(r.ended_at)} · {r.duration_s:.1f} s · "
        f"loadtest {escape(s.tool.version)} · run directory <code>{escape(run.path.name)}</code></p>",
    ]
    for workers in run.real_workers():
        parts.append(f"<p class=\"sub\">{escape(workers.label or 'real worker')}</p>")
    if r.interrupted:
        parts.append('<div class="banner warn">The run was <b>interrupted</b>: figures cover only the part '
                     "that ran.</div>")
    parts.append(findings_html(run.findings))
    parts.append(warnings_html(run.warnings))
    parts.append(failed_workers_html(run.real_workers()))
    parts.append(_verdicts_section(run.verdicts))
    parts.append(_headline_section(run))
    parts.append(_limits_section(run))
    parts.append("<h2>Plots</h2>")
    parts.append(plots_html(plots))
    parts.append(_settings_section(run, files))
    return page(f"loadtest report: {r.scenario or run.path.name}", "\n".join(parts))


def _limits_section(run: RunData) -> str:
    rows = tables.limit_rows(run.limits, run.peak_rates(), run.throttled_by_op())
    if not rows:
        return ""
    target = ("the built-in emulator, which enforced its configuration (<code>target.emulator.limits</code>)"
              if run.limits.target == "emulator" else "a real endpoint")
    return (f"<h2>Limits in force</h2><p class=\"sub\">The target was {target}. Each figure names its source: "
            "documented (the RunPod documentation), emulator, discovered (the limit discovery named in "
            "<code>rate_limits.limits_from</code>) or scenario (its own <code>rate_limits.operations</code>); a "
            "later one replaces an earlier one. Peak offered: the busiest window's request rate.</p>"
            + table_html(tables.LIMIT_HEADERS, rows, wrap=True))


def _verdicts_section(verdicts: VerdictsDocument | None) -> str:
    if verdicts is None:
        return ""
    rows = tables.verdict_rows(verdicts.verdicts)
    if not rows:
        return "<h2>Verdicts</h2><p>No criteria were judged.</p>"
    failed = sum(1 for row in rows if verdict_class(row[3]) == "fail")
    unjudged = sum(1 for row in rows if verdict_class(row[3]) == "other")
    if failed:
        banner = f'<div class="banner bad">{failed} of {len(rows)} criteria failed.</div>'
    elif unjudged:
        banner = f'<div class="banner warn">{unjudged} of {len(rows)} criteria could not be judged.</div>'
    else:
        banner = f'<div class="banner good">All {len(rows)} criteria met.</div>'

    cells = [[escape(c) for c in row[:3]] + [f'<span class="{verdict_class(row[3])}">{escape(row[3])}</span>',
                                                escape(row[4])] for row in rows]
    return "<h2>Verdicts</h2>" + banner + table_html(["criterion", "expected", "measured", "verdict", "why"],
                                                     cells, raw=True, wrap=True)


def _headline_section(run: RunData) -> str:
    metrics = run.metrics
    out = ["<h2>Headline figures</h2>", "<h3>Times</h3>"]
    hist_rows = [[metric, *[row.text for row in rows]] for metric, rows in tables.headline_histograms(metrics)]
    out.append(table_html(["metric", *tables.HEADLINE_STATS], hist_rows) if hist_rows else "<p>No times measured.</p>")
    out.append("<h3>Counts and rates</h3>")
    out.append(table_html(["metric", "value"], [[row.ref, row.text] for row in tables.headline_scalars(metrics)]))
    for scope, columns, title in ((Scope.OP, tables.OP_COLUMNS, "Per operation"),
                                  (Scope.FLOW, tables.FLOW_COLUMNS, "Per flow")):
        headers, rows = tables.scoped_table(metrics, scope, columns)
        if rows:
            out.append(f"<h3>{title}</h3>")
            out.append(table_html([scope.value, *headers],
                                  [[name, *[r.text for r in cells]] for name, cells in rows]))
    by_status = run.summary.requests_by_status
    if by_status:
        codes = sorted({c for v in by_status.values() for c in v}, key=int)
        status_rows = [[op, *[f"{v.get(c, 0):,}" for c in codes]] for op, v in by_status.items()]
        out.append("<h3>Requests by status code</h3><p class=\"sub\">0 = connection error or timeout.</p>")
        out.append(table_html(["operation", *codes], status_rows))
    words = [[op, code, f"{by_status.get(op, {}).get(code, 0):,}", text]
             for op, codes in run.summary.error_messages.items() for code, text in codes.items()]
    if words:
        out.append("<h3>What the target said</h3><p class=\"sub\">The first answer for each operation and error "
                   "status (0: why no answer came).</p>")
        out.append(table_html(["operation", "status", "requests", "answer"], words, wrap=True))
    return "\n".join(out)


def _settings_section(run: RunData, files: Sequence[Sequence[str]]) -> str:
    settings = json.dumps(run.summary.run.settings, indent=2, sort_keys=True)
    parts = ["<h2>Settings</h2>", f"<pre>{escape(settings)}</pre>"]
    if files:
        parts.append("<h3>Files in the run directory</h3>")
        parts.append(table_html(["file", "what"], [list(row) for row in files], wrap=True))
    if run.scenario_text is not None:
        parts.append("<h2>Scenario</h2>")
        parts.append(f"<pre>{escape(run.scenario_text)}</pre>")
    return "\n".join(parts)
