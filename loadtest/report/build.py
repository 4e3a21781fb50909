"""Build a run's report: plots (PNG files), ``report.html`` and ``summary.md``, from the run directory alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loadtest.metrics.rundir import write_atomic
from loadtest.report.data import RunData, load_run
from loadtest.report.html import render_report
from loadtest.report.markdown import render_summary
from loadtest.report.plots import Plot, render_all

REPORT_HTML = "report.html"
SUMMARY_MD = "summary.md"
PLOTS_DIR = "plots"


@dataclass(frozen=True)
class BuiltReport:
    run: RunData
    html: Path
    markdown: Path
    plots: list[Path]


def build_report(run_dir: Path | str) -> BuiltReport:
    """(Re)write ``report.html``, ``summary.md`` and ``plots/*.png`` in ``run_dir``; returns their paths.

    Raises :class:`loadtest.metrics.rundir.RunDirectoryError` when the directory is not a readable run.
    """
    run = load_run(run_dir)
    plots: list[Plot] = render_all([run])
    plot_dir = run.path / PLOTS_DIR
    plot_dir.mkdir(exist_ok=True)
    paths = []
    for plot in plots:
        path = plot_dir / f"{plot.slug}.png"
        write_atomic(path, plot.png)
        paths.append(path)
    html = run.path / REPORT_HTML
    write_atomic(html, render_report(run, plots))
    markdown = run.path / SUMMARY_MD
    write_atomic(markdown, render_summary(run))
    return BuiltReport(run, html, markdown, paths)
