"""Webhook delivery: the full job object POSTed when a job reaches a terminal state.

One attempt, then ``retries`` more ``retry_delay`` apart on a non-2xx answer or a connection error; a
failing webhook never changes the job. Deliveries run as tasks on the emulator's loop and are counted in
the ground truth.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from loadtest.emulator.groundtruth import Counters
from loadtest.emulator_config import WebhookConfig

log = logging.getLogger(__name__)


class WebhookSender:
    """Sends webhooks for every endpoint of one emulator (one shared HTTP client session)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, url: str, body: bytes, config: WebhookConfig, counters: Counters) -> None:
        """Deliver ``body`` to ``url`` in the background."""
        task = asyncio.get_running_loop().create_task(self._deliver(url, body, config, counters))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: bytes, config: WebhookConfig, counters: Counters) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=float(config.timeout))
        headers = {"Content-Type": "application/json", "User-Agent": "loadtest-emulator"}
        for attempt in range(config.retries + 1):
            if attempt:
                await asyncio.sleep(float(config.retry_delay))
            counters.webhook_attempts += 1
            try:
                async with self._session.post(url, data=body, headers=headers, timeout=timeout) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        counters.webhook_delivered += 1
                        return
                    reason = f"HTTP {response.status}"
            except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
                reason = type(exc).__name__
            log.debug("webhook attempt %d to %s failed: %s", attempt + 1, url, reason)
        counters.webhook_failed += 1

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
