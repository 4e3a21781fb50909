"""Behaviour plans: distributions with seeds, the mock-worker vocabulary, chunk splitting."""

from __future__ import annotations

import json
import random
import statistics

import pytest

from loadtest.distributions import Distribution, sampler
from loadtest.emulator import behaviour as bh
from loadtest.emulator_config import EndpointConfig


def _draws(spec, n=4000, seed=1):
    draw = sampler(Distribution.model_validate(spec), random.Random(seed))
    return [draw() for _ in range(n)]


@pytest.mark.parametrize(
    ("spec", "mean", "tolerance"),
    [
        ("250ms", 0.25, 0.0),
        ({"kind": "uniform", "min": "100ms", "max": "300ms"}, 0.2, 0.01),
        ({"kind": "normal", "mean": "1s", "stddev": "100ms"}, 1.0, 0.02),
        ({"kind": "lognormal", "median": "100ms", "sigma": 0.5}, 0.1 * 2.718281828 ** (0.5**2 / 2), 0.01),
        ({"kind": "exponential", "mean": "200ms"}, 0.2, 0.02),
    ],
)
def test_distributions_have_their_mean_and_are_never_negative(spec, mean, tolerance):
    draws = _draws(spec)
    assert min(draws) >= 0
    assert statistics.fmean(draws) == pytest.approx(mean, abs=tolerance)
    assert Distribution.model_validate(spec).expected == pytest.approx(mean, rel=1e-6)


def test_normal_is_truncated_at_zero_and_seeds_reproduce():
    assert min(_draws({"kind": "normal", "mean": "10ms", "stddev": "1s"})) == 0.0
    spec = {"kind": "lognormal", "median": "1s", "sigma": 1}
    assert _draws(spec, 50, seed=5) == _draws(spec, 50, seed=5)
    assert _draws(spec, 50, seed=5) != _draws(spec, 50, seed=6)


def test_mock_vocabulary_plans():
    b = bh.Behaviour(EndpointConfig(seed=1, execution_time="1s"))
    assert b.plan({}) == (1.0, None)
    seconds, plan = b.plan({"mock_delay": 2, "mock_return": [1]})
    assert seconds == 2.0 and plan.outcome == bh.COMPLETE and plan.output == [1] and plan.chunks is None
    _, plan = b.plan({"mock_error": True})
    error = json.loads(plan.error)
    assert plan.outcome == bh.FAIL and error["error_message"] == "Mock error"
    assert error["error_type"] == "<class 'Exception'>"
    _, plan = b.plan({"mock_error": "custom"})
    assert json.loads(plan.error)["error_message"] == "custom"
    _, plan = b.plan({"mock_crash": True, "mock_error": True})
    assert plan.outcome == bh.CRASH  # crash comes before error, as in the mock worker
    _, plan = b.plan({"mock_refresh": True})
    assert plan.refresh and plan.output == {"mock_return": "Hello World!"}
    seconds, plan = b.plan({"mock_delay": "soon"})
    assert plan.outcome == bh.FAIL and "mock_delay" in plan.error
    _, plan = b.plan({"mock_stream": True, "mock_return": ["a", "b"]})
    assert plan.chunks == ["a", "b"] and plan.output is None


def test_generator_endpoint_streams_every_job_and_can_aggregate():
    b = bh.Behaviour(EndpointConfig(generator=True, return_aggregate_stream=True))
    _, plan = b.plan({})
    assert plan.chunks == ["Hello World!"] and plan.output == ["Hello World!"]
    _, plan = b.plan({"mock_return": "one value"})
    assert plan.chunks == ["one value"]


def test_failure_rate_draws_are_seeded():
    def outcomes(seed):
        b = bh.Behaviour(EndpointConfig(seed=seed, failure_rate=0.3))
        return [b.plan({})[1] is not None for _ in range(200)]

    assert outcomes(3) == outcomes(3)
    assert 30 <= sum(outcomes(3)) <= 90


def test_split_chunk_keeps_pieces_under_the_limit():
    assert bh.split_chunk({"small": 1}) == [{"small": 1}]
    text = "a€" * 1000
    pieces = bh.split_chunk(text, limit=300)
    assert "".join(pieces) == text
    assert all(len(json.dumps(p).encode()) <= 300 for p in pieces)
    value = {"k": "x" * 1000}
    pieces = bh.split_chunk(value, limit=200)
    assert json.loads("".join(pieces)) == value
