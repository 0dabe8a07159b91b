"""Vocabularies of the RASP-L task families: reference tokens (negative specials, as the RASP-L
programs read them) <-> contiguous model ids.

Vocabulary tables (one layout per family; ids are contiguous from 0; ``-88`` and ``-999`` are
never tokens; PAD never occurs in prompts or answers and never reaches a program):

===========  ============================================================================
family       ids
===========  ============================================================================
count        PAD=0, START(-1)=1, END(-2)=2, values 0..max_value -> 3..3+max_value
sequence     PAD=0, BOS(-1)=1, SEP(-3)=2, EOS(-5)=3, values 0..max_value -> 4..4+max_value
             (mode, copy_unique, copy_repeat, sort_unique)
addition     PAD=0, START(-1)=1, PLUS(-2)=2, EQUALS(-3)=3, EOS(-5)=4, digits 0..9 -> 5..14,
             hints i=0..max_hint (token -100-i) -> 15+i   (add_plain: max_hint=-1, no hints)
parity       PAD=0, BOS(-1)=1, SEP(-3)=2, EOS(-5)=3, bits 0,1 -> 4,5,
             hints i=0..max_hint (token -100-i) -> 6+i     (parity_plain: no hints)
===========  ============================================================================

Hints stop at ``max_hint <= 898`` so that no hint token reaches ``-999``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import programs as P

PAD_TOKEN = -1_000_000  # reference value of the PAD id; never in prompts, answers or programs
MAX_HINT_LIMIT = 898  # hint 899 would be -999, the induction sentinel


@dataclass(frozen=True)
class Vocab:
    """Contiguous id table: PAD, specials, values ``0..num_values-1``, hints ``0..num_hints-1``."""

    family: str
    specials: tuple[tuple[str, int], ...]
    num_values: int
    num_hints: int = 0

    def __post_init__(self) -> None:
        if self.num_hints > MAX_HINT_LIMIT + 1:
            raise ValueError(f"max_hint must be <= {MAX_HINT_LIMIT} (hint tokens must stay above -999)")
        if self.num_values < 1:
            raise ValueError("num_values must be >= 1")
        tokens = self.tokens()
        if len(set(tokens)) != len(tokens) or {-88, -999} & set(tokens):
            raise ValueError("vocabulary tokens must be distinct and exclude -88 / -999")

    def tokens(self) -> list[int]:
        """Reference token of every id, in id order."""
        return (
            [PAD_TOKEN]
            + [tok for _, tok in self.specials]
            + list(range(self.num_values))
            + [P.hint(i) for i in range(self.num_hints)]
        )

    @property
    def vocab_size(self) -> int:
        """Number of ids."""
        return 1 + len(self.specials) + self.num_values + self.num_hints

    @property
    def pad_id(self) -> int:
        """Id of PAD (always 0)."""
        return 0

    def special_id(self, name: str) -> int:
        """Id of the special token called ``name`` (e.g. ``"EOS"``)."""
        for i, (special, _) in enumerate(self.specials):
            if special == name:
                return 1 + i
        raise KeyError(name)

    @property
    def eos_id(self) -> int:
        """Id of the end-of-answer token (``END`` for count, ``EOS`` elsewhere)."""
        names = [name for name, _ in self.specials]
        return self.special_id("END" if "END" in names else "EOS")

    @property
    def eos_token(self) -> int:
        """Reference value of the end-of-answer token."""
        return self.tokens()[self.eos_id]

    def encode_token(self, tok: int) -> int:
        """Id of one reference token (``ValueError`` if outside the table)."""
        tok = int(tok)
        if tok == PAD_TOKEN:
            return 0
        for i, (_, special) in enumerate(self.specials):
            if tok == special:
                return 1 + i
        base = 1 + len(self.specials)
        if 0 <= tok < self.num_values:
            return base + tok
        idx = P.HINT_BASE - tok
        if tok <= P.HINT_BASE and idx < self.num_hints:
            return base + self.num_values + idx
        raise ValueError(f"token {tok} is not in the {self.family} vocabulary")

    def encode(self, tokens: Sequence[int]) -> list[int]:
        """Reference tokens -> ids."""
        return [self.encode_token(t) for t in tokens]

    def decode(self, ids: Sequence[int]) -> list[int]:
        """Ids -> reference tokens (``ValueError`` on ids outside ``0..vocab_size-1``)."""
        table = self.tokens()
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(table):
                raise ValueError(f"id {i} outside 0..{len(table) - 1}")
            out.append(table[i])
        return out

    def render(self, ids: Sequence[int]) -> str:
        """Ids as a readable line: specials by name, values as numbers, hint i as ``h<i>`` (e.g.
        ``START 3 5 END``); an id outside the table shows as ``?<id>``."""
        names = ["PAD"] + [name for name, _ in self.specials]
        base, out = len(names), []
        for i in map(int, ids):
            if 0 <= i < base:
                out.append(names[i])
            elif base <= i < base + self.num_values:
                out.append(str(i - base))
            elif base + self.num_values <= i < self.vocab_size:
                out.append(f"h{i - base - self.num_values}")
            else:
                out.append(f"?{i}")
        return " ".join(out)


def count_vocab(max_value: int) -> Vocab:
    """Count family table."""
    return Vocab("count", (("START", P.COUNT_START), ("END", P.COUNT_END)), max_value + 1)


def sequence_vocab(max_value: int) -> Vocab:
    """Sequence family table (mode, copy, sort)."""
    return Vocab("sequence", (("BOS", P.BOS), ("SEP", P.SEP), ("EOS", P.EOS)), max_value + 1)


def addition_vocab(max_hint: int) -> Vocab:
    """Addition family table (``max_hint=-1``: no hint tokens)."""
    specials = (
        ("START", P.START_PROMPT),
        ("PLUS", P.PLUS),
        ("EQUALS", P.EQUALS_SIGN),
        ("EOS", P.END_RESPONSE),
    )
    return Vocab("addition", specials, 10, max_hint + 1)


def parity_vocab(max_hint: int) -> Vocab:
    """Parity family table (``max_hint=-1``: no hint tokens)."""
    return Vocab("parity", (("BOS", P.BOS), ("SEP", P.SEP), ("EOS", P.EOS)), 2, max_hint + 1)
