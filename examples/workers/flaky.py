"""A RunPod handler that fails on some inputs: it raises for every job whose ``n`` is a multiple of
``fail_every`` (default 5), and reports a bad prompt as an error without raising.

A raising handler makes the job FAILED with the SDK's JSON error string (type, message, traceback); a
returned ``{"error": ...}`` makes it FAILED with that message. Load-test it:

    loadtest run scenarios/real-worker-errors.yaml
"""

import time

import runpod


class ModelError(RuntimeError):
    """What a real model might raise on an input it cannot handle."""


def handler(job):
    job_input = job["input"]
    n = int(job_input.get("n", 1))
    time.sleep(float(job_input.get("work_seconds", 0.05)))
    if n % int(job_input.get("fail_every", 5)) == 0:
        raise ModelError(f"cannot process input number {n}")
    if not str(job_input.get("prompt", "x")).strip():
        return {"error": "empty prompt"}
    return {"n": n, "ok": True}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
