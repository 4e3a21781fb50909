"""A streaming RunPod handler: an async generator that yields one token at a time.

Clients read the tokens with ``/stream`` while the job runs; with ``return_aggregate_stream`` the job's
final output is the list of every token too. Load-test it with:

    loadtest run scenarios/real-worker-streaming.yaml
"""

import asyncio

import runpod


async def handler(job):
    job_input = job["input"]
    words = str(job_input.get("prompt", "hello from a streaming worker")).split()
    delay = float(job_input.get("token_seconds", 0.05))  # stands in for generating one token
    for index, word in enumerate(words):
        await asyncio.sleep(delay)
        yield {"index": index, "token": word}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
