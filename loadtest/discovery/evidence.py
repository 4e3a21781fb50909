"""What a discovery's requests prove about a limit: intervals, never guesses dressed as figures.

Pure functions and small accumulators (no I/O, no gevent), so the reasoning is tested on its own.

- **Window length** ``W``: every observation is a one-sided fact. A request refused ``x`` seconds after the
  first request of a fresh window proves ``W > x``; a request admitted at ``x`` after the window's budget
  was used proves ``W <= x``; a ``Retry-After: R`` on a refusal at ``x`` says the wait is over by
  ``x + R`` (``W <= x + R``, if the header is honest) and, given in whole seconds, that it was more than
  ``x + R - 1`` (if it is rounded up). Network delay widens each fact by the round trips involved. The
  interval is the intersection; when the header's two readings contradict the hard facts they are dropped
  (and the result says so).
- **Budget** ``B`` (requests per window): the requests admitted in each clean window before the first
  refusal; the interval is the lowest and highest seen.
- **Concurrency** ``C``: ``n`` requests held at once, none refused, proves ``C >= n``; a refusal while the
  client held ``n`` unanswered proves ``C <= n``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Assumption = Literal["", "retry_after_honest", "retry_after_whole_seconds"]
HONEST: Assumption = "retry_after_honest"
WHOLE_SECONDS: Assumption = "retry_after_whole_seconds"

THROTTLED = 429


@dataclass(slots=True)
class RequestRecord:
    """One request of a discovery, as sent and as answered (times in seconds since the discovery began)."""

    op: str
    phase: str
    cycle: int
    scheduled: float
    """When the pacing wanted it sent."""
    sent: float = math.nan
    answered: float = math.nan
    status: int = -1
    """HTTP status; 0: no answer; -1: not answered yet."""
    retry_after: float | None = None
    """Seconds from the ``Retry-After`` header of a 429 (None when absent or unreadable)."""
    limit_hint: str | None = None
    """Which limit the 429's body names, when it names one (``rate``, ``concurrency``, ``queue_size``)."""
    held: int = 0
    """Requests of the same operation sent and not yet answered when this one was sent."""
    error: str | None = None

    @property
    def throttled(self) -> bool:
        return self.status == THROTTLED

    @property
    def admitted(self) -> bool:
        """Answered by the target and not refused by a limit (any status but 429 and no answer)."""
        return self.status > 0 and self.status != THROTTLED

    @property
    def done(self) -> bool:
        return self.status >= 0

    @property
    def rtt(self) -> float:
        return self.answered - self.sent if self.done and self.status > 0 else 0.0


# --------------------------------------------------------------------------------------------- window


@dataclass(frozen=True, slots=True)
class WindowFact:
    """``W > value`` (lower) or ``W <= value`` (upper), and why."""

    side: Literal["lower", "upper"]
    value: float
    why: str
    assumption: Assumption = ""


@dataclass(frozen=True, slots=True)
class Interval:
    """``low < x <= high`` (``high`` may be infinite); ``dropped`` names the assumptions the evidence refuted."""

    low: float
    high: float
    dropped: tuple[str, ...] = ()
    consistent: bool = True

    @property
    def bounded(self) -> bool:
        return math.isfinite(self.high)

    @property
    def mid(self) -> float:
        return (self.low + self.high) / 2 if self.bounded else math.inf

    @property
    def relative_width(self) -> float:
        """``(high - low) / high``: 0 when pinned down, 1 when nothing is known below ``high``."""
        if not self.bounded or self.high <= 0:
            return math.inf
        return (self.high - self.low) / self.high

    def contains(self, value: float) -> bool:
        return self.low < value <= self.high


