"""The emulator's HTTP face: ``/v2/{endpoint_id}/{operation}[/{job_id}]``, the admin routes, ``/metrics``.

One catch-all route per area and a split of the path (cheaper than many regex routes); no middleware on
the hot path. Order of checks: endpoint (404), operation and job id (404), method (405), auth (401),
rate and concurrency (429), payload size (413), queue size (429), body (400). Every answer is JSON with
``Content-Type: application/json``; errors are ``{"error": message}``; nothing a client sends gives 500.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from loadtest import contract
from loadtest.contract import OPERATIONS, Op
from loadtest.emulator import groundtruth
from loadtest.emulator.behaviour import DEFAULT_OUTPUT
from loadtest.emulator.config import EmulatorConfig
from loadtest.emulator.endpoint import EndpointRuntime
from loadtest.emulator.limits import QUEUE_SIZE
from loadtest.emulator.parsing import BadRequest, parse_count, parse_json, parse_submission, parse_ttl, parse_wait
from loadtest.emulator.store import RETRYABLE, TERMINAL, Job, TransitionError
from loadtest.emulator.webhooks import WebhookSender

log = logging.getLogger(__name__)

JSON_TYPE = "application/json"
ADMIN_PREFIX = "/_emulator"
JOB_RECORDS_PAGE_MAX = 100_000

_OPS_BY_SEGMENT: dict[str, str] = {operation.path.lstrip("/"): op.value for op, operation in OPERATIONS.items()}
_JOB_OPS = frozenset(op.value for op, operation in OPERATIONS.items() if operation.takes_job_id)
_RUN = Op.RUN.value
_METHODS = {op.value: frozenset(operation.methods) for op, operation in OPERATIONS.items()}

Handler = Callable[[EndpointRuntime, web.Request, str], Awaitable[web.Response]]


_encode = json.JSONEncoder(separators=(",", ":")).encode  # one encoder, not one per call


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_encode(payload).encode(), status=status, content_type=JSON_TYPE, headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response(status, {"error": message}, headers)


class Emulator:
    """Every endpoint of one emulator process, plus what is shared (webhook client, start time)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.webhooks = WebhookSender()
        self.endpoints: dict[str, EndpointRuntime] = {}
        self.unrouted: defaultdict[int, int] = defaultdict(int)
        self.started_wall = time.time()
        self.origin = 0.0
        self.loop: Any = None

    def start(self, loop: Any) -> None:
        self.loop = loop
        self.origin = loop.time()
        for endpoint_config in self.config.endpoints:
            runtime = EndpointRuntime(endpoint_config, loop, self.webhooks)
            self.endpoints[endpoint_config.id] = runtime
        for runtime in self.endpoints.values():
            runtime.start()

    def reset(self, endpoint_id: str | None = None) -> list[str]:
        """Forget all jobs and counters, restart the workers: a fresh endpoint (tests)."""
        ids = [endpoint_id] if endpoint_id else list(self.endpoints)
        for eid in ids:
            old = self.endpoints[eid]
            old.close()
            runtime = EndpointRuntime(old.config, self.loop, self.webhooks)
            self.endpoints[eid] = runtime
            runtime.start()
        if endpoint_id is None:
            self.unrouted.clear()
        return ids

    async def close(self) -> None:
        for runtime in self.endpoints.values():
            runtime.close()
        await self.webhooks.close()

    def client_max_size(self) -> int:
        """Largest body aiohttp will read: the largest payload limit, or 1 GiB when one is switched off."""
        sizes = [size for rt in self.endpoints.values() for size in rt.limits.payload_limits.values()]
        if not sizes or any(size is None for size in sizes):
            return 1 << 30
        return max(size for size in sizes if size is not None) + 1


# --- the RunPod API ------------------------------------------------------------------------------------

