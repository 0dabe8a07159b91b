"""RASP-L next-token programs, written only with ``core``/``lib`` primitives.

A program maps an int sequence (reference token values, negative specials) to a sequence of the
same length whose value at ``i`` is the next token after ``x[0..i]``; generation reads the last
position. Only positions from the end of the prompt onward are specified; earlier positions hold
whatever the program computes.

Size: the number of top-level core-primitive invocations for one run
(``core.count_primitives``; a ``kqv`` counts once, a library function as the primitives it calls).
No program branches on the data or the length, so the size is length-independent; the registered
sizes in ``PROGRAMS`` are checked by the tests on several lengths.

Formats (``tasks`` builds prompts/answers; ``n`` = task length):

- count (reference, ``examples/count.py``): ``START a b`` -> ``a a+1 .. b END``; packed contexts
  work because the most recent ``START`` is located with ``lasts``.
- mode / copy_unique / sort_unique (evalkit's own): ``BOS x1..xn SEP`` -> ``answer EOS``.
- addition with index hints (reference, ``examples/add.py``): see ``next_tok_addition``.
- parity_scratchpad (evalkit's own "indexed one-bit scratchpad"): see ``parity_scratchpad``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .core import Seq, SeqLike, as_seq, count_primitives, full, indices, kqv, seq_map, tok_map
from .lib import (
    cumsum,
    equals,
    firsts,
    gt,
    has_seen,
    index_select,
    induct,
    induct_prev,
    lasts,
    lt,
    mask,
    maximum,
    num_prev,
    shift_right,
    where,
)

# ---- reference token values ------------------------------------------------------------------

# count (examples/count.py)
COUNT_START = -1
COUNT_END = -2

# evalkit sequence tasks (mode, copy, sort) and parity: same specials as the addition prompt
BOS = -1
SEP = -3
EOS = -5

# addition (examples/add.py)
START_PROMPT = -1
PLUS = -2
EQUALS_SIGN = -3
END_RESPONSE = -5
NONE = -88  # internal mask value of the addition program, never a task token
HINT_BASE = -100  # index hint i is the token HINT_BASE - i


def hint(i: int) -> int:
    """Reference token of index hint ``i`` (``-100 - i``)."""
    return HINT_BASE - i


# ---- count --------------------------------------------------------------------------------------


def count(x: SeqLike) -> Seq:
    """Count up from ``a`` to ``b`` after the most recent ``START a b`` (reference ``count_lib``)."""
    start_idx = lasts(x, full(x, COUNT_START))
    start_nums = index_select(x, tok_map(start_idx, lambda j: j + 1))
    first_pos = tok_map(start_idx, lambda j: j + 2)
    end_nums = index_select(x, first_pos)
    pred_first = seq_map(indices(x), first_pos, equals)
    pred_final = seq_map(pred_first, seq_map(x, end_nums, equals), lambda f, e: (f == 0) & (e != 0))
    incr = tok_map(x, lambda t: t + 1)
    return where(pred_first, start_nums, where(pred_final, full(x, COUNT_END), incr))


# ---- mode ---------------------------------------------------------------------------------------


def mode(x: SeqLike) -> Seq:
    """Most frequent value of ``BOS x1..xn SEP``; ties go to the SMALLEST tied value.

    ``num_prev(x, x)`` at the m-th occurrence of a value is m, so the positions whose count
    equals the prefix-maximum count are exactly the last occurrences of the modal values; a min
    head over them gives the smallest mode. Emits the mode at ``SEP`` and ``EOS`` after it.
    """
    is_val = tok_map(x, lambda t: t >= 0)
    counts = seq_map(num_prev(x, x), is_val, lambda c, v: c * v)
    best = maximum(counts)
    modal = kqv(counts, best, x, equals, default=EOS, reduction="min")
    is_sep = tok_map(x, lambda t: t == SEP)
    return where(is_sep, modal, full(x, EOS))


# ---- copy ---------------------------------------------------------------------------------------


def copy_unique(x: SeqLike) -> Seq:
    """Copy ``BOS x1..xn SEP`` -> ``x1..xn EOS`` for distinct values (one induction head).

    The query at ``SEP`` is ``BOS`` (copy the token after ``BOS``); elsewhere the current token
    (copy the token after its first occurrence). Copying ``SEP`` means the copy is done: ``EOS``.
    """
    query = tok_map(x, lambda t: np.where(t == SEP, BOS, t))
    nxt = induct(x, query, offset=1)
    return tok_map(nxt, lambda t: np.where(t == SEP, EOS, t))


# ---- sort ---------------------------------------------------------------------------------------


def _greater_value(k: int, q: int) -> bool:
    """Select value keys (``>= 0``) larger than the query."""
    return (k >= 0) & (k > q)


def sort_unique(x: SeqLike) -> Seq:
    """Sort distinct values ascending: ``BOS x1..xn SEP`` -> ``sorted(x) EOS``.

    Next token = the smallest value in the prefix greater than the current token (at ``SEP``,
    a negative token, that is the minimum); ``EOS`` when there is none. One min head.
    """
    return kqv(x, x, x, _greater_value, default=EOS, reduction="min")


# ---- addition with index hints -----------------------------------------------------------------


def _between(x: SeqLike, tok0: int, tok1: int) -> Seq:
    """1 where ``tok0`` has been seen and ``tok1`` not yet."""
    seen0 = has_seen(x, full(x, tok0))
    seen1 = has_seen(x, full(x, tok1))
    return seq_map(seen0, seen1, lambda a, b: (a != 0) & (b == 0))


def _add_safe(a: int, b: int) -> int:
    """``a + b`` for digits; keeps index hints (negative ``a``) unchanged."""
    return np.where(a >= 0, a + b, a)


def next_tok_addition(seq: SeqLike, reverse: bool = True) -> Seq:
    """Addition with index hints (port of the reference ``next_tok_addition``).

    Prompt ``START [h0 d].. PLUS [h0 d].. EQUALS`` with operands zero-padded to ``max_digits+1``
    digits and hint ``h_i = -100 - i`` from the most significant digit. Forward answer:
    ``h0 s0 h1 s1 .. END_RESPONSE``; reverse: ``h_last s_last .. h0 s0 END_RESPONSE``.
    Numpy operators of the reference are written as ``tok_map``/``seq_map``; behaviour is equal.
    One change: the reference's constant ``-100`` for the most significant hint is read from the
    prompt (the token after ``START``), so the program also holds when hints start elsewhere (hint
    windows); on reference prompts the outputs are identical.
    """
    x = as_seq(seq)
    prompt = mask(x, tok_map(has_seen(x, full(x, EQUALS_SIGN)), lambda s: 1 - s))
    # align the first summand with the second: digit after the same hint in operand 1
    other_digit = induct(prompt, shift_right(prompt, 1), offset=1)
    pairsums = seq_map(x, other_digit, _add_safe)
    pairsums = mask(pairsums, _between(x, PLUS, EQUALS_SIGN), NONE)
    curr_output_digit = shift_right(x, 1)
    curr_pairsum = induct(pairsums, shift_right(x, 2), offset=1)  # pair sum of the current digit
    next_pairsum = induct(pairsums, x, offset=1)  # pair sum at the current hint

    if reverse:
        direct = tok_map(curr_pairsum, lambda p: p > 9)
        indirect = seq_map(curr_pairsum, curr_output_digit, lambda p, d: (p == 9) & (d == 0))
        gets_carry = seq_map(direct, indirect, lambda a, b: (a != 0) | (b != 0))
        final_hint = induct(x, full(x, START_PROMPT), offset=1)  # the hint after START
        first_hint = induct_prev(x, full(x, EQUALS_SIGN), offset=-2)  # 2 places before '='
        next_hint = tok_map(shift_right(x, 1), lambda h: h + 1)
        eos = seq_map(next_hint, final_hint, gt)
    else:
        pairsums_nh = mask(pairsums, tok_map(x, lambda t: t >= 0), NONE)  # digits only
        gives_carry = tok_map(pairsums_nh, lambda p: p > 9)
        z = cumsum(tok_map(pairsums_nh, lambda p: (p != 9) & (p != NONE)))
        u = mask(z, gives_carry, NONE)
        v = tok_map(u, lambda t: t - 1)
        chain_end_idxs = firsts(z, v, default=NONE)  # left ends of carry chains
        curr_got_carry = seq_map(curr_pairsum, curr_output_digit, lambda p, d: (p % 10) != d)
        inside_chain = seq_map(next_pairsum, curr_got_carry, lambda p, c: (p == 9) & (c != 0))
        next_tok_idx = tok_map(kqv(pairsums, x, indices(x), equals), lambda j: j + 1)
        chain_end = kqv(chain_end_idxs, next_tok_idx, full(x, 1), equals, default=0)
        gets_carry = seq_map(inside_chain, chain_end, lambda a, b: (a != 0) | (b != 0))
        final_hint = induct_prev(x, full(x, EQUALS_SIGN), offset=-2)
        first_hint = induct(x, full(x, START_PROMPT), offset=1)  # the hint after START
        next_hint = tok_map(shift_right(x, 1), lambda h: h - 1)
        eos = seq_map(next_hint, final_hint, lt)

    digit = seq_map(next_pairsum, gets_carry, lambda p, c: (p + c) % 10)
    next_is_hint = tok_map(x, lambda t: t > HINT_BASE)  # after a digit (or special) comes a hint
    eos = seq_map(eos, next_is_hint, lambda e, h: (e != 0) & (h != 0))
    out = where(next_is_hint, next_hint, digit)
    out = where(eos, full(x, END_RESPONSE), out)
    return where(tok_map(x, lambda t: t == EQUALS_SIGN), first_hint, out)


def add_hints_forward(x: SeqLike) -> Seq:
    """``next_tok_addition(x, reverse=False)``."""
    return next_tok_addition(x, reverse=False)


def add_hints_reverse(x: SeqLike) -> Seq:
    """``next_tok_addition(x, reverse=True)``."""
    return next_tok_addition(x, reverse=True)


# ---- parity with an indexed one-bit scratchpad -------------------------------------------------


def parity_scratchpad(x: SeqLike) -> Seq:
    """Parity with evalkit's "indexed one-bit scratchpad".

    Prompt ``BOS h0 b0 h1 b1 .. h_{n-1} b_{n-1} SEP`` (hint ``h_i = -100 - i``); answer
    ``h0 p0 h1 p1 .. h_{n-1} p_{n-1} EOS`` with running parity ``p_k = b0 ^ .. ^ b_k``, so the
    final parity is the last bit before ``EOS``. Each step is an induction lookup (the bit after
    the same hint in the prompt) XOR the previous scratchpad bit: no index arithmetic.
    """
    prev = shift_right(x, 1)
    bit = induct(x, x, offset=1)  # at answer hint h_k: the prompt bit b_k
    prev_bit = tok_map(prev, lambda t: t * (t >= 0))  # p_{k-1}, or 0 after SEP
    parity = seq_map(bit, prev_bit, lambda a, b: a ^ b)
    next_hint = tok_map(prev, lambda h: h - 1)  # at answer bit p_k: h_{k+1}
    more = has_seen(x, next_hint)  # h_{k+1} occurs in the prompt
    after_bit = where(more, next_hint, full(x, EOS))
    out = where(tok_map(x, lambda t: t <= HINT_BASE), parity, after_bit)
    first_hint = induct(x, full(x, BOS), offset=1)  # the hint after BOS
    return where(tok_map(x, lambda t: t == SEP), first_hint, out)


# ---- registry -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaspProgram:
    """A registered RASP-L program: callable on a sequence, with its EOS token and size."""

    name: str
    fn: Callable[[Seq], Seq]
    eos: int
    size: int

    def __call__(self, seq: SeqLike) -> Seq:
        """Next-token predictions at every position of ``seq``."""
        return self.fn(as_seq(seq))


def measure_size(program: Callable[[Seq], Seq], seq: SeqLike) -> int:
    """Number of top-level primitive invocations of one run of ``program`` on ``seq``."""
    with count_primitives() as counter:
        program(as_seq(seq))
    return counter.count


def _register(name: str, fn: Callable[[Seq], Seq], eos: int, size: int) -> RaspProgram:
    """Create a registry entry."""
    return RaspProgram(name=name, fn=fn, eos=eos, size=size)


PROGRAMS: dict[str, RaspProgram] = {
    p.name: p
    for p in (
        _register("count", count, COUNT_END, 21),
        _register("mode", mode, EOS, 11),
        _register("copy_unique", copy_unique, EOS, 9),
        _register("sort_unique", sort_unique, EOS, 1),
        _register("add_hints_forward", add_hints_forward, END_RESPONSE, 107),
        _register("add_hints_reverse", add_hints_reverse, END_RESPONSE, 86),
        _register("parity_scratchpad", parity_scratchpad, EOS, 35),
    )
}


def run_program(program: Callable[[Seq], Seq], seq: Sequence[int]) -> list[int]:
    """Run ``program`` on ``seq`` and return Python ints."""
    return [int(t) for t in program(as_seq(seq))]
