"""In-process emulator harness for the emulator's own tests: a real server on a free loopback port, talked
to over real HTTP with aiohttp, inside ``asyncio.run`` (no pytest-asyncio needed).

    def test_x(serve):
        async def body(api):
            status, job, headers = await api.post("run", {"input": {}})
            ...
        serve({"id": "ep", ...}, body)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from loadtest.emulator.endpoint import EndpointRuntime
from loadtest.emulator.server import EmulatorServer
from loadtest.emulator_config import EmulatorConfig, EndpointConfig

KEY = "test-key"


class Api:
    """A thin HTTP client for one endpoint of an in-process emulator."""

    def __init__(self, server: EmulatorServer, session: aiohttp.ClientSession, endpoint_id: str) -> None:
        self.server = server
        self.session = session
        self.endpoint_id = endpoint_id
        self.headers = {"Authorization": f"Bearer {KEY}"}

    @property
    def runtime(self) -> EndpointRuntime:
        return self.server.emulator.endpoints[self.endpoint_id]

    def url(self, path: str) -> str:
        return f"{self.server.base_url}/{self.endpoint_id}/{path}"

    async def request(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
        headers: dict[str, str] | None = None, absolute: bool = False,
    ) -> tuple[int, Any, Any]:
        """(status, parsed JSON body, headers); asserts every answer is JSON and never a 500."""
        url = path if absolute else self.url(path)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        async with self.session.request(
            method, url, data=data, headers=self.headers if headers is None else headers
        ) as response:
            text = await response.read()
            assert response.status != 500, text
            assert response.content_type == "application/json", (response.status, text[:200])
            return response.status, json.loads(text), response.headers

    async def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any, Any]:
        return await self.request("POST", path, body, **kw)

    async def get(self, path: str, **kw: Any) -> tuple[int, Any, Any]:
        return await self.request("GET", path, **kw)

    async def run(self, job_input: dict[str, Any] | None = None, **fields: Any) -> str:
        status, body, _ = await self.post("run", {"input": job_input or {}, **fields})
        assert status == 200, body
        assert body["status"] == "IN_QUEUE"
        return body["id"]

    async def status(self, job_id: str) -> dict[str, Any]:
        status, body, _ = await self.get(f"status/{job_id}")
        assert status == 200, body
        return body

    async def wait_status(self, job_id: str, statuses: set[str], timeout: float = 10.0) -> dict[str, Any]:
        """Poll until the job is in one of ``statuses`` (bounded in time)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            body = await self.status(job_id)
            if body["status"] in statuses:
                return body
            assert asyncio.get_running_loop().time() < deadline, f"job stayed {body}"
            await asyncio.sleep(0.01)

    async def ground_truth(self) -> dict[str, Any]:
        async with self.session.get(f"{self.server.admin_url}/ground-truth?endpoint={self.endpoint_id}") as r:
            assert r.status == 200
            return (await r.json())["endpoints"][self.endpoint_id]


def check_invariants(runtime: EndpointRuntime) -> None:
    """The accounting identities that must hold at every moment."""
    store = runtime.store
    c = runtime.counters
    submitted = sum(c.submitted.values())
    assert submitted + c.retried_manual == (
        store.in_queue + store.in_progress + sum(c.final.values()) + c.expired_unfinished
    ), (submitted, c.retried_manual, store.in_queue, store.in_progress, dict(c.final), c.expired_unfinished)
    live_queued = sum(1 for job in store.jobs.values() if job.status == "IN_QUEUE")
    live_running = sum(1 for job in store.jobs.values() if job.status == "IN_PROGRESS")
    assert (live_queued, live_running) == (store.in_queue, store.in_progress)
    running_on_workers = sum(len(worker.jobs) for worker in runtime.pool.workers.values())
    assert running_on_workers == store.in_progress
    health = runtime.health()
    assert health["jobs"]["completed"] == c.final["COMPLETED"]
    assert health["jobs"]["failed"] == c.final["FAILED"] + c.final["TIMED_OUT"]
    assert all(isinstance(v, int) and v >= 0 for group in health.values() for v in group.values())


@pytest.fixture(name="check_invariants")
def check_invariants_fixture() -> Callable[[EndpointRuntime], None]:
    """:func:`check_invariants`, for tests that check in the middle of a run."""
    return check_invariants


Body = Callable[[Api], Awaitable[Any]]


@pytest.fixture
def serve() -> Callable[..., Any]:
    """Run ``body(api)`` against a fresh in-process emulator built from ``config``; bounded by ``timeout``."""

    def run(config: Any, body: Body, timeout: float = 30.0, endpoint_id: str | None = None) -> Any:
        if isinstance(config, dict) and "endpoints" not in config:
            config = EndpointConfig.model_validate(config)
        if isinstance(config, EndpointConfig):
            config = EmulatorConfig(endpoints=[config])
        elif isinstance(config, dict):
            config = EmulatorConfig.model_validate(config)

        async def main() -> Any:
            async with EmulatorServer(config) as server, aiohttp.ClientSession() as session:
                api = Api(server, session, endpoint_id or config.endpoints[0].id)
                result = await asyncio.wait_for(body(api), timeout)
                for runtime in server.emulator.endpoints.values():
                    check_invariants(runtime)
                return result

        return asyncio.run(main())

    return run
