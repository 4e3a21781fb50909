"""The worker side of the emulator: the routes an unmodified runpod SDK worker talks to (worker protocol).

Only endpoints that run a real worker get them, under ``/v2/{endpoint_id}/``:

==========================================  ===============================================================
``GET  job-take/{worker}``                  long-poll for one job: ``200`` with ``{"id", "input"}``, or
                                            ``204`` after ``take_hold`` (never at once: the SDK would spin)
``GET  job-take-batch/{worker}?batch_size`` the same with a JSON array of 1..N jobs
``GET  job-stop/{worker}``                  long-poll for ``{"jobsToStop": [ids]}`` (cancel, timeout, TTL)
``POST job-done/{worker}/{job}``            progress (``"status": "IN_PROGRESS"``) or the final result
``POST job-stream/{worker}/{job}``          one streamed chunk ``{"output": value}``
``GET  ping/{worker}``                      heartbeat: recorded, never trusted for liveness
==========================================  ===============================================================

Every URL the workers get carries ``?token=``, a per-run secret checked here (401 otherwise); the
``Authorization`` header is never read, logged or compared: the SDK may fill it with the developer's real
key. None of the client API's rate, concurrency or auth checks apply. Worker requests are counted apart
from client requests (``worker_requests`` in the ground truth). Nothing a worker sends gets a 5xx: the SDK
would retry result posts 2 s and 3 s later while holding its slot. Bodies are JSON whatever their
``Content-Type`` says (the SDK sends JSON as ``application/x-www-form-urlencoded``); the job id is the
path's last segment, cut at a stray ``&``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from loadtest.contract import RESULT_MAX_BYTES, WorkerRoute
from loadtest.emulator.endpoint import EndpointRuntime
from loadtest.emulator.jobstore import Job
from loadtest.emulator.process_pool import ProcessWorkers
from loadtest.emulator.responses import JSON_TYPE, error_response, json_response
from loadtest.emulator.worker_process import ProcessWorker

if TYPE_CHECKING:
    from loadtest.emulator.app import Emulator

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
_METHODS: dict[WorkerRoute, str] = {
    WorkerRoute.TAKE: "GET", WorkerRoute.TAKE_BATCH: "GET", WorkerRoute.STOP: "GET",
    WorkerRoute.DONE: "POST", WorkerRoute.STREAM: "POST", WorkerRoute.PING: "GET",
}
_NO_CONTENT = 204
_OK = b"{}"

WorkerHandler = Callable[[EndpointRuntime, ProcessWorkers, ProcessWorker, web.Request], Awaitable[web.StreamResponse]]


def _wake(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


def _job_object(job: Job) -> dict[str, Any]:
    # chosen (spec open question 2): only the keys every platform take carries; the handler sees them all.
    return {"id": job.id, "input": EndpointRuntime.job_input(job)}


async def _take(runtime: EndpointRuntime, pool: ProcessWorkers, worker: ProcessWorker, request: web.Request,
                batch: bool) -> web.StreamResponse:
    count = 1
    if batch:
        raw = request.query.get("batch_size", "1")
        if not raw.isdigit() or int(raw) < 1:
            return error_response(400, f"batch_size must be a whole number of at least 1, found {raw!r}")
        count = int(raw)
    loop = runtime.loop
    now = loop.time()
    pool.seen(worker, now)
    jobs = pool.take_now(worker, count, now)
    if not jobs:
        poll = pool.wait_take(worker, count, request)
        handle = loop.call_later(pool.poll_hold(worker, float(pool.worker_config.take_hold)), _wake, poll.future)
        try:
            jobs = await poll.future or []
        except asyncio.CancelledError:
            handed = poll.future.result() if poll.future.done() and not poll.future.cancelled() else None
            if handed:
                pool.handout_failed(worker, handed)
            raise
        finally:
            handle.cancel()
            pool.forget_take(poll)
    if not jobs:
        return web.Response(status=_NO_CONTENT)
    payload = [_job_object(job) for job in jobs] if batch else _job_object(jobs[0])
    response = web.Response(body=json.dumps(payload).encode(), content_type=JSON_TYPE)
    try:
        await response.prepare(request)
        await response.write_eof()
    except (ConnectionError, RuntimeError):  # the worker hung up: it never got these jobs
        pool.handout_failed(worker, jobs)
    return response


async def handle_take(runtime: EndpointRuntime, pool: ProcessWorkers, worker: ProcessWorker,
                      request: web.Request) -> web.StreamResponse:
    return await _take(runtime, pool, worker, request, batch=False)


async def handle_take_batch(runtime: EndpointRuntime, pool: ProcessWorkers, worker: ProcessWorker,
                            request: web.Request) -> web.StreamResponse:
    return await _take(runtime, pool, worker, request, batch=True)


async def handle_stop(runtime: EndpointRuntime, pool: ProcessWorkers, worker: ProcessWorker,
                      request: web.Request) -> web.StreamResponse:
    loop = runtime.loop
    pool.seen(worker, loop.time())
    ids = pool.stop_ids(worker)
    if not ids:
        future = pool.wait_stop(worker)
        handle = loop.call_later(pool.poll_hold(worker, float(pool.worker_config.stop_hold)), _wake, future)
        try:
            await future
        finally:
            handle.cancel()
            if future in worker.stop_polls:
                worker.stop_polls.remove(future)
        ids = pool.stop_ids(worker)
    if not ids:
        return web.Response(status=_NO_CONTENT)
    return json_response(200, {"jobsToStop": ids})


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None when it is larger than ``limit`` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    parts: list[bytes] = []
    size = 0
    async for data in request.content.iter_any():
        size += len(data)
        if size > limit:
            return None
        parts.append(data)
    return b"".join(parts)


def _job_id(request: web.Request) -> str:
    return request.match_info["job_id"].split("&", 1)[0]


async def _json_body(request: web.Request) -> Any:
    """The parsed body; raises ``ValueError`` (too large or not JSON), with the reason."""
    body = await _read_limited(request, RESULT_MAX_BYTES)
    if body is None:
        raise OverflowError(f"body larger than the {RESULT_MAX_BYTES} bytes a result may have")
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the body is not JSON text") from None


async def handle_done(runtime: EndpointRuntime, pool: ProcessWorkers, worker: ProcessWorker,
                      request: web.Request) -> web.StreamResponse:
    now = runtime.loop.time()  # the result's arrival ends executionTime
    job_id = _job_id(request)
    try:
        body = await _json_body(request)
    except OverflowError as exc:
        pool.oversized_result(worker, job_id, now)
        return error_response(400, f"job {job_id}: result refused: {exc}")
    except ValueError as exc:
        return error_response(400, f"job {job_id}: {exc}")
    if isinstance(body, dict) and body.get("status") == "IN_PROGRESS":
        pool.progress(worker, job_id, body.get("output"))
    else:
        pool.result(worker, job_id, body, request.query.get("isStream") == "true", now)
    return web.Response(body=_OK, content_type=JSON_TYPE)


async def handle_stream(runtime: EndpointRuntime, pool: ProcessWorkers, worker: ProcessWorker,
                        request: web.Request) -> web.StreamResponse:
    now = runtime.loop.time()
    job_id = _job_id(request)
    try:
        body = await _json_body(request)
    except ValueError as exc:  # OverflowError included
        return error_response(400, f"job {job_id}: chunk refused: {exc}")
    pool.chunk(worker, job_id, body.get("output") if isinstance(body, dict) else body, now)
    return web.Response(body=_OK, content_type=JSON_TYPE)


_HANDLERS: dict[WorkerRoute, WorkerHandler] = {
    WorkerRoute.TAKE: handle_take,
    WorkerRoute.TAKE_BATCH: handle_take_batch,
    WorkerRoute.STOP: handle_stop,
    WorkerRoute.DONE: handle_done,
    WorkerRoute.STREAM: handle_stream,
}


def _authentic(pool: ProcessWorkers, request: web.Request) -> bool:
    token = request.query.get("token", "")
    return hmac.compare_digest(token.encode(), pool.token.encode())


def add_worker_routes(app: web.Application, emulator: Emulator) -> None:
    """Register the worker routes of every endpoint that runs real workers (before the ``/v2`` catch-all)."""
    endpoints = emulator.endpoints

    def pool_of(endpoint_id: str) -> tuple[EndpointRuntime, ProcessWorkers]:
        runtime = endpoints[endpoint_id]
        pool = runtime.pool
        assert isinstance(pool, ProcessWorkers)
        return runtime, pool

    def route(endpoint_id: str, kind: WorkerRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        handler = _HANDLERS.get(kind)

        async def serve(request: web.Request) -> web.StreamResponse:
            runtime, pool = pool_of(endpoint_id)
            response: web.StreamResponse
            if not _authentic(pool, request):
                response = error_response(401, "worker routes need this run's token in the query (?token=...)")
            elif request.method != _METHODS[kind]:
                response = error_response(405, f"{kind} accepts {_METHODS[kind]}", {"Allow": _METHODS[kind]})
            elif kind == WorkerRoute.PING:
                known = pool.ping(request.match_info["worker_id"], request.query, runtime.loop.time())
                response = json_response(200, {}) if known else error_response(404, "unknown worker")
            else:
                worker = pool.worker(request.match_info["worker_id"])
                if worker is None or handler is None:
                    response = error_response(404, "unknown worker, or it has already stopped")
                else:
                    try:
                        response = await handler(runtime, pool, worker, request)
                    except Exception:  # a bug in the emulator: answer, and say so in the log (never the URL)
                        log.exception("internal error serving the worker route %s", kind.value)
                        response = error_response(500, "internal emulator error (see the emulator log)")
            runtime.counters.worker_requests[(kind.value, response.status)] += 1
            return response

        return serve

    def other(endpoint_id: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            runtime, _ = pool_of(endpoint_id)
            runtime.counters.worker_requests[(UNKNOWN, 404)] += 1
            return error_response(404, "unknown worker route")

        return serve

    for endpoint_id, runtime in endpoints.items():
        if not isinstance(runtime.pool, ProcessWorkers):
            continue
        prefix = f"/v2/{endpoint_id}"
        for kind in WorkerRoute:
            path = f"{prefix}/{kind.value}/{{worker_id}}"
            if kind in (WorkerRoute.DONE, WorkerRoute.STREAM):
                path += "/{job_id}"
            app.router.add_route("*", path, route(endpoint_id, kind))
        names = "|".join(kind.value for kind in WorkerRoute)
        app.router.add_route("*", f"{prefix}/{{rest:(?:{names})(?:/.*)?}}", other(endpoint_id))

