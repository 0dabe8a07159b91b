"""Per-task draw functions for ``generate``: one candidate instance (structured data + the paper's gold)
from a seeded generator, or None when the candidate is invalid and must be re-drawn.

A draw function gets the value pool, the task's length range and the mode (``DrawContext``) and, for
OOD, the paired ID item's data whose shape it must keep. See ``generate`` for the constraints and the
paper/fixed mode rules these functions implement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .combos import combos, mask_indices, subset_sums
from .residues import sample_residues
from .seeding import Pool
from .solve import all_lis, paper_lce, paper_lcs, paper_lis
from .tsp import solve_tsp

Answer = int | list[int]
Data = dict[str, Any]


@dataclass(frozen=True)
class DrawContext:
    """What a draw function needs: the value pool, the task-limited length range and the mode."""

    pool: Pool
    lengths: tuple[int, int]
    mode: str


Drawn = tuple[Data, Answer] | None
DrawFn = Callable[[np.random.Generator, DrawContext, Data | None], Drawn]

# (min length, max length or None) per task, from the paper's check_example rules.
LIMITS: dict[str, tuple[int, int | None]] = {
    "find_minimum": (2, None),
    "find_maximum": (2, None),
    "find_mode": (2, None),
    "find_topk": (4, None),
    "sort_numbers": (2, None),
    "remove_duplicate_numbers": (2, None),
    "two_sum": (3, None),
    "three_sum": (4, None),
    "three_sum_in_range": (4, None),
    "three_sum_multiple_ten": (4, None),
    "four_sum": (5, None),
    "four_sum_in_range": (5, None),
    "four_sum_multiple_ten": (5, None),
    "subset_sum": (6, 16),
    "subset_sum_in_range": (6, 16),
    "subset_sum_multiple_ten": (6, 16),
    "tsp": (4, 10),
    "longest_increasing_subsequence": (2, None),
    "longest_consecutive_elements": (2, None),
    "longest_common_subarray": (2, None),
}

# ---- shared pieces ------------------------------------------------------------------------------------


def _length(rng: np.random.Generator, ctx: DrawContext, ref: list[int] | None) -> int:
    """The paired ID length for OOD, else a uniform draw from the task's length range."""
    return len(ref) if ref is not None else int(rng.integers(ctx.lengths[0], ctx.lengths[1] + 1))


def _relabel(rng: np.random.Generator, pool: Pool, ref: list[int]) -> list[int] | None:
    """``ref`` with its distinct values replaced by distinct pool values, positions kept."""
    distinct = list(dict.fromkeys(ref))
    fresh = pool.draw_distinct(rng, len(distinct))
    if fresh is None:
        return None
    mapping = dict(zip(distinct, fresh, strict=True))
    return [mapping[v] for v in ref]


def _first_combo(values: np.ndarray, r: int, hit: np.ndarray) -> list[int]:
    """Values of the first ``r``-combination (itertools order) flagged in ``hit``."""
    idx = combos(len(values), r)[int(np.flatnonzero(hit)[0])]
    return values[idx].tolist()


def _isolated(sorted_sums: np.ndarray) -> np.ndarray:
    """Indices m (1 <= m <= len-2) whose value differs from both neighbours (the paper's (a, b) rule)."""
    s = sorted_sums
    return np.flatnonzero((s[1:-1] != s[:-2]) & (s[1:-1] != s[2:])) + 1


# ---- draw functions: (rng, ctx, paired ID data or None) -> (data, gold) or None to re-draw -------------


