"""A RunPod handler that answers the OpenAI-compatible routes the way RunPod's vLLM worker does, without a
model: the shape of the traffic, not the words.

The platform (and loadtest's emulator) turns ``POST /v2/ENDPOINT/openai/v1/chat/completions`` (and
``/completions``, ``GET /models``) into a job whose input is ``{"openai_route": ..., "openai_input": <the
request body>}``. This handler yields what worker-vllm yields: for ``stream: true`` raw server-sent-event
text, one ``data: {chunk}`` per token and ``data: [DONE]`` at the end (worker-vllm's default
``RAW_OPENAI_OUTPUT=1``), which the platform relays to the client as the stream; otherwise one whole
``chat.completion`` / ``text_completion`` object; for a bad request, vLLM's error object. Point the
official ``openai`` client at it with ``base_url="http://127.0.0.1:PORT/v2/ENDPOINT/openai/v1"``.

Settings (environment): ``MODEL_NAME`` (default ``example-model``), ``TOKEN_SECONDS`` (time per token,
default 0.02), ``ANSWER_TOKENS`` (tokens per answer unless ``max_tokens`` is lower, default 16).
"""

import asyncio
import json
import os
import time
import uuid

import runpod

MODEL = os.environ.get("MODEL_NAME", "example-model")
TOKEN_SECONDS = float(os.environ.get("TOKEN_SECONDS", "0.02"))
ANSWER_TOKENS = int(os.environ.get("ANSWER_TOKENS", "16"))
WORDS = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", "."]


def error(message, status=400):
    """vLLM's ErrorResponse, as worker-vllm yields it for a request it cannot serve."""
    return {"object": "error", "message": message, "type": "BadRequestError", "param": None, "code": status}


def sse(payload):
    return f"data: {json.dumps(payload)}\n\n"


async def handler(job):
    route = job["input"].get("openai_route")
    body = job["input"].get("openai_input") or {}
    if route == "/v1/models":
        yield {"object": "list", "data": [{"id": MODEL, "object": "model", "created": int(time.time()),
                                           "owned_by": "example"}]}
        return
    chat = route == "/v1/chat/completions"
    if route not in ("/v1/chat/completions", "/v1/completions"):
        yield error(f"Invalid route {route!r}")
        return
    if body.get("model", MODEL) != MODEL:
        yield error(f"The model `{body.get('model')}` does not exist.", 404)
        return
    if (chat and not body.get("messages")) or (not chat and not body.get("prompt")):
        yield error("'messages' is required" if chat else "'prompt' is required")
        return
    count = min(ANSWER_TOKENS, int(body.get("max_tokens") or ANSWER_TOKENS))
    tokens = [WORDS[i % len(WORDS)] for i in range(count)]
    answer_id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    created = int(time.time())
    prompt_tokens = len(json.dumps(body.get("messages") or body.get("prompt"))) // 4
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": count, "total_tokens": prompt_tokens + count}
    finish = "length" if count < ANSWER_TOKENS else "stop"
    if not body.get("stream"):
        await asyncio.sleep(TOKEN_SECONDS * count)
        text = "".join(tokens)
        choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                  if chat else {"index": 0, "text": text, "finish_reason": finish})
        yield {"id": answer_id, "object": "chat.completion" if chat else "text_completion", "created": created,
               "model": MODEL, "choices": [choice], "usage": usage}
        return
    kind = "chat.completion.chunk" if chat else "text_completion"
    for index, token in enumerate(tokens):
        await asyncio.sleep(TOKEN_SECONDS)  # stands in for decoding one token
        last = index == count - 1
        delta = {"content": token} if index else {"role": "assistant", "content": token}
        choice = {"index": 0, "delta": delta} if chat else {"index": 0, "text": token}
        choice["finish_reason"] = finish if last else None
        yield sse({"id": answer_id, "object": kind, "created": created, "model": MODEL, "choices": [choice]})
    if (body.get("stream_options") or {}).get("include_usage"):
        yield sse({"id": answer_id, "object": kind, "created": created, "model": MODEL, "choices": [],
                   "usage": usage})
    yield "data: [DONE]\n\n"


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "concurrency_modifier": lambda current: 8,
                             "return_aggregate_stream": True})
