"""RASP-L core primitives and library on hand-worked examples (reference semantics)."""

from __future__ import annotations

import numpy as np
import pytest
from evalkit_rasp.rasp import core, lib
from evalkit_rasp.rasp.core import (
    aggr,
    count_primitives,
    full,
    indices,
    kqv,
    sel_width,
    select,
    seq_map,
    tok_map,
)


def eq(a: np.ndarray, b: list[int]) -> None:
    """Assert an int sequence equals ``b``."""
    assert np.asarray(a).dtype.kind in "iu"
    assert np.asarray(a).tolist() == b


def test_full_indices() -> None:
    eq(full([4, 5, 6], 7), [7, 7, 7])
    eq(indices([4, 5, 6]), [0, 1, 2])


def test_maps_cast_to_int_and_handle_scalar_only_functions() -> None:
    eq(tok_map([1, 2, 3, -3], lambda t: t / 2), [0, 1, 1, -1])  # astype(int) truncates
    eq(tok_map([1, 2, 3], lambda t: 10 if t == 2 else t), [1, 10, 3])  # needs the scalar path
    eq(seq_map([1, 2, 3], [3, 2, 1], lambda a, b: a * 10 + b), [13, 22, 31])
    eq(seq_map([1, 0, 1], [1, 1, 0], lambda a, b: a and not b), [0, 0, 1])


def test_select_is_causal_with_key_query_order() -> None:
    k, q = [1, 2, 3], [10, 20, 30]
    # pred(key, query): query == 10 * key holds only on the diagonal
    assert select(k, q, lambda key, query: query == 10 * key).tolist() == [
        [True, False, False],
        [False, True, False],
        [False, False, True],
    ]
    # swapped roles never match: proves the argument order
    assert not select(k, q, lambda key, query: key == 10 * query).any()
    everything = select(k, q, lambda key, query: True)
    assert everything.tolist() == np.tri(3, dtype=bool).tolist()
    assert select(k, q, lambda key, query: True, causal=False).all()
    # key < query: keys after the query position are never selected, even if true
    assert select([5, 0, 0], [1, 1, 9], lambda key, query: key < query).tolist() == [
        [False, False, False],
        [False, True, False],
        [True, True, True],
    ]


def test_select_vectorized_and_scalar_predicates_agree() -> None:
    rng = np.random.default_rng(0)
    k, q = rng.integers(-3, 5, size=30), rng.integers(-3, 5, size=30)
    fast = select(k, q, lambda a, b: (a >= 0) & (a < b))
    slow = select(k, q, lambda a, b: a >= 0 and a < b)
    assert (fast == slow).all()
    brute = np.array([[j <= i and k[j] >= 0 and k[j] < q[i] for j in range(30)] for i in range(30)])
    assert (fast == brute).all()


def test_sel_width() -> None:
    eq(sel_width(select([1, 2, 1, 1], [1, 1, 1, 2], lib.equals)), [1, 1, 2, 1])  # q=2 matches k[1]


def test_aggr_mean_truncates_toward_zero() -> None:
    A = np.array([[1, 1, 0], [1, 1, 1], [0, 0, 0]], dtype=bool)
    eq(aggr(A, [1, 2, 0]), [1, 1, 0])  # mean 1.5 -> 1; 3/3 -> 1; empty -> default 0
    eq(aggr(A, [-1, 0, 0], default=5), [0, 0, 5])  # mean -0.5 -> 0, -0.33 -> 0
    eq(aggr(A, [-3, 0, 0]), [-1, -1, 0])  # -1.5 -> -1 (not floor -2), -1.0 -> -1


def test_aggr_max_min_defaults() -> None:
    A = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=bool)
    eq(aggr(A, [4, 9, 1], default=-7, reduction="max"), [4, 9, -7])
    eq(aggr(A, [4, 9, 1], default=-7, reduction="min"), [4, 4, -7])  # empty min row -> default
    eq(aggr(A, [4, 9, 1], default=3, reduction="min"), [4, 4, 3])
    with pytest.raises(ValueError):
        aggr(A, [1, 2, 3], reduction="sum")


