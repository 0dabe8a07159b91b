"""Host-side packing of scoring sequences into a small, fixed set of batch shapes.

A *sequence* is one scoring unit: token ids ``whole`` whose inputs are ``whole[:-1]``, targets
``whole[1:]``, and whose last ``num_scored`` targets are scored. Sequences are packed several to a row
(one segment each, positions restarting at 0, segment 0 = padding; shared prefixes below) by first-fit decreasing into rows of
a few *bucket* lengths, and rows are grouped into batches of a fixed row count per bucket (~max_tokens
tokens; the last batch is padded with empty rows). Only scored positions go through the LM head, in
``C = f T`` slots per row with ``f`` from a short ladder (1/32 ... 1) picked per bucket from the
scored share of its sequences. A batch shape is (rows, T, max segments, C), so one call compiles at
most one shape per bucket, whatever the dataset size.

Buckets are chosen once, from the length distribution of the first call (the row lengths, multiples of
64 capped at the model context, that minimise tokens x row length); they are sticky afterwards, and a
later sequence longer than every bucket adds one new top bucket (at least double the old one), so shapes
stay bounded across calls too. Empty rows of a bucket's last batch, and gaps in its rows, are filled with
shorter sequences from smaller buckets before those are packed (free: those slots are computed anyway),
which keeps padding small. Packing is a pure function of the sequences (ties broken by index), so equal
inputs give equal batches.

With ``share_prefixes``, sequences that begin with the same shared context (``PackItem.shared``: the
choices of a multiple-choice question) are packed as one :class:`Unit`: their longest common input
prefix is laid out once as its own segment, each sequence's remaining inputs follow as a segment whose
positions continue the prefix's and which also attends to it (``Batch.prefix_segments``). A scored
target whose input lies in the prefix is read from the prefix's hidden state. The attention each token
sees, and so every log-likelihood, is that of the sequence alone; the prefix is computed once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class PackItem:
    """One sequence to score: ids ``whole`` (len >= 2); the last ``num_scored`` targets are scored.

    ``shared``: the first ``shared`` ids are a context that other items beginning with the same ids
    (the choices of one multiple-choice question) may share; 0 = never shared.
    """

    whole: np.ndarray
    num_scored: int
    shared: int = 0

    @property
    def length(self) -> int:
        """Row slots the sequence takes alone: its input length."""
        return len(self.whole) - 1


@dataclasses.dataclass(frozen=True)
class Unit:
    """What the packer places in a row: one item (``prefix`` 0), or several items whose first ``prefix``
    input tokens are equal, laid out once as a prefix segment that each item's own segment continues."""

    members: tuple[int, ...]
    prefix: int
    length: int  # row slots
    scored: int  # scored slots
    segments: int  # segment ids it uses


def make_units(items: Sequence[PackItem], share: bool, max_len: int, max_segments: int) -> list[Unit]:
    """One unit per item, or with ``share`` one unit per run of items with the same shared context.

    Items are grouped by their ``whole[:shared]`` (first appearance order) and, in index order, joined
    to the current unit while it fits a row of ``max_len`` (at most as many scored slots and segments
    as slots, segments <= ``max_segments``); the prefix is the longest common input prefix of the unit.
    Deterministic, so every process builds the same units.
    """
    groups: dict[tuple[int, bytes], list[int]] = {}
    alone: list[list[int]] = []
    for i, it in enumerate(items):
        if share and it.shared > 0:
            groups.setdefault((it.shared, it.whole[: it.shared].tobytes()), []).append(i)
        else:
            alone.append([i])
    units = []
    for members in sorted([*alone, *groups.values()]):
        units.extend(_split_group(items, members, max_len, max_segments))
    return units


def _single(items: Sequence[PackItem], i: int) -> Unit:
    return Unit((i,), 0, items[i].length, items[i].num_scored, 1)


def _split_group(
    items: Sequence[PackItem], members: list[int], max_len: int, max_segments: int
) -> list[Unit]:
    """Units of consecutive ``members`` sharing their longest common input prefix, each fitting a row."""
    units: list[Unit] = []
    current: Unit | None = None
    for i in members:
        grown = None if current is None else _grow(items, current, i)
        fits = grown is not None and (
            grown.length <= max_len
            and grown.scored <= grown.length
            and grown.segments <= min(max_segments, grown.length)
        )
        if fits:
            current = grown
        else:
            if current is not None:
                units.append(current)
            current = _single(items, i)
    if current is not None:
        units.append(current)
    return units


