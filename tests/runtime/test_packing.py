"""Packing: every sequence lands once, segments are laid out right, shapes stay few, padding stays small."""

import numpy as np
import pytest

from evalkit.runtime.packing import Packer, PackItem, choose_buckets, make_units, padding_fraction


def make_items(n: int, seed: int = 0, lo: int = 2, hi: int = 300, max_scored: int = 8) -> list[PackItem]:
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(np.log(lo), np.log(hi), n)).astype(int)
    return [
        PackItem(
            rng.integers(0, 1000, length + 1).astype(np.int32),
            int(rng.integers(1, min(max_scored, length) + 1)),
        )
        for length in lengths
    ]


def unpack(batches, n):
    """Rebuild each item's (inputs, scored targets) from the batches; check the layout on the way."""
    found = {}
    for b in batches:
        rows, length, segments, slots = b.shape_key
        for r in range(rows):
            ids = b.items[r]
            for s in range(segments):
                where = np.nonzero(b.segment_ids[r] == s + 1)[0]
                if ids[s] < 0:
                    assert not len(where)
                    continue
                assert ids[s] not in found, "item packed twice"
                assert np.array_equal(where, np.arange(where[0], where[0] + len(where))), (
                    "segment not contiguous"
                )
                assert np.array_equal(b.positions[r, where], np.arange(len(where))), (
                    "positions must restart at 0"
                )
                scored = b.score_segment[r] == s + 1
                assert np.all(np.isin(b.score_index[r, scored], where))
                found[int(ids[s])] = (
                    b.tokens[r, where],
                    b.score_target[r, scored],
                    b.score_index[r, scored] - where[0],
                )
            assert (b.segment_ids[r][b.segment_ids[r] > 0] <= segments).all()
    assert sorted(found) == list(range(n)), "every item exactly once"
    return found


def test_choose_buckets_quantiles_multiples_and_cap():
    lengths = list(range(1, 1001))
    buckets = choose_buckets(lengths, 4, max_len=2048)
    assert len(buckets) <= 4 and buckets == tuple(sorted(buckets))
    assert all(b % 64 == 0 for b in buckets) and buckets[-1] == 1024
    assert choose_buckets([700, 900], 4, max_len=900) == (704, 900)  # capped at the context
    assert choose_buckets([], 4, 100) == ()
    with pytest.raises(ValueError, match="exceeds"):
        choose_buckets([101], 4, max_len=100)


def test_pack_layout_roundtrip_and_determinism():
    items = make_items(300)
    packer = Packer(max_len=512, max_tokens=2048, max_rows=64, num_buckets=3, row_multiple=4)
    batches = packer.pack(items)
    found = unpack(batches, len(items))
    for i, item in enumerate(items):
        inputs, targets, offsets = found[i]
        assert np.array_equal(inputs, item.whole[:-1])
        assert np.array_equal(targets, item.whole[-item.num_scored :])
        assert np.array_equal(offsets, np.arange(item.length - item.num_scored, item.length))
    assert all(b.tokens.shape[0] % 4 == 0 for b in batches)
    assert sum(b.real_tokens for b in batches) == sum(it.length for it in items)
    again = Packer(max_len=512, max_tokens=2048, max_rows=64, num_buckets=3, row_multiple=4).pack(items)
    assert all(
        np.array_equal(a.tokens, b.tokens) and np.array_equal(a.items, b.items)
        for a, b in zip(batches, again)
    )


def test_shape_count_bounded_and_padding_small():
    for n in (50, 400, 3000):
        packer = Packer(max_len=512, max_tokens=4096, max_rows=64, num_buckets=4)
        batches = packer.pack(make_items(n, seed=n))
        assert len({b.shape_key for b in batches}) <= 4
        if n == 3000:
            assert padding_fraction(batches) < 0.06


def test_segment_cap_and_dense_scoring():
    # Many 3-token sequences, all tokens scored: rows fill by the segment cap and score slots span the row.
    items = [PackItem(np.arange(4, dtype=np.int32), 3) for _ in range(40)]
    packer = Packer(max_len=64, max_tokens=128, max_rows=8, num_buckets=2, max_segments=8)
    batches = packer.pack(items)
    unpack(batches, len(items))
    assert all(b.items.shape[1] == 8 and b.score_index.shape[1] == b.tokens.shape[1] for b in batches)


def test_sticky_buckets_grow_only_for_longer_sequences():
    packer = Packer(max_len=1024, max_tokens=2048, max_rows=64, num_buckets=2)
    packer.pack(make_items(100, hi=200))
    first = packer.buckets
    packer.pack(make_items(100, seed=1, hi=150))
    assert packer.buckets == first
    packer.pack([PackItem(np.zeros(600, np.int32), 1)])
    assert packer.buckets[:-1] == first and packer.buckets[-1] >= 599
    with pytest.raises(ValueError, match="exceeds"):
        packer.pack([PackItem(np.zeros(1100, np.int32), 1)])


