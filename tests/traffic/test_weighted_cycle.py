"""The closed model's flow order: every flow in proportion to its weight, interleaved, users offset."""

from __future__ import annotations

from collections import Counter

from loadtest.traffic.mix import WeightedCycle


def test_each_flow_comes_up_in_proportion_to_its_weight() -> None:
    cycle = WeightedCycle(["heavy", "a", "b"], [6.0, 1.0, 1.0])
    picks = [cycle.next() for _ in range(80)]
    assert Counter(picks) == {"heavy": 60, "a": 10, "b": 10}
    assert {"a", "b"} <= set(picks[:8])  # within one cycle of the weights, not at the end of the run


def test_fractional_weights_and_users_start_at_different_flows() -> None:
    names, weights = ["x", "y", "z"], [0.5, 0.5, 0.5]
    first = {WeightedCycle(names, weights, start=n).next() for n in range(3)}
    assert first == {"x", "y", "z"}
