"""Uncertainty of a score: a percentile bootstrap over samples, paired across trials.

Each resample draws the evaluated samples with replacement (the same draw for every trial of a
(task, shots), since trials differ only in their demos) and recomputes each trial's score on it;
the resample's value is the mean over trials, like the reported mean. The 95% interval is the
2.5th and 97.5th percentiles of 1,000 resamples drawn from a fixed seed, so it is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Resampler = Callable[[np.ndarray], np.ndarray]
"""Given an (R, n) matrix of sample indices, the metric's value on each of the R resamples."""

RESAMPLES = 1000
CHUNK = 64


def mean_resampler(per_sample: Sequence[float], scale: float = 100.0) -> Resampler:
    values = np.asarray(per_sample, dtype=np.float64)
    return lambda idx: scale * values[idx].mean(axis=1)


def bootstrap_ci(
    trials: Sequence[tuple[Resampler, int]], level: float = 0.95, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of the trial-averaged score from (resampler, sample count) per trial.

    Trials with the same sample count (the usual case: no failed samples) share each draw.
    NaNs when there is nothing to resample.
    """
    if not trials or any(n == 0 for _, n in trials):
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, resamples, CHUNK):
        rows = min(CHUNK, resamples - start)
        draws = {n: rng.integers(0, n, size=(rows, n)) for n in sorted({n for _, n in trials})}
        values.append(np.mean([resample(draws[n]) for resample, n in trials], axis=0))
    all_values = np.concatenate(values)
    if np.isnan(all_values).all():
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(all_values, [tail, 100 - tail])
    return (float(low), float(high))
