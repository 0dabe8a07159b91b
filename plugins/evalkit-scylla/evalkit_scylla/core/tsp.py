"""Exact TSP by Held-Karp dynamic programming over subsets, vectorised with numpy, that also counts
the optimal tours (the generator needs "exactly 2 optimal tours": one tour and its reverse).

Tours start and end at city 0; counts are of *directed* tours (a tour and its reverse count twice),
which is what the paper's brute force counts over ``permutations(range(1, n))``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_INF = np.int64(1) << np.int64(60)


@dataclass(frozen=True)
class TspSolution:
    """Optimal cost, number of optimal directed tours, and the lexicographically first optimal tour."""

    cost: int
    n_optimal: int
    tour: list[int]


@functools.lru_cache(maxsize=16)
def _layers(m: int) -> tuple[tuple[np.ndarray, ...], ...]:
    """For each popcount k >= 2 and each bit j: the masks over ``m`` bits with popcount k that contain j."""
    masks = np.arange(1 << m, dtype=np.int64)
    pop = np.zeros(1 << m, dtype=np.int64)
    for b in range(m):
        pop += (masks >> b) & 1
    out = []
    for k in range(2, m + 1):
        layer = masks[pop == k]
        out.append(tuple(layer[(layer >> j) & 1 == 1] for j in range(m)))
    return tuple(out)


def tour_cost(matrix: np.ndarray, tour: Sequence[int]) -> int:
    """The length of a closed tour given as a city sequence that returns to its start."""
    t = np.asarray(tour, dtype=np.intp)
    return int(matrix[t[:-1], t[1:]].sum())


def solve_tsp(matrix: Sequence[Sequence[int]]) -> TspSolution:
    """Held-Karp over the ``n - 1`` non-start cities with per-state optimal-path counts; n >= 2."""
    d = np.asarray(matrix, dtype=np.int64)
    n = d.shape[0]
    m = n - 1
    if m == 1:
        return TspSolution(int(d[0, 1] + d[1, 0]), 1, [0, 1, 0])
    dd = d[1:, 1:]  # distances among non-start cities (bit j = city j + 1)
    cost = np.full((1 << m, m), _INF, dtype=np.int64)
    count = np.zeros((1 << m, m), dtype=np.int64)
    for j in range(m):
        cost[1 << j, j] = d[0, j + 1]
        count[1 << j, j] = 1
    for layer in _layers(m):
        for j, sel in enumerate(layer):
            prev = sel ^ (1 << j)
            cand = cost[prev] + dd[:, j][None, :]
            best = cand.min(axis=1)
            cost[sel, j] = best
            count[sel, j] = np.where(cand == best[:, None], count[prev], 0).sum(axis=1)
    full = (1 << m) - 1
    closing = cost[full] + d[1:, 0]
    best = int(closing.min())
    n_opt = int(count[full][closing == best].sum())
    # Reconstruct one optimal tour backwards, then return the lexicographically smaller direction
    # (the first one in the order of ``itertools.permutations(range(1, n))``).
    j = int(np.flatnonzero(closing == best)[0])
    mask = full
    path = [j]
    while mask != 1 << j:
        prev = mask ^ (1 << j)
        i = int(np.flatnonzero(cost[prev] + dd[:, j] == cost[mask, j])[0])
        mask, j = prev, i
        path.append(j)
    tour = [0] + [c + 1 for c in reversed(path)] + [0]
    return TspSolution(best, n_opt, min(tour, tour[::-1]))
