"""Host-side packing of scoring sequences into a small, fixed set of batch shapes.

A *sequence* is one scoring unit: token ids ``whole`` whose inputs are ``whole[:-1]``, targets
``whole[1:]``, and whose last ``num_scored`` targets are scored. Sequences are packed several to a row
(one segment each, positions restarting at 0, segment 0 = padding) by first-fit decreasing into rows of
a few *bucket* lengths, and rows are grouped into batches of a fixed row count per bucket (~max_tokens
tokens; the last batch is padded with empty rows). Only scored positions go through the LM head, in
``C = T / d`` slots per row with ``d`` from a short ladder (32, 16, 8, 4, 2, 1) picked per bucket from the
scored share of its sequences. A batch shape is (rows, T, max segments, C), so one call compiles at
most one shape per bucket, whatever the dataset size.

Buckets are chosen once, from the length distribution of the first call (the row lengths, multiples of
64 capped at the model context, that minimise tokens x row length); they are sticky afterwards, and a
later sequence longer than every bucket adds one new top bucket (at least double the old one), so shapes
stay bounded across calls too. Empty rows of a bucket's last batch, and gaps in its rows, are filled with
shorter sequences from smaller buckets before those are packed (free: those slots are computed anyway),
which keeps padding small. Packing is a pure function of the sequences (ties broken by index), so equal
inputs give equal batches.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class PackItem:
    """One sequence to score: ids ``whole`` (len >= 2); the last ``num_scored`` targets are scored."""

    whole: np.ndarray
    num_scored: int

    @property
    def length(self) -> int:
        """Row slots the sequence takes: its input length."""
        return len(self.whole) - 1


@dataclasses.dataclass(frozen=True)
class Batch:
    """One device batch: ``[R, T]`` rows, ``[R, C]`` scored slots, and the item in each ``[R, S]`` segment slot.

    Only the ``C`` scored positions of a row go through the LM head, so ``C`` (a fixed fraction of ``T``
    chosen per bucket from the scored share of its sequences) bounds the head's cost.
    """

    tokens: np.ndarray  # [R, T] int32 inputs
    positions: np.ndarray  # [R, T] int32, restarting at 0 per segment
    segment_ids: np.ndarray  # [R, T] int32, 1..S per row, 0 = padding
    score_index: np.ndarray  # [R, C] int32 row position whose next-token prediction is scored
    score_target: np.ndarray  # [R, C] int32 the token it should predict
    score_segment: np.ndarray  # [R, C] int32 its segment id, 0 = unused slot
    items: np.ndarray  # [R, S] int64 item index in segment slot s (segment id s + 1), -1 = empty
    real_tokens: int

    @property
    def shape_key(self) -> tuple[int, int, int, int]:
        """(rows, length, max segments, scored slots): what a compilation depends on."""
        return (*self.tokens.shape, self.items.shape[1], self.score_index.shape[1])


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def choose_buckets(
    lengths: Sequence[int], num_buckets: int, max_len: int, multiple: int = 64
) -> tuple[int, ...]:
    """At most ``num_buckets`` row lengths (multiples of ``multiple``, the largest capped at ``max_len``)
    minimising the total of tokens x row length over the sequences, each in the smallest bucket that fits.

    Tokens x row length is what packed rows spend beyond the per-token work: attention over the row and,
    for sequences shorter than their bucket, the share of the row they leave to others. A small
    dynamic programme over the rounded lengths finds the exact optimum.
    """
    if not len(lengths):
        return ()
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.max() > max_len:
        raise ValueError(f"sequence of length {lengths.max()} exceeds the model context {max_len}")
    rounded = np.minimum(max_len, -(-lengths // multiple) * multiple)
    cands = np.unique(rounded)  # candidate bucket lengths, ascending; the last one is required
    mass = np.array([lengths[rounded == c].sum() for c in cands], dtype=np.float64)
    prefix = np.concatenate([[0.0], np.cumsum(mass)])
    m, k = len(cands), min(max(1, num_buckets), len(cands))
    # best[j][i]: least cost covering candidates 0..i with j+1 buckets, the highest being cands[i].
    best = np.full((k, m), np.inf)
    back = np.zeros((k, m), dtype=np.int64)
    best[0] = prefix[1:] * cands
    for j in range(1, k):
        for i in range(j, m):
            costs = best[j - 1, j - 1 : i] + (prefix[i + 1] - prefix[j : i + 1]) * cands[i]
            back[j, i] = j - 1 + int(np.argmin(costs))
            best[j, i] = costs.min()
    j = int(np.argmin(best[:, m - 1]))
    picks, i = [], m - 1
    while True:
        picks.append(int(cands[i]))
        if j == 0:
            break
        i, j = int(back[j, i]), j - 1
    return tuple(sorted(picks))


class Packer:
    """Packs :class:`PackItem` lists into :class:`Batch` es of a few fixed shapes (see module docstring).

    ``row_multiple`` is the number of batch shards (rows per batch is a multiple of it);
    ``max_segments`` caps segments per row, so the per-segment outputs have a fixed width;
    ``score_divisors`` are the allowed ``T / C`` ratios of row length to scored slots.
    """

    def __init__(
        self,
        max_len: int,
        max_tokens: int,
        max_rows: int,
        num_buckets: int,
        row_multiple: int = 1,
        length_multiple: int = 64,
        max_segments: int = 64,
        score_divisors: tuple[int, ...] = (32, 16, 8, 4, 2, 1),
        score_headroom: float = 2.0,
    ):
        self.max_len = int(max_len)
        self.max_tokens = int(max_tokens)
        self.max_rows = int(max_rows)
        self.num_buckets = max(1, int(num_buckets))
        self.row_multiple = max(1, int(row_multiple))
        self.length_multiple = int(length_multiple)
        self.max_segments = int(max_segments)
        self.score_divisors = tuple(sorted(set(score_divisors) | {1}, reverse=True))
        self.score_headroom = float(score_headroom)
        self.buckets: tuple[int, ...] = ()

    def rows_per_batch(self, length: int) -> int:
        """Rows of one batch of row length ``length``: ~max_tokens tokens, a multiple of row_multiple."""
        rows = min(self.max_rows, max(1, self.max_tokens // length))
        return max(self.row_multiple, rows // self.row_multiple * self.row_multiple)

    def segments_per_row(self, length: int) -> int:
        return min(self.max_segments, length)

    def score_slots(self, length: int, scored: np.ndarray, sizes: np.ndarray) -> int:
        """Scored slots per row of ``length``: the smallest ``length / d`` that holds the longest scored
        run and ``score_headroom`` times the scored share of the sequences (``scored`` of ``sizes``)."""
        need = int(scored.max(initial=1))
        share = float(scored.sum()) / max(1, int(sizes.sum()))
        for d in self.score_divisors:
            slots = -(-length // d)
            if slots >= need and slots >= self.score_headroom * share * length:
                return slots
        return length

    def update_buckets(self, lengths: Sequence[int]) -> tuple[int, ...]:
        """Choose buckets on first use; later, add one top bucket only if a sequence exceeds them all."""
        if not len(lengths):
            return self.buckets
        longest = int(max(lengths))
        if longest > self.max_len:
            raise ValueError(f"sequence of length {longest} exceeds the model context {self.max_len}")
        if not self.buckets:
            self.buckets = choose_buckets(lengths, self.num_buckets, self.max_len, self.length_multiple)
        elif longest > self.buckets[-1]:
            top = max(round_up(longest, self.length_multiple), 2 * self.buckets[-1])
            self.buckets = (*self.buckets, min(self.max_len, top))
        return self.buckets

    def pack(self, items: Sequence[PackItem]) -> list[Batch]:
        """Batches holding every item exactly once (items with no scored tokens included)."""
        return [batch for plan in self.plan(items) for batch in plan.batches(items)]

    def plan(self, items: Sequence[PackItem]) -> list[BucketPlan]:
        """Which item goes in which row of which bucket; arrays are built later by ``BucketPlan.batches``.

        Every shape is known once this returns, so callers can compile them all before the first batch.
        """
        if not items:
            return []
        lengths = np.array([it.length for it in items], dtype=np.int64)
        scored = np.array([it.num_scored for it in items], dtype=np.int64)
        if lengths.min() < 1 or (scored > lengths).any() or scored.min() < 0:
            raise ValueError("every packed sequence needs two tokens and at most its length scored")
        buckets = self.update_buckets(lengths.tolist())
        home = np.searchsorted(np.asarray(buckets), lengths)  # smallest bucket that fits
        # Longest first, ties by index: first-fit decreasing, deterministic.
        order = np.lexsort((np.arange(len(items)), -lengths))
        placed = np.zeros(len(items), dtype=bool)
        plans = []
        for b in range(len(buckets) - 1, -1, -1):
            mine = order[(home[order] == b) & ~placed[order]]
            if not len(mine):
                continue
            length = buckets[b]
            slots = self.score_slots(length, scored[mine], lengths[mine])
            rows = _RowSet(len(items), length, self.segments_per_row(length), slots)
            for i in mine:
                rows.place(int(i), int(lengths[i]), int(scored[i]), new_row=True)
                placed[i] = True
            per_batch = self.rows_per_batch(length)
            rows.add_empty(round_up(rows.count, per_batch) - rows.count)
            for i in order[(home[order] < b) & ~placed[order]]:
                if rows.place(int(i), int(lengths[i]), int(scored[i]), new_row=False):
                    placed[i] = True
            plans.append(BucketPlan(rows, per_batch))
        return plans


@dataclasses.dataclass(frozen=True)
class BucketPlan:
    """The packed rows of one bucket, cut into batches of ``rows_per_batch`` rows."""

    rows: _RowSet
    rows_per_batch: int

    @property
    def shape_key(self) -> tuple[int, int, int, int]:
        """(rows, length, max segments, scored slots) of every batch of this bucket."""
        return (self.rows_per_batch, self.rows.length, self.rows.seg_cap, self.rows.score_cap)

    def batches(self, items: Sequence[PackItem]) -> Iterator[Batch]:
        """The batches' arrays, each built only when consumed."""
        for start in range(0, self.rows.count, self.rows_per_batch):
            yield _build_batch(items, self.rows, start, self.rows_per_batch)


