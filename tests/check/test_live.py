"""Abort thresholds judged on a live recorder: lost only when no later data could save them."""

from __future__ import annotations

from loadtest.check.criteria import ThresholdSpec
from loadtest.check.live import LiveThresholds, can_abort
from loadtest.metrics.catalog import parse_metric_ref
from loadtest.metrics.recorder import Recorder

START = 1_800_000_000.5


def _spec(metric: str, index: int = 0, **kwargs) -> ThresholdSpec:
    return ThresholdSpec(parse_metric_ref(metric), index=index, abort=True, **kwargs)


def test_only_windowed_or_monotone_thresholds_can_abort() -> None:
    assert can_abort(_spec("rate_429", max=0.1, window_s=10))
    assert can_abort(_spec("errors", max=3))
    assert can_abort(_spec("latency.max", max=500))
    assert can_abort(_spec("queue_length.max", max=100))
    assert can_abort(_spec("end_to_end.min", min=1))
    assert not can_abort(_spec("end_to_end.p95", max=500))  # may come back down
    assert not can_abort(_spec("job_throughput", min=10))
    assert not can_abort(ThresholdSpec(parse_metric_ref("errors"), max=3, abort=False))
    assert LiveThresholds([_spec("end_to_end.p95", max=500)]).specs == []


def test_windowed_threshold_is_lost_once_a_settled_window_breaks_it() -> None:
    recorder = Recorder(start=START)
    live = LiveThresholds([_spec("rate_429", max=0.2, window_s=5)])
    for second in range(30):
        for i in range(10):  # 10 requests a second; from 12 s on, half of them are 429s
            status = 429 if second >= 12 and i % 2 == 0 else 200
            recorder.record_request("run", "chat", status, 2.0, t=START + second + i / 10)
        now = START + second + 1
        lost = live.check(recorder, now=now)
        if lost is not None:
            break
    assert lost is not None
    assert 13 <= second <= 15  # judged only once the breaking window's buckets have settled
    assert lost.verdict == "fail" and lost.criterion == "rate_429.value in any 5s window"
    assert "lost during the run" in lost.why
    assert "aborted" in LiveThresholds.stop_reason(lost)


def test_monotone_count_is_lost_as_soon_as_it_exceeds_its_max() -> None:
    recorder = Recorder(start=START)
    live = LiveThresholds([_spec("errors", max=3), _spec("end_to_end.p95", index=1, max=1)])
    assert len(live.specs) == 1
    for n in range(3):
        recorder.record_request("status", "chat", 500, 2.0, t=START + n)
        assert live.check(recorder, now=START + n + 5) is None
    recorder.record_request("status", "chat", 0, 2.0, t=START + 3)
    lost = live.check(recorder, now=START + 10)
    assert lost is not None and lost.value == 4 and lost.metric == "errors.value"


def test_a_quiet_run_is_never_aborted() -> None:
    recorder = Recorder(start=START)
    live = LiveThresholds([_spec("rate_429", max=0.2, window_s=3), _spec("errors", index=1, max=0)])
    for second in range(20):
        recorder.record_request("run", "chat", 200, 2.0, t=START + second + 0.5)
        assert live.check(recorder, now=START + second + 1) is None