def _draw_plain(fn: Callable[[list[int]], Answer]) -> DrawFn:
    """A plain random list scored by ``fn``."""

    def draw(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
        values = ctx.pool.draw(rng, _length(rng, ctx, ref["l"] if ref else None))
        return {"l": values}, fn(values)

    return draw


def _draw_mode(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """FindMode: ID lists are repaired (a tied mode overwrites another element) until the mode is unique."""
    if ref is not None:
        values = _relabel(rng, ctx.pool, ref["l"])
        if values is None:
            return None
    else:
        values = ctx.pool.draw(rng, _length(rng, ctx, None))
        while True:
            counts = Counter(values)
            top = max(counts.values())
            modes = [v for v, c in counts.items() if c == top]
            if len(modes) == 1:
                break
            mode = modes[int(rng.integers(len(modes)))]
            others = [i for i, v in enumerate(values) if v != mode]
            values[others[int(rng.integers(len(others)))]] = mode
    counts = Counter(values).most_common(2)
    return {"l": values}, counts[0][0]


def _draw_topk(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """FindTopk: k uniform in [2, len // 2] (kept from the paired ID item for OOD)."""
    n = _length(rng, ctx, ref["l"] if ref else None)
    k = int(ref["k"]) if ref else int(rng.integers(2, n // 2 + 1))
    values = ctx.pool.draw(rng, n)
    return {"l": values, "k": k}, sorted(values, reverse=True)[k - 1]


def _draw_dedup(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """RemoveDuplicateNumbers: ID lists hold d distinct values, d uniform in [max(1, n // 2), n - 1]."""
    if ref is not None:
        values = _relabel(rng, ctx.pool, ref["l"])
    else:
        n = _length(rng, ctx, None)
        d = int(rng.integers(max(1, n // 2), n)) if n > 1 else 1
        labels = rng.permutation(np.concatenate([np.arange(d), rng.integers(0, d, n - d)]))
        fresh = ctx.pool.draw_distinct(rng, d)
        values = None if fresh is None else [fresh[i] for i in labels]
    if values is None:
        return None
    return {"l": values}, list(dict.fromkeys(values))


def _draw_ksum(r: int) -> DrawFn:
    """Two/Three/FourSum: the target is a sum reached by exactly one r-combination of positions."""

    def draw(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
        values = np.array(ctx.pool.draw(rng, _length(rng, ctx, ref["l"] if ref else None)), dtype=np.int64)
        sums = values[combos(len(values), r)].sum(axis=1)
        uniq, counts = np.unique(sums, return_counts=True)
        targets = uniq[counts == 1]
        if not targets.size:
            return None
        k = int(rng.choice(targets))
        return {"l": values.tolist(), "k": k}, _first_combo(values, r, sums == k)

    return draw


def _draw_subset_sum(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """SubsetSum: the target is reached by exactly one non-empty subset, which has 4-6 elements."""
    values = np.array(ctx.pool.draw(rng, _length(rng, ctx, ref["l"] if ref else None)), dtype=np.int64)
    sums, sizes = subset_sums(values)
    sums, sizes = sums[1:], sizes[1:]  # drop the empty subset (mask 0)
    _, inverse, counts = np.unique(sums, return_inverse=True, return_counts=True)
    single = (counts[inverse] == 1) & (sizes >= 4) & (sizes <= 6)
    if not single.any():
        return None
    k = int(rng.choice(np.sort(sums[single])))
    mask = int(np.flatnonzero(sums == k)[0]) + 1
    return {"l": values.tolist(), "k": k}, values[mask_indices(mask, len(values))].tolist()


def _draw_in_range(r: int) -> DrawFn:
    """Three/FourSumInRange: (a, b) are the sums next to an isolated r-sum, so exactly one r-combination
    sums strictly inside; paper-mode FourSumInRange uses sorted(set(sums)) instead (quirk Q2)."""

    def draw(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
        values = np.array(ctx.pool.draw(rng, _length(rng, ctx, ref["l"] if ref else None)), dtype=np.int64)
        sums = values[combos(len(values), r)].sum(axis=1)
        if r == 4 and ctx.mode == "paper":  # the paper still *checks* for an isolated multiset sum
            if not _isolated(np.sort(sums)).size:
                return None
            ordered = np.unique(sums)
            choices = np.arange(1, len(ordered) - 1)
        else:
            ordered = np.sort(sums)
            choices = _isolated(ordered)
        if not choices.size:
            return None
        m = int(rng.choice(choices))
        a, b = int(ordered[m - 1]), int(ordered[m + 1])
        return {"l": values.tolist(), "a": a, "b": b}, _first_combo(values, r, (sums > a) & (sums < b))

    return draw


def _sorted_4to6(values: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The sorted list and its 4-, 5- and 6-element combination sums (itertools order per size)."""
    srt = np.sort(values)
    return srt, [srt[combos(len(srt), r)].sum(axis=1) for r in (4, 5, 6)]


def _first_sorted_subset(
    srt: np.ndarray, sums: list[np.ndarray], hit: Callable[[np.ndarray], np.ndarray]
) -> list[int]:
    """The first 4-6-element combination of the sorted list (by size, then itertools order) that hits."""
    for r, s in zip((4, 5, 6), sums, strict=True):
        flags = hit(s)
        if flags.any():
            return _first_combo(srt, r, flags)
    raise AssertionError("no subset found")  # unreachable: callers check existence first


def _draw_subset_in_range(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """SubsetSumInRange: (a, b) around a 4-6-subset sum that no other 4-6 subset reaches (quirk Q3)."""
    values = np.array(ctx.pool.draw(rng, _length(rng, ctx, ref["l"] if ref else None)), dtype=np.int64)
    srt, sums = _sorted_4to6(values)
    ordered = np.sort(np.concatenate(sums))
    choices = _isolated(ordered)
    if not choices.size:
        return None
    m = int(rng.choice(choices))
    a, b = int(ordered[m - 1]), int(ordered[m + 1])
    gold = _first_sorted_subset(srt, sums, lambda s: (s > a) & (s < b))
    return {"l": values.tolist(), "a": a, "b": b}, gold


def _draw_multiple_ten(sizes: tuple[int, ...]) -> DrawFn:
    """*MultipleTen: exactly one zero-mod-10 subset of a size in ``sizes``, drawn exactly via residues."""

    def draw(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
        n = _length(rng, ctx, ref["l"] if ref else None)
        residues = sample_residues(rng, n, sizes, ctx.pool.residue_weights, ctx.lengths[1])
        if residues is None:
            return None
        values = np.array(ctx.pool.draw_residues(rng, residues), dtype=np.int64)
        if len(sizes) == 1:
            sums = values[combos(n, sizes[0])].sum(axis=1)
            gold = _first_combo(values, sizes[0], sums % 10 == 0)
        else:
            srt, all_sums = _sorted_4to6(values)
            gold = _first_sorted_subset(srt, all_sums, lambda s: s % 10 == 0)
        return {"l": values.tolist()}, gold

    return draw


def _draw_tsp(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """TSP: a symmetric zero-diagonal matrix with exactly two optimal directed tours."""
    n = int(ref["n"]) if ref else int(rng.integers(ctx.lengths[0], ctx.lengths[1] + 1))
    upper = ctx.pool.draw(rng, n * (n - 1) // 2)
    d = np.zeros((n, n), dtype=np.int64)
    d[np.triu_indices(n, 1)] = upper
    d = d + d.T
    sol = solve_tsp(d)
    if sol.n_optimal != 2:
        return None
    return {"n": n, "D": d.tolist()}, sol.tour


def _draw_lis(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """LIS: longer than 1; fixed mode also needs a unique LIS value sequence (quirk Q1)."""
    values = ctx.pool.draw(rng, _length(rng, ctx, ref["l"] if ref else None))
    gold = paper_lis(values)
    if len(gold) < 2 or (ctx.mode == "fixed" and len(all_lis(values)) != 1):
        return None
    return {"l": values}, gold


def _lce_runs(values: list[int]) -> tuple[int, int]:
    """(length of the longest consecutive run, how many runs have that length)."""
    nums = sorted(set(values))
    lengths, cur = [], 1
    for x, y in zip(nums, nums[1:]):
        if y == x + 1:
            cur += 1
        else:
            lengths.append(cur)
            cur = 1
    lengths.append(cur)
    top = max(lengths)
    return top, lengths.count(top)


def _draw_lce(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """LCE: a planted run of m consecutive values (ID: m uniform in [2, max(2, n // 2)]; OOD: the paired
    ID answer length) shuffled among random fill; fixed mode needs a unique longest run (quirk Q1)."""
    n = _length(rng, ctx, ref["l"] if ref else None)
    m = _lce_runs(ref["l"])[0] if ref else int(rng.integers(2, max(2, n // 2) + 1))
    starts = ctx.pool.run_starts(m)
    if m > n or not starts.size:
        return None
    start = int(rng.choice(starts))
    values = [int(v) for v in rng.permutation(list(range(start, start + m)) + ctx.pool.draw(rng, n - m))]
    top, ties = _lce_runs(values)
    if top < 2 or (ctx.mode == "fixed" and ties != 1) or (ref is not None and top != m):
        return None
    return {"l": values}, paper_lce(values)


def _draw_lcs(rng: np.random.Generator, ctx: DrawContext, ref: Data | None) -> Drawn:
    """LCS: row 2 takes each element 50/50 from row 1 at the same index or a fresh value; unique LCS."""
    n1 = _length(rng, ctx, ref["l1"] if ref else None)
    n2 = _length(rng, ctx, ref["l2"] if ref else None)
    row1 = ctx.pool.draw(rng, n1)
    fresh = ctx.pool.draw(rng, n2)
    coin = rng.integers(0, 2, n2)
    row2 = [row1[i] if i < n1 and coin[i] else fresh[i] for i in range(n2)]
    gold = paper_lcs(row1, row2)
    if not gold or len({tuple(x) for x in _all_lcs_fast(row1, row2, len(gold))}) != 1:
        return None
    return {"l1": row1, "l2": row2}, gold


def _all_lcs_fast(row1: list[int], row2: list[int], top: int) -> list[list[int]]:
    """Every common subarray of length ``top`` (as value lists), via the DP table."""
    out = []
    prev = [0] * (len(row2) + 1)
    for i in range(1, len(row1) + 1):
        cur = [0] * (len(row2) + 1)
        for j in range(1, len(row2) + 1):
            if row1[i - 1] == row2[j - 1]:
                cur[j] = prev[j - 1] + 1
                if cur[j] == top:
                    out.append(row1[i - top : i])
        prev = cur
    return out


DRAW: dict[str, DrawFn] = {
    "find_minimum": _draw_plain(min),
    "find_maximum": _draw_plain(max),
    "find_mode": _draw_mode,
    "find_topk": _draw_topk,
    "sort_numbers": _draw_plain(sorted),
    "remove_duplicate_numbers": _draw_dedup,
    "two_sum": _draw_ksum(2),
    "three_sum": _draw_ksum(3),
    "three_sum_in_range": _draw_in_range(3),
    "three_sum_multiple_ten": _draw_multiple_ten((3,)),
    "four_sum": _draw_ksum(4),
    "four_sum_in_range": _draw_in_range(4),
    "four_sum_multiple_ten": _draw_multiple_ten((4,)),
    "subset_sum": _draw_subset_sum,
    "subset_sum_in_range": _draw_subset_in_range,
    "subset_sum_multiple_ten": _draw_multiple_ten((4, 5, 6)),
    "tsp": _draw_tsp,
    "longest_increasing_subsequence": _draw_lis,
    "longest_consecutive_elements": _draw_lce,
    "longest_common_subarray": _draw_lcs,
}
