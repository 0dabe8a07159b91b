"""Exact solvers and answer checks for the 20 Scylla tasks.

* ``solve`` recomputes the gold answer the paper stores (its *first* valid output) by plain brute force
  (``itertools``), independent of the vectorised code in ``generate``; LIS / LCE / LCS follow the paper's
  own tie-breaking algorithms (``paper_lis`` / ``paper_lce`` / ``paper_lcs``).
* ``all_answers`` enumerates every answer the fixed-mode verifier accepts (for tests and analysis).
* ``verify`` is the fixed-mode verifier: it accepts *any* valid answer (quirks Q1-Q3).
* ``paper_correct`` is the paper's comparison with the single stored gold (section 9, rule 4).
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .spec import get_task
from .tsp import solve_tsp, tour_cost

Answer = int | list[int]

_FIXED_SIZE = {
    "two_sum": 2,
    "three_sum": 3,
    "four_sum": 4,
    "three_sum_in_range": 3,
    "four_sum_in_range": 4,
    "three_sum_multiple_ten": 3,
    "four_sum_multiple_ten": 4,
}
_SUBSET_TASKS = ("subset_sum", "subset_sum_in_range", "subset_sum_multiple_ten")


# ---- the paper's tie-breaking algorithms (gold = their output) --------------------------------------


def paper_lis(values: Sequence[int]) -> list[int]:
    """The paper's O(n^2) LIS: first index of the maximal dp value, first predecessor on ties."""
    n = len(values)
    if not n:
        return []
    dp, prev = [1] * n, [-1] * n
    for i in range(1, n):
        for j in range(i):
            if values[i] > values[j] and dp[i] < dp[j] + 1:
                dp[i], prev[i] = dp[j] + 1, j
    index, out = dp.index(max(dp)), []
    while index != -1:
        out.append(int(values[index]))
        index = prev[index]
    return out[::-1]


def paper_lce(values: Sequence[int]) -> list[int]:
    """The paper's longest run of consecutive values: the first maximal run in ``set`` iteration order
    (CPython's int-set order is deterministic, so ties resolve exactly as in the original)."""
    nums = {int(v) for v in values}
    best_len, best_start = 0, None
    for num in nums:
        if num - 1 not in nums:
            cur = num
            while cur + 1 in nums:
                cur += 1
            if cur - num + 1 > best_len:
                best_len, best_start = cur - num + 1, num
    return [] if best_start is None else list(range(best_start, best_start + best_len))


def paper_lcs(l1: Sequence[int], l2: Sequence[int]) -> list[int]:
    """The paper's longest common subarray: first strict improvement in row-major DP order."""
    m, n = len(l1), len(l2)
    dp = [[0] * (n + 1) for _ in range(m + 1)]
    best, end = 0, 0
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            if l1[i - 1] == l2[j - 1]:
                dp[i][j] = dp[i - 1][j - 1] + 1
                if dp[i][j] > best:
                    best, end = dp[i][j], i
    return [int(v) for v in l1[end - best : end]]


# ---- brute-force building blocks ---------------------------------------------------------------------


def all_lis(values: Sequence[int]) -> list[list[int]]:
    """Every distinct strictly increasing subsequence (as values) of maximal length."""
    vals = [int(v) for v in values]
    length: list[int] = []  # length of the longest increasing subsequence ending at i
    ends: list[set[tuple[int, ...]]] = []  # all of them, as value tuples
    for i, v in enumerate(vals):
        best, seqs = 1, {(v,)}
        for j in range(i):
            if vals[j] < v and length[j] + 1 >= best:
                extended = {t + (v,) for t in ends[j]}
                seqs = extended if length[j] + 1 > best else seqs | extended
                best = length[j] + 1
        length.append(best)
        ends.append(seqs)
    top = max(length, default=0)
    return [list(t) for t in sorted({t for e in ends for t in e if len(t) == top})]


def all_lce(values: Sequence[int]) -> list[list[int]]:
    """Every maximal-length run ``s, s+1, ..., s+m-1`` whose values all occur in the list, ascending by start."""
    nums = sorted({int(v) for v in values})
    runs, start = [], None
    for i, v in enumerate(nums):
        if start is None or v != nums[i - 1] + 1:
            start = v
        if i + 1 == len(nums) or nums[i + 1] != v + 1:
            runs.append(list(range(start, v + 1)))
    top = max((len(r) for r in runs), default=0)
    return [r for r in runs if len(r) == top]


