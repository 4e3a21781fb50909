"""Verdicts: one per criterion (a threshold or a baseline comparison), and what they add up to.

Each :class:`~loadtest.rundir.documents.Verdict` keeps the five columns the report shows (``criterion``,
``expected``, ``measured``, ``verdict``, ``why``) plus machine-readable fields (``kind``, ``metric``,
``value``, ``unit``, ...); together they are ``verdicts.json`` (:meth:`Verdicts.as_document`). The exit
code follows ``loadtest.exitcodes``: a failure outranks missing data, so a run that both broke a threshold
and lacked another figure exits 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from loadtest import exitcodes
from loadtest.rundir.documents import Verdict, VerdictsDocument


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
        return [v for v in self.items if v.unjudged]

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

    def as_document(self) -> VerdictsDocument:
        """``verdicts.json``'s content (written by :func:`loadtest.rundir.write.write_verdicts`)."""
        return VerdictsDocument(tuple(self.items), self.outcome, self.exit_code, self.scenario, self.baseline,
                                tuple(self.notes))

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

