"""The operations of the queue API, one handler each: ``(runtime, request, extra) -> response``.

``extra`` is the job id for job operations (the OpenAI routes are served by
:mod:`loadtest.emulator.openai_routes`). Method, auth and rate/concurrency limits were checked, and the
endpoint's due simulated events applied, before a handler runs (:mod:`loadtest.emulator.app`), so
``runtime.clock.now`` is the moment of the request; a handler raises
:class:`~loadtest.emulator.parsing.BadRequest` for a 400.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from loadtest import contract
from loadtest.contract import Op
from loadtest.emulator.admission import QUEUE_SIZE
from loadtest.emulator.endpoint import EndpointRuntime
from loadtest.emulator.jobstore import RETRYABLE, TERMINAL, Job, TransitionError
from loadtest.emulator.parsing import parse_submission, parse_ttl, parse_wait
from loadtest.emulator.responses import JSON_TYPE, error_response, json_response, too_many

Handler = Callable[[EndpointRuntime, web.Request, str], Awaitable[web.StreamResponse]]

_RUN = Op.RUN.value


def _check_body(runtime: EndpointRuntime, op: str, body: bytes) -> bytes | web.Response:
    admission = runtime.admission
    limit = admission.payload_limits[op]
    if limit is not None and len(body) > limit:
        return error_response(413, f"payload too large: {op} accepts at most {limit} bytes")
    if op != Op.OPENAI.value and admission.queue_full(runtime.store.in_queue):
        return too_many(runtime, op, QUEUE_SIZE, runtime.loop.time())
    return body


async def read_submission_body(runtime: EndpointRuntime, request: web.Request, op: str) -> bytes | web.Response:
    """The body of a submission, or the 413 / 429 answer that refuses it."""
    content = request.content
    if content.is_eof():  # the whole body is already buffered (the usual case)
        return _check_body(runtime, op, content.read_nowait(-1))
    limit = runtime.admission.payload_limits[op]
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        return error_response(413, f"payload too large: {op} accepts at most {limit} bytes")
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, f"payload too large: {op} accepts at most {limit or 'the read limit'} bytes")
    runtime.catch_up()  # the body took a while: the job is submitted now, after what fell due meanwhile
    return _check_body(runtime, op, body)


async def handle_run(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    content = request.content
    if content.is_eof():  # no awaiting on the hot path
        body = _check_body(runtime, _RUN, content.read_nowait(-1))
    else:
        body = await read_submission_body(runtime, request, _RUN)
    if isinstance(body, web.Response):
        return body
    sub = parse_submission(body, runtime.config.policy)
    job = runtime.submit(_RUN, body, sub.job_input, sub.webhook, sub.execution_timeout_ms, sub.ttl_ms, sub.low_priority)
    return web.Response(body=b'{"id":"' + job.id.encode() + b'","status":"IN_QUEUE"}', content_type=JSON_TYPE)


async def wait_until_terminal(runtime: EndpointRuntime, job: Job, wait_ms: int) -> None:
    deadline = runtime.loop.time() + wait_ms / 1000
    while job.status not in TERMINAL and not job.expired and runtime.loop.time() < deadline:
        await runtime.wait_for_change(job, deadline)


async def handle_runsync(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    wait_ms = parse_wait(request.query.get("wait"), contract.RUNSYNC_DEFAULT_WAIT_MS)
    body = await read_submission_body(runtime, request, Op.RUNSYNC.value)
    if isinstance(body, web.Response):
        return body
    sub = parse_submission(body, runtime.config.policy)
    job = runtime.submit(
        Op.RUNSYNC.value, body, sub.job_input, sub.webhook, sub.execution_timeout_ms, sub.ttl_ms, sub.low_priority
    )
    await wait_until_terminal(runtime, job, wait_ms)
    if job.status in TERMINAL and not job.expired:
        return json_response(200, job.view())  # chosen: a FAILED job is answered 200 too
    return json_response(200, {"id": job.id, "status": job.status})


def _job_or_404(runtime: EndpointRuntime, job_id: str) -> Job | web.Response:
    job = runtime.store.get(job_id, runtime.clock.now)
    if job is None:
        return error_response(404, f"job {job_id!r} not found (unknown, or its result expired)")
    return job


async def handle_status(runtime: EndpointRuntime, request: web.Request, job_id: str) -> web.Response:
    job = _job_or_404(runtime, job_id)
    if isinstance(job, web.Response):
        return job
    ttl = request.query.get("ttl") if request.query_string else None
    if ttl is not None:
        runtime.store.set_retention(job, parse_ttl(ttl) / 1000, runtime.clock.now)
    return json_response(200, job.view())


async def handle_status_sync(runtime: EndpointRuntime, request: web.Request, job_id: str) -> web.Response:
    wait_ms = parse_wait(request.query.get("wait"), contract.STATUS_SYNC_DEFAULT_WAIT_MS)
    job = _job_or_404(runtime, job_id)
    if isinstance(job, web.Response):
        return job
    await wait_until_terminal(runtime, job, wait_ms)
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
    if runtime.store.cancel(job, runtime.clock.now):
        return json_response(200, {"id": job.id, "status": job.status})
    return json_response(200, job.view())  # chosen: a finished job is answered unchanged


async def handle_retry(runtime: EndpointRuntime, request: web.Request, job_id: str) -> web.Response:
    job = _job_or_404(runtime, job_id)
    if isinstance(job, web.Response):
        return job
    if job.status not in RETRYABLE:
        return error_response(400, f"job {job_id!r} is {job.status}; only FAILED or TIMED_OUT jobs can be retried")
    try:
        runtime.store.retry(job, runtime.clock.now, runtime.replan(job))
    except TransitionError as exc:
        return error_response(400, str(exc))
    runtime.pool.notify_queued()
    return json_response(200, {"id": job.id, "status": "IN_QUEUE"})  # as queued, even if picked up at once


async def handle_purge(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    removed = runtime.store.purge(runtime.clock.now)
    return json_response(200, {"removed": removed, "status": "completed"})


async def handle_health(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    return json_response(200, runtime.health())


async def handle_requests(runtime: EndpointRuntime, request: web.Request, _: str) -> web.Response:
    # chosen (shape undocumented): the 100 most recent jobs, newest first.
    records = runtime.store.records
    recent = [records[i] for i in range(len(records) - 1, max(-1, len(records) - 101), -1)]
    return json_response(200, {"requests": [job.view() | {"expired": job.expired} for job in recent]})


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
}
