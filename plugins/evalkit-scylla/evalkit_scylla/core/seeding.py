"""Stable per-item random generators and integer value pools for instance generation.

Every draw comes from ``numpy.random.default_rng`` seeded by a BLAKE2b hash of
(task, split, item index, attempt, seed), so runs are reproducible across processes and platforms
(Python's salted ``hash()`` is never used).
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

MAX_POOL_SIZE = 10_000_000


def item_rng(slug: str, split: str, index: int, attempt: int, seed: int) -> np.random.Generator:
    """The generator for one generation attempt of one item."""
    key = f"scylla|{slug}|{split}|{int(index)}|{int(attempt)}|{int(seed)}".encode()
    digest = hashlib.blake2b(key, digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


class Pool:
    """A finite set of non-negative integers to draw list elements from, with per-residue views (mod 10)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = np.asarray(values, dtype=np.int64)
        self.size = int(self.values.size)
        self.by_residue = tuple(self.values[self.values % 10 == r] for r in range(10))
        self.residue_weights = np.array([v.size for v in self.by_residue], dtype=float) / max(self.size, 1)

    def draw(self, rng: np.random.Generator, size: int) -> list[int]:
        """``size`` values drawn uniformly with replacement."""
        return self.values[rng.integers(0, self.size, size)].tolist()

    def draw_distinct(self, rng: np.random.Generator, size: int) -> list[int] | None:
        """``size`` distinct values drawn uniformly, or None if the pool is too small."""
        if size > self.size:
            return None
        return self.values[rng.choice(self.size, size, replace=False)].tolist()

    def draw_residues(self, rng: np.random.Generator, residues: np.ndarray) -> list[int]:
        """One uniform value per requested residue (mod 10); every residue must be present in the pool."""
        out = np.empty(len(residues), dtype=np.int64)
        for r in range(10):
            where = np.flatnonzero(residues == r)
            if where.size:
                sub = self.by_residue[r]
                out[where] = sub[rng.integers(0, sub.size, where.size)]
        return out.tolist()

    def run_starts(self, length: int) -> np.ndarray:
        """All ``s`` such that ``s, s+1, ..., s+length-1`` are all in the pool."""
        vals = self.values
        if length > vals.size:
            return vals[:0]
        ok = vals[length - 1 :] - vals[: vals.size - length + 1] == length - 1
        return vals[: vals.size - length + 1][ok]


def check_range(name: str, rng_range: tuple[int, int]) -> tuple[int, int]:
    """Validate an inclusive ``(lo, hi)`` range of non-negative integers."""
    lo, hi = (int(x) for x in rng_range)
    if lo < 0 or lo > hi:
        raise ValueError(f"{name}={rng_range!r} must be an inclusive (lo, hi) range with 0 <= lo <= hi")
    if hi - lo + 1 > MAX_POOL_SIZE:
        raise ValueError(f"{name}={rng_range!r} spans more than {MAX_POOL_SIZE} values")
    return lo, hi


@functools.lru_cache(maxsize=32)
def make_pool(include: tuple[int, int], exclude: tuple[int, int] | None = None) -> Pool:
    """The integers in ``include`` minus those in ``exclude`` (both inclusive ranges), sorted."""
    values = np.arange(include[0], include[1] + 1, dtype=np.int64)
    if exclude is not None:
        values = values[(values < exclude[0]) | (values > exclude[1])]
    return Pool(values)
