"""Draws from a scenario's :class:`Distribution` (think times, cancel delays) with the flow's own RNG.

The emulator draws its own durations in its own process; the traffic side may not import emulator server
code, and a draw is a few lines, so it lives here.
"""

from __future__ import annotations

import math
import random

from loadtest.emulator.config import Distribution


def sample_seconds(distribution: Distribution, rng: random.Random) -> float:
    """One draw in seconds, never negative."""
    match distribution.kind:
        case "constant":
            value = float(distribution.value or 0.0)
        case "uniform":
            value = rng.uniform(float(distribution.min or 0.0), float(distribution.max or 0.0))
        case "normal":
            value = rng.gauss(float(distribution.mean or 0.0), float(distribution.stddev or 0.0))
        case "lognormal":
            median = float(distribution.median or 0.0)
            value = median * math.exp(rng.gauss(0.0, float(distribution.sigma or 0.0))) if median > 0 else 0.0
        case "exponential":
            mean = float(distribution.mean or 0.0)
            value = rng.expovariate(1.0 / mean) if mean > 0 else 0.0
        case _:
            raise AssertionError(distribution.kind)
    return max(value, 0.0)
