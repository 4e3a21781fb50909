"""The OpenAI-compatible routes under ``/v2/{endpoint_id}/openai/``, as RunPod's vLLM worker serves them.

``POST v1/chat/completions``, ``POST v1/completions`` and ``GET v1/models``: each request becomes a job
(the ``openai`` operation: its own rate and concurrency budget, the queue, a worker, cold starts) whose
input is ``{"openai_route": route, "openai_input": body}``, as the platform hands it to the worker. The
answer is relayed from the job:

- ``stream: true``: server-sent events, ``data: {chunk}`` each, written to the socket the moment the job
  produces them (one write per batch of chunks that arrived together, no buffering; aiohttp sets
  ``TCP_NODELAY``), then ``data: [DONE]``. Headers go out with the first output, so an error before it
  (a worker's error object, a failed job, no output within the 90 s wait) is still an HTTP error status;
  an error after it is an ``data: {"error": ...}`` event before ``[DONE]``, as vLLM sends one.
- otherwise the whole answer once the job ends (within the 90 s ``/runsync`` wait, else 504).

Simulated workers answer with the endpoint's language model (:mod:`loadtest.emulator.llm`), after the body
is checked (:mod:`loadtest.emulator.openai_requests`). A real worker (the user's handler) gets the body as
sent (only JSON-checked) and answers as the vLLM worker does: streamed yields of raw SSE text (``data:
...\\n\\n``, its ``RAW_OPENAI_OUTPUT=1`` default), of chunk objects or of lists of them are relayed as events;
a yielded error object (``{"error": ...}`` or vLLM's ``{"object": "error", ...}``) becomes an error answer;
a request answered whole is the handler's single yield (or return value). Errors are OpenAI-shaped
(``{"error": {"message", "type", "param", "code"}}``); refusals of the gateway (401, 413, 429) keep the
shape of every other operation.
"""

from __future__ import annotations

import contextlib
import json
from array import array
from typing import Any

from aiohttp import web

from loadtest import contract
from loadtest.contract import (
    OPENAI_INPUT_KEY,
    OPENAI_ROUTE_KEY,
    OPENAI_ROUTE_METHODS,
    SSE_CONTENT_TYPE,
    SSE_DONE,
    Op,
    OpenAIRoute,
)
from loadtest.emulator.endpoint import EndpointRuntime
from loadtest.emulator.handlers import read_submission_body, wait_until_terminal
from loadtest.emulator.jobstore import CANCELLED, COMPLETED, FAILED, TERMINAL, TIMED_OUT, Job
from loadtest.emulator.llm import RequestRecord
from loadtest.emulator.openai_requests import (
    NOT_FOUND,
    SERVER_ERROR,
    TIMEOUT,
    CompletionRequest,
    OpenAIError,
    error_body,
    is_stream,
    read_object,
)
from loadtest.emulator.responses import json_response

FIRST_OUTPUT_WAIT_MS = contract.RUNSYNC_DEFAULT_WAIT_MS
"""chosen: how long a request waits for its job's first output (streamed) or its end (whole): as ``/runsync``."""
STREAM_IDLE_WAKE_S = 60.0
"""A stream with no news wakes this often to look again (the job's execution timeout ends it anyway)."""
UNKNOWN_ROUTE = "unknown"

