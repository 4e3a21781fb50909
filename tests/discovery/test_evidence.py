"""What a discovery's observations prove: window intervals, budgets, window kind, concurrency, steps."""

from __future__ import annotations

import math

import pytest

from loadtest.discovery.evidence import (
    BudgetEvidence,
    ConcurrencyEvidence,
    Interval,
    RequestRecord,
    WindowEvidence,
    difference,
    per_second,
    split_misplacements,
    summarise_step,
    window_kind,
)


def test_refusals_and_admissions_bound_the_window_from_both_sides() -> None:
    evidence = WindowEvidence()
    evidence.refused(0.80, "refused 0.8 s in")
    evidence.admitted(1.10, "admitted 1.1 s in")
    evidence.refused(0.95, "refused 0.95 s in")
    interval = evidence.interval()
    assert (interval.low, interval.high) == (0.95, 1.10)
    assert interval.contains(1.0) and not interval.contains(0.95) and interval.contains(1.10)
    assert interval.relative_width == pytest.approx(0.15 / 1.10)
    assert interval.dropped == () and interval.consistent


def test_a_whole_second_retry_after_bounds_both_sides_until_the_facts_refute_it() -> None:
    evidence = WindowEvidence()
    evidence.refused(2.5, "burst ended")
    evidence.retry_after(2.5, 2.6, 8, "burst ended")  # W <= 10.6 (honest), W > 9.5 (rounded up)
    interval = evidence.interval()
    assert (interval.low, interval.high) == (9.5, 10.6)
    # a request admitted 7 s in contradicts "rounded up" (W > 9.5) but not "honest" (W <= 10.6)
    evidence.admitted(7.0, "admitted 7 s in")
    interval = evidence.interval()
    assert (interval.low, interval.high) == (2.5, 7.0)
    assert interval.dropped == ("retry_after_whole_seconds",)


def test_a_retry_after_shorter_than_the_window_is_dropped_too() -> None:
    evidence = WindowEvidence()
    evidence.retry_after(0.1, 0.1, 1, "says 1 s")  # W <= 1.1
    evidence.refused(3.0, "still refused 3 s in")
    interval = evidence.interval()
    assert interval.low == 3.0 and not interval.bounded
    assert set(interval.dropped) == {"retry_after_whole_seconds", "retry_after_honest"}


def test_contradicting_hard_facts_are_reported_as_inconsistent() -> None:
    evidence = WindowEvidence()
    evidence.refused(2.0, "refused")
    evidence.admitted(1.0, "admitted")
    assert not evidence.interval().consistent


def test_a_fractional_retry_after_gives_only_the_upper_bound() -> None:
    evidence = WindowEvidence()
    evidence.retry_after(0.4, 0.5, 0.7, "says 0.7 s")
    assert [fact.side for fact in evidence.facts] == ["upper"]


def test_budget_is_the_median_with_the_range_seen() -> None:
    budget = BudgetEvidence()
    assert not budget.known
    budget.add(20, "a")
    assert budget.known and not budget.stable
    budget.add(20, "b")
    assert budget.stable and budget.value() == 20 and budget.interval() == (20, 20)
    budget.add(17, "c")
    assert not budget.stable and budget.value() == 20 and budget.interval() == (17, 20)


def test_concurrency_interval_from_holds_and_refusals() -> None:
    evidence = ConcurrencyEvidence()
    evidence.held(4)
    assert evidence.interval() == (4, None)
    evidence.refused(6)
    evidence.held(6)
    assert evidence.interval() == (6, 6) and evidence.consistent
    evidence.refused(5)
    assert not evidence.consistent


