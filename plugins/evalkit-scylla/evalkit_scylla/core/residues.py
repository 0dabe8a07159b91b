"""Exact sampler for the MultipleTen tasks: lists with exactly one r-subset (r in a size set) whose sum is
a multiple of 10.

Whether a list qualifies depends only on its residues mod 10, and for long lists such lists are far too
rare for rejection sampling (a random 16-element list has ~56 zero-sum triples). So we enumerate, once per
(sizes, max length), every residue *count vector* (c_0, ..., c_9) with exactly one zero-sum subset of an
allowed size -- a breadth-first search over residue classes that prunes any partial vector that already
has two, since adding elements never removes a subset. A vector is then drawn with weight
``multinomial(n; c) * prod(p_r ** c_r)`` (``p_r`` = share of the value pool with residue r), which is
exactly the distribution of i.i.d. uniform pool draws conditioned on validity; positions are shuffled
and values drawn per residue. The whole enumeration for lengths <= 16 takes well under a second.
"""

from __future__ import annotations

import functools
import math

import numpy as np


@functools.lru_cache(maxsize=16)
def valid_count_vectors(sizes: tuple[int, ...], n_max: int) -> np.ndarray:
    """All residue count vectors of total length <= ``n_max`` with exactly one zero-sum subset whose size
    is in ``sizes``; an ``(N, 10)`` int array."""
    zero = list(sizes)
    # poly[i, s, res]: number of s-subsets of state i's elements with sum = res (mod 10).
    poly = np.zeros((1, max(sizes) + 1, 10), dtype=np.int64)
    poly[0, 0, 0] = 1
    counts = np.zeros((1, 0), dtype=np.int64)
    for v in range(10):
        out_poly = [poly]
        out_counts = [np.column_stack([counts, np.zeros(len(poly), dtype=np.int64)])]
        q, base, used = poly, counts, counts.sum(axis=1)
        for c in range(1, n_max + 1):
            keep = used + c <= n_max
            q, base, used = q[keep], base[keep], used[keep]
            if not len(q):
                break
            nxt = q.copy()  # one more element of residue v: P(x, y) <- P(x, y) * (1 + x y^v)
            nxt[:, 1:, :] += np.roll(q[:, :-1, :], v, axis=2)
            ok = nxt[:, zero, 0].sum(axis=1) <= 1  # monotone in c: a pruned state stays pruned
            q, base, used = nxt[ok], base[ok], used[ok]
            out_poly.append(q)
            out_counts.append(np.column_stack([base, np.full(len(q), c, dtype=np.int64)]))
        poly, counts = np.concatenate(out_poly), np.concatenate(out_counts)
    result = counts[poly[:, zero, 0].sum(axis=1) == 1]
    result.setflags(write=False)
    return result


@functools.lru_cache(maxsize=256)
def _distribution(
    sizes: tuple[int, ...], n_max: int, n: int, residue_weights: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The valid count vectors of total ``n`` and their probabilities under i.i.d. residue draws."""
    vectors = valid_count_vectors(sizes, n_max)
    vectors = vectors[vectors.sum(axis=1) == n]
    log_fact = np.array([math.lgamma(i + 1) for i in range(n + 1)])
    logp = np.array([math.log(p) if p > 0 else -np.inf for p in residue_weights])
    with np.errstate(invalid="ignore"):
        terms = np.where(vectors > 0, vectors * logp[None, :], 0.0)
    logw = log_fact[n] - log_fact[vectors].sum(axis=1) + terms.sum(axis=1)
    finite = np.isfinite(logw)
    if not finite.any():
        return None
    w = np.where(finite, np.exp(logw - logw[finite].max()), 0.0)
    return vectors, w / w.sum()


def sample_residues(
    rng: np.random.Generator, n: int, sizes: tuple[int, ...], residue_weights: np.ndarray, n_max: int
) -> np.ndarray | None:
    """A length-``n`` residue sequence with exactly one zero-sum subset of a size in ``sizes``, drawn as
    i.i.d. residues with probabilities ``residue_weights`` conditioned on that property; None if impossible."""
    dist = _distribution(tuple(sizes), max(n_max, n), n, tuple(float(p) for p in residue_weights))
    if dist is None:
        return None
    vectors, probs = dist
    pick = vectors[rng.choice(len(vectors), p=probs)]
    return rng.permutation(np.repeat(np.arange(10), pick))