def all_lcs(l1: Sequence[int], l2: Sequence[int]) -> list[list[int]]:
    """Every distinct contiguous common subarray of maximal length (brute force over start pairs)."""
    a, b = [int(x) for x in l1], [int(x) for x in l2]
    best: set[tuple[int, ...]] = set()
    top = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            if k and k > top:
                top, best = k, {tuple(a[i : i + k])}
            elif k and k == top:
                best.add(tuple(a[i : i + k]))
    return [list(t) for t in sorted(best)]


@functools.lru_cache(maxsize=12)
def _permutations(m: int) -> np.ndarray:
    """All permutations of ``1..m`` in ``itertools`` (lexicographic) order, as an int8 array."""
    flat = np.fromiter(itertools.chain.from_iterable(itertools.permutations(range(1, m + 1))), dtype=np.int8)
    flat.setflags(write=False)
    return flat.reshape(-1, m)


def brute_tsp(matrix: Sequence[Sequence[int]]) -> tuple[int, list[list[int]]]:
    """Optimal cost and every optimal directed tour from city 0, in permutation order (full enumeration)."""
    d = np.asarray(matrix, dtype=np.int64)
    n = d.shape[0]
    perms = _permutations(n - 1).astype(np.intp)
    zero = np.zeros((len(perms), 1), dtype=np.intp)
    tours = np.hstack([zero, perms, zero])
    costs = d[tours[:, :-1], tours[:, 1:]].sum(axis=1)
    best = int(costs.min())
    return best, [[int(c) for c in t] for t in tours[costs == best]]


def _combos_where(values: Sequence[int], r: int, ok: Any) -> list[list[int]]:
    """Values of every ``r``-combination of positions (index order) whose sum satisfies ``ok``."""
    return [
        [values[i] for i in c]
        for c in itertools.combinations(range(len(values)), r)
        if ok(sum(values[i] for i in c))
    ]


def _condition(slug: str, data: Mapping[str, Any]) -> Any:
    """The sum constraint of an order-free task as a predicate on the sum."""
    if slug.endswith("multiple_ten"):
        return lambda s: s % 10 == 0
    if slug.endswith("in_range"):
        a, b = int(data["a"]), int(data["b"])
        return lambda s: a < s < b
    k = int(data["k"])
    return lambda s: s == k


# ---- public API ----------------------------------------------------------------------------------------


def solve(slug: str, data: Mapping[str, Any]) -> Answer:
    """The gold answer the paper stores for this input (its first valid output), by brute force."""
    get_task(slug)
    if slug == "longest_common_subarray":
        return paper_lcs(data["l1"], data["l2"])
    if slug == "tsp":
        return brute_tsp(data["D"])[1][0]
    values = [int(v) for v in data["l"]]
    if slug == "find_minimum":
        return min(values)
    if slug == "find_maximum":
        return max(values)
    if slug == "find_mode":
        counts = Counter(values).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            raise ValueError(f"find_mode input has no unique mode: {values}")
        return counts[0][0]
    if slug == "find_topk":
        return sorted(values, reverse=True)[int(data["k"]) - 1]
    if slug == "sort_numbers":
        return sorted(values)
    if slug == "remove_duplicate_numbers":
        return list(dict.fromkeys(values))
    if slug == "longest_increasing_subsequence":
        return paper_lis(values)
    if slug == "longest_consecutive_elements":
        return paper_lce(values)
    ok = _condition(slug, data)
    if slug in _FIXED_SIZE:
        found = _combos_where(values, _FIXED_SIZE[slug], ok)
        if not found:
            raise ValueError(f"{slug} input has no valid answer: {dict(data)}")
        return found[0]
    if slug == "subset_sum":  # the paper's depth-first search: first index tuple in lexicographic order
        hits = [
            c
            for r in range(1, len(values) + 1)
            for c in itertools.combinations(range(len(values)), r)
            if ok(sum(values[i] for i in c))
        ]
        if not hits:
            raise ValueError(f"subset_sum input has no valid answer: {dict(data)}")
        return [values[i] for i in min(hits)]
    srt = sorted(values)  # subset_sum_in_range / _multiple_ten: sizes 4..6 over the sorted list
    for r in range(4, 7):
        for c in itertools.combinations(srt, r):
            if ok(sum(c)):
                return list(c)
    raise ValueError(f"{slug} input has no valid 4-6 element answer: {dict(data)}")


