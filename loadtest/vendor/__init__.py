"""Third-party files shipped with loadtest, unchanged, each beside its licence (no code of ours).

``uplot/``: uPlot 1.6.32 (MIT licence), the small charting library of the report page and the web UI's
live job-metric charts; both pages inline or serve it, so they work offline.
"""
