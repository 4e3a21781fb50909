"""Verdicts: one per criterion (a threshold or a baseline comparison), and what they add up to.

``verdicts.json`` in the run directory is ``{"format": 1, "outcome", "exit_code", "baseline",
"verdicts": [...]}``; each verdict keeps the four columns the report shows (``criterion``, ``expected``,
``measured``, ``verdict``, ``why``) plus machine-readable fields (``kind``, ``metric``, ``value``,
``unit``, ...). The exit code follows ``loadtest.exitcodes``: a failure outranks missing data, so a run
that both broke a threshold and lacked another figure exits 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from loadtest import exitcodes

PASS = "pass"
FAIL = "fail"
NO_DATA = "no data"
NOT_JUDGED = "not judged"
"""The figure exists but cannot decide the criterion (e.g. a lower bound within a maximum); the why says why."""
VERDICTS_FORMAT = 1

THRESHOLD = "threshold"
BASELINE = "baseline"


@dataclass
class Verdict:
    """The judgement of one criterion; the first five fields are the table's columns."""

    criterion: str
    expected: str
    measured: str
    verdict: str
    why: str
    kind: str = THRESHOLD
    metric: str = ""
    unit: str = ""
    value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """Numbers behind the verdict (bounds, baseline value, difference, interval, window...)."""
    case_name: str = ""
    """Unique test case name for JUnit (criterion plus position)."""

    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def failed(self) -> bool:
        return self.verdict == FAIL

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdicts:
    """Every verdict of one check, in the order criteria were judged."""

    items: list[Verdict] = field(default_factory=list)
    scenario: str | None = None
    baseline: str | None = None
    run_dir: str | None = None
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Verdict]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def extend(self, verdicts: Iterable[Verdict]) -> None:
        self.items.extend(verdicts)

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.items if v.failed]

    @property
    def unjudged(self) -> list[Verdict]:
        return [v for v in self.items if v.verdict in (NO_DATA, NOT_JUDGED)]

    @property
    def exit_code(self) -> int:
        """1 when any criterion failed, else 3 when any could not be judged, else 0."""
        if self.failed:
            return exitcodes.CHECK_FAILED
        if self.unjudged:
            return exitcodes.NOT_JUDGEABLE
        return exitcodes.OK

    @property
    def outcome(self) -> str:
        return {exitcodes.CHECK_FAILED: "failed", exitcodes.NOT_JUDGEABLE: "not judged"}.get(self.exit_code, "passed")

    def as_document(self) -> dict[str, Any]:
        return {
            "format": VERDICTS_FORMAT,
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "scenario": self.scenario,
            "baseline": self.baseline,
            "counts": {
                "criteria": len(self.items),
                "passed": sum(1 for v in self.items if v.passed),
                "failed": len(self.failed),
                "no_data": len(self.unjudged),
            },
            "notes": self.notes,
            "verdicts": [v.as_dict() for v in self.items],
        }

    def write(self, run_dir: Path | str) -> Path:
        """Write ``verdicts.json`` into the run directory (atomically)."""
        from loadtest.metrics.rundir import VERDICTS_JSON, write_json

        path = Path(run_dir) / VERDICTS_JSON
        write_json(path, self.as_document())
        return path

    def print_table(self, out: TextIO, *, show_exit: bool = True) -> None:
        """The verdict table and a one-line outcome, for a terminal or a CI log."""
        headers = ("criterion", "expected", "measured", "verdict", "why")
        rows = [(v.criterion, v.expected, v.measured, v.verdict.upper(), v.why) for v in self.items]
        if not rows:
            print("check: no criteria (the scenario has no thresholds and no baseline was given)", file=out)
        else:
            fixed = [max(len(headers[i]), *(len(r[i]) for r in rows)) for i in range(4)]
            print("  ".join(h.ljust(w) for h, w in zip(headers, [*fixed, 0], strict=True)).rstrip(), file=out)
            print("  ".join("-" * w for w in [*fixed, 3]), file=out)
            for row in rows:  # one line per criterion, however long: CI logs do not wrap well
                print("  ".join(c.ljust(w) for c, w in zip(row, [*fixed, 0], strict=True)).rstrip(), file=out)
        for note in self.notes:
            print(f"note: {note}", file=out)
        passed = sum(1 for v in self.items if v.passed)
        print(
            f"check: {self.outcome.upper()} ({passed} of {len(self.items)} criteria met; {len(self.failed)} failed, "
            f"{len(self.unjudged)} not judged" + (f"; exit {self.exit_code})" if show_exit else ")"),
            file=out,
        )


def read_verdicts(run_dir: Path | str) -> dict[str, Any] | None:
    """A run directory's ``verdicts.json`` as written by :meth:`Verdicts.write` (None when absent)."""
    from loadtest.metrics.rundir import VERDICTS_JSON, read_json

    return read_json(run_dir, VERDICTS_JSON, required=False)