def all_answers(slug: str, data: Mapping[str, Any]) -> list[Any]:
    """Every answer ``verify`` accepts, up to order for the order-free tasks (one entry per index choice);
    TSP lists both directions of each optimal tour."""
    get_task(slug)
    if slug == "longest_common_subarray":
        return all_lcs(data["l1"], data["l2"])
    if slug == "tsp":
        return brute_tsp(data["D"])[1]
    values = [int(v) for v in data["l"]]
    if slug == "longest_increasing_subsequence":
        return all_lis(values)
    if slug == "longest_consecutive_elements":
        return all_lce(values)
    spec = get_task(slug)
    if not spec.order_free:
        return [solve(slug, data)]
    ok = _condition(slug, data)
    if slug in _FIXED_SIZE:
        return _combos_where(values, _FIXED_SIZE[slug], ok)
    return [a for r in range(1, len(values) + 1) for a in _combos_where(values, r, ok)]


def _as_int(x: Any) -> int | None:
    """``x`` as an int if it is an integer-valued number (bools excluded), else None."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return int(x)
    return None


def _as_int_list(x: Any) -> list[int] | None:
    """``x`` as a list of ints, or None if it is not a list of integer-valued numbers."""
    if not isinstance(x, (list, tuple)):
        return None
    out = [_as_int(v) for v in x]
    return None if any(v is None for v in out) else out  # type: ignore[return-value]


def _is_subsequence(sub: Sequence[int], seq: Sequence[int]) -> bool:
    """Whether ``sub`` occurs in ``seq`` in order (not necessarily contiguously)."""
    it = iter(seq)
    return all(any(x == y for y in it) for x in sub)


def _is_subarray(sub: Sequence[int], seq: Sequence[int]) -> bool:
    """Whether ``sub`` occurs contiguously in ``seq``."""
    k = len(sub)
    return any(list(seq[i : i + k]) == list(sub) for i in range(len(seq) - k + 1))


def verify(slug: str, data: Mapping[str, Any], answer: Any) -> bool:
    """Fixed-mode check: does ``answer`` solve this input? Accepts any valid answer, not only the gold."""
    spec = get_task(slug)
    if spec.answer_kind == "number":
        got = _as_int(answer)
        return got is not None and got == solve(slug, data)
    ans = _as_int_list(answer)
    if ans is None:
        return False
    if slug == "tsp":
        d = np.asarray(data["D"], dtype=np.int64)
        n = d.shape[0]
        if len(ans) != n + 1 or ans[0] != 0 or ans[-1] != 0 or sorted(ans[:-1]) != list(range(n)):
            return False
        return tour_cost(d, ans) == solve_tsp(d).cost  # Held-Karp: milliseconds, unlike brute force
    if slug == "longest_common_subarray":
        l1, l2 = [int(v) for v in data["l1"]], [int(v) for v in data["l2"]]
        top = len(paper_lcs(l1, l2))
        return len(ans) == top and _is_subarray(ans, l1) and _is_subarray(ans, l2)
    values = [int(v) for v in data["l"]]
    if slug == "longest_increasing_subsequence":
        return (
            len(ans) == len(paper_lis(values))
            and all(x < y for x, y in zip(ans, ans[1:]))
            and _is_subsequence(ans, values)
        )
    if slug == "longest_consecutive_elements":
        present = set(values)
        return (
            len(ans) == len(paper_lce(values))
            and all(y == x + 1 for x, y in zip(ans, ans[1:]))
            and all(x in present for x in ans)
        )
    if not spec.order_free:  # sort / remove duplicates: the exact list
        return ans == solve(slug, data)
    size = _FIXED_SIZE.get(slug)
    if (size is not None and len(ans) != size) or not ans:
        return False
    if Counter(ans) - Counter(values):  # not a sub-multiset of the input
        return False
    return bool(_condition(slug, data)(sum(ans)))


def paper_correct(slug: str, gold: Answer, parsed: Any) -> bool:
    """The paper's comparison of a parsed answer with the stored gold (section 9 rule 4): numbers are
    truncated to int; lists need equal length then ``allclose``, sorted for order-free tasks, and TSP also
    accepts the reversed gold. Unparseable (None) is never correct."""
    spec = get_task(slug)
    if parsed is None:
        return False
    if spec.answer_kind == "number":
        try:
            return int(float(parsed)) == int(float(gold))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return False
    if not isinstance(parsed, list) or not isinstance(gold, list) or len(parsed) != len(gold):
        return False
    try:
        got = np.array(parsed, dtype=float)
        want = np.array(gold, dtype=float)
    except (TypeError, ValueError):
        return False
    if got.shape != want.shape:
        return False
    if spec.order_free:
        got, want = np.sort(got), np.sort(want)
    if spec.is_tour:
        return bool(np.allclose(got, want) or np.allclose(got, want[::-1]))
    return bool(np.allclose(got, want))
