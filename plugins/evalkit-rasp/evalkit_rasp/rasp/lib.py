"""RASP-L library (semantics of ``apple/ml-np-rasp`` @ d77577a, ``lib.py``), built only from
core primitives so that primitive counts measure program size honestly.

Results are given per position ``i``; "prefix" means positions ``0..i``. Differences from the
reference: ``argmax``/``argmin`` are FIXED (the reference omits the ``kqv`` predicate and raises
``TypeError``); the reference's broken ``mode`` is not ported (see ``programs.mode``). Index
arithmetic that the reference writes with numpy operators goes through ``tok_map`` here.
"""

from __future__ import annotations

from typing import Any

from .core import Seq, SeqLike, full, indices, kqv, sel_width, select, seq_map, tok_map

NULL_VAL = -999  # sentinel of the induction helpers; must never occur in keys or queries


# ---- binary predicates (usable inside select / seq_map) ----------------------------------


def equals(a: Any, b: Any) -> Any:
    """``a == b``."""
    return a == b


def leq(a: Any, b: Any) -> Any:
    """``a <= b``."""
    return a <= b


def lt(a: Any, b: Any) -> Any:
    """``a < b``."""
    return a < b


def geq(a: Any, b: Any) -> Any:
    """``a >= b``."""
    return a >= b


def gt(a: Any, b: Any) -> Any:
    """``a > b``."""
    return a > b


def _always(k: Any, q: Any) -> Any:
    """Select every (causal) key."""
    return (k == k) | True


def _key_true(k: Any, q: Any) -> Any:
    """Select keys whose value is non-zero."""
    return k != 0


# ---- library --------------------------------------------------------------------------------


def shift_right(x: SeqLike, n: int, default: int = 0) -> Seq:
    """``x[i-n]`` if ``i >= n`` else ``default``."""
    idx = indices(x)
    return kqv(tok_map(idx, lambda i: i + n), idx, x, equals, default=default)


def cumsum(b: SeqLike) -> Seq:
    """Number of true entries of ``b`` in the prefix."""
    return sel_width(select(b, b, _key_true))


def where(c: SeqLike, a: SeqLike, b: SeqLike) -> Seq:
    """``a[i]`` if ``c[i]`` else ``b[i]``."""
    a_part = seq_map(a, c, lambda av, cv: av * (cv != 0))
    b_part = seq_map(b, c, lambda bv, cv: bv * (cv == 0))
    return seq_map(a_part, b_part, lambda av, bv: av + bv)


def mask(x: SeqLike, m: SeqLike, mask_val: int = 0) -> Seq:
    """``x[i]`` if ``m[i]`` else ``mask_val``."""
    return where(m, x, full(x, mask_val))


def maximum(x: SeqLike) -> Seq:
    """Maximum of the prefix (causal)."""
    return kqv(x, x, x, _always, reduction="max")


def minimum(x: SeqLike) -> Seq:
    """Minimum of the prefix (causal)."""
    return kqv(x, x, x, _always, reduction="min")


def argmax(x: SeqLike) -> Seq:
    """Index of the prefix maximum, first occurrence (FIXED: the reference omits ``pred``).

    Selects prefix keys whose value equals the prefix maximum and returns the smallest index,
    i.e. ``np.argmax(x[:i+1])``.
    """
    return kqv(x, maximum(x), indices(x), equals, reduction="min")


def argmin(x: SeqLike) -> Seq:
    """Index of the prefix minimum, first occurrence (FIXED like ``argmax``)."""
    return kqv(x, minimum(x), indices(x), equals, reduction="min")


def num_prev(x: SeqLike, q: SeqLike) -> Seq:
    """Count of ``j <= i`` with ``x[j] == q[i]``."""
    return sel_width(select(x, q, equals))


def has_seen(x: SeqLike, q: SeqLike) -> Seq:
    """1 if ``q[i]`` occurs in the prefix of ``x``, else 0."""
    return kqv(x, q, full(x, 1), equals, default=0)


def firsts(x: SeqLike, q: SeqLike, default: int = -1) -> Seq:
    """Smallest ``j <= i`` with ``x[j] == q[i]``, else ``default``."""
    return kqv(x, q, indices(x), equals, default=default, reduction="min")


def lasts(x: SeqLike, q: SeqLike, default: int = -1) -> Seq:
    """Largest ``j <= i`` with ``x[j] == q[i]``, else ``default``."""
    return kqv(x, q, indices(x), equals, default=default, reduction="max")


def index_select(x: SeqLike, idx: SeqLike, default: int = 0) -> Seq:
    """``x[idx[i]]`` if ``0 <= idx[i] <= i`` else ``default``."""
    return kqv(indices(x), idx, x, equals, default=default)


def first_true(x: SeqLike, default: int = -1) -> Seq:
    """Index of the first position in the prefix where ``x == 1``, else ``default``."""
    ones = full(x, 1)
    seen_true = kqv(x, ones, ones, equals, default=0)
    first_occ = seq_map(seen_true, shift_right(seen_true, 1), lambda cur, prev: (cur != 0) & (prev == 0))
    return kqv(first_occ, ones, indices(x), equals, default=default)


def binary_mode(x: SeqLike) -> Seq:
    """1 if the prefix holds more 1s than 0s, else 0."""
    zeros = sel_width(select(x, full(x, 0), equals))
    ones = sel_width(select(x, full(x, 1), equals))
    return seq_map(ones, zeros, gt)


def induct_kqv(
    k: SeqLike, q: SeqLike, v: SeqLike, offset: int, default: int = 0, null_val: int = NULL_VAL
) -> Seq:
    """``v[p + offset]`` for the FIRST ``p`` with ``k[p] == q[i]`` and ``p + offset <= i``.

    Matches in the last ``offset`` positions are ignored; ``default`` if there is none.
    ``null_val`` must never occur in ``k`` or ``q``.
    """
    to_copy = firsts(shift_right(k, offset, default=null_val), q, default=null_val)
    return index_select(v, to_copy, default=default)


def induct(k: SeqLike, q: SeqLike, offset: int, default: int = 0, null_val: int = NULL_VAL) -> Seq:
    """Induction head: the token ``offset`` places after the first match of ``q[i]`` in ``k``."""
    return induct_kqv(k, q, k, offset=offset, default=default, null_val=null_val)


def induct_prev(k: SeqLike, q: SeqLike, offset: int, default: int = 0, null_val: int = NULL_VAL) -> Seq:
    """Negative-offset induction: ``k[firsts(k, q) + offset]`` (``default`` if out of range)."""
    to_copy = tok_map(firsts(k, q, default=null_val), lambda j: j + offset)
    return index_select(k, to_copy, default=default)