SSE_HEADERS = {
    "Content-Type": f"{SSE_CONTENT_TYPE}; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
_SSE_FIELDS = ("data:", "event:", "id:", "retry:", ":")
_DONE_FRAME = f"data: {SSE_DONE}\n\n".encode()
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def openai_error(status: int, message: str, error_type: str, param: str | None = None,
                 code: str | int | None = None, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(status, error_body(message, error_type, param, code), headers)


async def handle_openai(runtime: EndpointRuntime, request: web.Request, route: str) -> web.StreamResponse:
    """Serve ``/openai{route}``: check the request, make it a job, relay the job's answer."""
    truth = runtime.llm_truth
    try:
        kind = OpenAIRoute(route)
    except ValueError:
        truth.requests[UNKNOWN_ROUTE] += 1
        served = ", ".join(f"{OPENAI_ROUTE_METHODS[r]} /openai{r.value}" for r in OpenAIRoute)
        return openai_error(404, f"Not Found: no route /openai{route}; this endpoint serves {served}", NOT_FOUND)
    truth.requests[kind.value] += 1
    method = OPENAI_ROUTE_METHODS[kind]
    if request.method != method:
        return openai_error(405, f"/openai{kind.value} accepts {method}, not {request.method}", "invalid_request_error",
                            headers={"Allow": method})
    real = runtime.config.worker is not None
    openai_input: dict[str, Any] = {}
    parsed: CompletionRequest | None = None
    if kind != OpenAIRoute.MODELS:
        body = await read_submission_body(runtime, request, Op.OPENAI.value)
        if isinstance(body, web.StreamResponse):
            return body
        try:
            openai_input = read_object(body)
            if not real:
                parsed = runtime.language_model.parse(kind, openai_input)
        except OpenAIError as exc:
            return json_response(exc.status, exc.body())
    job_input = {OPENAI_ROUTE_KEY: kind.value, OPENAI_INPUT_KEY: openai_input}
    plan = (0.0, None) if real else runtime.openai_plan(kind, openai_input, parsed)
    job = runtime.submit(Op.OPENAI.value, _encode({"input": job_input}).encode(), job_input, plan=plan)
    relay = Relay(runtime, job, kind, is_stream(openai_input), real)
    try:
        if relay.stream:
            return await relay.stream_events(request)
        return await relay.whole()
    finally:
        relay.close()


class Relay:
    """The answer to one OpenAI request, relayed from its job as the job produces it."""

    def __init__(self, runtime: EndpointRuntime, job: Job, route: OpenAIRoute, stream: bool, real: bool) -> None:
        self.runtime = runtime
        self.job = job
        self.route = route
        self.stream = stream
        self.real = real
        self.done_sent = False
        self.early_error: tuple[int, dict[str, Any]] | None = None
        """A worker's error object that came before any output: the answer is that error's status."""
        self.wrote = False
        self.abandoned = False
        self.record: RequestRecord | None = None
        self.arrivals: list[float] = []
        if real and route != OpenAIRoute.MODELS:  # simulated requests are recorded by the endpoint
            self.record = RequestRecord(job.id, route.value, stream, "relayed")
            self.record.submitted_at = job.submitted_at

    # --- streamed ----------------------------------------------------------------------------------
    async def stream_events(self, request: web.Request) -> web.StreamResponse:
        runtime, job = self.runtime, self.job
        loop = runtime.loop
        deadline = loop.time() + FIRST_OUTPUT_WAIT_MS / 1000
        response: web.StreamResponse | None = None
        while True:
            finished = job.status in TERMINAL or job.expired  # before draining: no chunk is left behind
            chunks = runtime.store.drain(job)
            if chunks:
                data = self._frames(chunks)
                if response is None and self.early_error is not None:
                    return json_response(*self.early_error)
                if data:
                    response = response or web.StreamResponse(headers=SSE_HEADERS)
                    if not await self._write(response, data, request):
                        return response
            if finished:
                break
            if response is None and loop.time() >= deadline:
                return self._unfinished()
            await runtime.wait_for_change(job, deadline if response is None else loop.time() + STREAM_IDLE_WAKE_S)
        if response is None:  # nothing streamed: the job failed first, or answered only with its output
            if job.status != COMPLETED or job.expired or job.output is None:
                return self._failure()
            data = self._frames([job.output])
            if self.early_error is not None:
                return json_response(*self.early_error)
            response = web.StreamResponse(headers=SSE_HEADERS)
            if not await self._write(response, data, request):
                return response
        tail = bytearray()
        if job.status != COMPLETED or job.expired:
            status, body = self._failure_body()
            body["error"]["code"] = status
            tail += b"data: " + _encode(body).encode() + b"\n\n"
        if not self.done_sent:
            tail += _DONE_FRAME
        if await self._write(response, bytes(tail), request):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await response.write_eof()
        return response

    async def _write(self, response: web.StreamResponse, data: bytes, request: web.Request) -> bool:
        """Send ``data`` now (the headers first, if not sent yet); False when the client has gone (the job
        runs on, as on the platform)."""
        try:
            if not response.prepared:
                await response.prepare(request)
            await response.write(data)
        except (ConnectionError, RuntimeError):
            self.abandoned = True
            return False
        self.wrote = True
        plan = self.job.plan
        generation = plan.generation if plan is not None else None
        if generation is not None and generation.emit_times:
            self.runtime.llm_truth.relay_lateness.record(self.runtime.loop.time() - generation.emit_times[-1])
        return True

    def _frames(self, chunks: list[Any]) -> bytes:
        out = bytearray()
        for chunk in chunks:
            self._frame(chunk, out)
        if self.real and out:
            self.arrivals.append(self.runtime.loop.time())
        return bytes(out)

    def _frame(self, item: Any, out: bytearray) -> None:
        if self.early_error is not None:
            return
        if isinstance(item, list):
            for element in item:
                self._frame(element, out)
            return
        if isinstance(item, str) and item.lstrip().startswith(_SSE_FIELDS):
            text = item if item.endswith("\n\n") else item.rstrip("\n") + "\n\n"
            self._observe_sse(text)
            out += text.encode()
            return
        error = _error_of(item)
        if error is not None:
            if not self.wrote and not out:
                self.early_error = error
                return
            out += b"data: " + _encode(error[1]).encode() + b"\n\n"
            return
        if self.real:
            self._observe(item)
        out += b"data: " + _encode(item).encode() + b"\n\n"

    # --- whole -------------------------------------------------------------------------------------
    async def whole(self) -> web.StreamResponse:
        runtime, job = self.runtime, self.job
        await wait_until_terminal(runtime, job, FIRST_OUTPUT_WAIT_MS)
        if job.status != COMPLETED or job.expired:
            return self._failure() if job.status in TERMINAL or job.expired else self._unfinished()
        answer = _whole_answer(job.output, runtime.store.drain(job))
        if answer is None:
            return openai_error(502, f"the worker finished job {job.id} without an answer", SERVER_ERROR)
        error = _error_of(answer)
        if error is not None:
            return json_response(*error)
        if self.real:
            self._observe(answer)
        return json_response(200, answer)

    # --- failures ----------------------------------------------------------------------------------
    def _failure_body(self) -> tuple[int, dict[str, Any]]:
        job = self.job
        if job.expired:
            return 504, error_body(f"job {job.id} expired (its TTL ran out) before it finished", TIMEOUT)
        if job.status == TIMED_OUT:
            return 504, error_body(job.error or f"job {job.id} timed out", TIMEOUT)
        if job.status == CANCELLED:
            return 502, error_body(f"job {job.id} was cancelled", SERVER_ERROR)
        if job.status == FAILED:
            return 502, error_body(job.error or f"job {job.id} failed", SERVER_ERROR)
        return 502, error_body(f"job {job.id} ended {job.status} without an answer", SERVER_ERROR)

    def _failure(self) -> web.Response:
        return json_response(*self._failure_body())

    def _unfinished(self) -> web.Response:
        job = self.job
        return openai_error(
            504, f"job {job.id} is still {job.status} after {FIRST_OUTPUT_WAIT_MS // 1000} s; it runs on", TIMEOUT,
        )

    # --- the truth of a real worker's answer -------------------------------------------------------------
    def _observe_sse(self, text: str) -> None:
        """Note the ``[DONE]`` of raw event text; for a real worker, what its events report."""
        for line in text.split("\n"):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == SSE_DONE:
                self.done_sent = True
            elif self.record is not None:
                try:
                    self._observe(json.loads(data))
                except ValueError:
                    continue

    def _observe(self, item: Any) -> None:
        record = self.record
        if record is None or not isinstance(item, dict):
            return
        if isinstance(item.get("model"), str):
            record.model = item["model"]
        usage = item.get("usage")
        if isinstance(usage, dict):
            prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
            record.prompt_tokens = prompt if isinstance(prompt, int) else record.prompt_tokens
            record.output_tokens = completion if isinstance(completion, int) else record.output_tokens
        for choice in item.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                record.finish_reason = str(choice["finish_reason"])

    def close(self) -> None:
        """The request is answered (or its client gone): count an abandoned stream, record a real worker's
        answer as the emulator saw it (chunk arrival times, the usage it reported)."""
        truth = self.runtime.llm_truth
        if self.abandoned:
            truth.abandoned += 1
        record = self.record
        if record is None:
            return
        job = self.job
        record.status = job.status
        record.started_at = job.started_at
        record.finished_at = job.finished_at
        truth.record(record, array("d", self.arrivals) if self.stream else None)


def _error_of(item: Any) -> tuple[int, dict[str, Any]] | None:
    """A worker's error object as (HTTP status, OpenAI error body); None when ``item`` is no error.

    vLLM's ``ErrorResponse`` (``{"object": "error", "message", "type", "code": 400}``) keeps its code;
    a bare ``{"error": "..."}`` (a handler that could not start, say) is a 500."""
    if not isinstance(item, dict):
        return None
    if item.get("object") == "error":
        error = item
    elif item.get("error"):
        error = item["error"] if isinstance(item["error"], dict) else {"message": str(item["error"])}
    else:
        return None
    code = error.get("code")
    status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else 500
    message = error.get("message")
    param = error.get("param")
    body = error_body(
        message if isinstance(message, str) else json.dumps(error), str(error.get("type") or SERVER_ERROR),
        param if isinstance(param, str) else None, code if isinstance(code, str | int) else None,
    )
    return status, body


def _whole_answer(output: Any, chunks: list[Any]) -> Any:
    """A whole answer from a finished job: its output (the single element of an aggregated stream), else
    what it streamed (one chunk: that chunk)."""
    if isinstance(output, list) and len(output) == 1:
        return output[0]
    if output is not None and output != []:
        return output
    if len(chunks) == 1:
        return chunks[0]
    return chunks or None
