"""The run directory's layout: every file and directory name, once, with what it holds.

``reports/<scenario>/<UTC timestamp>/`` holds one run (:func:`new_run_directory`); ``reports/latest``
points at the newest. A limit discovery (``loadtest limits``) writes its own directory of the same kind.
Each name below is an :class:`Entry` (a path component: ``run_dir / SUMMARY_JSON`` works), and what a run
owns (what ``--force`` may replace) is derived from these entries, never listed again.

Adding an artefact is one entry here (listed in :data:`RUN_ENTRIES` or :data:`DISCOVERY_ENTRIES`), one
writer in :mod:`loadtest.rundir.write` and one reader method on :class:`loadtest.rundir.read.RunDirectory`.
The public description of every file is ``docs/run-directory.md``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

FORMAT: Final = 1
"""The run-directory format this version writes (``summary.json``'s ``format``); bumped on any change a
reader of the previous format could misread."""
READABLE_FORMATS: Final = (1,)
"""Formats this version reads; any other is refused with a sentence naming both."""

DEFAULT_JOBS_CSV_ROWS: Final = 100_000
"""``jobs.csv`` lists at most this many jobs (the first ones); ``summary.json`` says how many were left out."""


@dataclass(frozen=True)
class Entry:
    """One file or directory of a run directory."""

    name: str
    what: str
    """What it holds, in a line (the report's file table; ``summary.json``'s ``files`` for what a run writes)."""
    directory: bool = False
    owned: bool = True
    """Whether a run (with its check and report) writes it, so that ``--force`` may replace it."""

    def __fspath__(self) -> str:
        return self.name

    def __str__(self) -> str:
        return self.name

    @property
    def listed(self) -> str:
        """How the report's file table names it (``plots/`` for a directory)."""
        return self.name + "/" if self.directory else self.name


# ---------------------------------------------------------------------------------- what a run writes

SUMMARY_JSON: Final = Entry("summary.json", "headline figures, settings, versions (this file)")
TIMESERIES_JSON: Final = Entry("timeseries.json", "per-bucket figures (histogram percentiles and counters), columnar")
HISTOGRAMS_JSON: Final = Entry("histograms.json", "whole-run HDR histograms per (metric, flow, op), encoded")
RECORDER_JSON: Final = Entry("recorder.json",
                             "the complete recorder snapshot (per-bucket histograms), for exact re-analysis")
JOBS_CSV: Final = Entry("jobs.csv", "one line per job (the first ones, see jobs.rows_omitted)")
HEALTH_CSV: Final = Entry("health.csv", "/health samples over time (t in Unix seconds)")
SCENARIO_YAML: Final = Entry("scenario.yaml", "the scenario as run (resolved, secrets removed)")
GROUND_TRUTH_JSON: Final = Entry("ground_truth.json", "the emulator's own figures for the run")
LIMITS_IN_FORCE_JSON: Final = Entry("limits_in_force.json", "every operation's rate and concurrency limits in "
                                    "force, each with its source (the report draws them)")

# ----------------------------------------------------------------------------- what a run copies in

EMULATOR_LOG: Final = Entry("emulator.log", "the built-in emulator's log")
WORKERS_DIR: Final = Entry("workers", "the output of each real worker process behind the emulator", directory=True)
"""Named beside the emulator's log by ``loadtest/emulator/process.py`` (the emulator imports nothing of ours)."""
LIMITS_JSON: Final = Entry("limits.json", "the rate and concurrency limits a limit discovery found")
LOCUST_CSV_PREFIX: Final = "locust"
"""Locust writes ``<prefix>_stats.csv`` and the rest: the entries below."""
LOCUST_STATS_CSV: Final = Entry(f"{LOCUST_CSV_PREFIX}_stats.csv", "Locust's request statistics")
LOCUST_HISTORY_CSV: Final = Entry(f"{LOCUST_CSV_PREFIX}_stats_history.csv", "Locust's request statistics over time")
LOCUST_FAILURES_CSV: Final = Entry(f"{LOCUST_CSV_PREFIX}_failures.csv", "Locust's failed requests")
LOCUST_EXCEPTIONS_CSV: Final = Entry(f"{LOCUST_CSV_PREFIX}_exceptions.csv", "Locust's exceptions")
LOCUST_HTML: Final = Entry("locust.html", "Locust's own HTML report")
LOCUST_FILES: Final = (LOCUST_STATS_CSV, LOCUST_HISTORY_CSV, LOCUST_FAILURES_CSV, LOCUST_EXCEPTIONS_CSV, LOCUST_HTML)
"""Locust's own files (its statistics, beside ours)."""
COPIED: Final = "copied in by the run"
"""How ``summary.json``'s ``files`` lists a file the run copied in rather than wrote."""

# ------------------------------------------------------------------------ what the check and report write

VERDICTS_JSON: Final = Entry("verdicts.json", "the thresholds' and baseline comparisons' verdicts (loadtest check)")
REPORT_HTML: Final = Entry("report.html", "this report (one file, opens offline)")
SUMMARY_MD: Final = Entry("summary.md", "the headline tables and verdicts in Markdown (for a CI step summary)")
PLOTS_DIR: Final = Entry("plots", "every chart of this report as a PNG image", directory=True)
JUNIT_XML: Final = Entry("junit.xml", "the verdicts as JUnit XML", owned=False)
"""Written where ``loadtest check --junit FILE`` says; often here, so the report knows it (never removed)."""

RUN_ENTRIES: Final = (
    SUMMARY_JSON, TIMESERIES_JSON, HISTOGRAMS_JSON, RECORDER_JSON, JOBS_CSV, HEALTH_CSV, SCENARIO_YAML,
    GROUND_TRUTH_JSON, LIMITS_IN_FORCE_JSON, EMULATOR_LOG, WORKERS_DIR, LIMITS_JSON, *LOCUST_FILES, VERDICTS_JSON,
    REPORT_HTML, SUMMARY_MD, PLOTS_DIR, JUNIT_XML,
)
"""Everything a run directory may hold that loadtest knows."""

# ------------------------------------------------------------------------------ a discovery's directory

DISCOVERY_REQUESTS_CSV: Final = Entry("requests.csv", "every request the discovery sent: schedule, send, answer, "
                                                      "status, Retry-After")
LIMITS_HTML: Final = Entry("limits.html", "the discovery's page: a plot per operation")
DISCOVERY_ENTRIES: Final = (
    LIMITS_JSON, DISCOVERY_REQUESTS_CSV, LIMITS_HTML, PLOTS_DIR, GROUND_TRUTH_JSON, EMULATOR_LOG,
)
"""What ``loadtest limits`` writes into its directory."""

OWNED_NAMES: Final = frozenset(entry.name for entry in (*RUN_ENTRIES, *DISCOVERY_ENTRIES) if entry.owned)
"""What ``--force`` may replace in a reused run (or discovery) directory: every name a run or a discovery
writes, and nothing else."""

# ------------------------------------------------------------------------------ where run directories go

LATEST: Final = "latest"
"""``<root>/latest``: a relative symlink to the newest run directory."""
LATEST_FILE: Final = "latest.txt"
"""Where symlinks are not allowed, ``<root>/latest.txt`` holds the relative path instead."""


def describe(name: str) -> str | None:
    """What the entry ``name`` (``plots/`` or ``plots``) holds, when loadtest knows it."""
    for entry in (*RUN_ENTRIES, *DISCOVERY_ENTRIES):
        if entry.name == name.rstrip("/"):
            return entry.what
    return None


def new_run_directory(scenario_name: str, root: Path | str = "reports", when: float | None = None) -> Path:
    """Create and return ``<root>/<scenario>/<UTC timestamp>/`` (suffixed ``-2``... if it exists)."""
    stamp = datetime.fromtimestamp(time.time() if when is None else when, UTC).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", scenario_name) or "scenario"
    base = Path(root) / safe / stamp
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            n += 1
            path = base.with_name(f"{stamp}-{n}")


def resolve_run_dir(run_dir: Path | str) -> Path:
    """The run directory ``run_dir`` names, following ``<root>/latest.txt`` where ``latest`` could not be a
    symlink."""
    path = Path(run_dir)
    pointer = path.with_name(LATEST_FILE)
    if not path.exists() and path.name == LATEST and pointer.is_file():
        return path.parent / pointer.read_text(encoding="utf-8").strip()
    return path


def limits_file(path: Path) -> Path:
    """``path`` itself, or the ``limits.json`` in the discovery directory ``path`` names (what a scenario's
    ``rate_limits.limits_from`` may name)."""
    return path / LIMITS_JSON if path.is_dir() else path
