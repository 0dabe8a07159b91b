"""Deterministic Scylla instances: the seeded, model-independent variant of section 8.

ID lists have lengths in ``lengths`` (intersected with each task's limits) and elements uniform in
``id_range``; OOD item ``i`` keeps the *shape* of ID item ``i`` with elements from ``ood_range`` minus
``id_range`` (TSP: ``tsp_ood_range``). Every draw comes from a generator keyed by (task, split, item
index, attempt, seed) (see ``seeding``); an invalid or duplicate candidate is re-drawn with the next
attempt, at most ``MAX_ATTEMPTS`` times per item. The gold ``answer`` is the paper's *first* valid output.

Shapes kept from ID item ``i``: list lengths (both rows for LCS, ``n`` for TSP), ``k`` for FindTopk, the
duplicate pattern for RemoveDuplicateNumbers *and* FindMode (distinct ID values are relabelled to distinct
OOD values at the same positions, which also keeps the mode unique), the answer length for
LongestConsecutiveElements, and LCS row 2 takes each element 50/50 from row 1 at the same index or a
fresh value (the ID rows are built the same way from ID values).

Modes. ``paper`` reproduces the upstream acceptance rules: Q1 LIS only needs an LIS longer than 1 and
LCE allows tied runs (gold by the paper's tie-breaking); Q2 FourSumInRange takes (a, b) around a random
element of ``sorted(set(sums))``, so several quadruples may lie inside; Q3 subset uniqueness is counted
among 4-6-element subsets only. ``fixed`` requires a unique LIS / LCE value sequence and exactly one
in-range quadruple. For SubsetSumInRange / SubsetSumMultipleTen ``fixed`` keeps the paper's rule
(exactly one 4-6-element subset) and does NOT demand uniqueness over all subset sizes: the fixed-mode
verifier accepts any valid subset of any size >= 1 instead, so a second valid subset of another size is
scored correctly rather than excluded. (For MultipleTen, uniqueness over all sizes is impossible beyond 10
elements anyway: any 10 residues mod 10 contain a non-empty zero-sum subset.) All other tasks generate identical instances in both modes.

Consequence of the paper's MultipleTen rule (exact, from the enumeration in ``residues``): a list of 10 or
more elements has exactly one zero-mod-10 subset of 4-6 elements only if it holds exactly four multiples of
ten, and those four are the answer; in fixed mode any single multiple of ten is then accepted as well.

Constraints (section 2): lengths >= 2 (FindTopk, ThreeSum* >= 4; TwoSum >= 3; FourSum* >= 5), SubsetSum*
6-16 elements, TSP 4-10 cities with exactly two optimal directed tours (one tour and its reverse), unique
mode, unique 2/3/4-sum and subset-sum targets (subset of size 4-6, unique over all subsets), exactly one
zero-mod-10 triple / quadruple / 4-6-subset (drawn exactly by ``residues``), a unique LCS. Evalkit choices
where the paper's own data came from the model: RemoveDuplicateNumbers ID lists always hold a duplicate
(d distinct values, d uniform in [max(1, n // 2), n - 1]); FindMode ID lists are repaired by overwriting
elements with one of the tied modes; LCE plants a run of 2 to max(2, n // 2) consecutive values.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .draws import DRAW, LIMITS, Answer, Data, DrawContext
from .formats import format_input
from .seeding import Pool, check_range, item_rng, make_pool
from .spec import get_task

__all__ = ["LIMITS", "MAX_ATTEMPTS", "MODES", "SPLITS", "Instance", "make_instances"]

MODES: tuple[str, ...] = ("fixed", "paper")
SPLITS: tuple[str, ...] = ("id", "ood")
MAX_ATTEMPTS = 1000


@dataclass(frozen=True)
class Instance:
    """One test item: structured input, the exact input string and the paper's gold answer."""

    task: str
    split: str
    index: int
    data: Data
    input_str: str
    answer: Answer
    mode: str


# ---- driver -------------------------------------------------------------------------------------------


def _task_lengths(slug: str, lengths: tuple[int, int]) -> tuple[int, int]:
    """``lengths`` intersected with the task's own limits; ValueError if they do not overlap."""
    lo, hi = (int(x) for x in lengths)
    t_lo, t_hi = LIMITS[slug]
    lo2, hi2 = max(lo, t_lo), hi if t_hi is None else min(hi, t_hi)
    if lo > hi or lo2 > hi2:
        allowed = f"[{t_lo}, {'inf' if t_hi is None else t_hi}]"
        raise ValueError(
            f"lengths={tuple(lengths)!r} does not overlap the lengths {allowed} that {slug} allows; "
            "change lengths."
        )
    return lo2, hi2


