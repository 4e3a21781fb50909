"""Performance checks for CI: thresholds, baselines with a noise-aware verdict, verdict tables, JUnit XML.

Entry points: :func:`loadtest.check.judge.judge_run` (run directory → :class:`~loadtest.check.verdicts.Verdicts`),
:mod:`loadtest.cli.check` (``loadtest check``), :mod:`loadtest.cli.baseline`
(``loadtest baseline``) and :class:`loadtest.check.live.LiveThresholds` (abort a run once a threshold is lost).
"""
