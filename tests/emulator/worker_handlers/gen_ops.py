"""An async generator RunPod handler: streams ``n`` tokens ``gap`` seconds apart, and aggregates them."""

import asyncio
import time

import runpod


async def handler(job):
    job_input = job["input"]
    for index in range(job_input.get("n", 3)):
        await asyncio.sleep(job_input.get("gap", 0.05))
        if job_input.get("fail_at") == index:
            raise RuntimeError(f"generator failed at chunk {index}")
        yield {"token": index, "at": time.time()}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
