"""Random durations, stated once: the :class:`Distribution` model and how to draw from it.

Scenarios use it for think times and cancel delays, the emulator for execution times and cold starts;
both draw through :func:`sampler` / :func:`draw`, so one distribution means one thing everywhere.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadtest.fields import Duration

DistributionKind = Literal["constant", "uniform", "normal", "lognormal", "exponential"]


class Distribution(BaseModel):
    """A random duration. A bare duration (``"2s"``) is shorthand for a constant.

    - ``constant``: ``value``
    - ``uniform``: ``min``, ``max``
    - ``normal``: ``mean``, ``stddev`` (truncated at zero)
    - ``lognormal``: ``median``, ``sigma`` (the shape, a plain number)
    - ``exponential``: ``mean``
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    kind: DistributionKind = "constant"
    value: Duration | None = None
    min: Duration | None = None
    max: Duration | None = None
    mean: Duration | None = None
    stddev: Duration | None = None
    median: Duration | None = None
    sigma: float | None = Field(default=None, ge=0, le=10)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            return {"kind": "constant", "value": data}
        return data

    @model_validator(mode="after")
    def _needs_parameters(self) -> Distribution:
        needed = {
            "constant": ("value",),
            "uniform": ("min", "max"),
            "normal": ("mean", "stddev"),
            "lognormal": ("median", "sigma"),
            "exponential": ("mean",),
        }[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} distribution needs {', '.join(needed)}; missing {', '.join(missing)}")
        if self.kind == "uniform" and self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"uniform distribution has min ({self.min}s) greater than max ({self.max}s)")
        return self

    @property
    def expected(self) -> float:
        """The mean in seconds (used by validators that check whether a scenario can fit its limits)."""
        match self.kind:
            case "constant":
                return float(self.value or 0.0)
            case "uniform":
                return (float(self.min or 0.0) + float(self.max or 0.0)) / 2
            case "normal" | "exponential":
                return float(self.mean or 0.0)
            case "lognormal":
                return float(self.median or 0.0) * math.exp(float(self.sigma or 0.0) ** 2 / 2)
        raise AssertionError(self.kind)


def sampler(distribution: Distribution, rng: random.Random) -> Callable[[], float]:
    """A function drawing seconds (never negative) from ``distribution``."""
    d = distribution
    match d.kind:
        case "constant":
            value = float(d.value or 0.0)
            return lambda: value
        case "uniform":
            low, high = float(d.min or 0.0), float(d.max or 0.0)
            return lambda: rng.uniform(low, high)
        case "normal":
            mean, stddev = float(d.mean or 0.0), float(d.stddev or 0.0)
            return lambda: max(0.0, rng.gauss(mean, stddev))
        case "lognormal":
            median, sigma = float(d.median or 0.0), float(d.sigma or 0.0)
            if median <= 0:
                return lambda: 0.0
            mu = math.log(median)
            return lambda: rng.lognormvariate(mu, sigma)
        case "exponential":
            mean = float(d.mean or 0.0)
            if mean <= 0:
                return lambda: 0.0
            return lambda: rng.expovariate(1.0 / mean)
    raise AssertionError(d.kind)


def draw(distribution: Distribution, rng: random.Random) -> float:
    """One draw in seconds (never negative) with ``rng``, for one-off draws (a think time, a cancel delay)."""
    return sampler(distribution, rng)()
