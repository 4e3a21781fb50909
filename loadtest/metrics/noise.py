"""How much a figure moves between two runs by chance: the block-bootstrap noise interval of R - B.

Written once, used by the baseline check (``loadtest.check.regression``: a regression must be beyond its
tolerance *and* beyond this interval) and by ``loadtest compare`` (a difference inside the interval is
"within noise"). Both runs' time buckets are cut into at most 50 consecutive blocks; a block bootstrap
(resamples of blocks, with replacement, separately for each run) recomputes the figure from the resampled
buckets' merged histograms or counters (:class:`loadtest.metrics.figures.RunBuckets`); the resampled
differences give the interval. Blocks keep bursts and drifts together (buckets are not independent), and
resampling the recorded histograms needs no assumption about the distribution.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from loadtest.metrics.catalog import MetricRef
from loadtest.metrics.figures import RunBuckets

DEFAULT_CONFIDENCE = 0.99
DEFAULT_RESAMPLES = 1000
MIN_BLOCKS = 5
"""A run with fewer buckets than this inside its measured period gives no noise estimate."""
MIN_VALID_RESAMPLES = 0.8
"""Share of resamples that must measure the figure (histograms can come out empty) for an interval."""


@dataclass(frozen=True)
class Noise:
    """A confidence interval for R - B, or why there is none."""

    low: float | None
    high: float | None
    reason: str = ""

    @property
    def known(self) -> bool:
        return self.low is not None and self.high is not None


def noise_interval(
    ref: MetricRef,
    run: RunBuckets | None,
    base: RunBuckets | None,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
) -> Noise:
    """The block-bootstrap interval of R - B, relative to the observed difference (add it to get the interval).

    Two standard bootstrap intervals are computed and their union kept: the *basic* interval (the
    resampled deviations mirrored around the estimate) and the *percentile* interval (the resampled
    differences themselves). They disagree when a figure sits on a step of its distribution, e.g. a
    p95 of polled end-to-end times between two polling rounds: the basic interval then points the wrong
    way, the percentile one does not. Taking both keeps a regression verdict to differences that both
    readings call clear.
    """
    if run is None or base is None:
        return Noise(None, None, "no per-bucket data (recorder.json) to estimate the noise")
    run_figure, base_figure = run.figure(ref), base.figure(ref)
    if run_figure is None or base_figure is None:
        return Noise(None, None, f"{ref.metric} is not kept per time bucket, so its noise is unknown")
    for buckets, which in ((run, "run"), (base, "baseline")):
        inside = int((buckets.lengths() > 0).sum())
        if inside < MIN_BLOCKS:
            return Noise(None, None, f"the {which} is too short for a noise estimate ({inside} buckets)")
    rng = np.random.default_rng(zlib.crc32(str(ref).encode()))
    run_values = run_figure.values(run.block_bootstrap(resamples, rng))
    base_values = base_figure.values(base.block_bootstrap(resamples, rng))
    run_hat = float(run_figure.values(run.whole_run())[0])
    base_hat = float(base_figure.values(base.whole_run())[0])
    estimate = run_hat - base_hat
    deviations = (run_values - base_values) - estimate
    deviations = deviations[~np.isnan(deviations)]
    if len(deviations) < MIN_VALID_RESAMPLES * resamples:
        return Noise(None, None, "too few samples for a noise estimate (most resamples measured nothing)")
    tail = (1.0 - confidence) / 2.0
    low_dev, high_dev = (float(q) for q in np.quantile(deviations, [tail, 1.0 - tail]))
    basic = (-high_dev, -low_dev)
    percentile = (low_dev, high_dev)
    return Noise(min(basic[0], percentile[0]), max(basic[1], percentile[1]))
