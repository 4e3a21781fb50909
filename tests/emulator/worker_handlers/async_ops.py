"""An async RunPod handler taking up to three jobs at once (concurrency_modifier, hence batch takes)."""

import asyncio
import os
import time

import runpod


async def handler(job):
    started = time.time()
    await asyncio.sleep(job["input"].get("seconds", 0.0))
    return {"pid": os.getpid(), "started": started, "finished": time.time()}


def concurrency(current):
    return 3


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "concurrency_modifier": concurrency})
