"""Admin routes outside the RunPod paths: ground truth, per-job and per-OpenAI-request records, reset,
config, readiness, metrics.

Shapes are documented in ``docs/emulator.md``. No auth: the emulator listens on loopback by default.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from loadtest.emulator import groundtruth
from loadtest.emulator.endpoint import EndpointRuntime
from loadtest.emulator.parsing import BadRequest, parse_count
from loadtest.emulator.responses import JSON_TYPE, error_response, json_response
from loadtest.emulator.workers import WorkerStartError

if TYPE_CHECKING:
    from loadtest.emulator.app import Emulator

ADMIN_PREFIX = "/_emulator"
Pager = Callable[[EndpointRuntime, int, int], dict[str, object]]
"""One page of an endpoint's records: ``(runtime, offset, limit) -> page``."""
JOB_RECORDS_PAGE_MAX = 100_000


def add_admin_routes(app: web.Application, emulator: Emulator) -> None:
    """Register ``/_emulator/...`` and ``/metrics`` on ``app``."""

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
        for runtime in runtimes:
            runtime.catch_up()
        return json_response(200, {
            "uptime_s": round(emulator.loop.time() - emulator.origin, 6),
            "started_at": emulator.started_wall,
            "unrouted": {str(code): n for code, n in sorted(emulator.unrouted.items())},
            "loop_lag": emulator.loop_lag.snapshot(),
            "endpoints": {rt.config.id: groundtruth.endpoint_snapshot(rt, emulator.origin) for rt in runtimes},
        })

    def records(page: Pager, default_limit: int) -> Callable[[web.Request], Awaitable[web.Response]]:
        """A paged record log of the endpoint ``?endpoint=`` names: ``?offset=``, ``?limit=``."""

        async def serve(request: web.Request) -> web.Response:
            runtime = pick(request)
            try:
                offset = parse_count(request.query.get("offset"), "offset", 0, 1 << 62)
                limit = parse_count(request.query.get("limit"), "limit", default_limit, JOB_RECORDS_PAGE_MAX)
            except BadRequest as exc:
                return error_response(400, str(exc))
            runtime.catch_up()
            return json_response(200, page(runtime, offset, limit))

        return serve

    def job_records(runtime: EndpointRuntime, offset: int, limit: int) -> dict[str, object]:
        return groundtruth.job_page(runtime, offset, limit, emulator.origin)

    def llm_records(runtime: EndpointRuntime, offset: int, limit: int) -> dict[str, object]:
        return {"endpoint": runtime.config.id, **runtime.llm_truth.page(offset, limit, emulator.origin)}

    async def reset(request: web.Request) -> web.Response:
        endpoint_id = request.query.get("endpoint")
        if endpoint_id is not None:
            pick(request)
        try:
            return json_response(200, {"reset": await emulator.reset(endpoint_id)})
        except WorkerStartError as exc:
            return error_response(503, str(exc))

    async def config(request: web.Request) -> web.Response:
        return json_response(200, emulator.config.model_dump(mode="json"))

    async def ready(request: web.Request) -> web.Response:
        return json_response(200, {"ready": True, "endpoints": list(emulator.endpoints)})

    async def metrics(request: web.Request) -> web.Response:
        runtimes = list(emulator.endpoints.values())
        for runtime in runtimes:
            runtime.catch_up()
        text = groundtruth.prometheus_text(runtimes, emulator.loop_lag)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Format": "prometheus-0.0.4"})

    app.router.add_get(f"{ADMIN_PREFIX}/ground-truth", ground_truth)
    app.router.add_get(f"{ADMIN_PREFIX}/ground-truth/jobs", records(job_records, 10_000))
    app.router.add_get(f"{ADMIN_PREFIX}/ground-truth/llm", records(llm_records, 1_000))
    app.router.add_post(f"{ADMIN_PREFIX}/reset", reset)
    app.router.add_get(f"{ADMIN_PREFIX}/config", config)
    app.router.add_get(f"{ADMIN_PREFIX}/ready", ready)
    app.router.add_get("/metrics", metrics)
