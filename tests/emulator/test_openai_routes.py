"""The OpenAI-compatible routes with simulated workers: bad requests get OpenAI-shaped 400s (never a 500
or a hang), and the language model's mechanisms (token counts, prefill, continuous batching, timeouts,
cold starts) are read from the ground truth, whose simulated times are exact."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from typing import Any

import pytest

from loadtest.emulator.openai_requests import count_tokens

CHAT = "openai/v1/chat/completions"
COMPLETIONS = "openai/v1/completions"
MODELS = "openai/v1/models"
MSG = [{"role": "user", "content": "hello"}]
LLM = {
    "id": "ep", "workers_min": 1, "workers_max": 2, "cold_start": "20ms", "concurrency": 8,
    "llm": {"models": ["m1", "m2"], "output_tokens": 6, "decode_time": "5ms", "prefill_overhead": "2ms",
            "prefill_per_token": "0.1ms", "context_length": 64},
}


def _llm(**settings: Any) -> dict[str, Any]:
    return {**LLM, "llm": {**LLM["llm"], **settings.pop("llm", {})}, **settings}


async def _raw(api: Any, path: str, body: Any, method: str = "POST") -> tuple[int, str, bytes]:
    """(status, content type, whole body) of any answer, JSON or event stream."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with api.session.request(method, api.url(path), data=data, headers=api.headers) as response:
        return response.status, response.content_type, await response.read()


def _events(raw: bytes) -> list[Any]:
    """The ``data:`` payloads of an event stream, parsed (``[DONE]`` kept as the string)."""
    text = raw.decode()
    assert text.endswith("\n\n"), text[-50:]
    events = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        payload = block[len("data: "):]
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


def _assert_openai_error(body: Any, param: str | None = None, code: str | None = None) -> None:
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error


