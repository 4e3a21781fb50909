"""When the emulated platform starts workers: one rule for every kind of worker pool.

``workers_min`` always; then the scaler, as RunPod's do: ``queue_delay`` (queued jobs have waited longer
than ``value`` seconds and are not covered by workers already starting; the first worker of an endpoint
with none starts at once) or ``request_count`` (``ceil((queued + running) / value)`` workers). Low-priority
jobs never make the scaler add a worker. Never beyond ``workers_max``.
"""

from __future__ import annotations

import math

from loadtest.emulator.jobstore import JobStore
from loadtest.emulator_config import EndpointConfig


def workers_to_start(
    config: EndpointConfig, store: JobStore, live: int, initializing: int, concurrency: int, now: float
) -> int:
    """How many workers to start now, given ``live`` workers (``initializing`` of them still starting)
    that each take ``concurrency`` jobs at once."""
    room = config.workers_max - live
    if room <= 0:
        return 0
    start = config.workers_min - live
    normal_queued = store.in_queue - store.in_queue_low
    if config.scaler.type == "request_count":
        desired = math.ceil((normal_queued + store.in_progress) / config.scaler.value)
        start = max(start, min(desired, config.workers_max) - live)
    elif normal_queued > 0:
        if live == 0:
            start = max(start, 1)
        coming = initializing * concurrency
        overdue = store.oldest_waits(now, config.scaler.value, room * concurrency + coming)
        start = max(start, math.ceil(max(0, overdue - coming) / concurrency))
    return max(0, min(start, room))
