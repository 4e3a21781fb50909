"""Limit discovery (``loadtest limits``): measure the rate and concurrency limits an endpoint enforces.

``evidence`` (what requests prove, pure), ``prober`` (paced HTTP), ``experiments`` (the per-operation
search), ``document`` (``limits.json``), ``page`` (``limits.html``), ``session`` (target to run directory).
It sits above the run pipeline: it reuses the pipeline's scenario vetting and emulator launcher, and drives
its own traffic (precisely paced single requests, not Locust users).
"""
