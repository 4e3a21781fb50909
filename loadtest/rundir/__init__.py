"""The run directory: the product's seam, where every run lands and every later reader starts.

``layout`` names every file once (and what a run owns); ``write`` has one writer per artefact, which the
pipeline (and a limit discovery) compose; ``read`` is :class:`~loadtest.rundir.read.RunDirectory`, the one
way the report, the check, compare, baselines and the console read a run back, as the typed documents of
``documents``. ``docs/run-directory.md`` is the public description; ``layout.FORMAT`` its version.
"""
