"""Arrival schedules are exact; the dispatcher keeps the schedule when arrivals are slow and drops at the cap."""

import itertools

import gevent
import pytest

from loadtest.traffic.arrivals import ArrivalDispatcher, ArrivalPhase, arrival_offsets


def test_constant_rate_gives_exact_count_and_even_spacing():
    offsets = list(arrival_offsets([ArrivalPhase(duration=3, rate=20)]))
    assert len(offsets) == 60
    assert offsets[0] == 0
    assert offsets[1] == pytest.approx(0.05)
    assert offsets[-1] == pytest.approx(2.95)


def test_ramp_follows_the_cumulative_curve():
    offsets = list(arrival_offsets([ArrivalPhase(duration=10, rate=0, end_rate=10)]))
    assert len(offsets) == 50  # the area under the ramp
    # C(t) = t^2 / 2: arrival k at sqrt(2k)
    assert offsets[8] == pytest.approx(4.0)
    assert all(b > a for a, b in itertools.pairwise(offsets))


def test_phases_chain_and_pauses_are_kept():
    phases = [ArrivalPhase(1, 10), ArrivalPhase(1, 0), ArrivalPhase(1, 10)]
    offsets = list(arrival_offsets(phases))
    assert len(offsets) == 20
    assert not [o for o in offsets if 1.0 <= o < 2.0]


def test_scale_divides_the_rate():
    assert len(list(arrival_offsets([ArrivalPhase(2, 10)], scale=0.5))) == 10


def test_poisson_is_seeded_and_near_the_rate():
    first = list(arrival_offsets([ArrivalPhase(100, 20)], poisson=True, seed=7))
    again = list(arrival_offsets([ArrivalPhase(100, 20)], poisson=True, seed=7))
    assert first == again
    assert 1800 < len(first) < 2200
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert pytest.approx(sum(gaps) / len(gaps), rel=0.1) == 0.05
    assert max(gaps) > 0.15  # exponential gaps, not even ones


def test_dispatcher_keeps_rate_with_slow_arrivals_and_counts_drops():
    finished = []

    def slow_arrival():
        gevent.sleep(0.5)
        finished.append(1)

    dropped = []
    dispatcher = ArrivalDispatcher(
        arrival_offsets([ArrivalPhase(1.0, 40)]), slow_arrival, max_in_flight=10, on_dropped=lambda: dropped.append(1)
    )
    stats = dispatcher.run()
    dispatcher.join(timeout=5)
    assert stats.scheduled == 40
    assert stats.started + stats.dropped == 40
    assert stats.dropped == len(dropped) > 0
    assert len(finished) == stats.started
    assert stats.achieved_rate() == pytest.approx(40, rel=0.02)


def test_dispatcher_stops_on_request():
    dispatcher = ArrivalDispatcher(arrival_offsets([ArrivalPhase(10, 10)]), lambda: None, max_in_flight=5)
    gevent.spawn_later(0.3, dispatcher.stop)
    stats = dispatcher.run()
    assert 2 <= stats.scheduled <= 5
