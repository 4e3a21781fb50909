"""``respect`` stays under the limits the target enforces; ``probe`` meets 429s and measures the limit.

The emulator enforces the documented limits with a short window (limits.window) and a small /run figure
(rate_overrides) so the test takes seconds; the client reads the same figures from the scenario. The load
is closed (users looping without pause): the scenario validator refuses an open-model arrival rate that
``respect`` can never serve, and a closed population offers what it offers. The probe run of the same
scenario measures that offer: at least twice the /run limit.
"""

from __future__ import annotations

import math
from pathlib import Path

WINDOW_S = 0.5
RUN_PER_WINDOW = 10
LIMIT_PER_S = RUN_PER_WINDOW / WINDOW_S  # 20/s
SECONDS = 4
USERS = 12
STATUS_IN_FLIGHT = 50

SCENARIO = """
name: limits-{policy}
duration: {seconds}s
target:
  emulator:
    workers_min: 4
    workers_max: 4
    cold_start: 0s
    execution_time: 20ms
    limits:
      window: {window}s
      rate_overrides: {{run: {per_window}}}
      concurrency_overrides: {{status: {status_in_flight}}}
load:
  users: {users}
mix:
  - flow: run_poll
    poll: {{interval: 100ms, max_wait: 5s}}
rate_limits:
  policy: {policy}
  on_429: {{action: count}}
"""


def _run(tmp_path: Path, policy: str, traffic) -> tuple[dict, dict]:
    path = tmp_path / f"{policy}.yaml"
    path.write_text(SCENARIO.format(policy=policy, seconds=SECONDS, window=WINDOW_S, per_window=RUN_PER_WINDOW,
                                    users=USERS, status_in_flight=STATUS_IN_FLIGHT))
    run_dir = tmp_path / policy
    result = traffic.run_loadtest(["run", str(path), "--run-dir", str(run_dir), "--no-report"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    truth = traffic.endpoint_truth(traffic.read_json(run_dir, "ground_truth.json"))
    traffic.assert_counts_match_ground_truth(summary, truth)
    return summary, truth


def test_respect_gets_no_429_at_twice_the_limit(tmp_path: Path, traffic) -> None:
    summary, truth = _run(tmp_path, "respect", traffic)
    assert "429" not in truth["requests"]["run"]
    assert truth["rejected"] == {}
    assert summary["metrics"]["throttled"]["overall"]["value"] == 0
    accepted = summary["metrics"]["accepted_rate"]["by_op"]["run"]["value"]
    assert 0.7 * LIMIT_PER_S <= accepted <= LIMIT_PER_S  # close under the limit, never over


def test_probe_meets_429s_and_measures_the_limit(tmp_path: Path, traffic) -> None:
    summary, truth = _run(tmp_path, "probe", traffic)
    throttled = truth["requests"]["run"].get("429", 0)
    assert throttled > 0
    assert summary["metrics"]["throttled"]["by_op"]["run"]["value"] == throttled
    accepted = summary["metrics"]["accepted_rate"]["by_op"]["run"]["value"]
    # every window the run touched was filled: the limit within 5%, or one window more where a busy machine
    # let a window open just before the measured end (a fixed window's edge)
    duration = summary["run"]["duration_s"]
    windows = math.floor(duration / WINDOW_S + 1e-9) + 1
    assert LIMIT_PER_S * 0.95 <= accepted <= max(LIMIT_PER_S * 1.05, windows * RUN_PER_WINDOW / duration)
    offered = summary["metrics"]["throughput"]["by_op"]["run"]["value"]
    assert offered >= 2 * LIMIT_PER_S


def test_the_run_records_the_limits_the_emulator_enforced(tmp_path: Path, traffic) -> None:
    """limits_in_force.json holds the emulator's configuration above (not what the code under test thinks),
    and the report shows those figures."""
    _run(tmp_path, "probe", traffic)
    run_dir = tmp_path / "probe"
    recorded = traffic.read_json(run_dir, "limits_in_force.json")
    assert recorded["target"] == "emulator" and recorded["workers_max"] == 4
    run, status = recorded["operations"]["run"], recorded["operations"]["status"]
    assert run["rate_in_force"] == "emulator" and status["concurrency_in_force"] == "emulator"
    enforced = run["rates"]["emulator"]
    assert (enforced["value"], enforced["window_s"], enforced["window_kind"]) == (RUN_PER_WINDOW, WINDOW_S, "fixed")
    assert status["concurrencies"]["emulator"]["value"] == STATUS_IN_FLIGHT
    assert run["rates"]["documented"]["value"] == 1000  # the documented figure kept beside it
    result = traffic.run_loadtest(["report", str(run_dir), "-q"])
    assert result.returncode == 0, result.stdout + result.stderr
    markdown = (run_dir / "summary.md").read_text()
    assert f"| /run | emulator limit {RUN_PER_WINDOW} per {WINDOW_S:g} s fixed window (= {LIMIT_PER_S:g}/s)" in markdown
    assert f"emulator limit {STATUS_IN_FLIGHT} in flight" in markdown