@dataclass
class WindowEvidence:
    """Facts about the rate window's length, gathered over clean windows."""

    facts: list[WindowFact] = field(default_factory=list)

    def refused(self, earliest: float, why: str) -> None:
        """A request that reached the server at least ``earliest`` seconds into a fresh window was refused for
        the rate: the window was still open then."""
        self.facts.append(WindowFact("lower", earliest, why))

    def admitted(self, latest: float, why: str) -> None:
        """A request that reached the server at most ``latest`` seconds into a window whose budget was used
        was admitted: the window had ended."""
        self.facts.append(WindowFact("upper", latest, why))

    def retry_after(self, earliest: float, latest: float, seconds: float, why: str) -> None:
        """A refusal that reached the server between ``earliest`` and ``latest`` seconds into the window said
        ``Retry-After: seconds``."""
        self.facts.append(WindowFact("upper", latest + seconds, f"{why}: Retry-After {seconds:g}", HONEST))
        if seconds >= 1 and float(seconds).is_integer():
            self.facts.append(WindowFact("lower", earliest + seconds - 1, f"{why}: Retry-After {seconds:g} "
                                         "rounded up", WHOLE_SECONDS))

    def interval(self) -> Interval:
        """The intersection of the facts; assumptions the hard facts contradict are dropped, whole seconds first."""
        dropped: list[str] = []
        for ignore in ((), (WHOLE_SECONDS,), (WHOLE_SECONDS, HONEST)):
            low, high = _intersect(fact for fact in self.facts if fact.assumption not in ignore)
            if low < high:
                return Interval(low, high, tuple(ignore))
            dropped = list(ignore)
        low, high = _intersect(self.facts)
        return Interval(low, high, tuple(dropped), consistent=False)


def _intersect(facts: object) -> tuple[float, float]:
    low, high = 0.0, math.inf
    for fact in facts:  # type: ignore[attr-defined]
        if fact.side == "lower":
            low = max(low, fact.value)
        else:
            high = min(high, fact.value)
    return low, high


# --------------------------------------------------------------------------------------------- budget


@dataclass(frozen=True, slots=True)
class Count:
    value: int
    why: str


@dataclass
class BudgetEvidence:
    """Requests admitted per clean window before the first refusal."""

    counts: list[Count] = field(default_factory=list)

    def add(self, admitted: int, why: str) -> None:
        self.counts.append(Count(admitted, why))

    @property
    def known(self) -> bool:
        return bool(self.counts)

    @property
    def stable(self) -> bool:
        """At least two clean windows, all with the same budget."""
        return len(self.counts) >= 2 and len({c.value for c in self.counts}) == 1

    def value(self) -> float:
        return float(statistics.median_low(c.value for c in self.counts))

    def interval(self) -> tuple[float, float]:
        values = [c.value for c in self.counts]
        return float(min(values)), float(max(values))


# ---------------------------------------------------------------------------------------- concurrency


@dataclass
class ConcurrencyEvidence:
    held_at_once: list[int] = field(default_factory=list)
    refused_while_held: list[int] = field(default_factory=list)

    def held(self, n: int) -> None:
        """``n`` requests were held in flight at once, none refused."""
        self.held_at_once.append(n)

    def refused(self, held: int) -> None:
        """A request was refused while ``held`` others were unanswered."""
        self.refused_while_held.append(held)

    def interval(self) -> tuple[int, int | None]:
        """``(at least, at most)``; at most is None before any refusal."""
        low = max(self.held_at_once, default=0)
        high = min(self.refused_while_held, default=None)
        return low, high

    @property
    def consistent(self) -> bool:
        low, high = self.interval()
        return high is None or low <= high


# ------------------------------------------------------------------------------------------ window kind


def window_kind(first: int, second: int, third: int, tolerance: int) -> str | None:
    """Fixed or rolling, from the split test: ``first`` requests admitted at the start of a fresh window,
    ``second`` (the rest of its budget) half a window later, then just after the window ended a burst of
    which ``third`` were admitted. A fixed window starts afresh (the whole budget); a rolling one still
    holds the second group (``first`` only). None when the count fits neither."""
    budget = first + second
    if first <= 0 or second <= 0:
        return None
    if abs(third - budget) <= tolerance and abs(third - first) > tolerance:
        return "fixed"
    if abs(third - first) <= tolerance and abs(third - budget) > tolerance:
        return "rolling"
    return None


