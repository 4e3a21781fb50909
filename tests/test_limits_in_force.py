"""The one precedence rule, against hand-written cases: documented < emulator < discovered < scenario, figure by
figure; every figure keeps its source, and what each source said stays readable beside the one in force."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from loadtest.contract import Op
from loadtest.discovery_document import DiscoveryDocument
from loadtest.emulator_config import LimitsConfig
from loadtest.limits_in_force import (
    PRECEDENCE,
    ConcurrencyLimit,
    LimitsInForce,
    OperationLimits,
    RateLimit,
    Source,
    deciding,
)
from loadtest.scenario.model import OperationLimit

DOCUMENTED, EMULATOR, DISCOVERED, SCENARIO = Source.DOCUMENTED, Source.EMULATOR, Source.DISCOVERED, Source.SCENARIO

# The documented table, typed out by hand (RunPod's "Rate limits and quotas", per 10 s window)
RUN_RATE, RUN_IN_FLIGHT = 1000, 200
STATUS_RATE, STATUS_IN_FLIGHT = 2000, 400
CANCEL_RATE, CANCEL_IN_FLIGHT = 100, 20

FOUND = DiscoveryDocument.model_validate({"operations": {
    "run": {"rate_limit": {"value": 21, "interval": [19, 22], "window_s": 1.0, "window_interval": [0.9, 1.1],
                           "window_kind": "rolling"}},
    "stream": {"concurrency_limit": {"value": 6.5, "interval": [6, 7]}},
}}).operations


def _rate(limits: OperationLimits) -> tuple[str, float, float] | None:
    rate = limits.rate
    return None if rate is None else (rate.source.value, rate.value, rate.window_s)


def _concurrency(limits: OperationLimits) -> tuple[str, float] | None:
    concurrency = limits.concurrency
    return None if concurrency is None else (concurrency.source.value, concurrency.value)


def test_the_rule_is_the_last_source_with_a_say() -> None:
    assert PRECEDENCE == (DOCUMENTED, EMULATOR, DISCOVERED, SCENARIO)
    assert deciding({DOCUMENTED: None}) is DOCUMENTED
    assert deciding({SCENARIO: None, DOCUMENTED: None, EMULATOR: None}) is SCENARIO
    assert deciding({DOCUMENTED: None, DISCOVERED: None}, below=DISCOVERED) is DOCUMENTED
    assert deciding({SCENARIO: None}, below=SCENARIO) is None
    assert deciding({}) is None


def test_documented_only() -> None:
    limits = LimitsInForce.resolve()
    assert limits.target == "endpoint" and limits.queue_size is None and limits.workers_max is None
    assert _rate(limits.get(Op.RUN)) == ("documented", RUN_RATE, 10.0)
    assert _concurrency(limits.get(Op.RUN)) == ("documented", RUN_IN_FLIGHT)
    assert _rate(limits.get(Op.CANCEL)) == ("documented", CANCEL_RATE, 10.0)
    health = limits.get(Op.HEALTH)  # no documented limit: the documentation has its say, "none"
    assert health.rate is None and health.rate_in_force is DOCUMENTED and health.rates == {DOCUMENTED: None}
    assert limits.get("no-such-operation") == OperationLimits()


def test_the_emulator_decides_every_figure_of_an_emulator_target() -> None:
    config = LimitsConfig.model_validate({
        "window": "2s", "window_kind": "rolling", "window_overrides": {"cancel": "1s"},
        "rate_overrides": {"run": 20, "health": 5}, "rate_per_worker": {"run": 3},
        "concurrency_overrides": {"status": 7},
    })
    limits = LimitsInForce.resolve(emulator=config, workers_max=4)
    assert limits.target == "emulator" and limits.workers_max == 4
    run = limits.get(Op.RUN)
    assert _rate(run) == ("emulator", 20, 2.0) and run.rate is not None
    assert run.rate.window_kind == "rolling" and run.rate.per_worker == 3 and run.rate.budget(10) == 30
    assert _concurrency(run) == ("emulator", RUN_IN_FLIGHT)  # left at the documented value, still the emulator's
    assert _rate(limits.get(Op.STATUS)) == ("emulator", STATUS_RATE, 2.0)  # documented count, the emulator's window
    assert _concurrency(limits.get(Op.STATUS)) == ("emulator", 7)
    assert _rate(limits.get(Op.CANCEL)) == ("emulator", CANCEL_RATE, 1.0)
    assert _rate(limits.get(Op.HEALTH)) == ("emulator", 5, 2.0)  # an operation the documents leave unlimited
    documented = run.rates[DOCUMENTED]
    assert documented is not None and documented.value == RUN_RATE  # what the documentation said stays readable
    assert limits.queue_size is not None and (limits.queue_size.value, limits.queue_size.source) == (2000, DOCUMENTED)
    explicit = LimitsInForce.resolve(emulator=LimitsConfig(queue_size_limit=9), workers_max=4).queue_size
    assert explicit is not None and (explicit.value, explicit.source) == (9, EMULATOR)
    assert LimitsInForce.resolve(emulator=LimitsConfig(queue_size=False), workers_max=4).queue_size is None


def test_switched_off_limits_are_in_force_as_none() -> None:
    limits = LimitsInForce.resolve(emulator=LimitsConfig(rate=False, concurrency=False), workers_max=1)
    run = limits.get(Op.RUN)
    assert run.rate is None and run.rate_in_force is EMULATOR and run.rates[EMULATOR] is None
    assert run.concurrency is None and run.concurrency_in_force is EMULATOR
    per_worker = LimitsInForce.resolve(emulator=LimitsConfig(rate=False, rate_per_worker={Op.RUN: 3}))
    assert per_worker.get(Op.RUN).rate is None  # a per-worker budget needs a rate limit
    # a later source still has its say over a switched-off one
    own = LimitsInForce.resolve(emulator=LimitsConfig(rate=False, window_overrides={Op.RUN: 4}),
                                client={Op.RUN: OperationLimit(rate=5)}).get(Op.RUN)
    assert _rate(own) == ("scenario", 20, 4.0)  # 5/s over the emulator's window for /run


def test_a_discovery_replaces_what_it_found_and_nothing_else() -> None:
    real = LimitsInForce.resolve(discovered=FOUND)
    run = real.get(Op.RUN)
    assert _rate(run) == ("discovered", 21, 1.0) and run.rate is not None
    assert (run.rate.safe_value, run.rate.safe_window_s) == (19, 1.1)  # what a client may count on
    assert _concurrency(run) == ("documented", RUN_IN_FLIGHT)  # not found: kept
    stream = real.get(Op.STREAM)
    assert _concurrency(stream) == ("discovered", 6.5) and stream.concurrency is not None
    assert stream.concurrency.safe_value == 6 and _rate(stream) == ("documented", STATUS_RATE, 10.0)
    assert _rate(real.get(Op.STATUS)) == ("documented", STATUS_RATE, 10.0)
    emulated = LimitsInForce.resolve(emulator=LimitsConfig(window=1, rate_overrides={Op.RUN: 20}), discovered=FOUND)
    run = emulated.get(Op.RUN)
    assert _rate(run) == ("discovered", 21, 1.0)
    enforced = run.replaced_rate(EMULATOR)
    assert enforced is not None and (enforced.value, enforced.window_s) == (20, 1.0)
    assert run.rate_below(DISCOVERED) == enforced
    assert emulated.get(Op.STATUS).replaced_rate(EMULATOR) is None  # the emulator's own figure is in force


def test_the_scenarios_own_figures_come_last() -> None:
    client = {Op.RUN: OperationLimit(rate=5), Op.STATUS: OperationLimit(concurrency=3),
              Op.HEALTH: OperationLimit(rate=2)}
    real = LimitsInForce.resolve(discovered=FOUND, client=client)
    run = real.get(Op.RUN)
    # 5/s counted over the window of the figure it replaces (the discovered one's longest)
    assert _rate(run) == ("scenario", pytest.approx(5.5), 1.1)
    assert _concurrency(run) == ("documented", RUN_IN_FLIGHT)
    target = run.rate_below(SCENARIO)
    assert target is not None and target.source is DISCOVERED  # the target's limit the scenario's figure replaces
    assert _concurrency(real.get(Op.STATUS)) == ("scenario", 3)
    assert real.get(Op.STATUS).concurrency_below(SCENARIO) == ConcurrencyLimit(value=STATUS_IN_FLIGHT,
                                                                               source=DOCUMENTED)
    assert _rate(real.get(Op.HEALTH)) == ("scenario", 20, 10.0)  # nothing to replace: the documented window
    emulated = LimitsInForce.resolve(emulator=LimitsConfig(window=2), client=client)
    assert _rate(emulated.get(Op.RUN)) == ("scenario", 10, 2.0)
    assert _rate(emulated.get(Op.HEALTH)) == ("scenario", 4, 2.0)


def test_the_record_reads_back_as_written() -> None:
    limits = LimitsInForce.resolve(emulator=LimitsConfig(rate_per_worker={Op.RUN: 2}), workers_max=2,
                                   discovered=FOUND, client={Op.STATUS: OperationLimit(rate=5, concurrency=3)})
    assert LimitsInForce.model_validate_json(limits.model_dump_json()) == limits


def test_a_record_that_contradicts_itself_is_refused() -> None:
    figure = RateLimit(value=1, window_s=1, source=DOCUMENTED)
    with pytest.raises(ValidationError, match="rate_in_force: scenario has no figure here"):
        OperationLimits(rates={DOCUMENTED: figure}, rate_in_force=SCENARIO)
    with pytest.raises(ValidationError, match="the figure says its source is documented"):
        OperationLimits(rates={EMULATOR: figure}, rate_in_force=EMULATOR)
    with pytest.raises(ValidationError, match="interval"):
        RateLimit(value=1, window_s=1, source=DISCOVERED, interval=(3, 2))