def _grow(items: Sequence[PackItem], unit: Unit, i: int) -> Unit | None:
    """``unit`` with item ``i`` added, its prefix cut to the longest input prefix all members share
    (None when they share nothing)."""
    first = items[unit.members[0]].whole
    limit = min(len(first), len(items[i].whole)) - 1
    if unit.prefix:
        limit = min(limit, unit.prefix)
    differ = np.flatnonzero(first[:limit] != items[i].whole[:limit])
    prefix = int(differ[0]) if len(differ) else limit
    if prefix == 0:
        return None
    members = (*unit.members, i)
    length = prefix + sum(items[j].length - prefix for j in members)
    scored = sum(items[j].num_scored for j in members)
    return Unit(members, prefix, length, scored, 1 + len(members))


@dataclasses.dataclass(frozen=True)
class Batch:
    """One device batch: ``[R, T]`` rows, ``[R, C]`` scored slots, and the item in each ``[R, S]`` segment slot.

    Only the ``C`` scored positions of a row go through the LM head, so ``C`` (a fixed fraction of ``T``
    chosen per bucket from the scored share of its sequences) bounds the head's cost.
    """

    tokens: np.ndarray  # [R, T] int32 inputs
    positions: np.ndarray  # [R, T] int32, from 0 per segment (a shared prefix's continuations go on from it)
    segment_ids: np.ndarray  # [R, T] int32, 1..S per row, 0 = padding
    prefix_segments: np.ndarray  # [R, T] int32 shared-prefix segment a segment continues, 0 = none
    score_index: np.ndarray  # [R, C] int32 row position whose next-token prediction is scored
    score_target: np.ndarray  # [R, C] int32 the token it should predict
    score_segment: np.ndarray  # [R, C] int32 its segment id, 0 = unused slot
    items: np.ndarray  # [R, S] int64 item index in segment slot s (segment id s + 1), -1 = empty or a prefix
    real_tokens: int

    @property
    def shape_key(self) -> tuple[int, int, int, int]:
        """(rows, length, max segments, scored slots): what a compilation depends on."""
        return (*self.tokens.shape, self.items.shape[1], self.score_index.shape[1])


