"""Rates and percentiles over time: partial buckets at both ends, window widths, enough jobs per point."""

from __future__ import annotations

import math

import numpy as np

from loadtest.report import timeline


def test_partial_end_buckets_are_divided_by_the_time_they_cover() -> None:
    windows = timeline.windows_over(np.array([10.0, 11.0, 12.0, 13.0]), 1.0, 10.5, 13.5, 1)
    assert list(windows.rate(np.array([5, 10, 10, 5]))) == [10.0, 10.0, 10.0, 10.0]
    assert list(windows.middles) == [0.25, 1.0, 2.0, 2.75]  # middles of the covered parts


def test_a_sliver_of_a_bucket_is_a_gap_not_a_spike() -> None:
    windows = timeline.windows_over(np.array([10.0, 11.0, 12.0, 13.0]), 1.0, 10.95, 13.05, 1)
    rates = windows.rate(np.array([1, 10, 10, 1]))
    assert math.isnan(rates[0]) and math.isnan(rates[3])
    assert list(rates[1:3]) == [10.0, 10.0]


def test_windows_sum_whole_buckets() -> None:
    windows = timeline.windows_over(np.arange(100.0, 110.0), 1.0, 100.0, 110.0, 5)
    assert list(windows.sum(np.ones(10))) == [5.0, 5.0]
    assert list(windows.rate(np.ones(10) * 3)) == [3.0, 3.0]


def test_merging_windows_is_the_engines_weighted_merge() -> None:
    counts = np.random.default_rng(1).integers(0, 5, size=(23, 7)).astype(float)
    weights = np.zeros((5, 23))
    for bucket in range(23):
        weights[bucket // 5, bucket] = 1.0  # one row per window of 5 buckets, the last holding 3
    assert np.array_equal(timeline.merge_rows(counts, 5, 5), weights @ counts)


def test_a_one_hour_run_is_drawn_with_at_most_max_points_windows() -> None:
    per = timeline.counter_width(3600, 1.0)
    assert math.ceil(3600 / per) <= timeline.MAX_POINTS and per == 10
    assert timeline.counter_width(60, 1.0) == 1


def test_percentile_windows_widen_until_a_window_holds_enough_jobs() -> None:
    assert timeline.percentile_width(np.full(60, 6.0), 1.0) == 5  # 30 jobs per 5 s window
    assert timeline.percentile_width(np.full(60, 50.0), 1.0) == 1
    # Sparse jobs: widening stops before fewer than MIN_WINDOWS windows remain.
    per = timeline.percentile_width(np.full(60, 0.2), 1.0)
    assert math.ceil(60 / per) >= timeline.MIN_WINDOWS


def test_percentiles_need_enough_jobs() -> None:
    assert [timeline.min_samples(s) for s in ("p50", "p95", "p99")] == [5, 20, 100]
    columns = {"count": [3, 30, 150], "p50": [1.0, 2.0, 3.0], "p95": [1.0, 2.0, 3.0], "p99": [1.0, 2.0, 3.0]}
    series = timeline.percentiles_from_columns(columns, np.array([0.0, 1.0, 2.0]), 1.0, 0.0, 3.0)
    assert [math.isnan(v) for v in series.values["p50"]] == [True, False, False]
    assert [math.isnan(v) for v in series.values["p95"]] == [True, False, False]
    assert [math.isnan(v) for v in series.values["p99"]] == [True, True, False]
