"""Per-second rates in plots account for the partial buckets at both ends of a run."""

from __future__ import annotations

import math
from pathlib import Path

from loadtest.report.data import RunData


def _run(start: float, duration: float, t: list[float]) -> RunData:
    return RunData(
        path=Path("."),
        summary={"run": {"start_unix": start, "duration_s": duration}},
        timeseries={"bucket_s": 1.0, "t": t},
        distributions={},
    )


def test_partial_end_buckets_are_divided_by_the_time_they_cover() -> None:
    run = _run(start=10.5, duration=3.0, t=[10.0, 11.0, 12.0, 13.0])
    assert run.per_second([5, 10, 10, 5]) == [10.0, 10.0, 10.0, 10.0]


def test_a_sliver_of_a_bucket_is_a_gap_not_a_spike() -> None:
    run = _run(start=10.95, duration=2.1, t=[10.0, 11.0, 12.0, 13.0])
    rates = run.per_second([1, 10, 10, 1])
    assert math.isnan(rates[0]) and math.isnan(rates[3])
    assert rates[1:3] == [10.0, 10.0]
