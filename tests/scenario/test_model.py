"""Model helpers the traffic side relies on: load over time, flow names, limits, backoff, polling."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from loadtest.metrics import catalog
from loadtest.scenario.model import (
    FLOW_KINDS,
    FLOW_OPERATIONS,
    BackoffSettings,
    ClosedLoad,
    EmulatorTarget,
    OpenLoad,
    PollSettings,
    RatePhase,
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


def test_ramps_written_from_to_as_artillery_users_write_them() -> None:
    """0.5/s to 4/s in one stage: no 1 ms dummy stage to set the starting rate."""
    load = OpenLoad.model_validate({"arrival_rate": [
        {"duration": "10s", "from": "0.5/s", "to": "4/s"},
        {"duration": "10s", "rate": "4/s"},
        {"duration": "10s", "to": "0/s"},           # from where the previous stage ended
        {"duration": "10s", "to": "2/s"},
        {"duration": "10s", "rate": "3/s", "ramp": True},  # the older spelling still means the same
    ]})
    assert load.rate_phases() == [
        RatePhase(10, 0.5, 4), RatePhase(10, 4, 4), RatePhase(10, 4, 0), RatePhase(10, 0, 2), RatePhase(10, 2, 3),
    ]
    assert [load.rate_at(t) for t in (0, 5, 10, 20, 25, 30, 35, 45)] == pytest.approx(
        [0.5, 2.25, 4, 4, 2, 0, 1, 2.5])
    assert load.rate_at(50) is None
    assert load.peak_rate == 4
    down = OpenLoad.model_validate({"arrival_rate": [{"duration": "1m", "from": "9/s", "to": "1/s"}]})
    assert down.peak_rate == 9  # a ramp down peaks where it starts


def test_a_ramp_feeds_the_arrival_schedule_with_its_area() -> None:
    from loadtest.traffic.arrivals import ArrivalPhase, arrival_offsets

    load = OpenLoad.model_validate({"arrival_rate": [{"duration": "10s", "from": "0.5/s", "to": "4/s"}]})
    phases = [ArrivalPhase(p.duration, p.start, p.end) for p in load.rate_phases()]
    offsets = list(arrival_offsets(phases))
    assert len(offsets) == 23  # (0.5 + 4) / 2 * 10 = 22.5 arrivals: evenly spaced, the first at 0
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert gaps[0] > 1 > gaps[-1]  # sparse at 0.5/s, dense at 4/s


@pytest.mark.parametrize(("stage", "message"), [
    ({"duration": "1s", "rate": 1, "to": 2}, "give rate (a constant rate) or from/to (a ramp), not both"),
    ({"duration": "1s", "rate": 1, "from": 2}, "not both"),
    ({"duration": "1s", "from": 2}, "a ramp needs to as well as from"),
    ({"duration": "1s"}, "a stage needs rate (constant"),
    ({"duration": "1s", "to": 2, "ramp": True}, "ramp: true goes with rate"),
])
def test_a_stage_is_one_form(stage: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        OpenLoad.model_validate({"arrival_rate": [stage]})


def test_backoff_and_polling_never_overflow() -> None:
    backoff = BackoffSettings.model_validate({"initial": "1ms", "max": "7d", "multiplier": 100})
    assert backoff.delay(1000, random_fraction=0.5) == 7 * 86400
    poll = PollSettings.model_validate({"interval": "1s", "backoff": 100})
    intervals = poll.intervals()
    assert max(next(intervals) for _ in range(2000)) == 7 * 86400  # capped, never inf
