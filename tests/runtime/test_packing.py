"""Packing: every sequence lands once, segments are laid out right, shapes stay few, padding stays small."""

import numpy as np
import pytest

from evalkit.runtime.packing import Packer, PackItem, choose_buckets, padding_fraction


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
            assert padding_fraction(batches) < 0.05


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
    assert packer.score_slots(512, np.full(10, 2), sizes) == 32  # 2% x 2 headroom: T / 16
    assert packer.score_slots(512, np.full(10, 5), sizes) == 64  # 5% x 2: T / 8
    assert packer.score_slots(512, np.full(10, 15), sizes) == 256  # 15% x 2: T / 2
    assert packer.score_slots(512, np.array([5] * 9 + [200]), sizes) == 256  # the longest scored run fits
    assert packer.score_slots(512, sizes, sizes) == 512  # everything scored (rolling windows)
