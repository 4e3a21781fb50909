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


def test_recheck_when_full_is_a_positive_duration_or_unset():
    assert EndpointConfig().recheck_when_full is None
    assert EndpointConfig.model_validate({"recheck_when_full": "1s"}).recheck_when_full == 1.0
    with pytest.raises(ValidationError, match="recheck_when_full"):
        EndpointConfig(recheck_when_full=0)


def test_window_kind_and_per_operation_windows():
    limits = EndpointConfig.model_validate(
        {"limits": {"window_kind": "rolling", "window_overrides": {"run": "500ms"}}}
    ).limits
    assert limits.window_kind == "rolling" and limits.window_overrides == {"run": 0.5}
    with pytest.raises(ValidationError, match=r"window_overrides\.run"):
        EndpointConfig.model_validate({"limits": {"window_overrides": {"run": 0}}})


def test_recheck_when_full_is_refused_next_to_a_real_worker():
    with pytest.raises(ValidationError, match="recheck_when_full describes simulated workers"):
        EndpointConfig.model_validate({"worker": {"command": ["python", "h.py"]}, "recheck_when_full": "1s"})
