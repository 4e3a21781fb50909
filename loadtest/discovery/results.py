"""What the searches found: one result per search, filled in as it goes (what a result holds when its search
is interrupted is what was found), read by ``limits.json`` (:mod:`loadtest.discovery.document`) and the
progress lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadtest.discovery.evidence import (
    BudgetEvidence,
    ConcurrencyEvidence,
    Interval,
    Step,
    WindowEvidence,
    per_second,
)

FOUND = "found"
NOT_REACHED = "not_reached"
NOT_MEASURED = "not_measured"


@dataclass
class RateResult:
    """The rate search's findings: the window's budget and length, fixed or rolling, and every step."""

    status: str = NOT_MEASURED
    reason: str = ""
    budget: BudgetEvidence = field(default_factory=BudgetEvidence)
    window: WindowEvidence = field(default_factory=WindowEvidence)
    kind: str | None = None
    kind_reason: str = "not tested"
    steps: list[Step] = field(default_factory=list)
    cycles: int = 0
    confirmed: bool | None = None
    confirm_rate: float | None = None
    no_429_rates: list[float] = field(default_factory=list)
    """Nominal rates at which a window's worth of requests met no 429."""
    throttled_rates: list[float] = field(default_factory=list)
    """Nominal rates at which request ``B + 1`` of a window was refused."""
    lower_bound_per_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.status == FOUND

    def window_interval(self) -> Interval:
        return self.window.interval()

    def per_second(self) -> tuple[float, float]:
        return per_second(self.budget.interval(), self.window.interval())


@dataclass
class ConcurrencyResult:
    """The concurrency search's findings: requests held at once without a 429, and the waves sent."""

    status: str = NOT_MEASURED
    reason: str = ""
    evidence: ConcurrencyEvidence = field(default_factory=ConcurrencyEvidence)
    waves: list[dict[str, str | float | int]] = field(default_factory=list)
    confirmed: bool | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class QueueResult:
    """The queue-size rule, exercised on purpose: submissions of jobs that last, until one is refused."""

    status: str = "not_exercised"
    reason: str = ""
    admitted_at_most: int | None = None
    """The longest queue a submission was still admitted at."""
    refused_at: int | None = None
    """The queue length at the first refusal."""
    submitted: int = 0
    notes: list[str] = field(default_factory=list)

    def interval(self) -> tuple[int, int] | None:
        """The queue length above which submissions are refused: ``[admitted_at_most, refused_at - 1]``."""
        if self.refused_at is None:
            return None
        return self.admitted_at_most or 0, self.refused_at - 1
