"""The contract module states the documented table faithfully (runpod-endpoint-operations.txt)."""

from loadtest import contract
from loadtest.contract import OPERATIONS, JobStatus, Op


def test_documented_rate_table():
    documented = {
        Op.RUN: (1000, 200), Op.RUNSYNC: (2000, 400), Op.STATUS: (2000, 400), Op.STATUS_SYNC: (2000, 400),
        Op.STREAM: (2000, 400), Op.CANCEL: (100, 20), Op.PURGE_QUEUE: (2, None), Op.OPENAI: (2000, 400),
        Op.REQUESTS: (10, 2),
    }
    for op, (rate, concurrency) in documented.items():
        assert (OPERATIONS[op].rate_limit, OPERATIONS[op].concurrency_limit) == (rate, concurrency)
    assert contract.RATE_WINDOW_S == 10


def test_terminal_statuses():
    assert {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"} == contract.TERMINAL_STATUSES
    assert contract.is_terminal("FAILED") and not contract.is_terminal(JobStatus.IN_PROGRESS)
    assert {"FAILED", "TIMED_OUT"} == contract.RETRYABLE_STATUSES


def test_queue_size_rule_needs_both_conditions():
    assert contract.queue_size_limit(0) == 50
    assert contract.queue_size_limit(3) == 1500


def test_url_paths():
    assert OPERATIONS[Op.STATUS].url_path("ep", "j1") == "/ep/status/j1"
    assert OPERATIONS[Op.RUN].url_path("ep") == "/ep/run"
