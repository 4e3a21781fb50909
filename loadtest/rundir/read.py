"""A run directory read back: :class:`RunDirectory`, the one way into a run's files.

The report, the check, compare, baselines, the console and every later reader (sweeps over many runs,
trace replay from ``jobs.csv``, cost figures) read a run through it, as typed documents, so a file's
shape is known in one place and a directory of a format this version does not read is refused with a
sentence, never misread.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from loadtest import __version__
from loadtest.discovery_document import DiscoveryDocument, LimitsFileError, read_limits_file
from loadtest.limits_in_force import FORMAT as LIMITS_FORMAT
from loadtest.limits_in_force import LimitsInForce
from loadtest.metrics.figures import RunBuckets
from loadtest.metrics.recorder import Recorder
from loadtest.metrics.run_figures import Timeseries
from loadtest.rundir import documents
from loadtest.rundir.documents import GroundTruth, Histograms, JobRow, Summary, VerdictsDocument
from loadtest.rundir.errors import RunDirectoryError
from loadtest.rundir.layout import (
    GROUND_TRUTH_JSON,
    HEALTH_CSV,
    HISTOGRAMS_JSON,
    JOBS_CSV,
    LIMITS_IN_FORCE_JSON,
    LIMITS_JSON,
    READABLE_FORMATS,
    RECORDER_JSON,
    SCENARIO_YAML,
    SUMMARY_JSON,
    TIMESERIES_JSON,
    VERDICTS_JSON,
    Entry,
    resolve_run_dir,
)
from loadtest.rundir.plain import Node

HealthRow = dict[str, float]
"""One ``/health`` sample: ``t`` (Unix seconds) and the flattened keys (``jobs.inQueue``, ``workers.running``...)."""


def _readable() -> str:
    return " and ".join(str(f) for f in READABLE_FORMATS)


class RunDirectory:
    """A run directory (or a saved baseline, which holds a run's summary and per-bucket data), read.

    ``RunDirectory("reports/latest")`` follows the ``latest`` link (or ``latest.txt``). Each document is
    read on first use and kept; :meth:`summary` is the one every run directory has. Every method raises
    :class:`RunDirectoryError` naming the file when what it holds cannot be read.
    """

    def __init__(self, path: Path | str) -> None:
        resolved = resolve_run_dir(path)
        if not resolved.is_dir():
            what = "not a directory" if resolved.exists() else "no such directory"
            raise RunDirectoryError(f"{resolved}: {what} (a run directory, e.g. reports/latest)")
        self.path = resolved.resolve()  # reports/latest → the run's own directory name in titles
        self._summary: Summary | None = None
        self._timeseries: Timeseries | None = None
        self._snapshot: dict[str, object] | None = None
        self._buckets: RunBuckets | None = None
        self._snapshot_read = False

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    def file(self, entry: Entry) -> Path:
        return self.path / entry

    def has(self, entry: Entry) -> bool:
        return self.file(entry).exists()

    def names(self) -> list[str]:
        """What the directory holds (hidden files aside), directories as ``name/``."""
        return sorted(p.name + "/" if p.is_dir() else p.name for p in self.path.iterdir() if not p.name.startswith("."))

    # ----------------------------------------------------------------------------------------- files

    def _json(self, entry: Entry, *, required: bool = False) -> Node | None:
        path = self.file(entry)
        if not path.exists():
            if required:
                raise RunDirectoryError(f"{path}: missing (is {self.path} a run directory?)")
            return None
        try:
            return Node(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (OSError, ValueError) as exc:
            raise RunDirectoryError(f"{path}: cannot read it: {exc}") from None

    def _text(self, entry: Entry) -> str | None:
        path = self.file(entry)
        try:
            return path.read_text(encoding="utf-8") if path.exists() else None
        except (OSError, ValueError) as exc:
            raise RunDirectoryError(f"{path}: cannot read it: {exc}") from None

    # ------------------------------------------------------------------------------------- documents

    def summary(self) -> Summary:
        """``summary.json``, of a format this version reads (else refused, naming both formats)."""
        if self._summary is None:
            node = self._json(SUMMARY_JSON, required=True)
            assert node is not None
            found = node.value.get("format") if isinstance(node.value, dict) else None
            if not isinstance(node.value, dict) or "metrics" not in node.value or found is None:
                raise RunDirectoryError(f"{node.file}: not a run's summary (no format number or no metrics); this "
                                        f"loadtest ({__version__}) reads run-directory format {_readable()}")
            if found not in READABLE_FORMATS:
                tool = node.value.get("tool")
                by = f", written by loadtest {tool.get('version')}" if isinstance(tool, dict) else ""
                raise RunDirectoryError(f"{node.file}: run-directory format {found!r}{by}; this loadtest "
                                        f"({__version__}) reads format {_readable()}")
            self._summary = documents.summary_from_plain(node)
        return self._summary

    def timeseries(self) -> Timeseries:
        """``timeseries.json`` (empty when absent)."""
        if self._timeseries is None:
            node = self._json(TIMESERIES_JSON)
            self._timeseries = (documents.timeseries_from_plain(node) if node is not None
                                else Timeseries(self.summary().run.bucket_s))
        return self._timeseries

    def histograms(self) -> Histograms:
        """``histograms.json``: the whole-run histograms (none when absent)."""
        node = self._json(HISTOGRAMS_JSON)
        return documents.histograms_from_plain(node) if node is not None else Histograms()

    def recorder_snapshot(self) -> dict[str, object] | None:
        """``recorder.json`` as the recorder wrote it (its format is :mod:`loadtest.metrics.recorder`'s);
        None when absent."""
        if not self._snapshot_read:
            node = self._json(RECORDER_JSON)
            self._snapshot = None if node is None else node.mapping()
            self._snapshot_read = True
        return self._snapshot

    def buckets(self) -> RunBuckets | None:
        """The run's per-bucket histograms and counters over its measured period (``recorder.json``);
        None when the directory has none."""
        if self._buckets is None:
            snapshot = self.recorder_snapshot()
            if not snapshot:
                return None
            run = self.summary().run
            try:
                self._buckets = RunBuckets(snapshot, start=run.start_unix, end=run.end_unix)
            except (KeyError, TypeError, ValueError) as exc:
                raise RunDirectoryError(f"{self.file(RECORDER_JSON)}: cannot read it: {exc!r}") from None
        return self._buckets

    def recorder(self) -> Recorder:
        """The run's recorder, rebuilt exactly from ``recorder.json`` (its job rows are in ``jobs.csv``)."""
        snapshot = self.recorder_snapshot()
        if snapshot is None:
            raise RunDirectoryError(f"{self.file(RECORDER_JSON)}: missing (the run's per-bucket data)")
        try:
            return Recorder.from_snapshot(snapshot)
        except (KeyError, TypeError, ValueError) as exc:
            raise RunDirectoryError(f"{self.file(RECORDER_JSON)}: cannot read it: {exc!r}") from None

    def jobs(self) -> Iterator[JobRow]:
        """``jobs.csv``, one typed row per job (the first ones: ``summary().jobs.rows_omitted`` says how
        many more there were); nothing when absent."""
        path = self.file(JOBS_CSV)
        if not path.exists():
            return
        with path.open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                yield documents.job_row_from_plain(row, Node(None, str(path), f"line {line}"))

    def health(self) -> list[HealthRow]:
        """``health.csv``: the ``/health`` samples in time order (empty cells left out); none when absent."""
        path = self.file(HEALTH_CSV)
        if not path.exists():
            return []
        rows = []
        with path.open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    rows.append({k: float(v) for k, v in row.items() if v not in ("", None) and k is not None})
                except (TypeError, ValueError) as exc:
                    raise RunDirectoryError(f"{path}: line {line}: {exc}") from None
        return rows

    def scenario_text(self) -> str | None:
        """``scenario.yaml`` as written (None when absent); :mod:`loadtest.scenario.source` reads it."""
        return self._text(SCENARIO_YAML)

    @property
    def scenario_path(self) -> Path:
        return self.file(SCENARIO_YAML)

    def ground_truth(self) -> GroundTruth | None:
        """``ground_truth.json``: the emulator's own figures (None when the target was not the emulator)."""
        node = self._json(GROUND_TRUTH_JSON)
        if node is None or not isinstance(node.value, dict):
            return None
        return documents.ground_truth_from_plain(node)

    def verdicts(self) -> VerdictsDocument | None:
        """``verdicts.json`` (None until the run has been judged)."""
        node = self._json(VERDICTS_JSON)
        return None if node is None else documents.verdicts_from_plain(node)

    def discovered_limits(self) -> DiscoveryDocument | None:
        """``limits.json``: the limits a discovery found, copied in for a run whose scenario names them in
        ``rate_limits.limits_from`` (None when absent)."""
        if not self.has(LIMITS_JSON):
            return None
        try:
            return read_limits_file(self.file(LIMITS_JSON))
        except LimitsFileError as exc:
            raise RunDirectoryError(str(exc)) from None

    def limits_in_force(self) -> LimitsInForce | None:
        """``limits_in_force.json``: every operation's limits in force, with their sources, as the run
        recorded them (None for a run directory written before the file existed)."""
        node = self._json(LIMITS_IN_FORCE_JSON)
        if node is None:
            return None
        found = node.value.get("format") if isinstance(node.value, dict) else None
        if found != LIMITS_FORMAT:
            raise RunDirectoryError(f"{node.file}: format {found!r} is not one this loadtest ({__version__}) reads "
                                    f"({LIMITS_FORMAT})")
        try:
            return LimitsInForce.model_validate(node.value)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}"
                                 for error in exc.errors())
            raise RunDirectoryError(f"{node.file}: {problems}") from None
