"""Rolling windows, and a window length per operation: the discovery tells them from fixed ones and finds each.

The emulator is started by ``loadtest limits`` itself from a scenario file (its ``target.emulator``), with a
rolling window (``window_kind``) of 1 s for ``/run`` and 2 s for ``/status`` (``window_overrides``).
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow

WINDOWS = {"run": 1.0, "status": 2.0}
RATES = {"run": 15, "status": 30}
SCENARIO = f"""
name: rolling
duration: 10s
target:
  emulator:
    workers_min: 4
    workers_max: 4
    cold_start: 0s
    execution_time: 10ms
    limits:
      window: {WINDOWS["run"]}s
      window_kind: rolling
      window_overrides: {{status: {WINDOWS["status"]}s}}
      rate_overrides: {{run: {RATES["run"]}, status: {RATES["status"]}}}
mix:
  - flow: run_poll
"""


@pytest.fixture(scope="module")
def found(discovery: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("rolling")
    scenario = root / "rolling.yaml"
    scenario.write_text(SCENARIO)
    run_dir = root / "found"
    result = discovery.loadtest(["limits", str(scenario), "--ops", "run,status", "--parallel", "--run-dir",
                                 str(run_dir), "--no-progress"], timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return discovery.read_limits(run_dir)


@pytest.mark.parametrize("op", list(RATES))
def test_a_rolling_window_is_told_from_a_fixed_one_and_measured(found: dict[str, Any], op: str) -> None:
    rate = found["operations"][op]["rate_limit"]
    assert rate["window_kind"] == "rolling", found["operations"][op]["rate_search"]["window_kind_test"]
    assert rate["value"] == RATES[op]
    low, high = rate["window_interval"]
    assert low < WINDOWS[op] <= high, rate
    per_low, per_high = rate["per_second_interval"]
    assert per_low <= RATES[op] / WINDOWS[op] <= per_high, rate
    if (high - low) / high <= 0.1:  # the middle of an interval this narrow is within 5% of anything in it
        assert rate["window_s"] == pytest.approx(WINDOWS[op], rel=0.05), rate
        assert rate["per_second"] == pytest.approx(RATES[op] / WINDOWS[op], rel=0.05), rate
    assert found["operations"][op]["rate_search"]["confirmed"] is True
    assert found["target"]["kind"] == "emulator"
