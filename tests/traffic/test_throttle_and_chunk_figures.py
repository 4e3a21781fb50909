"""Streaming and throttling figures: Retry-After values and the waits after 429s (recorded by the API client),
chunks per second by when they arrived."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from loadtest.contract import Op
from loadtest.metrics.recorder import JobRecord, Recorder
from loadtest.metrics.summary import summarize_metrics, timeseries
from loadtest.rundir.documents import figures_plain
from loadtest.scenario.model import BackoffSettings, On429
from loadtest.traffic.client import ApiClient
from loadtest.traffic.control import RunControl

T0 = 1_750_000_000.0


class _Session:
    """A FastHttpSession stand-in answering from a script: (status, Retry-After header or None)."""

    base_url = "http://127.0.0.1:9"

    def __init__(self, answers: list[tuple[int, str | None]]) -> None:
        self.answers = answers
        self.request_event = SimpleNamespace(fire=lambda **_: None)

    def _send_request_safe_mode(self, method: str, url: str, payload: bytes | None = None, headers=None):
        status, retry_after = self.answers.pop(0)
        return SimpleNamespace(status_code=status, content=b'{"status": "ok"}' if status == 200 else b"",
                               headers={"Retry-After": retry_after} if retry_after else {}, error=None)


def _client(session: _Session, recorder: Recorder, on_429: On429) -> ApiClient:
    def on_response(op, flow, status, latency_s, started_at):
        recorder.record_request(op, flow, status, latency_s * 1000, started_at + latency_s)

    def on_throttle(op, flow, retry_after_s, waited_s, ended_at):
        recorder.record_throttle(op, flow, None if retry_after_s is None else retry_after_s * 1000,
                                 None if waited_s is None else waited_s * 1000, ended_at)

    return ApiClient(session, endpoint_id="e", api_key="k", on_429=on_429, control=RunControl(),
                     on_response=on_response, on_throttle=on_throttle)


def test_retry_after_values_and_the_waits_actually_spent_are_recorded() -> None:
    recorder = Recorder()
    session = _Session([(429, "0.05"), (429, None), (429, "0.02"), (200, None)])
    policy = On429(backoff=BackoffSettings(initial=0.03, jitter=0.0))
    result = _client(session, recorder, policy).call(Op.HEALTH, flow="h")
    assert result.status == 200 and result.throttled == 3
    metrics = figures_plain(summarize_metrics(recorder))
    asked = metrics["retry_after"]["by_op"]["health"]
    assert asked["count"] == 2 and asked["max"] == pytest.approx(50, rel=1e-2)  # the answer without one: not in it
    waited = metrics["backoff_wait"]["by_flow"]["h"]
    assert waited["count"] == 3  # 50 ms asked, 60 ms backoff (0.03 * 2), 20 ms asked
    assert waited["min"] >= 19 and waited["max"] >= 59
    assert metrics["throttled"]["overall"]["value"] == 3 and metrics["requests"]["overall"]["value"] == 4
    assert "retry_after{op=health}" in timeseries(recorder).series


def test_a_429_only_counted_has_its_retry_after_but_no_wait() -> None:
    recorder = Recorder()
    result = _client(_Session([(429, "7")]), recorder, On429(action="count")).call(Op.RUN, flow="f", body={})
    assert result.status == 429
    metrics = figures_plain(summarize_metrics(recorder))
    assert metrics["retry_after"]["overall"]["p50"] == pytest.approx(7000, rel=1e-3)
    assert metrics["backoff_wait"]["overall"] is None


def test_chunks_are_counted_when_they_arrived_and_give_a_rate_per_flow() -> None:
    recorder = Recorder(start=T0)
    for i in range(10):  # a job every second, its chunks 0.2 s, 1.4 s and 2.9 s after submission
        recorder.record_job(JobRecord(f"j{i}", "tokens", T0 + i, "COMPLETED", first_chunk_ms=200.0,
                                      chunk_gaps_ms=[1200.0, 1500.0], chunks=6, streams=True,
                                      chunk_batches=[(200.0, 1), (1400.0, 2), (2900.0, 3)]), t=T0 + i + 3)
    metrics = figures_plain(summarize_metrics(recorder, 13.0))
    assert metrics["chunks"]["by_flow"]["tokens"]["value"] == 60
    assert metrics["chunk_rate"]["overall"]["value"] == pytest.approx(60 / 13.0)
    counts = timeseries(recorder).series["chunks{flow=tokens}"]["count"]
    assert sum(counts) == 60 and counts[:4] == [1, 3, 6, 6]  # arrival seconds, not the jobs' end