BAD_REQUESTS: list[tuple[str, Any, str | None]] = [
    (CHAT, b"{not json", None),
    (CHAT, b"", None),
    (CHAT, b"\xff\xfe", None),
    (CHAT, b"[1, 2]", None),
    (CHAT, b'"hello"', None),
    (CHAT, {"model": "m1"}, "messages"),
    (CHAT, {"messages": "hello"}, "messages"),
    (CHAT, {"messages": []}, "messages"),
    (CHAT, {"messages": [1]}, "messages[0]"),
    (CHAT, {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    (CHAT, {"messages": [{"content": "x"}]}, "messages[0].role"),
    (CHAT, {"messages": [{"role": "user"}]}, "messages[0].content"),
    (CHAT, {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    (CHAT, {"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}, "messages[0].content"),
    (CHAT, {"messages": MSG, "max_tokens": 0}, "max_tokens"),
    (CHAT, {"messages": MSG, "max_tokens": -3}, "max_tokens"),
    (CHAT, {"messages": MSG, "max_tokens": "10"}, "max_tokens"),
    (CHAT, {"messages": MSG, "max_tokens": 1.5}, "max_tokens"),
    (CHAT, {"messages": MSG, "max_tokens": True}, "max_tokens"),
    (CHAT, {"messages": MSG, "max_tokens": 1000}, "max_tokens"),
    (CHAT, {"messages": MSG, "max_completion_tokens": []}, "max_completion_tokens"),
    (CHAT, {"messages": MSG, "min_tokens": 50, "max_tokens": 5}, "min_tokens"),
    (CHAT, {"messages": MSG, "model": 7}, "model"),
    (CHAT, {"messages": MSG, "stream": "yes"}, "stream"),
    (CHAT, {"messages": MSG, "stream_options": {"include_usage": True}}, "stream_options"),
    (CHAT, {"messages": MSG, "stream": True, "stream_options": []}, "stream_options"),
    (CHAT, {"messages": MSG, "stream": True, "stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
    (CHAT, {"messages": MSG, "temperature": 3}, "temperature"),
    (CHAT, {"messages": MSG, "temperature": "hot"}, "temperature"),
    (CHAT, {"messages": MSG, "top_p": -0.5}, "top_p"),
    (CHAT, {"messages": MSG, "n": 2}, "n"),
    (CHAT, {"messages": MSG, "logprobs": True}, "logprobs"),
    (CHAT, {"messages": MSG, "logprobs": "yes"}, "logprobs"),
    (CHAT, {"messages": MSG, "stop": [1]}, "stop"),
    (CHAT, {"messages": [{"role": "user", "content": "x" * 400}]}, "messages"),
    (COMPLETIONS, {"model": "m1"}, "prompt"),
    (COMPLETIONS, {"prompt": ""}, "prompt"),
    (COMPLETIONS, {"prompt": 5}, "prompt"),
    (COMPLETIONS, {"prompt": {"text": "x"}}, "prompt"),
    (COMPLETIONS, {"prompt": ["a", "b"]}, "prompt"),
    (COMPLETIONS, {"prompt": [1, -2]}, "prompt"),
    (COMPLETIONS, {"prompt": "x", "echo": True}, "echo"),
    (COMPLETIONS, {"prompt": "x", "logprobs": 2}, "logprobs"),
    (COMPLETIONS, {"prompt": "x", "max_tokens": 64}, "max_tokens"),
    (COMPLETIONS, {"prompt": "x", "seed": "s"}, "seed"),
]


def test_malformed_bodies_get_openai_shaped_400s_and_make_no_job(serve):
    async def body(api):
        for path, request, param in BAD_REQUESTS:
            status, answer, _ = await api.post(path, raw=request if isinstance(request, bytes) else None,
                                               body=None if isinstance(request, bytes) else request)
            assert status == 400, (path, request, answer)
            _assert_openai_error(answer, param)
        status, answer, _ = await api.post(CHAT, {"model": "gpt-9", "messages": MSG})
        assert status == 400
        _assert_openai_error(answer, "model", "model_not_found")
        truth = await api.ground_truth()
        assert truth["jobs"]["submitted"] == 0
        assert truth["requests"]["openai"] == {"400": len(BAD_REQUESTS) + 1}

    serve(LLM, body)


def test_unknown_route_method_and_auth(serve):
    async def body(api):
        for path in ("openai/v1/embeddings", "openai/v2/chat/completions", "openai/", "openai/v1/models/m1"):
            status, answer, _ = await api.post(path, {"input": "x"})
            assert status == 404, path
            assert set(answer["error"]) == {"message", "type", "param", "code"}
            assert answer["error"]["type"] == "not_found_error"
        status, answer, headers = await api.get(CHAT)
        assert status == 405 and headers["Allow"] == "POST" and answer["error"]["message"]
        status, answer, headers = await api.post(MODELS, {})
        assert status == 405 and headers["Allow"] == "GET"
        status, answer, _ = await api.post(CHAT, {"messages": MSG}, headers={})
        assert status == 401 and "API key" in answer["error"]  # the gateway's shape, as every operation
        truth = await api.ground_truth()
        assert truth["jobs"]["submitted"] == 0
        assert truth["requests"]["openai"] == {"401": 1, "404": 4, "405": 2}
        assert truth["llm"]["requests"]["unknown"] == 4

    serve(LLM, body)


def test_openai_budget_is_enforced_and_a_stream_holds_its_slot_to_the_end(serve):
    async def body(api):
        request = {"messages": MSG, "stream": True, "max_tokens": 10, "ignore_eos": True}
        async with api.session.post(api.url(CHAT), json=request, headers=api.headers) as streaming:
            await streaming.content.readline()  # the stream has begun: one request of openai in flight
            status, answer, headers = await api.get(MODELS)
            assert status == 429 and answer["limit"] == "concurrency" and answer["operation"] == "openai"
            assert headers["Retry-After"] == "1"
            await streaming.read()
        for _ in range(2):  # the first stream and these two: the window's budget of 3
            status, _, _ = await api.get(MODELS)
            assert status == 200
        status, answer, _ = await api.post(CHAT, {"messages": MSG})
        assert status == 429 and answer["limit"] == "rate"
        truth = await api.ground_truth()
        assert truth["rejected"]["openai"] == {"concurrency": 1, "rate": 1}
        assert truth["jobs"]["submitted_by"] == {"openai": 3}

    serve(_llm(limits={"concurrency_overrides": {"openai": 1}, "rate_overrides": {"openai": 3}},
               llm={"decode_time": "10ms"}), body)


def test_payload_limit_applies_to_openai_bodies(serve):
    async def body(api):
        status, answer, _ = await api.post(CHAT, {"messages": [{"role": "user", "content": "x" * 200}]})
        assert status == 413 and "at most 100 bytes" in answer["error"]

    serve(_llm(limits={"payload_overrides": {"openai": 100}}), body)


_JUNK: list[Any] = [None, True, False, 0, -1, 1, 2.5, 10**30, -(10**30), "", "x", "m1", [], [1], ["a"], {},
                    {"role": "user"}, [{"role": "user", "content": "hi"}], [{"type": "text", "text": "t"}]]
_FIELDS = ["model", "messages", "prompt", "max_tokens", "max_completion_tokens", "min_tokens", "stream",
           "stream_options", "temperature", "top_p", "n", "stop", "seed", "logprobs", "echo", "ignore_eos",
           "user", "tools", "unknown_field"]


def test_random_bodies_are_answered_200_or_400_never_500_or_hang(serve):
    """Seeded mutations of valid bodies: whatever a client sends is an answer or an OpenAI-shaped 400."""
    rng = random.Random(21)

    async def body(api):
        answered = {200: 0, 400: 0}
        for _ in range(250):
            path = rng.choice((CHAT, COMPLETIONS))
            request: dict[str, Any] = {"model": "m1", "max_tokens": 3}
            request["messages" if path == CHAT else "prompt"] = MSG if path == CHAT else "hello"
            for _ in range(rng.randint(1, 3)):
                field = rng.choice(_FIELDS)
                if rng.random() < 0.2:
                    request.pop(field, None)
                else:
                    request[field] = rng.choice(_JUNK)
            status, content_type, raw = await asyncio.wait_for(_raw(api, path, request), 10)
            assert status in (200, 400), (request, status, raw[:300])
            answered[status] += 1
            if content_type == "text/event-stream":
                assert status == 200 and _events(raw)[-1] == "[DONE]"
            else:
                answer = json.loads(raw)
                if status == 400:
                    _assert_openai_error(answer)
                else:
                    assert answer["object"] in ("chat.completion", "text_completion"), answer
        assert answered[200] > 10 and answered[400] > 10, answered

    serve(_llm(llm={"decode_time": "0s", "prefill_overhead": "0s", "prefill_per_token": "0s"}), body, timeout=120)


def test_whole_answers_count_tokens_exactly(serve):
    async def body(api):
        messages = [{"role": "system", "content": "abcdefghi"}, {"role": "user", "content": "hello"},
                    {"role": "user", "content": [{"type": "text", "text": "abcd"}, {"type": "image_url"}]}]
        prompt_tokens = count_tokens("abcdefghi") + count_tokens("hello") + count_tokens("abcd")
        assert prompt_tokens == 3 + 2 + 1
        cases = [
            ({}, 6, "stop"),  # the model's own length (output_tokens: 6)
            ({"max_tokens": 4}, 4, "length"),
            ({"max_completion_tokens": 5}, 5, "length"),
            ({"max_tokens": 6}, 6, "length"),
            ({"max_tokens": 20, "ignore_eos": True}, 20, "length"),
            ({"max_tokens": 20, "min_tokens": 9}, 9, "stop"),
        ]
        for extra, tokens, finish in cases:
            status, answer, _ = await api.post(CHAT, {"model": "m2", "messages": messages, **extra})
            assert status == 200, answer
            assert answer["object"] == "chat.completion" and answer["model"] == "m2"
            assert answer["id"].startswith("chatcmpl-sync-")
            choice = answer["choices"][0]
            assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == finish, (extra, choice)
            assert count_tokens(choice["message"]["content"]) == tokens == len(choice["message"]["content"]) // 4
            assert answer["usage"] == {"prompt_tokens": 6, "completion_tokens": tokens, "total_tokens": 6 + tokens}
        status, answer, _ = await api.post(COMPLETIONS, {"prompt": [1, 2, 3], "max_tokens": 2})
        assert answer["object"] == "text_completion" and answer["model"] == "m1"  # the first model by default
        assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
        status, answer, _ = await api.post(COMPLETIONS, {"prompt": ["abcdefgh"], "ignore_eos": True})
        assert answer["usage"]["completion_tokens"] == 16  # the completions default max_tokens
        status, answer, _ = await api.get(MODELS)
        assert status == 200 and answer["object"] == "list"
        assert [model["id"] for model in answer["data"]] == ["m1", "m2"]
        truth = await api.ground_truth()
        llm = truth["llm"]
        assert llm["requests"] == {"/v1/chat/completions": 6, "/v1/completions": 2, "/v1/models": 1}
        assert llm["output_tokens"] == 6 + 4 + 5 + 6 + 20 + 9 + 2 + 16
        assert llm["prompt_tokens"] == 6 * 6 + 3 + 2
        assert truth["jobs"]["submitted_by"] == {"openai": 9}
        assert truth["requests"]["openai"] == {"200": 9}

    serve(LLM, body)


def test_streamed_chat_and_completion_events(serve):
    async def body(api):
        request = {"model": "m1", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
        status, content_type, raw = await _raw(api, CHAT, request)
        assert status == 200 and content_type == "text/event-stream"
        events = _events(raw)
        assert events[-1] == "[DONE]"
        chunks = events[:-1]
        assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m1" for c in chunks)
        assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        tokens = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
        assert len(tokens) == 6 and all(len(token) == 4 for token in tokens)
        assert [c["choices"][0]["finish_reason"] for c in chunks[1:-1]] == [None] * 5 + ["stop"]
        assert all(c["usage"] is None for c in chunks[:-1])
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
            "prompt_tokens": 2, "completion_tokens": 6, "total_tokens": 8}

        status, content_type, raw = await _raw(api, COMPLETIONS, {"prompt": "hi", "stream": True, "max_tokens": 3})
        events = _events(raw)
        assert events[-1] == "[DONE]" and len(events) == 4
        assert all(e["object"] == "text_completion" and "usage" not in e for e in events[:-1])
        assert [e["choices"][0]["finish_reason"] for e in events[:-1]] == [None, None, "length"]
        assert all(len(e["choices"][0]["text"]) == 4 for e in events[:-1])

        async with api.session.post(api.url(CHAT), json={"messages": MSG, "stream": True},
                                    headers=api.headers) as response:
            assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
            assert response.headers["Cache-Control"] == "no-cache"
            assert response.headers.get("Content-Length") is None  # chunked: each event is sent on its own
            await response.read()

    serve(LLM, body)


async def _llm_records(api: Any) -> list[dict[str, Any]]:
    async with api.session.get(f"{api.server.admin_url}/ground-truth/llm?endpoint={api.endpoint_id}") as response:
        assert response.status == 200
        return (await response.json())["requests"]


def test_stream_batching_sends_events_in_growing_batches_as_the_vllm_worker(serve):
    async def body(api):
        request = {"messages": MSG, "stream": True, "max_tokens": 12, "ignore_eos": True}
        status, _, raw = await _raw(api, CHAT, request)
        events = _events(raw)
        assert status == 200 and len(events) == 1 + 12 + 1  # role, tokens, [DONE]: nothing lost or added
        (record,) = await _llm_records(api)
        first = 2 + 0.2  # the prefill: the first token is produced then, but yielded with the second batch
        # batches of 1 (the role chunk alone), 3, then 5 (3 * 3, at most 5) events; the rest at the end
        assert record["emit_ms"] == pytest.approx([first + 20] * 3 + [first + 70] * 5 + [first + 110] * 4, abs=0.002)
        assert record["ttft_ms"] == pytest.approx(first + 20, abs=0.002)
        status, _, raw = await _raw(api, CHAT, {**request, "stream": False})  # a whole answer is not batched
        (_, whole) = await _llm_records(api)
        assert whole["emit_ms"][:2] == pytest.approx([first, first + 10], abs=0.002)

    serve(_llm(llm={"decode_time": "10ms", "stream_batching": {"size": 5, "min": 1, "growth": 3}}), body)


def test_prefill_grows_with_the_prompt(serve):
    async def body(api):
        for content in ("abcd", "x" * 160):  # 1 and 40 prompt tokens
            status, _, _ = await api.post(CHAT, {"messages": [{"role": "user", "content": content}]})
            assert status == 200
        short, long = await _llm_records(api)
        # a warm idle worker takes each job at once: time to first token is the prefill, exactly
        assert short["ttft_ms"] == pytest.approx(2 + 1 * 1.0, abs=0.002)
        assert long["ttft_ms"] == pytest.approx(2 + 40 * 1.0, abs=0.002)
        assert short["prompt_tokens"] == 1 and long["prompt_tokens"] == 40
        assert long["emit_ms"][1] - long["emit_ms"][0] == pytest.approx(5, abs=0.002)

    serve(_llm(llm={"prefill_per_token": "1ms"}), body)


def test_continuous_batching_slows_every_sequence_in_flight(serve):
    async def body(api):
        request = {"messages": MSG, "max_tokens": 5, "ignore_eos": True}
        status, _, _ = await api.post(CHAT, request)  # alone on the worker
        assert status == 200
        answers = await asyncio.gather(*(api.post(CHAT, request) for _ in range(4)))
        assert all(status == 200 for status, _, _ in answers)
        alone, *together = await _llm_records(api)
        gaps = [b - a for a, b in itertools.pairwise(alone["emit_ms"])]
        assert gaps == pytest.approx([10.0] * 4, abs=0.002)
        for record in together:  # four sequences in flight: each token takes 10 ms * (1 + 1.0 * 3)
            emit = record["emit_ms"]
            assert len(emit) == 5
            assert [b - a for a, b in itertools.pairwise(emit)] == pytest.approx([40.0] * 4, abs=0.002)

    # the prefill is long enough for all four requests to be in flight before the first token
    serve(_llm(workers_max=1, concurrency=4,
               llm={"decode_time": "10ms", "batch_slowdown": 1.0, "prefill_overhead": "300ms"}), body)


def test_concurrency_caps_the_sequences_per_worker(serve):
    async def body(api):
        request = {"messages": MSG, "max_tokens": 3, "ignore_eos": True}
        answers = await asyncio.gather(*(api.post(CHAT, request) for _ in range(3)))
        assert all(status == 200 for status, _, _ in answers)
        records = sorted(await _llm_records(api), key=lambda r: r["startedAt"])
        # two sequences at once: the third waits in the queue for a free slot
        assert records[2]["startedAt"] == pytest.approx(min(r["finishedAt"] for r in records[:2]), abs=0.002)
        assert records[2]["startedAt"] - records[2]["submittedAt"] > 40

    serve(_llm(workers_max=1, concurrency=2, llm={"decode_time": "20ms"}), body)


def test_cold_start_and_queue_come_before_the_first_token(serve):
    async def body(api):
        status, _, _ = await api.post(CHAT, {"messages": MSG, "max_tokens": 2})
        assert status == 200
        (record,) = await _llm_records(api)
        assert record["startedAt"] - record["submittedAt"] == pytest.approx(250, abs=0.002)  # the cold start
        assert record["ttft_ms"] == pytest.approx(250 + 2 + 0.2, abs=0.002)
        assert record["finishedAt"] - record["submittedAt"] == pytest.approx(250 + 2.2 + 5, abs=0.002)

    serve(_llm(workers_min=0, cold_start="250ms"), body)


def test_execution_timeout_ends_a_stream_with_an_error_event(serve):
    async def body(api):
        status, content_type, raw = await _raw(api, CHAT, {"messages": MSG, "stream": True, "max_tokens": 40,
                                                           "ignore_eos": True})
        assert status == 200 and content_type == "text/event-stream"
        events = _events(raw)
        assert events[-1] == "[DONE]"
        error = events[-2]["error"]
        assert error["type"] == "timeout" and error["code"] == 504 and "timed out" in error["message"]
        tokens = [e for e in events[:-2] if e["choices"][0]["delta"].get("content")]
        assert 5 <= len(tokens) <= 7  # 2.2 ms prefill, then a token every 10 ms, until 60 ms
        (record,) = await _llm_records(api)
        assert record["status"] == "TIMED_OUT" and record["output_tokens"] == len(tokens)
        assert record["finish_reason"] is None

        status, answer, _ = await api.post(CHAT, {"messages": MSG, "max_tokens": 40, "ignore_eos": True})
        assert status == 504 and answer["error"]["type"] == "timeout"

    serve(_llm(execution_timeout="60ms", llm={"decode_time": "10ms"}), body)


def test_failures_before_the_first_token_are_http_errors(serve):
    async def body(api):
        for stream in (False, True):
            status, content_type, raw = await _raw(api, CHAT, {"messages": MSG, "stream": stream,
                                                               "mock_error": "the GPU fell over"})
            assert status == 502 and content_type == "application/json"
            error = json.loads(raw)["error"]
            assert error["type"] == "server_error" and "the GPU fell over" in error["message"]
        truth = await api.ground_truth()
        assert truth["llm"]["finished"] == {"FAILED": 2}
        assert truth["jobs"]["final"]["FAILED"] == 2

    serve(LLM, body)


def test_an_abandoned_stream_runs_on_and_is_counted(serve):
    async def body(api):
        request = {"messages": MSG, "stream": True, "max_tokens": 20, "ignore_eos": True}
        async with api.session.post(api.url(CHAT), json=request, headers=api.headers) as response:
            await response.content.readline()  # the first event, then hang up
        for _ in range(200):
            truth = await api.ground_truth()
            if truth["llm"]["finished"].get("COMPLETED"):
                break
            await asyncio.sleep(0.02)
        assert truth["llm"]["finished"] == {"COMPLETED": 1} and truth["llm"]["abandoned"] == 1
        assert truth["llm"]["output_tokens"] == 20

    serve(_llm(llm={"decode_time": "10ms"}), body)


def test_llm_settings_are_refused_with_a_real_worker():
    from pydantic import ValidationError

    from loadtest.emulator_config import EndpointConfig

    with pytest.raises(ValidationError, match="llm describes simulated workers"):
        EndpointConfig.model_validate({"worker": {"command": ["python", "h.py"]}, "llm": {"models": ["x"]}})
    with pytest.raises(ValidationError, match="repeated: a"):
        EndpointConfig.model_validate({"llm": {"models": ["a", "a"]}})