def split_misplacements(group1: Sequence[RequestRecord], group2: Sequence[RequestRecord],
                        group3: Sequence[RequestRecord], window: Interval, counted: int) -> list[str]:
    """Why the split test's three groups did not land where :func:`window_kind` needs them, judged from each
    request's own send and answer times (the server saw a request somewhere between the two); empty when
    they did. A busy machine can delay any send or answer, so the plan is checked after the fact:

    - the second group was inside the window the first opened (each answered before ``W_low`` had passed
      since the first request was sent);
    - the third group began after every request of the first had left any window (``W_high`` after the
      last of them was answered);
    - the third group's first ``counted`` requests were in before the second group could begin to leave a
      rolling window (answered before ``W_low`` after the second group's first send).
    """
    def sent(records: Sequence[RequestRecord]) -> list[RequestRecord]:
        return sorted((r for r in records if not math.isnan(r.sent)), key=lambda r: r.sent)

    first, second, third = sent(group1), sent(group2), sent(group3)
    if not first or not second or not third:
        return ["a group sent nothing"]
    if any(not r.done or r.status <= 0 for r in (*first, *second, *third[:counted])):
        return ["a request of the test got no answer"]
    problems: list[str] = []
    origin = first[0].sent
    late = max(r.answered for r in second) - origin
    if late >= window.low:
        problems.append(f"the second group was answered until {late:.3g} s after the first began, not inside the "
                        f"window ({window.low:.3g} s at least)")
    gap = third[0].sent - max(r.answered for r in first)
    if gap < window.high:
        problems.append(f"the third group began {gap:.3g} s after the first group's last answer, before it had "
                        f"surely left the window ({window.high:.3g} s at most)")
    reach = max(r.answered for r in third[:counted]) - second[0].sent
    if reach >= window.low:
        problems.append(f"the third group's first {counted} were answered until {reach:.3g} s after the second "
                        f"group began, when it may have begun to leave a rolling window ({window.low:.3g} s)")
    return problems


# ------------------------------------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class Step:
    """One stretch of traffic at one nominal rate: what was offered and what got through."""

    phase: str
    cycle: int
    nominal_per_s: float
    started: float
    duration_s: float
    sent: int
    admitted: int
    throttled: int
    unanswered: int
    skipped: int
    """Sends the pacing planned but left out while a ``Retry-After`` ran."""
    offered_per_s: float
    """Requests actually sent per second over the step."""
    scheduled_per_s: float
    """Requests the schedule wanted per second, those held back for a ``Retry-After`` included (the demand)."""
    admitted_per_s: float
    late_p99_ms: float
    """How late the 99th percentile send was against its schedule (pacing precision)."""

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "phase": self.phase, "cycle": self.cycle, "nominal_per_s": _round(self.nominal_per_s),
            "offered_per_s": _round(self.offered_per_s), "scheduled_per_s": _round(self.scheduled_per_s),
            "admitted_per_s": _round(self.admitted_per_s),
            "sent": self.sent, "admitted": self.admitted, "throttled": self.throttled,
            "unanswered": self.unanswered, "skipped_for_retry_after": self.skipped,
            "started_s": _round(self.started), "duration_s": _round(self.duration_s),
            "late_p99_ms": _round(self.late_p99_ms),
        }


def summarise_step(
    phase: str, cycle: int, nominal: float, records: Sequence[RequestRecord], started: float, ended: float,
    skipped: int = 0,
) -> Step:
    """The step's offered and admitted rates over ``[started, ended]`` (the time it was meant to last)."""
    sent = [r for r in records if not math.isnan(r.sent)]
    duration = max(ended - started, 1e-9)
    late = sorted(max(0.0, r.sent - r.scheduled) for r in sent)
    p99 = late[min(len(late) - 1, math.ceil(0.99 * len(late)) - 1)] * 1000 if late else 0.0
    admitted = sum(1 for r in sent if r.admitted)
    return Step(
        phase, cycle, nominal, started, duration, len(sent), admitted, sum(1 for r in sent if r.throttled),
        sum(1 for r in sent if r.status == 0), skipped, len(sent) / duration, (len(sent) + skipped) / duration,
        admitted / duration, p99,
    )


def _round(value: float) -> float:
    return round(value, 4) if math.isfinite(value) else value


# ----------------------------------------------------------------------------------------- figures


def per_second(budget: tuple[float, float], window: Interval) -> tuple[float, float]:
    """The rate limit in requests per second implied by the budget and window intervals."""
    low = budget[0] / window.high if window.bounded else 0.0
    high = budget[1] / window.low if window.low > 0 else math.inf
    return low, high


def difference(observed: float, documented: float | None, unit: str, *, observed_interval: tuple[float, float]
               | None = None) -> str:
    """``"as documented"`` or ``"80% lower than documented (20/s against 100/s)"``."""
    if documented is None:
        return "no documented limit"
    if observed_interval is not None and observed_interval[0] <= documented <= observed_interval[1]:
        return f"as documented ({_num(documented)}{unit} lies in the interval found)"
    if math.isclose(observed, documented, rel_tol=1e-9):
        return "as documented"
    change = (observed - documented) / documented * 100
    word = "higher" if change > 0 else "lower"
    return f"{abs(change):.0f}% {word} than documented ({_num(observed)}{unit} against {_num(documented)}{unit})"


def _num(value: float) -> str:
    if not math.isfinite(value):
        return "∞"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"
