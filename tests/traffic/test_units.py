"""Pieces of the traffic side that need no Locust: job stories, Retry-After, names, overrides, limiter set-up.

(Locust itself is never imported in the pytest process: it monkey-patches the standard library.)
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from loadtest.contract import Op
from loadtest.metrics.recorder import IN_FLIGHT, Recorder
from loadtest.scenario.loader import load_scenario_text
from loadtest.scenario.overrides import OverrideError, Overrides, apply_overrides
from loadtest.traffic.flows import JobBook, JobStory, SpendingGuard
from loadtest.traffic.runtime import build_limiters

OPEN = """
name: open
duration: 5s
load: {arrival_rate: 10/s}
mix: [{flow: run_poll}]
"""
CLOSED_STAGES = """
name: closed
load: {stages: [{duration: 2s, users: 1}, {duration: 3s, users: 4}]}
mix: [{flow: run_poll}]
"""


def test_locust_is_not_imported_by_the_plain_modules():
    code = (
        "import sys, loadtest.traffic.flows, loadtest.scenario.overrides, loadtest.traffic.runtime, "
        "loadtest.cli.run, loadtest.cli.ui, loadtest.pipeline.console, loadtest.pipeline.conclude, "
        "loadtest.traffic.outcome; assert 'locust' not in sys.modules"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_job_story_measures_end_to_end_with_the_observing_pause():
    story = JobStory(flow="f", began=100.0)
    story.observe({"status": "IN_QUEUE"}, 0.0, 100.1)
    assert story.end_to_end_ms is None
    story.observe({"status": "COMPLETED", "delayTime": 31, "executionTime": 12}, 0.25, 100.5)
    assert story.end_to_end_ms == pytest.approx(500)
    assert story.observe_interval_ms == pytest.approx(250)
    story.observe({"status": "COMPLETED"}, 0.25, 101.0)  # a later look changes nothing
    assert story.end_to_end_ms == pytest.approx(500)
    record = story.record()
    assert (record.final_status, record.delay_ms, record.execution_ms) == ("COMPLETED", 31.0, 12.0)


def test_stream_chunks_first_chunk_and_gaps_between_answers():
    story = JobStory(flow="s", began=10.0)
    story.observe_chunks(0, 10.2)
    story.observe_chunks(2, 10.5)
    story.observe_chunks(1, 10.9)
    assert story.first_chunk_ms == pytest.approx(500)
    assert story.chunk_gaps_ms == [pytest.approx(400)]
    assert story.chunks == 3


def test_retry_reopens_the_job():
    story = JobStory(flow="r", began=0.0)
    story.observe({"status": "FAILED"}, 0.1, 1.0)
    story.reopen_for_retry()
    assert story.retries == 1 and not story.terminal and story.end_to_end_ms is None


def test_job_book_records_each_job_once_and_the_rest_in_flight():
    recorder = Recorder()
    book = JobBook(recorder)
    done, pending = JobStory(flow="a", job_id="1"), JobStory(flow="a", job_id="2")
    book.open(done)
    book.open(pending)
    done.observe({"status": "COMPLETED"}, 0.0, time.perf_counter())
    book.close(done)
    book.close(done)
    pending.observe({"status": "IN_PROGRESS"}, 0.0, time.perf_counter())
    assert book.close_remaining() == 1
    statuses = sorted(status for (_, _, status) in recorder.jobs)
    assert statuses == ["COMPLETED", IN_FLIGHT]
    assert sum(recorder.jobs.values()) == 2 == book.submitted


def test_spending_guard_counts_only_created_jobs():
    reached = []
    guard = SpendingGuard(2, on_reached=lambda: reached.append(1))
    assert guard.take() and guard.take()
    guard.give_back()
    assert guard.take()
    assert not guard.take() and not guard.take()
    assert reached == [1]


def test_overrides_apply_and_refuse():
    closed = load_scenario_text(CLOSED_STAGES)
    held = apply_overrides(closed, Overrides(users=3))
    assert held.load.users == 3 and held.load.stages == [] and held.total_duration == 5
    shorter = apply_overrides(closed, Overrides(duration="1s", seed=9))
    assert shorter.total_duration == 1 and shorter.seed == 9
    open_ = load_scenario_text(OPEN)
    faster = apply_overrides(open_, Overrides(rate="600/m", max_in_flight=7))
    assert faster.load.arrival_rate == 10 and faster.load.max_in_flight == 7
    with pytest.raises(OverrideError, match="--users: the scenario uses the open model"):
        apply_overrides(open_, Overrides(users=2))
    with pytest.raises(OverrideError, match="--max-in-flight"):
        apply_overrides(closed, Overrides(max_in_flight=3))


def test_limiters_follow_the_policy_and_the_emulator_configuration():
    respect = load_scenario_text("""
name: r
duration: 1s
target: {emulator: {limits: {window: 2s, rate_overrides: {run: 50}}}}
mix: [{flow: run_poll}]
""")
    limiters = build_limiters(respect)
    assert limiters is not None
    run = limiters.for_op(Op.RUN)
    assert run.rate.budget == 45  # 90 % of the emulator's 50 per 2 s window
    probe = load_scenario_text("""
name: p
duration: 1s
mix: [{flow: run_poll}]
rate_limits: {policy: probe}
""")
    assert build_limiters(probe) is None
    capped = load_scenario_text("""
name: c
duration: 1s
mix: [{flow: run_poll}]
rate_limits: {policy: probe, operations: {status: {rate: 5/s}}}
""")
    limiters = build_limiters(capped)
    assert limiters.for_op(Op.STATUS).rate.budget == 50  # 5/s over the documented 10 s window, used as given
    assert limiters.for_op(Op.RUN) is None
