"""Seeded bootstrap confidence intervals, and a paired bootstrap for comparing two models on the same items.

Both resample *items*. When several values belong to one item (a probe task scores every test item
once per training seed), pass ``clusters`` (one label per value): an item's values are then drawn
together, so repeated looks at the same item do not pass for independent evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_RESAMPLES = 1000


def _cluster_codes(clusters: Sequence | None, n: int) -> np.ndarray | None:
    """Integer codes 0..k-1 per value, or None when every value is its own item."""
    if clusters is None:
        return None
    if len(clusters) != n:
        raise ValueError(f"clusters has {len(clusters)} labels for {n} values")
    index: dict = {}
    codes = np.fromiter((index.setdefault(c, len(index)) for c in clusters), np.int64, count=n)
    return None if len(index) == n else codes


def resample_statistic(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    clusters: Sequence | None,
    rng: np.random.Generator,
    resamples: int = DEFAULT_RESAMPLES,
) -> np.ndarray:
    """The statistic on ``resamples`` bootstrap samples of the items (``clusters``: one item label per
    value; an item's values are drawn together). For figures built from several resampled statistics."""
    values = np.asarray(values, dtype=np.float64)
    return _resampled(values, statistic, _cluster_codes(clusters, values.size), rng, resamples)


def _resampled(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    codes: np.ndarray | None,
    rng: np.random.Generator,
    resamples: int,
) -> np.ndarray:
    """The statistic on ``resamples`` bootstrap samples of the items (values, or clusters of them)."""
    if codes is None:
        idx = rng.integers(0, values.size, size=(resamples, values.size))
        if statistic is np.mean:
            return values[idx].mean(axis=1)
        return np.array([statistic(values[row]) for row in idx])
    k = int(codes.max()) + 1
    idx = rng.integers(0, k, size=(resamples, k))
    if statistic is np.mean:
        sums = np.bincount(codes, weights=values, minlength=k)
        counts = np.bincount(codes, minlength=k)
        return sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    members = [np.flatnonzero(codes == c) for c in range(k)]
    return np.array([statistic(values[np.concatenate([members[c] for c in row])]) for row in idx])


def bootstrap_ci(
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    clusters: Sequence | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(point estimate, low, high): percentile bootstrap over items, deterministic for a seed."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    point = float(statistic(values))
    codes = _cluster_codes(clusters, values.size)
    if values.size == 1 or (codes is not None and codes.max() == 0):
        return point, point, point
    stats = _resampled(values, statistic, codes, np.random.default_rng(seed), resamples)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return point, float(low), float(high)


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    clusters: Sequence | None = None,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Compare two models' per-item scores on the same items (aligned arrays).

    Returns the mean difference ``a - b``, its bootstrap CI, and a two-sided p-value: twice the smaller
    fraction of resampled mean differences on either side of zero (its resolution is 1 / resamples:
    ``p_floor``; a p-value of 0 means below it).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap needs aligned scores, got shapes {a.shape} and {b.shape}")
    diff = a - b
    mean, low, high = bootstrap_ci(
        diff, clusters=clusters, resamples=resamples, confidence=confidence, seed=seed
    )
    codes = _cluster_codes(clusters, diff.size)
    means = _resampled(diff, np.mean, codes, np.random.default_rng(seed + 1), resamples)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    items = diff.size if codes is None else int(codes.max()) + 1
    return {
        "mean_diff": mean,
        "ci_low": low,
        "ci_high": high,
        "p_value": float(min(p, 1.0)),
        "p_floor": 1.0 / resamples,
        "n": int(diff.size),
        "items": items,
    }