class _RowSet:
    """Rows of one bucket under first-fit: free slots, segments and scored slots kept in numpy."""

    def __init__(self, capacity: int, length: int, seg_cap: int, score_cap: int):
        self.free = np.zeros(capacity, dtype=np.int64)
        self.segs = np.zeros(capacity, dtype=np.int64)
        self.score_free = np.zeros(capacity, dtype=np.int64)
        self.members: list[list[int]] = []
        self.length, self.seg_cap, self.score_cap = length, seg_cap, score_cap

    @property
    def count(self) -> int:
        return len(self.members)

    def add_empty(self, n: int) -> None:
        for _ in range(n):
            self._new_row()

    def _new_row(self) -> int:
        r = len(self.members)
        if r == len(self.free):
            grow = [np.zeros_like(self.free)]
            self.free, self.segs, self.score_free = (
                np.concatenate([a, *grow]) for a in (self.free, self.segs, self.score_free)
            )
        self.members.append([])
        self.free[r], self.score_free[r] = self.length, self.score_cap
        return r

    def place(self, item: int, size: int, scored: int, new_row: bool) -> bool:
        """First row with room for ``size`` slots, ``scored`` scored slots and a segment; else a new row."""
        n = self.count
        fits = (self.free[:n] >= size) & (self.score_free[:n] >= scored) & (self.segs[:n] < self.seg_cap)
        r = int(np.argmax(fits)) if n and fits.any() else -1
        if r < 0:
            if not new_row:
                return False
            r = self._new_row()
        self.members[r].append(item)
        self.free[r] -= size
        self.score_free[r] -= scored
        self.segs[r] += 1
        return True


