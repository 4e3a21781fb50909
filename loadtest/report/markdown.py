"""``summary.md``: the headline table and verdicts in Markdown, ready for a CI step summary."""

from __future__ import annotations

from collections.abc import Sequence

from loadtest.metrics.catalog import Scope
from loadtest.report import tables
from loadtest.report.data import RunData
from loadtest.report.png import Plot


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_columns: Sequence[int] = ()) -> str:
    """A table: the first column and ``text_columns`` left-aligned, figures right-aligned."""
    def clean(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    aligns = ["---" if i == 0 or i in text_columns else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(clean(h) for h in headers) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_summary(run: RunData, plots: Sequence[Plot] = ()) -> str:
    """The summary; ``plots`` are listed as links to ``plots/<name>.png`` (beside this file)."""
    r = run.summary.run
    out = [f"# Load test: {r.scenario or run.path.name}", "",
           f"{r.started_at} → {r.ended_at} ({r.duration_s:.1f} s), "
           f"loadtest {run.summary.tool.version}, run directory `{run.path.name}`"]
    if r.interrupted:
        out += ["", "> **Interrupted**: figures cover only the part that ran."]
    for finding in run.findings:
        out += ["", f"> **{'Failed' if finding.kind == 'run_failure' else 'Warning'}**: {finding.message}"]
    for warning in run.warnings:
        out += ["", f"> **Warning**: {warning}"]
    if run.verdicts is not None:
        rows = tables.verdict_rows(run.verdicts.verdicts)
        out += ["", "## Verdicts", ""]
        out.append(md_table(["criterion", "expected", "measured", "verdict", "why"], rows, (3, 4)) if rows
                   else "No criteria were judged.")
    hist = tables.headline_histograms(run.metrics)
    out += ["", "## Times", ""]
    out.append(md_table(["metric", *tables.HEADLINE_STATS], [[m, *[x.text for x in rows]] for m, rows in hist])
               if hist else "No times measured.")
    out += ["", "## Counts and rates", ""]
    out.append(md_table(["metric", "value"], [[row.ref, row.text] for row in tables.headline_scalars(run.metrics)]))
    for scope, columns, title in ((Scope.OP, tables.OP_COLUMNS, "Per operation"),
                                  (Scope.FLOW, tables.FLOW_COLUMNS, "Per flow")):
        headers, scoped = tables.scoped_table(run.metrics, scope, columns)
        if scoped:
            out += ["", f"## {title}", ""]
            out.append(md_table([scope.value, *headers],
                                [[name, *[c.text for c in cells]] for name, cells in scoped]))
    limits = tables.limit_rows(run.limits, run.peak_rates(), run.throttled_by_op())
    if limits:
        out += ["", "## Limits in force", "", md_table(tables.LIMIT_HEADERS, limits, (1, 2, 3))]
    if plots:
        out += ["", "## Plots", ""]
        out += [f"- [{plot.title}](plots/{plot.slug}.png)" for plot in plots]
    return "\n".join(out) + "\n"
