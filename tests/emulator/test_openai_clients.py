"""The official ``openai`` Python client, unmodified, against the emulator process's ``/openai/v1`` routes;
the timing truth of 50 streams in flight; a real RunPod handler's OpenAI chunks relayed as the stream.

Timing assertions are bounds on differences, never rates: the client's own arrival times of each token
against the emulator's ground-truth emit times (simulated), aligned on each stream's first token.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

openai = pytest.importorskip("openai")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workers"
MSG = [{"role": "user", "content": "Say something."}]


@pytest.fixture(scope="module")
def llm(module_emulator_factory):
    return module_emulator_factory({
        "id": "llm", "workers_min": 1, "workers_max": 1, "concurrency": 64, "cold_start": "50ms",
        "limits": {"rate": False, "concurrency": False},
        "llm": {"models": ["emulated-llama"], "output_tokens": 12, "decode_time": "40ms", "batch_slowdown": 0,
                "prefill_overhead": "20ms", "prefill_per_token": "0.5ms"},
    })


def _client(emu: Any, endpoint: str) -> Any:
    return openai.OpenAI(api_key="any-key", base_url=f"{emu.base_url}/{endpoint}/openai/v1", max_retries=0)


def test_official_client_whole_and_streamed(llm):
    llm.reset()
    client = _client(llm, "llm")
    assert [model.id for model in client.models.list()] == ["emulated-llama"]

    answer = client.chat.completions.create(model="emulated-llama", messages=MSG, max_tokens=5)
    assert answer.object == "chat.completion" and answer.choices[0].finish_reason == "length"
    assert len(answer.choices[0].message.content) == 5 * 4
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (4, 5, 9)

    answer = client.completions.create(model="emulated-llama", prompt="Once upon a time", max_tokens=50)
    assert answer.object == "text_completion" and answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == 12 and len(answer.choices[0].text) == 48

    stream = client.chat.completions.create(model="emulated-llama", messages=MSG, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text) == 12 * 4
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12

    raw = client.completions.with_raw_response.create(model="emulated-llama", prompt="Hi", stream=True, max_tokens=3)
    assert raw.headers["content-type"].startswith("text/event-stream")
    pieces = [c.choices[0].text for c in raw.parse()]
    assert len(pieces) == 3 and all(len(p) == 4 for p in pieces)

    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert caught.value.body["param"] == "model" and caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="emulated-llama", prompt="", max_tokens=3)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="emulated-llama", input="x")

    truth = llm.ground_truth("llm")["endpoints"]["llm"]
    assert truth["requests"]["openai"] == {"200": 5, "400": 2, "404": 1}
    assert truth["llm"]["output_tokens"] == 5 + 12 + 12 + 3


def test_wrong_key_is_an_authentication_error(emulator_factory):
    emu = emulator_factory({"id": "locked", "api_key_env": "LLM_TEST_KEY"}, env={"LLM_TEST_KEY": "right-key",
                                                                              "PATH": "/usr/bin:/bin"})
    client = openai.OpenAI(api_key="wrong-key", base_url=f"{emu.base_url}/locked/openai/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


async def _stream(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], delay: float
) -> tuple[str, float, list[float]]:
    """(answer id, send time, each content event's arrival time) of one streamed chat request."""
    request = {"messages": MSG, "stream": True, "max_tokens": 20, "ignore_eos": True}
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    sent = loop.time()
    arrivals: list[float] = []
    answer_id = ""
    async with session.post(url, json=request, headers=headers) as response:
        assert response.status == 200
        async for line in response.content:
            now = loop.time()
            if not line.startswith(b"data: {"):
                continue
            chunk = json.loads(line[6:])
            answer_id = chunk["id"]
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                arrivals.append(now)
    return answer_id, sent, arrivals


async def _ticker(stop: asyncio.Event, lags: list[float]) -> None:
    """The client's own loop lag (ms) while it reads: its measurements are only as good as that."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.005
        await asyncio.sleep(0.005)
        lags.append(max(0.0, (loop.time() - due) * 1000))


def _bucket_quantile(buckets: dict[str, int], q: float) -> float:
    """The upper bound (ms) of the histogram bucket holding quantile ``q``."""
    total, seen = sum(buckets.values()), 0
    for label, count in buckets.items():
        seen += count
        if seen >= q * total:
            return float(label.removeprefix("<=")) if label.startswith("<=") else 10_000.0
    return 10_000.0


def test_fifty_streams_arrive_when_the_emulator_emits_them(llm):
    """At 50 streams in flight the client sees each token when the ground truth says it was emitted.

    The bounds add what each side reports about its own lateness (the emulator's relay lateness and loop
    lag, the client's loop lag), so a starved machine widens them instead of failing the test; on a quiet
    machine every term is about a millisecond."""
    llm.reset()
    client_lag: list[float] = []

    async def main() -> list[tuple[str, float, list[float]]]:
        connector = aiohttp.TCPConnector(limit=0)
        headers = {"Authorization": "Bearer k"}
        async with aiohttp.ClientSession(connector=connector) as session:
            async def warm() -> None:  # open the 50 connections first: TTFT should not include connecting
                async with session.get(f"{llm.base_url}/llm/health", headers=headers) as response:
                    await response.read()

            await asyncio.gather(*(warm() for _ in range(50)))
            stop = asyncio.Event()
            ticker = asyncio.ensure_future(_ticker(stop, client_lag))
            url = f"{llm.base_url}/llm/openai/v1/chat/completions"
            # arrivals spread over one decode time, as independent clients' would be
            streams = await asyncio.gather(*(_stream(session, url, headers, k * 0.0008) for k in range(50)))
            stop.set()
            await ticker
            return streams

    streams = asyncio.run(main())
    truth = {record["id"]: record for record in llm.llm_records("llm")}
    assert len(truth) == 50
    drift: list[float] = []
    ttft_excess: list[float] = []
    for answer_id, sent, arrivals in streams:
        record = truth[answer_id.removeprefix("chatcmpl-")]
        emit = record["emit_ms"]
        assert len(arrivals) == len(emit) == record["output_tokens"] == 20, (answer_id, len(arrivals), record)
        ttft_excess.append((arrivals[0] - sent) * 1000 - record["ttft_ms"])
        for index in range(1, 20):  # each token's arrival against its emit time, both from the stream's first
            drift.append(abs((arrivals[index] - arrivals[0]) * 1000 - (emit[index] - emit[0])))
    summary_truth = llm.ground_truth("llm")
    relay = summary_truth["endpoints"]["llm"]["llm"]["relay_lateness"]
    emulator_lag = summary_truth["loop_lag"]["max_ms"]
    client_lag.sort()
    ttft_excess.sort()
    drift.sort()
    worst = relay["max_ms"] + client_lag[-1] + 10  # + 10 ms for the network and parsing
    typical = _bucket_quantile(relay["buckets_ms"], 0.5) + statistics.median(client_lag) + 4
    summary = (
        f"TTFT excess ms p50 {statistics.median(ttft_excess):.2f} max {ttft_excess[-1]:.2f}; drift ms p50 "
        f"{statistics.median(drift):.2f} p95 {drift[int(len(drift) * 0.95)]:.2f} max {drift[-1]:.2f}; bounds: "
        f"typical {typical:.1f}, worst {worst:.1f} (relay lateness max {relay['max_ms']}, client lag max "
        f"{client_lag[-1]:.1f}, emulator loop lag max {emulator_lag})"
    )
    writes = sum(relay["buckets_ms"].values())
    assert writes >= 50 * 2, summary  # a write per token, or per few at once when the loop runs late
    # the client cannot see a token before the emulator emits it: its TTFT is at least the truth's
    assert ttft_excess[0] > -1.0, summary  # (the truth's milliseconds are rounded to 1 µs)
    assert ttft_excess[-1] < worst + emulator_lag, summary
    assert statistics.median(drift) < typical, summary
    assert drift[-1] < worst, summary


@pytest.fixture(scope="module")
def real_llm(module_emulator_factory):
    return module_emulator_factory({
        "id": "vllm-like", "workers_min": 1, "workers_max": 1,
        "worker": {"command": ["python", "-u", "openai_chunks.py"], "cwd": str(EXAMPLES),
                   "env": {"TOKEN_SECONDS": "0.03", "ANSWER_TOKENS": "8", "MODEL_NAME": "example-model"},
                   "take_hold": "5s", "stop_hold": "5s", "ping_interval": "1s"},
    })


def test_real_handler_chunks_are_relayed_as_the_stream(real_llm):
    client = _client(real_llm, "vllm-like")
    assert [model.id for model in client.models.list()] == ["example-model"]

    started = time.perf_counter()
    arrivals: list[float] = []
    pieces: list[str] = []
    usage = None
    for chunk in client.chat.completions.create(model="example-model", messages=MSG, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - started)
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == "The quick brown fox jumps over the lazy"
    assert usage is not None and usage.completion_tokens == 8
    # the handler sleeps 30 ms before each token: they arrive as it yields them, not all at the end
    assert arrivals[-1] - arrivals[0] >= 7 * 0.030 * 0.9

    answer = client.completions.create(model="example-model", prompt="Hello", max_tokens=3)
    assert answer.choices[0].text == "The quick brown" and answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 3

    with pytest.raises(openai.NotFoundError, match="does not exist"):  # the handler's own 404 error object
        client.chat.completions.create(model="other-model", messages=MSG)
    with pytest.raises(openai.BadRequestError, match="'messages' is required") as caught:
        client.chat.completions.create(model="example-model", messages=[], stream=True)
    assert caught.value.body["type"] == "BadRequestError" and caught.value.body["code"] == 400

    records = real_llm.llm_records("vllm-like")
    streamed = next(r for r in records if r["stream"] and r["status"] == "COMPLETED")
    assert streamed["source"] == "relayed" and streamed["output_tokens"] == 8
    assert streamed["finish_reason"] == "stop" and streamed["model"] == "example-model"
    assert len(streamed["emit_ms"]) >= 8  # every yield's arrival at the emulator
    truth = real_llm.ground_truth("vllm-like")["endpoints"]["vllm-like"]
    assert truth["worker_requests"]["job-stream"]["200"] >= 9