def _build_batch(items: Sequence[PackItem], rows: _RowSet, start: int, rows_per_batch: int) -> Batch:
    """Arrays of rows ``start : start + rows_per_batch`` of a bucket."""
    shape, score_shape = (rows_per_batch, rows.length), (rows_per_batch, rows.score_cap)
    tokens, positions, segment_ids = (np.zeros(shape, np.int32) for _ in range(3))
    score_index, score_target, score_segment = (np.zeros(score_shape, np.int32) for _ in range(3))
    slots = np.full((rows_per_batch, rows.seg_cap), -1, np.int64)
    real = 0
    for r, members in enumerate(rows.members[start : start + rows_per_batch]):
        at = k = 0
        for s, i in enumerate(members):
            whole, n, m = items[i].whole, len(items[i].whole) - 1, items[i].num_scored
            tokens[r, at : at + n] = whole[:-1]
            positions[r, at : at + n] = np.arange(n)
            segment_ids[r, at : at + n] = s + 1
            score_index[r, k : k + m] = np.arange(at + n - m, at + n)
            score_target[r, k : k + m] = whole[n + 1 - m :]
            score_segment[r, k : k + m] = s + 1
            slots[r, s] = i
            at, k = at + n, k + m
        real += at
    return Batch(tokens, positions, segment_ids, score_index, score_target, score_segment, slots, real)


def padding_fraction(batches: Sequence[Batch]) -> float:
    """Share of token slots in ``batches`` that carry no data."""
    total = sum(math.prod(b.tokens.shape) for b in batches)
    return 1.0 - sum(b.real_tokens for b in batches) / total if total else 0.0
