"""A RunPod handler that runs several jobs at once: async, with a ``concurrency_modifier``.

Each worker takes up to ``MAX_CONCURRENCY`` jobs (default 4) at a time, fetched in batches
(``job-take-batch``), which suits I/O-bound handlers such as a proxy to an inference server. Load-test it:

    loadtest run scenarios/real-worker-concurrency.yaml
"""

import asyncio
import os

import runpod

MAX_CONCURRENCY = int(os.environ.get("MAX_CONCURRENCY", "4"))


async def handler(job):
    job_input = job["input"]
    await asyncio.sleep(float(job_input.get("work_seconds", 0.2)))  # stands in for awaiting a backend
    return {"answer": f"done: {job_input.get('prompt', '')}"}


def concurrency_modifier(current):
    """How many jobs this worker may hold; RunPod's SDK asks before each take."""
    return MAX_CONCURRENCY


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "concurrency_modifier": concurrency_modifier})
