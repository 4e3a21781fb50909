"""Build a run's report: plots (PNG files), ``report.html`` and ``summary.md``, from the run directory alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loadtest.atomic import write_atomic
from loadtest.report import tables
from loadtest.report.data import RunData, load_run
from loadtest.report.html import render_report
from loadtest.report.markdown import render_summary
from loadtest.report.png import Plot
from loadtest.report.run_charts import render_all
from loadtest.rundir.layout import PLOTS_DIR, REPORT_HTML, SUMMARY_MD


@dataclass(frozen=True)
class BuiltReport:
    run: RunData
    html: Path
    markdown: Path
    plots: list[Path]


def write_plots(plots: list[Plot], directory: Path) -> list[Path]:
    """Write each plot as ``<slug>.png`` in ``directory`` and remove PNGs of plots no longer drawn (an
    earlier report of the same run, or an older version's names), so the folder holds this report only."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for plot in plots:
        path = directory / f"{plot.slug}.png"
        write_atomic(path, plot.png)
        paths.append(path)
    for stale in set(directory.glob("*.png")) - set(paths):
        stale.unlink(missing_ok=True)
    return paths


def build_report(run_dir: Path | str) -> BuiltReport:
    """(Re)write ``report.html``, ``summary.md`` and ``plots/*.png`` in ``run_dir``; returns their paths.

    Raises :class:`loadtest.rundir.errors.RunDirectoryError` when the directory is not a readable run.
    """
    run = load_run(run_dir)
    plots = render_all([run])
    paths = write_plots(plots, run.path / PLOTS_DIR)
    files = tables.run_files(run.directory, run.summary.files, [REPORT_HTML, SUMMARY_MD, PLOTS_DIR])
    html = run.path / REPORT_HTML
    write_atomic(html, render_report(run, plots, files))
    markdown = run.path / SUMMARY_MD
    write_atomic(markdown, render_summary(run, plots))
    return BuiltReport(run, html, markdown, paths)
