"""The emulator's HTTP face: ``/v2/{endpoint_id}/{operation}[/{job_id}]``, the admin routes, ``/metrics``.

One route per endpoint operation (aiohttp resolves plain paths by a dictionary lookup), one coroutine per
request, no middleware on the hot path; a catch-all under ``/v2/`` answers the rest. Every request first
applies the endpoint's simulated events already due (``EndpointRuntime.catch_up``). Order of checks:
endpoint (404), operation and job id (404), method (405), auth (401), rate and concurrency (429), then in
the handler payload size (413), queue size (429), body (400). Every answer is JSON with
``Content-Type: application/json``; errors are ``{"error": message}``; nothing a client sends gives 500.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from loadtest import looplag
from loadtest.contract import OPERATIONS, Op
from loadtest.emulator.admin import ADMIN_PREFIX, add_admin_routes
from loadtest.emulator.endpoint import ConfigurationError, EndpointRuntime
from loadtest.emulator.handlers import HANDLERS
from loadtest.emulator.openai_routes import handle_openai
from loadtest.emulator.parsing import BadRequest
from loadtest.emulator.responses import error_response, too_many
from loadtest.emulator.supervisor import shutdown as shutdown_supervisor
from loadtest.emulator.webhooks import WebhookSender
from loadtest.emulator.worker_routes import add_worker_routes
from loadtest.emulator_config import EmulatorConfig

__all__ = ["ADMIN_PREFIX", "Emulator", "build_app"]

log = logging.getLogger(__name__)

_OPS_BY_SEGMENT: dict[str, str] = {operation.path.lstrip("/"): op.value for op, operation in OPERATIONS.items()}
_JOB_OPS = frozenset(op.value for op, operation in OPERATIONS.items() if operation.takes_job_id)
_METHODS = {op.value: frozenset(operation.methods) for op, operation in OPERATIONS.items()}


def worker_host(host: str) -> str | None:
    """The address real workers use to reach an emulator listening on ``host``: loopback only (their
    requests may carry the developer's RunPod key); None when ``host`` offers no loopback address."""
    if host in ("", "localhost"):
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return host if address.is_loopback else None


class Emulator:
    """Every endpoint of one emulator process, plus what is shared (webhook client, start time, loop lag)."""

    def __init__(self, config: EmulatorConfig, worker_output_dir: Path | None = None) -> None:
        self.config = config
        self.worker_output_dir = worker_output_dir
        """Where real workers' stdout/stderr files go (None: a fresh temporary directory)."""
        self.webhooks = WebhookSender()
        self.endpoints: dict[str, EndpointRuntime] = {}
        self.unrouted: defaultdict[int, int] = defaultdict(int)
        self.started_wall = time.time()
        self.origin = 0.0
        self.loop: Any = None
        self.url: str | None = None
        self.loop_lag = looplag.LoopLag()
        """This process's event-loop lag (the ground truth's ``loop_lag``): a stall makes the emulator stamp
        arrivals late and delays when changes become visible (never the simulated timings)."""
        self._lag_handle: asyncio.TimerHandle | None = None

    def start(self, loop: Any) -> None:
        """Create and start every endpoint (raises ``ConfigurationError`` when one cannot run)."""
        if any(e.worker is not None for e in self.config.endpoints) and worker_host(self.config.host) is None:
            raise ConfigurationError(
                f"real workers need the emulator on a loopback address (127.0.0.1, ::1) or on all addresses "
                f"(0.0.0.0), not {self.config.host!r}: their requests may carry the developer's RunPod key"
            )
        self.loop = loop
        self.origin = loop.time()
        self.started_wall = time.time()  # with origin: loop-clock times convert to wall-clock ones
        for endpoint_config in self.config.endpoints:
            runtime = EndpointRuntime(endpoint_config, loop, self.webhooks, self.worker_output_dir)
            self.endpoints[endpoint_config.id] = runtime
        for runtime in self.endpoints.values():
            runtime.start()
        due = loop.time() + looplag.TICK_S
        self._lag_handle = loop.call_at(due, self._lag_tick, due)

    def _lag_tick(self, due: float) -> None:
        """The lag ticker: asks to wake every ``TICK_S`` and records how late it woke."""
        now = self.loop.time()
        self.loop_lag.record(time.time(), now - due)
        due = now + looplag.TICK_S
        self._lag_handle = self.loop.call_at(due, self._lag_tick, due)

    def listening(self, port: int) -> None:
        """The server is bound: tell the endpoints where their workers reach it."""
        host = worker_host(self.config.host) or self.config.host
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        for runtime in self.endpoints.values():
            runtime.listening(self.url)

    async def warm_up(self) -> None:
        """Wait until every endpoint's always-on workers can take jobs (raises ``WorkerStartError``)."""
        await asyncio.gather(*(runtime.pool.warm_up() for runtime in self.endpoints.values()))

    async def reset(self, endpoint_id: str | None = None) -> list[str]:
        """Forget all jobs and counters, restart the workers: a fresh endpoint (tests). Raises
        ``WorkerStartError`` when a real always-on worker cannot start again."""
        ids = [endpoint_id] if endpoint_id else list(self.endpoints)
        for eid in ids:
            old = self.endpoints[eid]
            await old.aclose()
            runtime = EndpointRuntime(old.config, self.loop, self.webhooks, self.worker_output_dir)
            self.endpoints[eid] = runtime
            runtime.start()
            if self.url is not None:
                runtime.listening(self.url)
            await runtime.pool.warm_up()  # as at start: the always-on workers are up when this returns
        if endpoint_id is None:
            self.unrouted.clear()
            self.loop_lag = looplag.LoopLag()
        return ids

    async def close(self) -> None:
        if self._lag_handle is not None:
            self._lag_handle.cancel()
            self._lag_handle = None
        await asyncio.gather(*(runtime.aclose() for runtime in self.endpoints.values()))
        shutdown_supervisor()
        await self.webhooks.close()

    def client_max_size(self) -> int:
        """Largest body aiohttp will read: the largest payload limit, or 1 GiB when one is switched off."""
        sizes = [size for rt in self.endpoints.values() for size in rt.admission.payload_limits.values()]
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

    def route(endpoint_id: str, op: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        openai_op = op == Op.OPENAI.value
        handler = handle_openai if openai_op else HANDLERS[op]
        job_op = op in _JOB_OPS

        async def serve(request: web.Request) -> web.StreamResponse:
            runtime = endpoints[endpoint_id]
            response: web.StreamResponse | None = _refuse(runtime, request, op, runtime.catch_up())
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
                    runtime.admission.release(op)
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
    add_worker_routes(app, emulator)
    app.router.add_route("*", "/v2/{tail:.*}", v2)
    add_admin_routes(app, emulator)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def _refuse(runtime: EndpointRuntime, request: web.Request, op: str, now: float) -> web.Response | None:
    """Method, auth and rate/concurrency checks: the refusal, or None when admitted (then release)."""
    if request.method not in _METHODS[op]:
        allowed = ", ".join(sorted(_METHODS[op]))
        return error_response(405, f"{op} accepts {allowed}, not {request.method}", {"Allow": allowed})
    denied = _authorized(runtime, request)
    if denied is not None:
        return error_response(401, denied)
    admission = runtime.admission
    if admission.unlimited:
        admission.ops[op].in_flight += 1
        return None
    reason = admission.admit(op, now)
    if reason is not None:
        return too_many(runtime, op, reason, now)
    return None