def test_kqv_is_select_then_aggr() -> None:
    k, q, v = [3, 1, 3, 2], [3, 3, 3, 3], [10, 20, 31, 40]
    eq(kqv(k, q, v, lib.equals), [10, 10, 20, 20])  # mean(10, 31) = 20.5 -> 20
    eq(kqv(k, q, v, lib.equals, reduction="max"), [10, 10, 31, 31])
    eq(kqv(k, [2, 2, 2, 2], v, lib.equals, default=-1), [-1, -1, -1, 40])


def test_count_primitives_counts_top_level_calls_only() -> None:
    with count_primitives() as c:
        kqv([1, 2], [1, 2], [1, 2], lib.equals)  # select + aggr inside: one call
        lib.has_seen([1, 2], [1, 2])  # full + kqv
    assert c.count == 3
    assert c.by_name == {"kqv": 2, "full": 1}


# ---- library ----------------------------------------------------------------------------------


def test_comparisons() -> None:
    assert lib.equals(2, 2) and lib.leq(2, 2) and lib.lt(1, 2) and lib.geq(2, 2) and lib.gt(3, 2)
    assert not (lib.lt(2, 2) or lib.gt(2, 2))


def test_shift_cumsum_where_mask() -> None:
    eq(lib.shift_right([1, 2, 3, 4], 1), [0, 1, 2, 3])
    eq(lib.shift_right([1, 2, 3, 4], 2, default=-9), [-9, -9, 1, 2])
    eq(lib.cumsum([1, 0, 1, 1]), [1, 1, 2, 3])
    eq(lib.where([1, 0, 1, 0], [1, 2, 3, 4], [-1, -2, 0, 0]), [1, -2, 3, 0])
    eq(lib.mask([5, 6, 7], [0, 1, 0], mask_val=-88), [-88, 6, -88])


def test_prefix_max_min_and_fixed_argmax() -> None:
    eq(lib.maximum([3, 1, 4, 1, 5]), [3, 3, 4, 4, 5])
    eq(lib.minimum([3, 1, 4, 1, 0]), [3, 1, 1, 1, 0])
    eq(lib.argmax([1, 3, 2, 3, 5]), [0, 1, 1, 1, 4])  # first occurrence of the prefix max
    eq(lib.argmin([2, 1, 3, 1, 0]), [0, 1, 1, 1, 4])


def test_counting_lookups() -> None:
    eq(lib.num_prev([1, 2, 1, 1], [1, 1, 2, 1]), [1, 1, 1, 3])
    eq(lib.has_seen([5, 6, 7], [6, 6, 5]), [0, 1, 1])
    eq(lib.firsts([5, 6, 5, 7], [5, 5, 5, 6]), [0, 0, 0, 1])
    eq(lib.firsts([5, 6, 5, 7], [6, 7, 9, 7], default=-3), [-3, -3, -3, 3])
    eq(lib.lasts([5, 6, 5, 7], [5, 5, 5, 5]), [0, 0, 2, 2])
    eq(lib.index_select([10, 20, 30, 40], [0, 5, 1, -1]), [10, 0, 20, 0])
    eq(lib.first_true([0, 0, 1, 0, 1]), [-1, -1, 2, 2, 2])
    eq(lib.binary_mode([1, 0, 0, 1, 1]), [1, 0, 0, 0, 1])


def test_induct_kqv_first_match_and_offset() -> None:
    k, v = [7, 1, 7, 2, 7], [10, 11, 12, 13, 14]
    # i=2 and i=4 both copy after the FIRST 7 (p=0), not the later one; the match at p=i is
    # excluded because p + offset > i
    eq(lib.induct_kqv(k, k, v, offset=1, default=-1), [-1, -1, 11, -1, 11])
    eq(lib.induct_kqv(k, k, v, offset=2, default=-1), [-1, -1, 12, -1, 12])
    eq(lib.induct([4, 5, 4, 6], [4, 5, 4, 6], offset=1), [0, 0, 5, 0])
    eq(lib.induct_prev([5, 6, 7, 5], [0, 0, 0, 7], offset=-1, default=-4), [-4, -4, -4, 6])


def test_library_uses_only_primitives() -> None:
    with count_primitives() as c:
        lib.induct_kqv([1, 2, 3], [1, 2, 3], [1, 2, 3], offset=1)
    assert set(c.by_name) <= set(core.PRIMITIVES)
    assert c.count == 7  # shift_right 3, firsts 2, index_select 2