# Scored slots per row as a share of its length: a short ladder, so a bucket compiles few shapes across
# calls, finer near the shares of multiple-choice rows whose contexts are shared (25-50%).
SCORE_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1.0)


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
    ``score_fractions`` are the allowed ``C / T`` ratios of scored slots to row length;
    ``share_prefixes`` lays out the shared context of items (``PackItem.shared``) once per row.
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
        score_fractions: tuple[float, ...] = SCORE_FRACTIONS,
        score_headroom: float = 1.5,
        share_prefixes: bool = False,
    ):
        self.max_len = int(max_len)
        self.max_tokens = int(max_tokens)
        self.max_rows = int(max_rows)
        self.num_buckets = max(1, int(num_buckets))
        self.row_multiple = max(1, int(row_multiple))
        self.length_multiple = int(length_multiple)
        self.max_segments = int(max_segments)
        self.score_fractions = tuple(sorted(set(score_fractions) | {1.0}))
        self.score_headroom = float(score_headroom)
        self.share_prefixes = bool(share_prefixes)
        self.buckets: tuple[int, ...] = ()

    def rows_per_batch(self, length: int) -> int:
        """Rows of one batch of row length ``length``: ~max_tokens tokens, a multiple of row_multiple."""
        rows = min(self.max_rows, max(1, self.max_tokens // length))
        return max(self.row_multiple, rows // self.row_multiple * self.row_multiple)

    def segments_per_row(self, length: int) -> int:
        return min(self.max_segments, length)

    def score_slots(self, length: int, scored: np.ndarray, sizes: np.ndarray) -> int:
        """Scored slots per row of ``length``: the smallest ``f * length`` that holds the longest scored
        run and ``score_headroom`` times the scored share of the sequences (``scored`` of ``sizes``)."""
        need = int(scored.max(initial=1))
        share = float(scored.sum()) / max(1, int(sizes.sum()))
        for f in self.score_fractions:
            slots = math.ceil(f * length)
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
        for it in items:
            if it.length < 1 or not 0 <= it.num_scored <= it.length or not 0 <= it.shared <= it.length:
                raise ValueError(
                    "every packed sequence needs two tokens and at most its length scored or shared"
                )
        units = make_units(items, self.share_prefixes, self.max_len, self.max_segments)
        lengths = np.array([u.length for u in units], dtype=np.int64)
        scored = np.array([u.scored for u in units], dtype=np.int64)
        segments = np.array([u.segments for u in units], dtype=np.int64)
        buckets = self.update_buckets(lengths.tolist())
        home = np.searchsorted(np.asarray(buckets), lengths)  # smallest bucket that fits
        # Longest first, ties by index: first-fit decreasing, deterministic.
        order = np.lexsort((np.arange(len(units)), -lengths))
        placed = np.zeros(len(units), dtype=bool)
        plans = []
        for b in range(len(buckets) - 1, -1, -1):
            mine = order[(home[order] == b) & ~placed[order]]
            if not len(mine):
                continue
            length = buckets[b]
            slots = self.score_slots(length, scored[mine], lengths[mine])
            rows = _RowSet(len(units), length, self.segments_per_row(length), slots)
            for u in mine:
                rows.place(int(u), int(lengths[u]), int(scored[u]), int(segments[u]), new_row=True)
                placed[u] = True
            per_batch = self.rows_per_batch(length)
            rows.add_empty(round_up(rows.count, per_batch) - rows.count)
            for u in order[(home[order] < b) & ~placed[order]]:
                if rows.place(int(u), int(lengths[u]), int(scored[u]), int(segments[u]), new_row=False):
                    placed[u] = True
            plans.append(BucketPlan(rows, per_batch, units))
        return plans


@dataclasses.dataclass(frozen=True)
class BucketPlan:
    """The packed rows of one bucket, cut into batches of ``rows_per_batch`` rows."""

    rows: _RowSet
    rows_per_batch: int
    units: Sequence[Unit]

    @property
    def shape_key(self) -> tuple[int, int, int, int]:
        """(rows, length, max segments, scored slots) of every batch of this bucket."""
        return (self.rows_per_batch, self.rows.length, self.rows.seg_cap, self.rows.score_cap)

    def batches(self, items: Sequence[PackItem]) -> Iterator[Batch]:
        """The batches' arrays, each built only when consumed."""
        for start in range(0, self.rows.count, self.rows_per_batch):
            yield _build_batch(items, self.units, self.rows, start, self.rows_per_batch)


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

    def place(self, unit: int, size: int, scored: int, segments: int, new_row: bool) -> bool:
        """First row with room for ``size`` slots, ``scored`` scored slots and ``segments`` segments; else
        a new row."""
        n = self.count
        fits = (
            (self.free[:n] >= size)
            & (self.score_free[:n] >= scored)
            & (self.segs[:n] + segments <= self.seg_cap)
        )
        r = int(np.argmax(fits)) if n and fits.any() else -1
        if r < 0:
            if not new_row:
                return False
            r = self._new_row()
        self.members[r].append(unit)
        self.free[r] -= size
        self.score_free[r] -= scored
        self.segs[r] += segments
        return True


def _build_batch(
    items: Sequence[PackItem], units: Sequence[Unit], rows: _RowSet, start: int, rows_per_batch: int
) -> Batch:
    """Arrays of rows ``start : start + rows_per_batch`` of a bucket."""
    shape, score_shape = (rows_per_batch, rows.length), (rows_per_batch, rows.score_cap)
    tokens, positions, segment_ids, prefix_segments = (np.zeros(shape, np.int32) for _ in range(4))
    score_index, score_target, score_segment = (np.zeros(score_shape, np.int32) for _ in range(3))
    slots = np.full((rows_per_batch, rows.seg_cap), -1, np.int64)
    real = 0
    for r, members in enumerate(rows.members[start : start + rows_per_batch]):
        at = k = s = 0  # next row slot, scored slot, segment slot
        for unit in (units[u] for u in members):
            c, base, parent = unit.prefix, at, 0
            if c:  # the shared prefix: its own segment, owned by no item
                tokens[r, at : at + c] = items[unit.members[0]].whole[:c]
                positions[r, at : at + c] = np.arange(c)
                segment_ids[r, at : at + c] = parent = s + 1
                at, s = at + c, s + 1
            for i in unit.members:
                whole, n, m = items[i].whole, items[i].length, items[i].num_scored
                own = n - c  # input tokens after the prefix
                tokens[r, at : at + own] = whole[c:n]
                positions[r, at : at + own] = np.arange(c, n)
                segment_ids[r, at : at + own] = s + 1
                prefix_segments[r, at : at + own] = parent
                # Target t is predicted at input t: in the prefix when t < c, else in the own segment.
                targets = np.arange(n - m, n)
                score_index[r, k : k + m] = np.where(targets < c, base + targets, at + targets - c)
                score_target[r, k : k + m] = whole[targets + 1]
                score_segment[r, k : k + m] = s + 1
                slots[r, s] = i
                at, k, s = at + own, k + m, s + 1
        real += at
    return Batch(
        tokens, positions, segment_ids, prefix_segments, score_index, score_target, score_segment, slots, real
    )


def padding_fraction(batches: Sequence[Batch]) -> float:
    """Share of token slots in ``batches`` that carry no data."""
    total = sum(math.prod(b.tokens.shape) for b in batches)
    return 1.0 - sum(b.real_tokens for b in batches) / total if total else 0.0