@pytest.mark.parametrize(
    ("first", "second", "third", "expected"),
    [(10, 10, 20, "fixed"), (10, 10, 10, "rolling"), (10, 10, 15, None), (1, 1, 2, "fixed"), (1, 1, 1, "rolling"),
     (0, 2, 2, None)],
)
def test_window_kind_from_the_split_test(first: int, second: int, third: int, expected: str | None) -> None:
    assert window_kind(first, second, third, tolerance=max(0, (first + second) // 10)) == expected


def _record(sent: float, status: int, scheduled: float | None = None) -> RequestRecord:
    record = RequestRecord("run", "ramp", 0, sent if scheduled is None else scheduled)
    record.sent, record.answered, record.status = sent, sent + 0.001, status
    return record


def test_a_step_measures_what_was_sent_not_what_was_planned() -> None:
    records = [_record(i * 0.1 + (0.02 if i == 3 else 0.0), 429 if i >= 8 else 200, scheduled=i * 0.1)
               for i in range(10)]
    step = summarise_step("ramp", 0, 10.0, records, 0.0, 1.0, skipped=2)
    assert (step.sent, step.admitted, step.throttled, step.skipped) == (10, 8, 2, 2)
    assert step.offered_per_s == pytest.approx(10.0) and step.admitted_per_s == pytest.approx(8.0)
    assert step.scheduled_per_s == pytest.approx(12.0)
    assert step.late_p99_ms == pytest.approx(20.0)


def test_rate_interval_and_difference_wording() -> None:
    evidence = WindowEvidence()
    evidence.refused(0.95, "a")
    evidence.admitted(1.05, "b")
    low, high = per_second((20, 20), evidence.interval())
    assert low == pytest.approx(20 / 1.05) and high == pytest.approx(20 / 0.95)
    assert difference(20.0, 100.0, "/s") == "80% lower than documented (20/s against 100/s)"
    assert difference(100.0, 100.0, "/s") == "as documented"
    assert difference(98.0, 100.0, "/s", observed_interval=(95.0, 101.0)).startswith("as documented")
    assert difference(5.0, None, "/s") == "no documented limit"
    assert math.isinf(per_second((1, 2), WindowEvidence().interval())[1])


def _answered(sent: float, rtt: float = 0.002, status: int = 200) -> RequestRecord:
    record = RequestRecord("run", "split", 0, sent, sent=sent, answered=sent + rtt, status=status)
    return record


def _group(start: float, n: int, spacing: float = 0.0025, rtt: float = 0.002) -> list[RequestRecord]:
    return [_answered(start + i * spacing, rtt) for i in range(n)]


WINDOW = Interval(0.98, 1.05)


def test_a_split_test_that_landed_as_planned_has_no_misplacement() -> None:
    # 10 at 0, 10 at 0.5 s (inside the window), the burst at 1.1 s (after the first group left; before the
    # second group may leave a rolling window at 1.48 s)
    assert split_misplacements(_group(0.0, 10), _group(0.5, 10), _group(1.1, 21), WINDOW, 12) == []


@pytest.mark.parametrize(("group2_at", "group3_at", "rtt", "words"), [
    (0.96, 1.1, 0.002, "not inside the window"),          # the second group spilled past the window's start + W
    (0.5, 1.06, 0.002, "before it had surely left"),     # the burst came while the first group may still count
    (0.3, 1.3, 0.002, "may have begun to leave"),        # the burst came as the second group began to leave
    (0.5, 1.1, 0.5, "not inside the window"),            # slow answers: they may have landed after the window
])
def test_a_split_test_moved_by_a_slow_moment_is_named(group2_at: float, group3_at: float, rtt: float,
                                                     words: str) -> None:
    first = _group(0.0, 10)
    second = _group(group2_at, 10, rtt=rtt)
    third = _group(group3_at, 21)
    problems = split_misplacements(first, second, third, WINDOW, 12)
    assert any(words in problem for problem in problems), problems


def test_a_split_test_with_an_unanswered_request_is_not_judged() -> None:
    third = _group(1.1, 21)
    third[3] = _answered(third[3].sent, status=0)
    assert split_misplacements(_group(0.0, 10), _group(0.5, 10), third, WINDOW, 12) == [
        "a request of the test got no answer"]