def _generate(
    slug: str, split: str, n: int, seed: int, ctx: DrawContext, refs: tuple[Data, ...] | None, setting: str
) -> tuple[tuple[Data, str, Answer], ...]:
    """``n`` unique valid (data, input string, gold) triples for one split."""
    draw = DRAW[slug]
    out: list[tuple[Data, str, Answer]] = []
    seen: set[str] = set()
    for index in range(n):
        for attempt in range(MAX_ATTEMPTS):
            got = draw(item_rng(slug, split, index, attempt, seed), ctx, refs[index] if refs else None)
            if got is None:
                continue
            text = format_input(slug, got[0])
            if text in seen:
                continue
            seen.add(text)
            out.append((got[0], text, got[1]))
            break
        else:
            raise ValueError(
                f"Could only make {len(out)} unique valid {slug} instances for the {split} split out of the "
                f"{n} requested (item {index} failed {MAX_ATTEMPTS} attempts); widen {setting} or lower n."
            )
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _id_items(
    slug: str,
    n: int,
    seed: int,
    mode: str,
    id_range: tuple[int, int],
    lengths: tuple[int, int],
    id_values: tuple[int, ...] | None,
) -> tuple[tuple[Data, str, Answer], ...]:
    """The ID split (cached: every OOD call needs it for the shapes)."""
    pool = make_pool(id_range) if id_values is None else Pool(np.asarray(id_values, dtype=np.int64))
    ctx = DrawContext(pool, _task_lengths(slug, lengths), mode)
    setting = "id_range or lengths" if id_values is None else "the ID values (the model proposed too few)"
    return _generate(slug, "id", n, seed, ctx, None, setting)


def make_instances(
    slug: str,
    split: str,
    n: int,
    *,
    seed: int = 0,
    mode: str = "fixed",
    id_range: tuple[int, int] = (0, 99),
    ood_range: tuple[int, int] = (1000, 9999),
    tsp_ood_range: tuple[int, int] = (100, 999),
    lengths: tuple[int, int] = (4, 16),
    id_values: Sequence[int] | None = None,
) -> list[Instance]:
    """``n`` unique instances of task ``slug`` for ``split`` ("id" or "ood"); deterministic in all arguments.

    OOD item ``i`` is paired with ID item ``i`` of the same call arguments (same shape, OOD values drawn
    from ``ood_range`` -- ``tsp_ood_range`` for TSP -- minus the ID values). ``id_values`` replaces
    ``id_range`` by an explicit set of ID values (distribution probing: the numbers the model proposed).
    Raises ``ValueError`` (one sentence naming the setting to change) if ``n`` unique valid instances
    cannot be made.
    """
    get_task(slug)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    id_r = check_range("id_range", id_range)
    lens = (int(lengths[0]), int(lengths[1]))
    values = None if id_values is None else tuple(sorted({int(v) for v in id_values}))
    if values is not None and (not values or values[0] < 0):
        raise ValueError("id_values must hold at least one non-negative integer")
    ids = _id_items(slug, int(n), int(seed), mode, id_r, lens, values)
    if split == "ood":
        name, rng_range = ("tsp_ood_range", tsp_ood_range) if slug == "tsp" else ("ood_range", ood_range)
        if values is None:
            pool = make_pool(check_range(name, rng_range), id_r)
        else:
            lo, hi = check_range(name, rng_range)
            everything = np.arange(lo, hi + 1, dtype=np.int64)
            pool = Pool(everything[~np.isin(everything, np.asarray(values, dtype=np.int64))])
        if not pool.size:
            raise ValueError(
                f"{name}={tuple(rng_range)!r} has no values outside id_range={id_r!r}; change {name}."
            )
        ctx = DrawContext(pool, _task_lengths(slug, lens), mode)
        items = _generate(slug, "ood", int(n), int(seed), ctx, tuple(d for d, _, _ in ids), name)
    else:
        items = ids
    return [
        Instance(slug, split, i, copy.deepcopy(d), s, copy.deepcopy(a), mode)
        for i, (d, s, a) in enumerate(items)
    ]
