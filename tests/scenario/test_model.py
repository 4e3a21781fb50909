"""Model helpers the traffic side relies on: load over time, flow names, limits, backoff, polling."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loadtest import contract
from loadtest.contract import Op
from loadtest.metrics import catalog
from loadtest.scenario.model import (
    FLOW_KINDS,
    FLOW_OPERATIONS,
    BackoffSettings,
    ClosedLoad,
    EmulatorTarget,
    OpenLoad,
    PollSettings,
    RateLimits,
    Scenario,
)


def _scenario(**extra) -> Scenario:
    return Scenario.model_validate({"name": "t", "duration": "10s", "mix": [{"flow": "run_poll"}], **extra})


def test_defaults_are_the_embedded_emulator_and_one_user() -> None:
    scenario = _scenario()
    assert isinstance(scenario.target, EmulatorTarget)
    assert isinstance(scenario.load, ClosedLoad) and scenario.load.users == 1
    assert scenario.rate_limits.policy == "respect"
    assert scenario.total_duration == 10.0


def test_closed_stages_give_users_over_time_and_the_duration() -> None:
    scenario = Scenario.model_validate({
        "name": "t", "mix": [{"flow": "run_poll"}],
        "load": {"stages": [{"duration": "5s", "users": 2}, {"duration": "1m", "users": 8}]},
    })
    load = scenario.load
    assert isinstance(load, ClosedLoad)
    assert [load.users_at(t) for t in (0, 4.9, 5, 64.9, 65)] == [2, 2, 8, 8, None]
    assert load.peak_users == 8
    assert scenario.total_duration == 65.0


def test_open_stages_ramp_linearly_from_the_previous_rate() -> None:
    load = OpenLoad.model_validate({"arrival_rate": [
        {"duration": "10s", "rate": "20/s", "ramp": True},
        {"duration": "10s", "rate": "1200/m"},
        {"duration": "10s", "rate": "0/s", "ramp": True},
    ]})
    assert [load.rate_at(t) for t in (0, 5, 10, 15, 20, 25)] == [0, 10, 20, 20, 20, 10]
    assert load.rate_at(30) is None
    assert load.peak_rate == 20
    assert OpenLoad.model_validate({"arrival_rate": "600/m"}).rate_at(1e6) == 10


def test_load_model_is_chosen_by_its_keys() -> None:
    assert isinstance(_scenario(load={"arrival_rate": 5}).load, OpenLoad)
    assert isinstance(_scenario(load={"model": "open", "arrival_rate": 5}).load, OpenLoad)
    assert isinstance(_scenario(load={"users": 3}).load, ClosedLoad)


def test_flow_names_number_repeated_kinds() -> None:
    scenario = Scenario.model_validate({"name": "t", "duration": 1, "mix": [
        {"flow": "run_poll"}, {"flow": "runsync", "name": "sync"}, {"flow": "run_poll"}, {"flow": "health"},
    ]})
    assert scenario.flow_names() == ["run_poll.1", "sync", "run_poll.2", "health"]
    assert list(scenario.flows_by_name()) == scenario.flow_names()


def test_effective_limits_follow_policy_margin_and_overrides() -> None:
    respect = RateLimits.model_validate({"margin": 0.5, "operations": {"status": {"rate": "7/s"}}})
    run = contract.OPERATIONS[Op.RUN]
    assert respect.effective_rate(Op.RUN) == pytest.approx(run.rate_limit / contract.RATE_WINDOW_S * 0.5)
    assert respect.effective_rate(Op.STATUS) == 7
    assert respect.effective_rate(Op.HEALTH) is None
    assert respect.effective_concurrency(Op.RUN) == run.concurrency_limit // 2
    probe = RateLimits(policy="probe")
    assert probe.effective_rate(Op.RUN) is None and probe.effective_concurrency(Op.RUN) is None


def test_backoff_grows_caps_and_jitters_within_bounds() -> None:
    backoff = BackoffSettings.model_validate({"initial": "100ms", "max": "1s", "multiplier": 3, "jitter": 0.5})
    assert [backoff.delay(n) for n in range(4)] == pytest.approx([0.1, 0.3, 0.9, 1.0])
    assert backoff.delay(1, random_fraction=0.0) == pytest.approx(0.15)
    assert backoff.delay(1, random_fraction=1.0) == pytest.approx(0.45)


def test_poll_intervals_back_off_to_the_ceiling() -> None:
    poll = PollSettings.model_validate({"interval": "100ms", "backoff": 2, "max_interval": "500ms"})
    intervals = poll.intervals()
    assert [next(intervals) for _ in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_literal_api_key_is_refused_and_never_echoed() -> None:
    with pytest.raises(ValidationError) as caught:
        _scenario(target={"endpoint_id": "abc", "api_key": "rpa_TOPSECRET"})
    assert "literal API key" in str(caught.value)
    assert "rpa_TOPSECRET" not in str(caught.value).split("input_value")[0]


def test_flow_kinds_agree_with_the_metrics_catalogue() -> None:
    assert set(FLOW_KINDS) == catalog.ALL_FLOW_KINDS
    assert set(FLOW_OPERATIONS) == set(FLOW_KINDS)


def test_every_flow_kind_has_settings_and_a_runner() -> None:
    """One row in loadtest.flowkinds, one settings class in the model's union, one runner: no kind without
    the others."""
    import typing

    from loadtest.flowkinds import KIND_NAMES
    from loadtest.scenario.model import Flow
    from loadtest.traffic.flows import FLOW_RUNNERS

    union = typing.get_args(typing.get_args(Flow)[0])
    modelled = {typing.get_args(cls.model_fields["flow"].annotation)[0] for cls in union}
    assert modelled == set(KIND_NAMES) == set(FLOW_RUNNERS)
