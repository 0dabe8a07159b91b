"""RASP-L core primitives in numpy (semantics of ``apple/ml-np-rasp`` @ d77577a, ``core.py``).

Every sequence is a 1-D int64 array; booleans are cast to 0/1 on entry. The value at position
``i`` may depend only on positions ``0..i``: maps are element-wise and ``select`` is causal.

Speed: user functions (``tok_map``/``seq_map`` maps, ``select`` predicates) are evaluated
on whole numpy arrays first; if that raises or warns (e.g. Python ``and``/``if`` on arrays) they
are called once per *distinct* input value (or value pair) on numpy scalars. Results equal the
reference's per-element evaluation for any function that behaves the same on arrays and scalars
(comparisons, ``&``/``|``, integer arithmetic and ``np.where`` do).

Program size: ``count_primitives()`` counts *top-level* primitive invocations (a ``kqv`` counts
once, not as ``select`` + ``aggr``); library functions count as the primitives they call.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

Seq = np.ndarray
SeqLike = Seq | Sequence[int]
F = TypeVar("F", bound=Callable[..., Any])

REDUCTIONS = ("mean", "max", "min")
_INT_MIN = np.iinfo(np.int64).min


# ----------------------------------------------------------------------------------------------
# Primitive-call counter (program size)
# ----------------------------------------------------------------------------------------------


@dataclass
class PrimitiveCounter:
    """Top-level primitive invocations seen while the counter is active."""

    count: int = 0
    by_name: Counter[str] = field(default_factory=Counter)


_ACTIVE: list[PrimitiveCounter] = []
_DEPTH = [0]


@contextlib.contextmanager
def count_primitives() -> Iterator[PrimitiveCounter]:
    """Count top-level primitive calls in the ``with`` block (nested counters both count)."""
    counter = PrimitiveCounter()
    _ACTIVE.append(counter)
    try:
        yield counter
    finally:
        _ACTIVE.remove(counter)


def _primitive(fn: F) -> F:
    """Mark ``fn`` as a primitive: counted once per top-level call, nested calls are free."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _DEPTH[0] == 0:
            for counter in _ACTIVE:
                counter.count += 1
                counter.by_name[fn.__name__] += 1
        _DEPTH[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            _DEPTH[0] -= 1

    return wrapper  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


def as_seq(x: SeqLike) -> Seq:
    """Return ``x`` as a 1-D int64 array (bools become 0/1)."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"RASP sequences are 1-D, got shape {arr.shape}")
    if arr.dtype.kind not in "biu":
        raise TypeError(f"RASP sequences hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _try_vectorized(func: Callable[..., Any], arrays: Sequence[Seq], shape: tuple[int, ...]) -> Seq | None:
    """``func`` applied to whole (broadcast) arrays, or None if that raises or warns."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(all="raise"):
                out = np.asarray(func(*arrays))
        if out.dtype.kind not in "biuf":
            return None
        return np.broadcast_to(out, shape).astype(np.int64)
    except Exception:
        return None


def _scalar_map(func: Callable[..., Any], arrays: Sequence[Seq]) -> Seq:
    """``func`` on each tuple of numpy scalars of the equal-length 1-D ``arrays``."""
    return np.asarray([func(*args) for args in zip(*arrays)]).astype(np.int64).reshape(len(arrays[0]))


# ----------------------------------------------------------------------------------------------
# Primitives
# ----------------------------------------------------------------------------------------------


@_primitive
def full(x: SeqLike, const: int) -> Seq:
    """Constant sequence ``const`` of length ``len(x)``."""
    return np.full(len(x), int(const), dtype=np.int64)


@_primitive
def indices(x: SeqLike) -> Seq:
    """Positions ``0..n-1``."""
    return np.arange(len(x), dtype=np.int64)


@_primitive
def tok_map(x: SeqLike, func: Callable[[Any], Any]) -> Seq:
    """Element-wise ``func(x[i])`` cast to int (an MLP)."""
    x = as_seq(x)
    out = _try_vectorized(func, [x], x.shape)
    if out is None:
        uniq, inv = np.unique(x, return_inverse=True)
        out = _scalar_map(func, [uniq])[inv.reshape(-1)]
    return out


@_primitive
def seq_map(x: SeqLike, y: SeqLike, func: Callable[[Any, Any], Any]) -> Seq:
    """Element-wise ``func(x[i], y[i])`` cast to int (an MLP on two inputs)."""
    x, y = as_seq(x), as_seq(y)
    if len(x) != len(y):
        raise ValueError("seq_map needs sequences of equal length")
    out = _try_vectorized(func, [x, y], x.shape)
    if out is None:
        pairs, inv = np.unique(np.stack([x, y], axis=1), axis=0, return_inverse=True)
        out = _scalar_map(func, [pairs[:, 0], pairs[:, 1]])[inv.reshape(-1)]
    return out


@_primitive
def select(k: SeqLike, q: SeqLike, pred: Callable[[Any, Any], Any], causal: bool = True) -> Seq:
    """Boolean attention matrix: ``A[i, j] = pred(k[j], q[i])`` for ``j <= i``, else False.

    Rows are queries, columns keys; the predicate receives (key, query) in that order.
    """
    k, q = as_seq(k), as_seq(q)
    n = len(k)
    if len(q) != n:
        raise ValueError("select needs keys and queries of equal length")
    mat = _try_vectorized(pred, [k[None, :], q[:, None]], (n, n))
    if mat is None:
        uk, k_inv = np.unique(k, return_inverse=True)
        uq, q_inv = np.unique(q, return_inverse=True)
        keys, queries = np.meshgrid(uk, uq)
        grid = _scalar_map(pred, [keys.ravel(), queries.ravel()]).reshape(len(uq), len(uk))
        mat = grid[q_inv.reshape(-1)][:, k_inv.reshape(-1)]
    mat = mat.astype(bool)
    if causal:
        mat &= np.tri(n, dtype=bool)
    return mat


@_primitive
def sel_width(A: Seq) -> Seq:
    """Number of selected keys per query (row sums)."""
    return np.asarray(A, dtype=bool).sum(axis=1).astype(np.int64)


def _aggr_max(A: Seq, v: Seq, default: int) -> Seq:
    """Row-wise max of selected ``v``; ``default`` for empty rows."""
    filled = np.where(A, v[None, :], _INT_MIN).max(axis=1, initial=_INT_MIN)
    return np.where(A.any(axis=1), filled, default).astype(np.int64)


@_primitive
def aggr(A: Seq, v: SeqLike, default: int = 0, reduction: str = "mean") -> Seq:
    """Aggregate ``v`` over each row of ``A``.

    ``mean`` is the integer mean truncated toward zero (1.5 -> 1, -0.33 -> 0); ``max`` the
    maximum; ``min`` is ``-max(-v)`` with default ``-default``, so empty rows give ``default``.
    """
    A = np.asarray(A, dtype=bool)
    v = as_seq(v)
    if reduction == "mean":
        width = A.sum(axis=1)
        total = np.where(A, v[None, :], 0).sum(axis=1)
        safe = np.maximum(width, 1)
        mean = np.sign(total) * (np.abs(total) // safe)
        return np.where(width > 0, mean, default).astype(np.int64)
    if reduction == "max":
        return _aggr_max(A, v, default)
    if reduction == "min":
        return -_aggr_max(A, -v, -default)
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


@_primitive
def kqv(
    k: SeqLike,
    q: SeqLike,
    v: SeqLike,
    pred: Callable[[Any, Any], Any],
    default: int = 0,
    reduction: str = "mean",
) -> Seq:
    """One attention head: ``aggr(select(k, q, pred), v, default, reduction)``."""
    return aggr(select(k, q, pred), v, default=default, reduction=reduction)


PRIMITIVES = ("full", "indices", "tok_map", "seq_map", "select", "sel_width", "aggr", "kqv")
