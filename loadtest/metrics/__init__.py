"""Measurements: the metric catalogue, the mergeable recorder, and the run directory writer.

Import the submodules directly (``loadtest.metrics.catalog`` is pure Python and cheap;
``loadtest.metrics.recorder`` pulls in hdrhistogram).
"""