def _authorized(runtime: EndpointRuntime, request: web.Request) -> str | None:
    """None when the request may pass; else the 401 message (never containing the key)."""
    header = request.headers.get("Authorization")
    if runtime.api_key is None and header and len(header) > 7 and not header[7:].isspace():
        return None  # fast path: any key is accepted and this header holds one
    if not header:
        return "missing API key: send an 'Authorization: Bearer KEY' header"
    header = header.strip()
    key = header[7:].strip() if header[:7].lower() == "bearer " else header
    if not key or key.lower() == "bearer":
        return "missing API key: the Authorization header is empty"
    if runtime.api_key is not None and not hmac.compare_digest(key.encode(), runtime.api_key.encode()):
        return "invalid API key"
    return None


def build_app(emulator: Emulator) -> web.Application:
    """The aiohttp application serving ``emulator`` (which must be started on the running loop).

    Each endpoint's operations get their own routes (plain paths resolve by a dict lookup in aiohttp's
    router); a catch-all under ``/v2/`` answers everything else with a JSON 404.
    """
    endpoints = emulator.endpoints

    def route(endpoint_id: str, op: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        handler = HANDLERS[op]
        job_op = op in _JOB_OPS
        openai_op = op == Op.OPENAI.value

        async def serve(request: web.Request) -> web.Response:
            runtime = endpoints[endpoint_id]
            response = _refuse(runtime, request, op)
            if response is None:  # admitted: the limits must be released
                if job_op:
                    extra = request.match_info["job_id"]
                else:
                    extra = "/" + request.match_info["route"] if openai_op else ""
                try:
                    response = await handler(runtime, request, extra)
                except BadRequest as exc:
                    response = error_response(400, str(exc))
                except Exception:  # a bug in the emulator: answer, and say so in the log
                    log.exception("internal error serving %s %s", request.method, request.path)
                    response = error_response(500, "internal emulator error (see the emulator log)")
                finally:
                    runtime.limits.release(op)
            runtime.counters.requests[(op, response.status)] += 1
            return response

        return serve

    async def v2(request: web.Request) -> web.Response:
        """Anything under /v2/ that no operation route took: always a 404 (or 405) with a reason."""
        parts = request.match_info["tail"].split("/")
        runtime = endpoints.get(parts[0])
        if runtime is None:
            emulator.unrouted[404] += 1
            return error_response(404, f"endpoint {parts[0]!r} not found; check your endpoint ID")
        segment = parts[1] if len(parts) > 1 else ""
        op = _OPS_BY_SEGMENT.get(segment)
        if op is None:
            response = error_response(404, f"unknown operation {segment!r} on endpoint {parts[0]!r}")
            runtime.counters.requests[("unknown", 404)] += 1
            return response
        if op in _JOB_OPS:
            response = error_response(404, f"{op} needs one job id: /{parts[0]}/{op}/JOB_ID")
        else:
            response = error_response(404, f"unknown path /{'/'.join(parts)}")
        runtime.counters.requests[(op, response.status)] += 1
        return response

    async def not_found(request: web.Request) -> web.Response:
        emulator.unrouted[404] += 1
        return error_response(404, f"no such path {request.path!r}; the API is under /v2/ENDPOINT_ID/")

    app = web.Application(client_max_size=emulator.client_max_size())
    for endpoint_id in endpoints:
        for op, operation in OPERATIONS.items():
            path = f"/v2/{endpoint_id}{operation.path}"
            if operation.takes_job_id:
                path += "/{job_id}"
            elif op == Op.OPENAI:
                path += "/{route:.*}"
            app.router.add_route("*", path, route(endpoint_id, op.value))
    app.router.add_route("*", "/v2/{tail:.*}", v2)
    _add_admin_routes(app, emulator)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def _refuse(runtime: EndpointRuntime, request: web.Request, op: str) -> web.Response | None:
    """Method, auth and rate/concurrency checks: the refusal, or None when admitted (then release)."""
    if request.method not in _METHODS[op]:
        allowed = ", ".join(sorted(_METHODS[op]))
        return error_response(405, f"{op} accepts {allowed}, not {request.method}", {"Allow": allowed})
    denied = _authorized(runtime, request)
    if denied is not None:
        return error_response(401, denied)
    limits = runtime.limits
    if limits.unlimited:
        limits.ops[op].in_flight += 1
        return None
    now = runtime.loop.time()
    reason = limits.admit(op, now)
    if reason is not None:
        return _too_many(runtime, op, reason, now)
    return None


def _too_many(runtime: EndpointRuntime, op: str, reason: str, now: float) -> web.Response:
    runtime.counters.rejected[(op, reason)] += 1
    retry_after = runtime.limits.retry_after(op, reason, now)
    return json_response(
        429,
        {"error": runtime.limits.describe(op, reason), "limit": reason, "operation": op, "retryAfter": retry_after},
        {contract.RETRY_AFTER_HEADER: str(retry_after)},
    )


def _check_body(runtime: EndpointRuntime, op: str, body: bytes) -> bytes | web.Response:
    limits = runtime.limits
    limit = limits.payload_limits[op]
    if limit is not None and len(body) > limit:
        return error_response(413, f"payload too large: {op} accepts at most {limit} bytes")
    if op != Op.OPENAI.value and limits.queue_size_limit is not None and limits.queue_full(runtime.store.in_queue):
        return _too_many(runtime, op, QUEUE_SIZE, runtime.loop.time())
    return body


async def _read_submission_body(runtime: EndpointRuntime, request: web.Request, op: str) -> bytes | web.Response:
    """The body of a submission, or the 413 / 429 answer that refuses it."""
    content = request.content
    if content.is_eof():  # the whole body is already buffered (the usual case)
        return _check_body(runtime, op, content.read_nowait(-1))
    limit = runtime.limits.payload_limits[op]
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        return error_response(413, f"payload too large: {op} accepts at most {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, f"payload too large: {op} accepts at most {limit or 'the read limit'} bytes")
    return _check_body(runtime, op, body)


async def handle_run(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    content = request.content
    if content.is_eof():  # no awaiting on the hot path
        body = _check_body(runtime, _RUN, content.read_nowait(-1))
    else:
        body = await _read_submission_body(runtime, request, _RUN)
    if type(body) is not bytes:
        return body
    sub = parse_submission(body, runtime.config.policy)
    job = runtime.submit(_RUN, body, sub.job_input, sub.webhook, sub.execution_timeout_ms, sub.ttl_ms, sub.low_priority)
    return web.Response(body=b'{"id":"' + job.id.encode() + b'","status":"IN_QUEUE"}', content_type=JSON_TYPE)


async def _wait_until_terminal(runtime: EndpointRuntime, job: Job, wait_ms: int) -> None:
    deadline = runtime.loop.time() + wait_ms / 1000
    while job.status not in TERMINAL and not job.expired and runtime.loop.time() < deadline:
        await runtime.wait_for_change(job, deadline)


async def handle_runsync(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    wait_ms = parse_wait(request.query.get("wait"), contract.RUNSYNC_DEFAULT_WAIT_MS)
    body = await _read_submission_body(runtime, request, Op.RUNSYNC.value)
    if isinstance(body, web.Response):
        return body
    sub = parse_submission(body, runtime.config.policy)
    job = runtime.submit(
        Op.RUNSYNC.value, body, sub.job_input, sub.webhook, sub.execution_timeout_ms, sub.ttl_ms, sub.low_priority
    )
    await _wait_until_terminal(runtime, job, wait_ms)
    if job.status in TERMINAL and not job.expired:
        return json_response(200, job.view())  # chosen: a FAILED job is answered 200 too
    return json_response(200, {"id": job.id, "status": job.status})


def _job_or_404(runtime: EndpointRuntime, job_id: str) -> Job | web.Response:
    job = runtime.store.get(job_id, runtime.loop.time())
    if job is None:
        return error_response(404, f"job {job_id!r} not found (unknown, or its result expired)")
    return job


async def handle_status(runtime: EndpointRuntime, request: web.Request, job_id: str) -> web.Response:
    job = _job_or_404(runtime, job_id)
    if isinstance(job, web.Response):
        return job
    ttl = request.query.get("ttl") if request.query_string else None
    if ttl is not None:
        runtime.store.set_retention(job, parse_ttl(ttl) / 1000, runtime.loop.time())
    return json_response(200, job.view())


async def handle_status_sync(runtime: EndpointRuntime, request: web.Request, job_id: str) -> web.Response:
    wait_ms = parse_wait(request.query.get("wait"), contract.STATUS_SYNC_DEFAULT_WAIT_MS)
    job = _job_or_404(runtime, job_id)
    if isinstance(job, web.Response):
        return job
    await _wait_until_terminal(runtime, job, wait_ms)
    if job.expired:
        return error_response(404, f"job {job_id!r} expired while waiting")
    return json_response(200, job.view())


async def handle_stream(runtime: EndpointRuntime, request: web.Request, job_id: str) -> web.Response:
    default_ms = round(float(runtime.config.stream_default_wait) * 1000)
    raw_wait = request.query.get("wait")
    wait_ms = default_ms if raw_wait is None else parse_wait(raw_wait, default_ms)
    job = _job_or_404(runtime, job_id)
    if isinstance(job, web.Response):
        return job
    store = runtime.store
    chunks = store.drain(job)
    if not chunks and job.status not in TERMINAL:
        deadline = runtime.loop.time() + wait_ms / 1000
        while not chunks and job.status not in TERMINAL and not job.expired and runtime.loop.time() < deadline:
            await runtime.wait_for_change(job, deadline)
            chunks = store.drain(job)
    if job.expired:
        return error_response(404, f"job {job_id!r} expired")
    return json_response(200, {"status": job.status, "stream": [{"output": chunk} for chunk in chunks]})


async def handle_cancel(runtime: EndpointRuntime, request: web.Request, job_id: str) -> web.Response:
    job = _job_or_404(runtime, job_id)
    if isinstance(job, web.Response):
        return job
    if runtime.store.cancel(job, runtime.loop.time()):
        return json_response(200, {"id": job.id, "status": job.status})
    return json_response(200, job.view())  # chosen: a finished job is answered unchanged


async def handle_retry(runtime: EndpointRuntime, request: web.Request, job_id: str) -> web.Response:
    job = _job_or_404(runtime, job_id)
    if isinstance(job, web.Response):
        return job
    if job.status not in RETRYABLE:
        return error_response(400, f"job {job_id!r} is {job.status}; only FAILED or TIMED_OUT jobs can be retried")
    try:
        runtime.store.retry(job, runtime.loop.time(), runtime.replan(job))
    except TransitionError as exc:
        return error_response(400, str(exc))
    runtime.pool.notify_queued()
    return json_response(200, {"id": job.id, "status": "IN_QUEUE"})  # as queued, even if picked up at once


async def handle_purge(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    removed = runtime.store.purge(runtime.loop.time())
    return json_response(200, {"removed": removed, "status": "completed"})


async def handle_health(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    return json_response(200, runtime.health())


async def handle_requests(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    # chosen (shape undocumented): the 100 most recent jobs, newest first.
    records = runtime.store.records
    recent = [records[i] for i in range(len(records) - 1, max(-1, len(records) - 101), -1)]
    return json_response(200, {"requests": [job.view() | {"expired": job.expired} for job in recent]})


def _openai_default(route: str, openai_input: Any, job: Job) -> Any:
    """An OpenAI-shaped answer for a job that set no ``mock_return``."""
    model = openai_input.get("model", "emulated-model") if isinstance(openai_input, dict) else "emulated-model"
    created = int(time.time())
    if route.rstrip("/").endswith("/models"):
        entry = {"id": model, "object": "model", "created": created, "owned_by": "emulator"}
        return {"object": "list", "data": [entry]}
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    if route.rstrip("/").endswith("/chat/completions"):
        message = {"role": "assistant", "content": DEFAULT_OUTPUT}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return {"id": f"chatcmpl-{job.id}", "object": "chat.completion", "created": created, "model": model,
                "choices": [choice], "usage": usage}
    choice = {"index": 0, "text": DEFAULT_OUTPUT, "finish_reason": "stop"}
    return {"id": f"cmpl-{job.id}", "object": "text_completion", "created": created, "model": model,
            "choices": [choice], "usage": usage}


async def handle_openai(runtime: EndpointRuntime, request: web.Request, route: str) -> web.Response:
    body = await _read_submission_body(runtime, request, Op.OPENAI.value)
    if isinstance(body, web.Response):
        return body
    openai_input = parse_json(body, "OpenAI request body") if body.strip() else {}
    job_input = {"openai_route": route, "openai_input": openai_input}
    job_body = json.dumps({"input": job_input}).encode()
    job = runtime.submit(Op.OPENAI.value, job_body, job_input, plan_input=openai_input)
    await _wait_until_terminal(runtime, job, contract.RUNSYNC_DEFAULT_WAIT_MS)
    if job.status == "COMPLETED" and not job.expired:
        output = job.output
        if output == DEFAULT_OUTPUT:
            output = _openai_default(route, openai_input, job)
        return json_response(200, output)
    if job.status in TERMINAL:
        return error_response(502, job.error or f"job {job.id} ended {job.status}")
    return json_response(504, {"error": "the job did not finish in time", "id": job.id, "status": job.status})


HANDLERS: dict[str, Handler] = {
    Op.RUN.value: handle_run,
    Op.RUNSYNC.value: handle_runsync,
    Op.STATUS.value: handle_status,
    Op.STATUS_SYNC.value: handle_status_sync,
    Op.STREAM.value: handle_stream,
    Op.CANCEL.value: handle_cancel,
    Op.RETRY.value: handle_retry,
    Op.PURGE_QUEUE.value: handle_purge,
    Op.HEALTH.value: handle_health,
    Op.REQUESTS.value: handle_requests,
    Op.OPENAI.value: handle_openai,
}


# --- admin -----------------------------------------------------------------------------------------------

def _add_admin_routes(app: web.Application, emulator: Emulator) -> None:
    def pick(request: web.Request) -> EndpointRuntime:
        endpoint_id = request.query.get("endpoint")
        if endpoint_id is None:
            return next(iter(emulator.endpoints.values()))
        runtime = emulator.endpoints.get(endpoint_id)
        if runtime is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"endpoint {endpoint_id!r} not found"}), content_type=JSON_TYPE
            )
        return runtime

    async def ground_truth(request: web.Request) -> web.Response:
        endpoint_id = request.query.get("endpoint")
        runtimes = [pick(request)] if endpoint_id else list(emulator.endpoints.values())
        return json_response(200, {
            "uptime_s": round(emulator.loop.time() - emulator.origin, 6),
            "started_at": emulator.started_wall,
            "unrouted": {str(code): n for code, n in sorted(emulator.unrouted.items())},
            "endpoints": {rt.config.id: groundtruth.endpoint_snapshot(rt) for rt in runtimes},
        })

    async def job_records(request: web.Request) -> web.Response:
        runtime = pick(request)
        try:
            offset = parse_count(request.query.get("offset"), "offset", 0, 1 << 62)
            limit = parse_count(request.query.get("limit"), "limit", 10_000, JOB_RECORDS_PAGE_MAX)
        except BadRequest as exc:
            return error_response(400, str(exc))
        return json_response(200, groundtruth.job_page(runtime, offset, limit, emulator.origin))

    async def reset(request: web.Request) -> web.Response:
        endpoint_id = request.query.get("endpoint")
        if endpoint_id is not None:
            pick(request)
        return json_response(200, {"reset": emulator.reset(endpoint_id)})

    async def config(request: web.Request) -> web.Response:
        return json_response(200, emulator.config.model_dump(mode="json"))

    async def ready(request: web.Request) -> web.Response:
        return json_response(200, {"ready": True, "endpoints": list(emulator.endpoints)})

    async def metrics(request: web.Request) -> web.Response:
        text = groundtruth.prometheus_text(list(emulator.endpoints.values()))
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Format": "prometheus-0.0.4"})

    app.router.add_get(f"{ADMIN_PREFIX}/ground-truth", ground_truth)
    app.router.add_get(f"{ADMIN_PREFIX}/ground-truth/jobs", job_records)
    app.router.add_post(f"{ADMIN_PREFIX}/reset", reset)
    app.router.add_get(f"{ADMIN_PREFIX}/config", config)
    app.router.add_get(f"{ADMIN_PREFIX}/ready", ready)
    app.router.add_get("/metrics", metrics)
