import pytest
from pydantic import ValidationError

from loadtest.distributions import Distribution
from loadtest.emulator_config import EmulatorConfig, EndpointConfig


def test_shorthand_duration_is_constant():
    assert Distribution.model_validate("250ms") == Distribution(kind="constant", value=0.25)


def test_distribution_needs_its_parameters():
    with pytest.raises(ValidationError, match="needs min, max"):
        Distribution.model_validate({"kind": "uniform", "min": "1s"})


def test_lognormal_expected_value():
    d = Distribution.model_validate({"kind": "lognormal", "median": "1s", "sigma": 0})
    assert d.expected == pytest.approx(1.0)


def test_workers_min_above_max_refused():
    with pytest.raises(ValidationError, match="workers_min"):
        EndpointConfig(workers_min=5, workers_max=2)


def test_unknown_keys_refused_and_ids_unique():
    with pytest.raises(ValidationError):
        EndpointConfig.model_validate({"wokers_max": 2})
    with pytest.raises(ValidationError, match="unique"):
        EmulatorConfig.model_validate({"endpoints": [{"id": "a"}, {"id": "a"}]})


def test_limit_overrides_by_operation_name():
    config = EndpointConfig.model_validate({"limits": {"window": "1s", "rate_overrides": {"run": 5}}})
    assert config.limits.window == 1.0
    assert config.limits.rate_overrides == {"run": 5}
