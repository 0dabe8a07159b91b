"""RASP-L task formats, example generators and oracles (pure Python/numpy).

Prompts and answers are lists of *reference* token values (negative specials, as the RASP-L
programs read them); models see ``spec.vocab.encode(tokens)``. Every answer ends with the task's
EOS token. ``oracle`` computes the answer directly in Python, never through the RASP program.

Vocabularies (reference tokens <-> model ids, one table per family) are in ``vocab``. In the
reference numbering (every test example) hint ``i`` labels the i-th position from the start (index
0 = most significant padded digit / first bit). ``make_example(rng, length, first_hint=k)`` numbers them
``k, k+1, ...`` instead (a hint window, for training: see ``TaskSpec.hints_used``); the programs
read the first hint from the prompt, so they hold for every window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import programs as P
from .programs import RaspProgram
from .vocab import (  # noqa: F401 - re-exported: the vocabularies belong to the task formats' API
    MAX_HINT_LIMIT,
    PAD_TOKEN,
    Vocab,
    addition_vocab,
    count_vocab,
    parity_vocab,
    sequence_vocab,
)

Example = tuple[list[int], list[int]]


# ---- task spec --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """One task: format, generator, oracle and (optional) RASP-L program.

    ``length`` is the task's natural length (see ``length_doc``), between ``min_length`` and
    ``max_length`` (the latter set by the vocabulary parameters).
    """

    name: str
    vocab: Vocab
    make_example: Callable[[np.random.Generator, int], Example]
    oracle: Callable[[Sequence[int]], list[int]]
    program: RaspProgram | None
    min_length: int
    max_length: int
    length_doc: str
    params: dict[str, int]
    #: hinted formats: how many hints an example of a given length uses (``make_example`` then takes
    #: ``first_hint``, and hints ``first_hint .. first_hint + hints_used(length) - 1`` must be <= max_hint)
    hints_used: Callable[[int], int] | None = None

    def max_first_hint(self, length: int) -> int:
        """The largest ``first_hint`` an example of ``length`` can use (the vocabulary's last hint)."""
        if self.hints_used is None:
            raise ValueError(f"{self.name} has no index hints")
        if not self.min_length <= length <= self.max_length:
            raise ValueError(f"{self.name}: length {length} outside [{self.min_length}, {self.max_length}]")
        return self.vocab.num_hints - self.hints_used(length)

    @property
    def eos(self) -> int:
        """Reference EOS token ending every answer."""
        return self.vocab.eos_token

    @property
    def eos_id(self) -> int:
        """Id of the EOS token."""
        return self.vocab.eos_id


def _check_first_hint(name: str, first_hint: int, length: int, num_hints: int, used: int) -> None:
    """Raise ``ValueError`` unless hints ``first_hint .. first_hint + used - 1`` exist."""
    if not 0 <= first_hint <= num_hints - used:
        raise ValueError(
            f"{name}: first_hint={first_hint} must be in [0, {num_hints - used}] for length {length} "
            f"(max_hint={num_hints - 1}); lower first_hint or raise max_hint"
        )


def _check_length(name: str, length: int, lo: int, hi: int) -> None:
    """Raise ``ValueError`` unless ``lo <= length <= hi``."""
    if not lo <= length <= hi:
        raise ValueError(f"{name}: length {length} outside [{lo}, {hi}] (raise max_value/max_hint?)")


def _between(prompt: Sequence[int], start: int, stop: int) -> list[int]:
    """Tokens strictly between the first ``start`` and the following ``stop``."""
    p = list(prompt)
    i = p.index(start)
    return p[i + 1 : p.index(stop, i + 1)]


# ---- count ------------------------------------------------------------------------------------


def count_task(max_value: int = 255) -> TaskSpec:
    """Count up (reference format): ``START a b`` -> ``a .. b END``.

    length = ``b - a + 1`` (numbers emitted); ``a`` uniform so that ``b <= max_value``.
    """
    vocab = count_vocab(max_value)

    def make_example(rng: np.random.Generator, length: int) -> Example:
        _check_length("count", length, 1, max_value + 1)
        a = int(rng.integers(0, max_value - length + 2))
        prompt = [P.COUNT_START, a, a + length - 1]
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        start, a, b = (int(t) for t in prompt[-3:])
        if start != P.COUNT_START or a > b:
            raise ValueError("count prompt must be START a b with a <= b")
        return list(range(a, b + 1)) + [P.COUNT_END]

    return TaskSpec(
        "count",
        vocab,
        make_example,
        oracle,
        P.PROGRAMS["count"],
        1,
        max_value + 1,
        "numbers counted, b - a + 1",
        {"max_value": max_value},
    )


# ---- sequence tasks ---------------------------------------------------------------------------


def _seq_prompt(values: Sequence[int]) -> list[int]:
    """``BOS values SEP``."""
    return [P.BOS, *(int(v) for v in values), P.SEP]


def _seq_values(prompt: Sequence[int]) -> list[int]:
    """Values between BOS and SEP."""
    return [int(t) for t in _between(prompt, P.BOS, P.SEP)]


def mode_task(max_value: int = 9) -> TaskSpec:
    """Mode (evalkit format): ``BOS x1..xn SEP`` -> ``m EOS``, ties -> smallest tied value.

    length = n values. Generator: k ~ U[1, min(n, V)] distinct values, then n i.i.d. draws
    from them (V = max_value + 1).
    """
    vocab = sequence_vocab(max_value)

    def make_example(rng: np.random.Generator, length: int) -> Example:
        _check_length("mode", length, 1, 10**9)
        k = int(rng.integers(1, min(length, max_value + 1) + 1))
        alphabet = rng.choice(max_value + 1, size=k, replace=False)
        prompt = _seq_prompt(rng.choice(alphabet, size=length))
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        counts = Counter(_seq_values(prompt))
        best = max(counts.values())
        return [min(v for v, c in counts.items() if c == best), P.EOS]

    return TaskSpec(
        "mode",
        vocab,
        make_example,
        oracle,
        P.PROGRAMS["mode"],
        1,
        10**9,
        "number of input values n",
        {"max_value": max_value},
    )


def copy_unique_task(max_value: int = 127) -> TaskSpec:
    """Copy distinct values (evalkit format): ``BOS x1..xn SEP`` -> ``x1..xn EOS``.

    length = n <= max_value + 1; values drawn without replacement.
    """
    vocab = sequence_vocab(max_value)

    def make_example(rng: np.random.Generator, length: int) -> Example:
        _check_length("copy_unique", length, 1, max_value + 1)
        prompt = _seq_prompt(rng.choice(max_value + 1, size=length, replace=False))
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        return _seq_values(prompt) + [P.EOS]

    return TaskSpec(
        "copy_unique",
        vocab,
        make_example,
        oracle,
        P.PROGRAMS["copy_unique"],
        1,
        max_value + 1,
        "number of values n (distinct)",
        {"max_value": max_value},
    )


def copy_repeat_task(max_value: int = 1) -> TaskSpec:
    """Copy with repeats (contrast, no RASP-L program): same format as ``copy_unique``.

    length = n; values i.i.d. uniform over ``0..max_value``. Binary by default (evalkit's choice; the
    paper's App. A mentions a "binary copy" model): with ten values the quickstart probe extended copy
    as well as copy-unique, presumably telling repeats apart by their neighbours.
    """
    vocab = sequence_vocab(max_value)

    def make_example(rng: np.random.Generator, length: int) -> Example:
        _check_length("copy_repeat", length, 1, 10**9)
        prompt = _seq_prompt(rng.integers(0, max_value + 1, size=length))
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        return _seq_values(prompt) + [P.EOS]

    return TaskSpec(
        "copy_repeat",
        vocab,
        make_example,
        oracle,
        None,
        1,
        10**9,
        "number of values n",
        {"max_value": max_value},
    )


def sort_unique_task(max_value: int = 127) -> TaskSpec:
    """Sort distinct values ascending (evalkit format): ``BOS x1..xn SEP`` -> ``sorted EOS``.

    length = n <= max_value + 1; values drawn without replacement.
    """
    vocab = sequence_vocab(max_value)

    def make_example(rng: np.random.Generator, length: int) -> Example:
        _check_length("sort_unique", length, 1, max_value + 1)
        prompt = _seq_prompt(rng.choice(max_value + 1, size=length, replace=False))
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        return sorted(_seq_values(prompt)) + [P.EOS]

    return TaskSpec(
        "sort_unique",
        vocab,
        make_example,
        oracle,
        P.PROGRAMS["sort_unique"],
        1,
        max_value + 1,
        "number of values n (distinct)",
        {"max_value": max_value},
    )


# ---- addition ---------------------------------------------------------------------------------


def _operands(rng: np.random.Generator, length: int) -> tuple[int, int]:
    """One operand with exactly ``length`` digits, the other with U[1, length] digits, shuffled."""

    def number(digits: int) -> int:
        lead = [int(rng.integers(1 if digits > 1 else 0, 10))]
        return int("".join(map(str, lead + list(rng.integers(0, 10, size=digits - 1)))))

    a, b = number(length), number(int(rng.integers(1, length + 1)))
    return (a, b) if rng.random() < 0.5 else (b, a)


def hinted_number(value: int, pad_len: int, first_hint: int = 0) -> list[int]:
    """Digits of ``value`` zero-padded to ``pad_len``, each after its hint (``first_hint`` = MSB)."""
    out: list[int] = []
    for i, ch in enumerate(str(value).rjust(pad_len, "0")):
        out += [P.hint(first_hint + i), int(ch)]
    return out


def addition_hints_prompt(a: int, b: int, first_hint: int = 0) -> list[int]:
    """Reference prompt: operands padded to ``max_digits + 1`` digits, hinted."""
    pad = max(len(str(a)), len(str(b))) + 1
    return [
        P.START_PROMPT,
        *hinted_number(a, pad, first_hint),
        P.PLUS,
        *hinted_number(b, pad, first_hint),
        P.EQUALS_SIGN,
    ]


def _first_hint(prompt_part: Sequence[int]) -> int:
    """Index of the first hint token in a hinted operand or bit string."""
    return P.HINT_BASE - int(prompt_part[0])


def _digits_value(tokens: Sequence[int]) -> int:
    """Integer spelled by the non-negative tokens (digits, most significant first)."""
    return int("".join(str(int(t)) for t in tokens if t >= 0) or "0")


def _addition_hints_task(reverse: bool, max_hint: int) -> TaskSpec:
    """Index-hint addition (reference format, §4.2 of the reference notes)."""
    name = "add_hints_reverse" if reverse else "add_hints_forward"
    vocab = addition_vocab(max_hint)

    def make_example(rng: np.random.Generator, length: int, first_hint: int = 0) -> Example:
        _check_length(name, length, 1, max_hint)
        _check_first_hint(name, first_hint, length, max_hint + 1, length + 1)
        prompt = addition_hints_prompt(*_operands(rng, length), first_hint)
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        first = _between(prompt, P.START_PROMPT, P.PLUS)
        second = _between(prompt, P.PLUS, P.EQUALS_SIGN)
        pad = len(first) // 2
        total = _digits_value(first) + _digits_value(second)
        pairs = [hinted_number(total, pad, _first_hint(first))[2 * i : 2 * i + 2] for i in range(pad)]
        if reverse:
            pairs = pairs[::-1]
        return [t for pair in pairs for t in pair] + [P.END_RESPONSE]

    return TaskSpec(
        name,
        vocab,
        make_example,
        oracle,
        P.PROGRAMS[name],
        1,
        max_hint,
        "digits of the longer operand (hints 0..length used)",
        {"max_hint": max_hint},
        hints_used=lambda length: length + 1,
    )


def add_hints_forward_task(max_hint: int = 128) -> TaskSpec:
    """Index-hint addition, sum most-significant digit first."""
    return _addition_hints_task(False, max_hint)


def add_hints_reverse_task(max_hint: int = 128) -> TaskSpec:
    """Index-hint addition, sum least-significant digit first."""
    return _addition_hints_task(True, max_hint)


def add_plain_task() -> TaskSpec:
    """Standard addition (contrast, no program): ``START a PLUS b EQUALS`` -> ``digits(a+b) EOS``.

    Plain digits, most significant first, no padding; length = digits of the longer operand.
    """
    vocab = addition_vocab(-1)

    def make_example(rng: np.random.Generator, length: int) -> Example:
        _check_length("add_plain", length, 1, 10**6)
        a, b = _operands(rng, length)
        prompt = [P.START_PROMPT, *map(int, str(a)), P.PLUS, *map(int, str(b)), P.EQUALS_SIGN]
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        total = _digits_value(_between(prompt, P.START_PROMPT, P.PLUS)) + _digits_value(
            _between(prompt, P.PLUS, P.EQUALS_SIGN)
        )
        return [int(c) for c in str(total)] + [P.END_RESPONSE]

    return TaskSpec(
        "add_plain",
        vocab,
        make_example,
        oracle,
        None,
        1,
        10**6,
        "digits of the longer operand",
        {},
    )


# ---- parity -----------------------------------------------------------------------------------


def parity_scratchpad_task(max_hint: int = 128) -> TaskSpec:
    """Parity with evalkit's indexed one-bit scratchpad (see ``programs.parity_scratchpad``).

    ``BOS h0 b0 .. h_{n-1} b_{n-1} SEP`` -> ``h0 p0 .. h_{n-1} p_{n-1} EOS``; length = n bits
    (hints 0..n-1, so n <= max_hint + 1).
    """
    vocab = parity_vocab(max_hint)

    def make_example(rng: np.random.Generator, length: int, first_hint: int = 0) -> Example:
        _check_length("parity_scratchpad", length, 1, max_hint + 1)
        _check_first_hint("parity_scratchpad", first_hint, length, max_hint + 1, length)
        bits = rng.integers(0, 2, size=length)
        hinted = (t for i, b in enumerate(bits) for t in (P.hint(first_hint + i), int(b)))
        prompt = [P.BOS, *hinted, P.SEP]
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        body = _between(prompt, P.BOS, P.SEP)
        bits = [int(t) for t in body if t >= 0]
        out, acc = [], 0
        for i, b in enumerate(bits):
            acc ^= b
            out += [P.hint(_first_hint(body) + i), acc]
        return out + [P.EOS]

    return TaskSpec(
        "parity_scratchpad",
        vocab,
        make_example,
        oracle,
        P.PROGRAMS["parity_scratchpad"],
        1,
        max_hint + 1,
        "number of bits n",
        {"max_hint": max_hint},
        hints_used=lambda length: length,
    )


def parity_plain_task() -> TaskSpec:
    """Plain parity (contrast, no program): ``BOS b1..bn SEP`` -> ``parity EOS``; length = n bits."""
    vocab = parity_vocab(-1)

    def make_example(rng: np.random.Generator, length: int) -> Example:
        _check_length("parity_plain", length, 1, 10**9)
        prompt = [P.BOS, *map(int, rng.integers(0, 2, size=length)), P.SEP]
        return prompt, oracle(prompt)

    def oracle(prompt: Sequence[int]) -> list[int]:
        return [sum(int(t) for t in _between(prompt, P.BOS, P.SEP)) % 2, P.EOS]

    return TaskSpec(
        "parity_plain",
        vocab,
        make_example,
        oracle,
        None,
        1,
        10**9,
        "number of bits n",
        {},
    )


# ---- registry and generation ------------------------------------------------------------------

TASK_FACTORIES: dict[str, Callable[..., TaskSpec]] = {
    "count": count_task,
    "mode": mode_task,
    "copy_unique": copy_unique_task,
    "sort_unique": sort_unique_task,
    "add_hints_forward": add_hints_forward_task,
    "add_hints_reverse": add_hints_reverse_task,
    "parity_scratchpad": parity_scratchpad_task,
    "copy_repeat": copy_repeat_task,
    "add_plain": add_plain_task,
    "parity_plain": parity_plain_task,
}


def make_task(name: str, **params: int) -> TaskSpec:
    """Build task ``name`` with optional ``max_value`` / ``max_hint`` overrides."""
    if name not in TASK_FACTORIES:
        raise KeyError(f"unknown RASP task {name!r}; known: {sorted(TASK_FACTORIES)}")
    return TASK_FACTORIES[name](**params)


def rasp_generate(
    program: RaspProgram | Callable[[np.ndarray], np.ndarray],
    prompt: Sequence[int],
    max_new: int,
    eos: int | None = None,
) -> list[int]:
    """Greedy autoregressive RASP-L generation: append the last-position output until EOS.

    Returns the generated tokens (EOS included if reached within ``max_new``). ``eos`` defaults
    to ``program.eos`` for a registered ``RaspProgram``.
    """
    if eos is None:
        if not isinstance(program, RaspProgram):
            raise ValueError("pass eos= for a plain program function")
        eos = program.eos
    seq = [int(t) for t in prompt]
    out: list[int] = []
    for _ in range(max_new):
        nxt = int(program(np.asarray(seq, dtype=np.int64))[-1])
        seq.append(nxt)
        out.append(nxt)
        if nxt == eos:
            break
    return out
