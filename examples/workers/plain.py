"""A plain RunPod serverless handler, as most workers are: load a model once, answer each job.

Load-test it locally with loadtest, unchanged (the emulator runs it as the endpoint's workers):

    loadtest run scenarios/real-worker-smoke.yaml

Deployed on RunPod, the same file is the worker's entry point (``python -u plain.py``).
"""

import time

import runpod


def load_model():
    """Stands in for loading weights: this is part of the worker's cold start, which loadtest measures."""
    time.sleep(0.5)
    return str.upper


MODEL = load_model()


def handler(job):
    job_input = job["input"]
    prompt = str(job_input.get("prompt", ""))
    time.sleep(float(job_input.get("work_seconds", 0.05)))  # stands in for inference
    return {"text": MODEL(prompt), "characters": len(prompt)}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
