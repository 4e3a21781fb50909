"""Client-side limiters: no sliding window ever holds more than the budget; in-flight caps hold; shares."""

import itertools
import time

import gevent
import pytest

from loadtest import contract
from loadtest.contract import Op
from loadtest.emulator_config import LimitsConfig
from loadtest.limits_in_force import LimitsInForce
from loadtest.scenario.model import OperationLimit
from loadtest.traffic.limiter import ClientLimiters, ConcurrencyLimiter, WindowLimiter, usable


def _max_in_any_window(starts: list[float], window: float) -> int:
    return max(sum(1 for s in starts if t <= s < t + window) for t in starts)


def test_window_limiter_never_exceeds_budget_in_any_window():
    limiter = WindowLimiter(budget=5, window=0.2)
    starts = []
    began = time.monotonic()
    for _ in range(15):
        limiter.acquire()
        starts.append(time.monotonic())
    assert _max_in_any_window(starts, 0.2 - 1e-3) <= 5
    assert time.monotonic() - began >= 0.39  # 15 starts at 5 per 0.2 s need two full windows of waiting


def test_fractional_budget_stretches_the_window():
    limiter = WindowLimiter(budget=0.5, window=0.1)
    starts = []
    for _ in range(3):
        limiter.acquire()
        starts.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 0.195 for gap in gaps)


def test_concurrency_limiter_caps_holders_and_follows_a_new_limit():
    limiter = ConcurrencyLimiter(3)
    holding = []
    peak = [0]

    def hold():
        limiter.acquire()
        holding.append(1)
        peak[0] = max(peak[0], len(holding))
        gevent.sleep(0.02)
        holding.pop()
        limiter.release()

    gevent.joinall([gevent.spawn(hold) for _ in range(12)], timeout=5)
    assert peak[0] == 3
    assert limiter.in_use == 0

    limiter.set_limit(1)
    peak[0] = 0
    gevent.joinall([gevent.spawn(hold) for _ in range(4)], timeout=5)
    assert peak[0] == 1


def test_killed_waiter_gives_its_place_back():
    limiter = ConcurrencyLimiter(1)
    limiter.acquire()
    waiter = gevent.spawn(limiter.acquire)
    gevent.sleep(0.01)
    waiter.kill()
    limiter.release()
    assert limiter.in_use == 0


def test_usable_keeps_a_margin():
    assert usable(1000, 0.05) == pytest.approx(950)
    assert usable(20, 0.05) == 19
    assert usable(2, 0.05) == 1
    assert usable(1, 0.05) == pytest.approx(0.95)


def test_the_limiters_take_the_limits_in_force():
    documented = ClientLimiters(LimitsInForce.resolve(), respect=True, margin=0.05)
    run = documented.for_op(Op.RUN)
    assert run is not None and run.rate_limit is not None
    assert run.rate_limit.window_s == contract.RATE_WINDOW_S
    assert run.rate.budget == pytest.approx(contract.OPERATIONS[Op.RUN].rate_limit * 0.95)
    overridden = ClientLimiters(_emulator(window=1.0, rate_overrides={Op.RUN: 20}), respect=True, margin=0.05)
    run = overridden.for_op(Op.RUN)
    assert run.rate_limit.value == 20 and run.rate_limit.window_s == 1.0
    assert run.concurrency_limit.value == contract.OPERATIONS[Op.RUN].concurrency_limit
    assert overridden.for_op(Op.CANCEL).rate_limit.value == contract.OPERATIONS[Op.CANCEL].rate_limit
    # not respecting: only the scenario's own figures limit the client, used as given
    own = LimitsInForce.resolve(client={Op.STATUS: OperationLimit(rate=5, concurrency=3)})
    probing = ClientLimiters(own, respect=False, margin=0.05)
    assert probing.for_op(Op.RUN) is None and probing.for_op(Op.STATUS).rate.budget == 50
    assert probing.for_op(Op.STATUS).concurrency.limit == 3


def _emulator(**limits: object) -> LimitsInForce:
    return LimitsInForce.resolve(emulator=LimitsConfig.model_validate(limits), workers_max=3)


def test_share_divides_the_budget_at_run_time():
    limiters = ClientLimiters(_emulator(window=1.0, rate_overrides={Op.RUN: 20}), respect=True, margin=0.05)
    run = limiters.for_op(Op.RUN)
    assert run.rate.budget == 19
    limiters.set_share(0.5)
    assert run.rate.budget == 9
    assert run.concurrency.limit == 95  # 200 in flight / 2, less the 5% margin
    assert limiters.for_op(Op.HEALTH) is None  # no documented limit: nothing to wait for
    with limiters.slot(Op.HEALTH) as waited:
        assert waited == 0.0


def test_window_is_lengthened_against_jitter():
    from loadtest.traffic.limiter import window_slack

    assert window_slack(0.5) == 0.1
    assert window_slack(10.0) == pytest.approx(0.2)
    limiter = WindowLimiter(budget=2, window=0.1)
    starts = []
    for _ in range(3):
        limiter.acquire()
        starts.append(time.monotonic())
    assert starts[2] - starts[0] >= 0.1 + window_slack(0.1) - 1e-3


def test_waiting_for_the_window_can_be_cancelled():
    from gevent.event import Event

    limiter = WindowLimiter(budget=1, window=5.0)
    limiter.acquire()
    cancel = Event()
    gevent.spawn_later(0.05, cancel.set)
    began = time.monotonic()
    assert limiter.acquire(cancel) is None
    assert time.monotonic() - began < 1.0
