"""Starting and stopping the emulator on an event loop: in-process for tests, or as ``loadtest emulate``.

``async with EmulatorServer(config) as server:`` serves on a free loopback port (``config.port`` 0) and
exposes ``base_url`` (``http://HOST:PORT/v2``), ``admin_url`` and ``emulator`` (the live state, for tests
that look inside). :func:`serve_forever` adds the ready file and SIGINT/SIGTERM handling.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from loadtest.emulator.app import ADMIN_PREFIX, Emulator, build_app
from loadtest.emulator_config import EmulatorConfig, EndpointConfig
from loadtest.errors import TargetFailure

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 2.0
LISTEN_BACKLOG = 4096
"""Pending connections the kernel queues (capped by net.core.somaxconn): aiohttp's default of 128 drops
the SYNs of a burst of new connections, which clients then retry only after a second."""
PARENT_CHECK_S = 1.0


class EmulatorServer:
    """The emulator's HTTP server on the running loop."""

    def __init__(
        self, config: EmulatorConfig | EndpointConfig | None = None, worker_output_dir: Path | None = None
    ) -> None:
        if config is None:
            config = EmulatorConfig()
        elif isinstance(config, EndpointConfig):
            config = EmulatorConfig(endpoints=[config])
        self.config = config
        self.emulator = Emulator(config, worker_output_dir)
        self._runner: web.AppRunner | None = None
        self.host = config.host
        self.port = config.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``RUNPOD_ENDPOINT_BASE_URL`` should be set to."""
        return f"{self.url}/v2"

    @property
    def admin_url(self) -> str:
        return f"{self.url}{ADMIN_PREFIX}"

    @property
    def endpoint_ids(self) -> list[str]:
        return [endpoint.id for endpoint in self.config.endpoints]

    async def start(self) -> None:
        """Bind and serve (raises ``OSError`` when the address is taken)."""
        self.emulator.start(asyncio.get_running_loop())
        app = build_app(self.emulator)
        app.on_shutdown.append(self._on_shutdown)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port, backlog=LISTEN_BACKLOG)
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self.emulator.close()
            raise
        self._runner = runner
        for address in runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break
        self.emulator.listening(self.port)  # real workers start now that they can reach the server

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.emulator.close()  # wakes long polls so the server can stop at once

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def ready_info(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url, "admin_url": self.admin_url, "pid": os.getpid(),
            "endpoints": self.endpoint_ids,
        }


def write_ready_file(path: Path, info: dict[str, Any]) -> None:
    """Write atomically, so a watcher never reads half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)


async def serve_forever(
    config: EmulatorConfig, ready_file: Path | None = None, announce: Any = print, exit_with_parent: bool = False,
    worker_output_dir: Path | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (or, with ``exit_with_parent``, until the parent process is gone).
    Raises :class:`~loadtest.errors.TargetFailure` when it cannot listen, or an always-on worker cannot start."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if exit_with_parent:
        parent = os.getppid()

        def watch() -> None:
            if os.getppid() != parent:
                stop.set()
            else:
                loop.call_later(PARENT_CHECK_S, watch)

        loop.call_later(PARENT_CHECK_S, watch)
    server = EmulatorServer(config, worker_output_dir)
    try:
        await server.start()
    except OSError as exc:
        raise TargetFailure(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    try:
        # real always-on workers: announced once they take jobs (a stop request ends the wait)
        warm = asyncio.ensure_future(server.emulator.warm_up())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({warm, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not warm.done():
            warm.cancel()
            log.info("emulator stopping before its workers were up")
            return
        stopping.cancel()
        warm.result()  # raises WorkerStartError
        announce(server.base_url)
        if ready_file is not None:
            try:
                write_ready_file(ready_file, server.ready_info())
            except OSError as exc:
                raise TargetFailure(f"cannot write --ready-file {ready_file}: {exc.strerror or exc}") from None
        log.info("emulator listening on %s, endpoints: %s", server.base_url, ", ".join(server.endpoint_ids))
        await stop.wait()
        log.info("emulator stopping")
    finally:
        await server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
