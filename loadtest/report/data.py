"""A run directory, read once into what the report needs (and nothing from anywhere else)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.metrics import hdr, rundir
from loadtest.metrics.catalog import JOB_HISTOGRAM_METRICS

DISTRIBUTION_METRICS: tuple[str, ...] = (*JOB_HISTOGRAM_METRICS, "latency")


@dataclass
class RunData:
    """Everything a report shows, loaded from one run directory."""

    path: Path
    summary: dict[str, Any]
    timeseries: dict[str, Any]
    distributions: dict[str, list[tuple[float, float]]]
    """Series name (``queue_delay``, ``end_to_end{flow=chat}``, ``latency{op=run}``) → (percentile, ms)."""
    health: list[dict[str, float]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] | None = None
    scenario_text: str | None = None
    tag: str | None = None
    """Short name in overlaid plots (``A``/``B`` in a comparison); defaults to :attr:`label`."""

    @property
    def metrics(self) -> dict[str, Any]:
        return self.summary["metrics"]

    @property
    def start(self) -> float:
        return float(self.summary["run"]["start_unix"])

    @property
    def label(self) -> str:
        """A short name for this run: ``<scenario>/<directory name>``."""
        return f"{self.summary['run'].get('scenario') or '?'}/{self.path.name}"

    def series(self, name: str) -> dict[str, list[float | None]] | None:
        return self.timeseries.get("series", {}).get(name)

    def per_second(self, counts: Sequence[float]) -> list[float]:
        """Counts per bucket as rates, each divided by the part of its bucket the run covered.

        Buckets are aligned to the clock, so the first and last cover only part of a second; dividing by
        the whole bucket would draw a false dip (or, for a sliver, a spike) at each end of every plot.
        A bucket the run covered for under a quarter of its length is left out (NaN: a gap)."""
        bucket = float(self.timeseries.get("bucket_s", 1.0))
        start = self.start
        end = start + float(self.summary["run"].get("duration_s") or 0.0)
        rates = []
        for t, count in zip(self.timeseries.get("t", []), counts, strict=False):
            covered = min(end, t + bucket) - max(start, t)
            rates.append(count / covered if covered >= bucket / 4 else math.nan)
        return rates

    def elapsed(self) -> list[float]:
        """Bucket middles as seconds since the run's start (where a per-bucket figure is plotted)."""
        half = float(self.timeseries.get("bucket_s", 1.0)) / 2
        return [t + half - self.start for t in self.timeseries.get("t", [])]


def load_run(run_dir: Path | str) -> RunData:
    """Read a run directory; :class:`rundir.RunDirectoryError` says which file is missing or bad."""
    path = rundir.resolve_run_dir(run_dir)
    if not path.is_dir():
        raise rundir.RunDirectoryError(f"{path}: not a directory")
    path = path.resolve()  # reports/latest → the run's own directory name in titles
    summary = rundir.read_summary(path)
    timeseries = rundir.read_json(path, rundir.TIMESERIES_JSON, required=False) or {"t": [], "series": {}}
    return RunData(
        path=path,
        summary=summary,
        timeseries=timeseries,
        distributions=_distributions(path),
        health=_health(path / rundir.HEALTH_CSV),
        verdicts=_verdicts(path),
        scenario_text=_text(path / rundir.SCENARIO_YAML),
    )


def _distributions(path: Path) -> dict[str, list[tuple[float, float]]]:
    document = rundir.read_json(path, rundir.HISTOGRAMS_JSON, required=False)
    if not document:
        return {}
    parts: dict[str, list[hdr.Sparse]] = {}
    for metric, flow, op, encoded in document["histograms"]:
        if metric not in DISTRIBUTION_METRICS:
            continue
        decoded = hdr.decode(encoded)
        sparse = hdr.sparse_of(decoded)
        hdr.release(decoded)
        names = [metric, f"{metric}{{flow={flow}}}"] + ([f"{metric}{{op={op}}}"] if op else [])
        for name in names:
            parts.setdefault(name, []).append(sparse)
    return {name: hdr.distribution(hdr.sparse_sum(pieces)) for name, pieces in sorted(parts.items())}


def _health(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)]


def _verdicts(path: Path) -> list[dict[str, Any]] | None:
    """``verdicts.json``: a list of ``{criterion, expected, measured, verdict, why}`` (or under "verdicts")."""
    file = path / rundir.VERDICTS_JSON
    if not file.exists():
        return None
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise rundir.RunDirectoryError(f"{file}: cannot read it: {exc}") from None
    items = document.get("verdicts", []) if isinstance(document, dict) else document
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None
