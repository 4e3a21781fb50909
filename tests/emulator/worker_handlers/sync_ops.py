"""A sync RunPod handler whose input says what to do; run unmodified by the emulator in the real-worker
tests. Every job prints the handler's own timestamps to stdout and returns them."""

import json
import os
import time

import runpod
from runpod.http_client import get_auth_header


def handler(job):
    job_input = job["input"]
    op = job_input.get("op", "echo")
    started = time.time()
    if op == "sleep":
        time.sleep(job_input["seconds"])
    elif op == "raise":
        raise ValueError(job_input.get("message", "boom"))
    elif op == "raise_once":
        marker = job_input["marker"]
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("first attempt fails")
    elif op == "error_dict":
        return {"error": "bad thing", "partial": 1}
    elif op == "progress":
        runpod.serverless.progress_update(job, {"step": 1})
        time.sleep(job_input.get("seconds", 1.0))
        runpod.serverless.progress_update(job, "last-moment")
    elif op == "refresh":
        return {"refresh_worker": True, "pid": os.getpid()}
    elif op == "big":
        return {"blob": "x" * job_input["bytes"]}
    elif op == "crash":
        os._exit(7)  # dies holding the job; the SDK's ping process is orphaned
    elif op == "credentials":
        return {
            "authorization_is_per_run_key": get_auth_header()["Authorization"] == os.environ["RUNPOD_AI_API_KEY"],
            "credentials_file_read": runpod.api_key is not None,
        }
    finished = time.time()
    print(json.dumps({"job": job["id"], "started": started, "finished": finished}), flush=True)
    return {"op": op, "pid": os.getpid(), "started": started, "finished": finished, "keys": sorted(job)}


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
