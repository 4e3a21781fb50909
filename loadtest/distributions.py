"""Random durations and counts, stated once: the :class:`Distribution` and :class:`CountDistribution`
models and how to draw from them.

Scenarios use them for think times and cancel delays, the emulator for execution times, cold starts and a
language model's output lengths; all draw through :func:`sampler` / :func:`count_sampler` / :func:`draw`,
so one distribution means one thing everywhere.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadtest.fields import MAX_COUNT, Duration

DistributionKind = Literal["constant", "uniform", "normal", "lognormal", "exponential"]
_NEEDED: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "uniform": ("min", "max"),
    "normal": ("mean", "stddev"),
    "lognormal": ("median", "sigma"),
    "exponential": ("mean",),
}


_Sigma = Annotated[float, Field(ge=0, le=10)]
"""A lognormal's shape, a plain number."""


class _Shape(BaseModel):
    """What both kinds of distribution share: the kinds, their parameters' checks, the bare-number
    shorthand and the mean. Subclasses declare the parameters with their unit."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    kind: DistributionKind = "constant"
    _unit: ClassVar[str] = "s"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: object) -> object:
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            return {"kind": "constant", "value": data}
        return data

    @model_validator(mode="after")
    def _needs_parameters(self) -> _Shape:
        needed = _NEEDED[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} distribution needs {', '.join(needed)}; missing {', '.join(missing)}")
        low, high = getattr(self, "min", None), getattr(self, "max", None)
        if self.kind == "uniform" and low is not None and high is not None and low > high:
            raise ValueError(
                f"uniform distribution has min ({low:g}{self._unit}) greater than max ({high:g}{self._unit})"
            )
        return self

    def _parameter(self, name: str) -> float:
        return float(getattr(self, name) or 0.0)

    @property
    def expected(self) -> float:
        """The mean (used by validators that check whether a scenario can fit its limits)."""
        match self.kind:
            case "constant":
                return self._parameter("value")
            case "uniform":
                return (self._parameter("min") + self._parameter("max")) / 2
            case "normal" | "exponential":
                return self._parameter("mean")
            case "lognormal":
                return self._parameter("median") * math.exp(self._parameter("sigma") ** 2 / 2)
        raise AssertionError(self.kind)


class Distribution(_Shape):
    """A random duration. A bare duration (``"2s"``) is shorthand for a constant.

    - ``constant``: ``value``
    - ``uniform``: ``min``, ``max``
    - ``normal``: ``mean``, ``stddev`` (truncated at zero)
    - ``lognormal``: ``median``, ``sigma`` (the shape, a plain number)
    - ``exponential``: ``mean``
    """

    value: Duration | None = None
    min: Duration | None = None
    max: Duration | None = None
    mean: Duration | None = None
    stddev: Duration | None = None
    median: Duration | None = None
    sigma: _Sigma | None = None


_CountParameter = Annotated[float, Field(ge=0, le=MAX_COUNT)]


class CountDistribution(_Shape):
    """A random whole number (a count of tokens): the kinds and parameters of :class:`Distribution`, in
    plain numbers; each draw is rounded to the nearest whole number. A bare number is a constant."""

    _unit: ClassVar[str] = ""
    value: _CountParameter | None = None
    min: _CountParameter | None = None
    max: _CountParameter | None = None
    mean: _CountParameter | None = None
    stddev: _CountParameter | None = None
    median: _CountParameter | None = None
    sigma: _Sigma | None = None


def sampler(distribution: Distribution | CountDistribution, rng: random.Random) -> Callable[[], float]:
    """A function drawing seconds (or a plain number, never negative) from ``distribution``."""
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


def count_sampler(distribution: CountDistribution, rng: random.Random) -> Callable[[], int]:
    """A function drawing whole numbers (never negative) from ``distribution``: each draw rounded half up."""
    draw_one = sampler(distribution, rng)
    return lambda: math.floor(draw_one() + 0.5)
