"""Index draws for sampling stimuli: CPython's `random.choice`/`sample`/`choices` replayed on one seeded MT19937
stream (to reproduce the release), and the same draws from numpy's seeded generator (for new samples)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np


class ReleaseDraws:
    """Indices as CPython's `random.choice`/`sample`/`choices` draw them, from one seeded MT19937 stream.

    Only `getrandbits` and `random()` are used: seeding with an int and those two are stable across Python
    versions, the index algorithms (written out here) are not promised to be.
    """

    def __init__(self, seed: int) -> None:
        self._mt = random.Random(seed)

    def below(self, n: int) -> int:
        """Uniform in [0, n) by rejection on n.bit_length() random bits."""
        k = n.bit_length()
        r = self._mt.getrandbits(k)
        while r >= n:
            r = self._mt.getrandbits(k)
        return r

    def choice(self, seq: Sequence[str]) -> str:
        return seq[self.below(len(seq))]

    def sample(self, seq: Sequence[str], k: int) -> list[str]:
        """k distinct elements: the pool method for small populations, else rejection of repeats."""
        n = len(seq)
        setsize = 21 + (4 ** math.ceil(math.log(k * 3, 4)) if k > 5 else 0)
        if n <= setsize:
            pool = list(seq)
            out = []
            for i in range(k):
                j = self.below(n - i)
                out.append(pool[j])
                pool[j] = pool[n - i - 1]
            return out
        picked: set[int] = set()
        out = []
        for _ in range(k):
            j = self.below(n)
            while j in picked:
                j = self.below(n)
            picked.add(j)
            out.append(seq[j])
        return out

    def choices(self, seq: Sequence[str], k: int) -> list[str]:
        n = float(len(seq))
        return [seq[math.floor(self._mt.random() * n)] for _ in range(k)]


class NumpyDraws:
    """The same draws from `numpy.random.default_rng` (for new, seeded samples)."""

    def __init__(self, seed: Sequence[int]) -> None:
        self._rng = np.random.default_rng(list(seed))

    def choice(self, seq: Sequence[str]) -> str:
        return seq[int(self._rng.integers(len(seq)))]

    def sample(self, seq: Sequence[str], k: int) -> list[str]:
        return [seq[int(i)] for i in self._rng.choice(len(seq), size=k, replace=False)]

    def choices(self, seq: Sequence[str], k: int) -> list[str]:
        return [seq[int(i)] for i in self._rng.integers(len(seq), size=k)]
