"""Run directory → plots, ``report.html``, ``summary.md``; and the side-by-side comparison of two runs.

Reads only the run directory (``docs/run-directory.md``); imports matplotlib, so command modules import
it inside ``main``.
"""
