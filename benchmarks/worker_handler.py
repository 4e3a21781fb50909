"""The handler bench_workers.py runs as real workers: async, up to ten jobs at once, 20 ms each, reporting
its own wall-clock start and end so the queue side's added time can be told from the handler's."""

import asyncio
import time

import runpod


async def handler(job):
    started = time.time()
    await asyncio.sleep(0.02)
    return {"started": started, "finished": time.time()}


def concurrency(current):
    return 10


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "concurrency_modifier": concurrency})
