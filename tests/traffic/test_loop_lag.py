"""The load generator's loop lag: measured by a gevent ticker, carried by the recorder, merged from workers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import gevent
import pytest

from loadtest.looplag import STALL_S
from loadtest.metrics.recorder import Recorder
from loadtest.pipeline.conclude import RunRecord, write_run_directory
from loadtest.rundir.read import RunDirectory
from loadtest.traffic.looplag_ticker import start_loop_lag_ticker

T0 = 1_750_000_000.0


def test_the_ticker_sees_a_stall_of_the_loop(tmp_path: Path) -> None:
    recorder = Recorder()
    ticker = start_loop_lag_ticker(lambda: recorder, "load generator")
    try:
        gevent.sleep(0.15)  # a few normal ticks
        time.sleep(STALL_S + 0.2)  # blocks the whole loop, as a busy CPU or a long GC would
        gevent.sleep(0.15)
    finally:
        ticker.stop()
    assert not ticker.running
    lag = recorder.loop_lag()["load generator"]
    assert lag["max_ms"] >= (STALL_S + 0.15) * 1000
    assert len(lag["stalls"]) == 1 and lag["stalls"][0]["duration_s"] >= STALL_S + 0.15
    write_run_directory(tmp_path / "run", recorder, RunRecord())
    assert RunDirectory(tmp_path / "run").summary().loop_lag["load generator"]["stalls"] == lag["stalls"]


def test_lag_travels_with_drains_and_merges_per_process() -> None:
    worker = Recorder(start=T0)
    worker.record_loop_lag("worker 1", T0 + 1.5, 0.004)
    worker.record_loop_lag("worker 1", T0 + 2.5, 0.6)
    master = Recorder(start=T0)
    master.merge(json.loads(json.dumps(worker.drain())))
    assert worker.loop_lag() == {}  # a drain ships it and starts afresh
    worker.record_loop_lag("worker 1", T0 + 3.5, 0.002)
    other = Recorder(start=T0)
    other.record_loop_lag("worker 2", T0 + 2.5, 0.01)
    master.merge(worker.drain())
    master.merge(other.snapshot())
    master.merge(other.snapshot())  # the same snapshot twice changes nothing: lag is a maximum, not a sum
    lag = master.loop_lag()
    assert sorted(lag) == ["worker 1", "worker 2"]
    assert lag["worker 1"]["per_second"] == [[T0 + 1, 4.0], [T0 + 2, 600.0], [T0 + 3, 2.0]]
    assert lag["worker 1"]["max_ms"] == pytest.approx(600.0)
    assert [s["duration_s"] for s in lag["worker 1"]["stalls"]] == [0.6]
    assert lag["worker 2"]["stalls"] == [] and lag["worker 2"]["max_ms"] == 10.0
    assert Recorder.from_snapshot(master.snapshot()).loop_lag() == lag
