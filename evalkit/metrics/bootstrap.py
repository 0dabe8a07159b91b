"""Seeded bootstrap confidence intervals, and a paired bootstrap for comparing two models on the same items."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_RESAMPLES = 1000


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(point estimate, low, high): percentile bootstrap over items, deterministic for a seed."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    point = float(statistic(values))
    if values.size == 1:
        return point, point, point
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(resamples, values.size))
    if statistic is np.mean:
        stats = values[idx].mean(axis=1)
    else:
        stats = np.array([statistic(values[row]) for row in idx])
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return point, float(low), float(high)


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Compare two models' per-item scores on the same items (aligned arrays).

    Returns the mean difference ``a - b``, its bootstrap CI, and a two-sided p-value: twice the smaller
    fraction of resampled mean differences on either side of zero.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap needs aligned scores, got shapes {a.shape} and {b.shape}")
    diff = a - b
    mean, low, high = bootstrap_ci(diff, resamples=resamples, confidence=confidence, seed=seed)
    rng = np.random.default_rng(seed + 1)
    idx = rng.integers(0, diff.size, size=(resamples, diff.size))
    means = diff[idx].mean(axis=1)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return {
        "mean_diff": mean,
        "ci_low": low,
        "ci_high": high,
        "p_value": float(min(p, 1.0)),
        "n": int(diff.size),
    }
