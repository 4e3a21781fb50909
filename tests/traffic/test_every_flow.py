"""Every flow kind in one run (one user each): each operation reaches the emulator, counts agree exactly."""

from __future__ import annotations

from pathlib import Path

ALL_FLOWS = """
name: every-flow
duration: 2s
target:
  emulator:                   # a worker per user: purges and long jobs must not starve the short ones
    workers_min: 8
    workers_max: 8
    cold_start: 0s
    execution_time: 50ms
load: {users: 7}
mix:
  - flow: run_poll
    poll: {interval: 50ms, max_wait: 5s}
  - flow: runsync
    wait: 1s
    payload: {input: {mock_delay: 1.5}}     # outlives the wait: continues by polling
    poll: {interval: 100ms, max_wait: 5s}
  - flow: run_stream
    wait: 1s
    payload: {input: {mock_stream: true, mock_return: [a, b, c], mock_delay: 0.3}}
  - flow: status_sync
    wait: 1s
  - flow: run_cancel
    cancel_after: 10ms
    payload: {input: {mock_delay: 2}}
  - flow: retry_failed
    retries: 1
    payload: {input: {mock_error: boom}}
    poll: {interval: 50ms, max_wait: 5s}
  - flow: purge_queue
  - flow: health
    every: 500ms
"""


def test_every_flow_kind_reaches_the_target_and_is_accounted_for(tmp_path: Path, traffic) -> None:
    path = tmp_path / "every.yaml"
    path.write_text(ALL_FLOWS)
    run_dir = tmp_path / "run"
    result = traffic.run_loadtest(["run", str(path), "--run-dir", str(run_dir), "--no-report"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    truth = traffic.endpoint_truth(traffic.read_json(run_dir, "ground_truth.json"))
    traffic.assert_counts_match_ground_truth(summary, truth)
    sent = set(truth["requests"])
    assert {"run", "runsync", "status", "stream", "status-sync", "cancel", "retry", "purge-queue", "health"} <= sent
    by_flow = summary["jobs"]["by_flow"]
    assert by_flow["run_cancel"].get("CANCELLED", 0) > 0
    assert by_flow["retry_failed"].get("FAILED", 0) > 0
    totals = summary["jobs"]["totals_by_flow"]
    assert totals["retry_failed"]["retries"] > 0
    assert totals["run_stream"]["chunks"] > 0
    assert summary["metrics"]["first_chunk"]["by_flow"]["run_stream"]["count"] > 0
    assert summary["health"]["samples"] >= 2


FEW_USERS_MANY_FLOWS = """
name: few-users
seed: 3
duration: 3s
target:
  emulator: {workers_min: 2, workers_max: 2, cold_start: 0s, execution_time: 10ms}
load: {users: 2}
mix:
  - {flow: run_poll, name: heavy, weight: 10, poll: {interval: 20ms, max_wait: 5s}}
  - {flow: runsync, name: sync, weight: 1, wait: 2s}
  - {flow: status_sync, name: long_poll, weight: 1, wait: 2s}
  - {flow: run_cancel, name: cancel, weight: 1, cancel_after: 10ms}
"""


def test_every_flow_runs_even_with_fewer_users_than_flows(tmp_path: Path, traffic) -> None:
    """Each iteration draws its flow by weight, so low-weight flows run even when users are few."""
    path = tmp_path / "few.yaml"
    path.write_text(FEW_USERS_MANY_FLOWS)
    run_dir = tmp_path / "run"
    result = traffic.run_loadtest(["run", str(path), "--run-dir", str(run_dir), "--no-report"])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = traffic.read_json(run_dir, "summary.json")
    traffic.assert_counts_match_ground_truth(
        summary, traffic.endpoint_truth(traffic.read_json(run_dir, "ground_truth.json"))
    )
    submitted = {flow: sum(statuses.values()) for flow, statuses in summary["jobs"]["by_flow"].items()}
    assert all(submitted.get(flow, 0) > 0 for flow in ("heavy", "sync", "long_poll", "cancel")), submitted
    light = submitted["sync"] + submitted["long_poll"] + submitted["cancel"]
    assert submitted["heavy"] > light, submitted  # weight 10 against 1 + 1 + 1
    in_flight = summary["metrics"]["jobs.in_flight"]["overall"]["value"]
    assert summary["run"]["settings"]["jobs_in_flight_at_end"] == in_flight
