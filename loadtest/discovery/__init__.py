"""Limit discovery (``loadtest limits``): measure the rate and concurrency limits an endpoint enforces.

``evidence`` (what requests prove, pure), ``prober`` (paced HTTP), ``experiments`` (the per-operation
search, composed of ``operation``, ``rate_search``, ``rate_traffic``, ``window_cycles``, ``split_test``,
``concurrency_search``, ``queue_search`` and ``results``), ``document`` (``limits.json``), ``page``
(``limits.html``), ``session`` (target to run directory). It sits above the run pipeline: it reuses the
pipeline's scenario vetting and emulator launcher, and drives its own traffic (precisely paced single
requests, not Locust users).
"""
