"""The order in which a closed-model user runs the flows of its mix (no Locust import: unit-testable)."""

from __future__ import annotations


class WeightedCycle:
    """The flows of a mix in proportion to their weights, evenly interleaved (smooth weighted round robin).

    Deterministic rather than drawn at random, so a short run with few users still serves every flow in
    its share: within any ``sum(weights) / min(weight)`` iterations each flow comes up. ``start`` advances
    the cycle, so that user *n* begins where user *n - 1* would be next and users do not run in lockstep.
    """

    def __init__(self, names: list[str], weights: list[float], start: int = 0) -> None:
        self.names, self.weights = names, weights
        self.total = sum(weights)
        self.credit = [0.0] * len(names)
        for _ in range(start % max(1, len(names))):
            self.next()

    def next(self) -> str:
        for i, weight in enumerate(self.weights):
            self.credit[i] += weight
        best = max(range(len(self.names)), key=self.credit.__getitem__)
        self.credit[best] -= self.total
        return self.names[best]
