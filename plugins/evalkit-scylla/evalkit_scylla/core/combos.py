"""Cached index combinations and subset enumerations shared by the generators (numpy-vectorised sums)."""

from __future__ import annotations

import functools
import itertools

import numpy as np


@functools.lru_cache(maxsize=256)
def combos(n: int, r: int) -> np.ndarray:
    """All ``r``-combinations of ``range(n)`` as an ``(C(n, r), r)`` array, in ``itertools`` order."""
    flat = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(n), r)), dtype=np.intp)
    flat.setflags(write=False)
    return flat.reshape(-1, r)


def subset_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums and sizes of all ``2**n`` subsets, indexed by bit mask (bit ``i`` = element ``i``)."""
    sums = np.zeros(1, dtype=np.int64)
    sizes = np.zeros(1, dtype=np.int64)
    for x in np.asarray(values, dtype=np.int64):
        sums = np.concatenate([sums, sums + x])
        sizes = np.concatenate([sizes, sizes + 1])
    return sums, sizes


def mask_indices(mask: int, n: int) -> list[int]:
    """The element indices set in ``mask``, ascending."""
    return [i for i in range(n) if mask >> i & 1]
