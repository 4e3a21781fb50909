"""The Locust side: scenario -> Locust user classes, job flows, load models, rate-limit policies, runs.

Only this package imports Locust and gevent. Import order matters: whatever runs Locust imports it
(which monkey-patches the standard library) before any other networking module.
"""