def test_score_slots_follow_the_scored_share():
    packer = Packer(max_len=512, max_tokens=2048, max_rows=64, num_buckets=1)
    sizes = np.full(10, 100)
    assert packer.score_slots(512, np.full(10, 2), sizes) == 16  # 2% x 1.5 headroom: T / 32
    assert packer.score_slots(512, np.full(10, 5), sizes) == 64  # 5% x 1.5: T / 8
    assert packer.score_slots(512, np.full(10, 15), sizes) == 128  # 15% x 1.5: T / 4
    assert packer.score_slots(512, np.full(10, 30), sizes) == 256  # 30% x 1.5: T / 2
    assert packer.score_slots(512, np.array([5] * 9 + [200]), sizes) == 256  # the longest scored run fits
    assert packer.score_slots(512, sizes, sizes) == 512  # everything scored (rolling windows)


def multiple_choice_items(questions: int, seed: int = 0, choices: int = 4) -> list[PackItem]:
    """``choices`` items per question sharing its context (1-40 ids); continuations of 1-6 ids, some
    beginning alike, some duplicated, so common prefixes reach past the context."""
    rng = np.random.default_rng(seed)
    items = []
    for q in range(questions):
        context = rng.integers(0, 1000, int(rng.integers(1, 41)))
        first = rng.integers(0, 1000, 1)
        for c in range(choices):
            tail = rng.integers(0, 1000, int(rng.integers(0, 6)))
            cont = np.concatenate([first, tail]) if (q + c) % 3 == 0 else rng.integers(0, 1000, len(tail) + 1)
            if c == choices - 1 and q % 4 == 0:
                cont = items[-1].whole[len(context) :]  # a duplicate request
            items.append(PackItem(np.concatenate([context, cont]).astype(np.int32), len(cont), len(context)))
    return items


def visible_view(batches, n):
    """Per item and scored target: the (tokens, positions) its scored slot attends to, read off the
    masks the model builds (same segment or the segment's shared prefix, at or before the slot)."""
    seen: dict[int, list] = {i: [] for i in range(n)}
    for b in batches:
        for r in range(b.tokens.shape[0]):
            seg, pre = b.segment_ids[r], b.prefix_segments[r]
            for k in np.nonzero(b.score_segment[r])[0]:
                q, s = b.score_index[r, k], b.score_segment[r, k]
                item = int(b.items[r, s - 1])
                keys = np.arange(q + 1)
                vis = keys[(seg[keys] == seg[q]) | ((pre[q] != 0) & (seg[keys] == pre[q]))]
                seen[item].append((b.tokens[r, vis], b.positions[r, vis], int(b.score_target[r, k])))
    return seen


@pytest.mark.parametrize("max_len, max_segments", [(512, 64), (48, 64), (512, 5)])
def test_shared_prefixes_keep_what_every_target_sees(max_len, max_segments):
    items = multiple_choice_items(60)
    packer = Packer(max_len, 1024, 64, 2, max_segments=max_segments, share_prefixes=True)
    batches = packer.pack(items)
    seen = visible_view(batches, len(items))
    for i, it in enumerate(items):
        assert len(seen[i]) == it.num_scored
        for (tokens, positions, target), t in zip(seen[i], range(it.length - it.num_scored, it.length)):
            assert np.array_equal(tokens, it.whole[: t + 1]) and np.array_equal(positions, np.arange(t + 1))
            assert target == it.whole[t + 1]
    alone = Packer(max_len, 1024, 64, 2, max_segments=max_segments).pack(items)
    fed, unshared = sum(b.real_tokens for b in batches), sum(b.real_tokens for b in alone)
    assert unshared == sum(it.length for it in items)
    assert fed < 0.6 * unshared if max_len == 512 and max_segments == 64 else fed < unshared
    assert all((b.segment_ids > 0).sum(1).max() <= b.tokens.shape[1] for b in batches)
    assert all(b.items.shape[1] <= max_segments for b in batches)


def test_shared_prefix_units_split_to_fit_rows():
    # One-id context, 4 one-id choices: sharing would need 4 scored slots in a 1-slot unit, so split.
    items = [PackItem(np.array([7, c], np.int32), 1, 1) for c in range(4)]
    units = make_units(items, True, max_len=64, max_segments=64)
    assert [u.members for u in units] == [(0,), (1,), (2,), (3,)]
    # 30 shared ids, then 2 per choice: a unit of k choices takes 30 + k slots.
    long = [PackItem(np.r_[np.arange(30), c, c].astype(np.int32), 2, 30) for c in range(6)]
    units = make_units(long, True, max_len=64, max_segments=64)
    assert all(u.length <= 64 and u.scored <= u.length for u in units)
    assert [len(u.members) for u in units] == [6] and units[0].prefix == 30
    units = make_units(long, True, max_len=32, max_segments=64)
    assert [len(u.members) for u in units] == [2, 2, 2] and [u.length for u in units] == [32] * 3
    assert [len(u.members) for u in make_units(long, False, 64, 64)] == [1] * 6
