"""Locust's web UI, extended: job-metric tabs and routes (``tabs``) and the tests a person starts there,
each with its own run directory (``runs``)."""
