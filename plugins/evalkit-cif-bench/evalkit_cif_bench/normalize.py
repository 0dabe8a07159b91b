"""Answer normalisation for CIF-Bench proxy scores, so width, case, spacing and end punctuation never count.

CIF-Bench's gold outputs are not normalised themselves (task 10 mixes ``1``/``0`` with full-width ``０``),
so every metric in :mod:`evalkit_cif_bench.metrics` compares ``normalize(prediction)`` with
``normalize(gold)``. Bump :data:`NORMALIZATION_VERSION` whenever the output of :func:`normalize` changes.
"""

from __future__ import annotations

import re
import unicodedata

NORMALIZATION_VERSION = "1"

# Characters stripped from both ends of an answer (never from its inside). Chinese sentence and quotation
# punctuation, ASCII punctuation that wraps or ends an answer, and markdown emphasis/code marks. NFKC runs
# first, so the full-width forms (，！？；：（）．～ …) arrive as ASCII; they are listed for the reader.
# Deliberately absent: - + # % / $ @ & = < > _ and digits, which can be part of an answer ("-1", "50%").
STRIP_CHARS = (
    "。．.，,！!？?；;：:、"  # sentence and clause punctuation
    "\"“”'‘’「」『』《》〈〉"  # quotation and title marks
    "()（）[]【】〔〕〖〗{}｛｝"  # brackets
    "…~～*`"  # ellipsis, tildes, markdown emphasis and code marks
)

_WHITESPACE = re.compile(r"\s+")
_STRIP = " " + STRIP_CHARS


def normalize(text: str) -> str:
    """The canonical form of an answer: the same string for answers that differ only in width, case,
    spacing or surrounding punctuation.

    Steps, in order:

    1. Unicode NFKC: full-width digits, Latin letters and punctuation become ASCII (``０`` → ``0``,
       ``Ｂ`` → ``B``, ``，`` → ``,``), the ideographic space becomes a space, ligatures and compatibility
       forms are decomposed (``…`` → ``...``).
    2. ``str.lower()``: lower-cases Latin letters (and the letters of any other cased script; Chinese,
       Japanese, Arabic and the Indic scripts of CIF-Bench's translation tasks have no case), then NFKC
       once more, because a lower-case letter can compose with a following accent where its capital
       could not (``Ｙ`` + U+030A → ``y`` + U+030A → U+1E99 ``ẙ``); without it the function would
       not be idempotent.
    3. Every run of whitespace (spaces, tabs, newlines) becomes one space.
    4. Spaces and the characters of :data:`STRIP_CHARS` are stripped from both ends, repeatedly, so
       ``"「正确」。 "`` → ``"正确"``; punctuation inside the answer is kept.

    The result is a fixed point: ``normalize(normalize(s)) == normalize(s)``.
    """
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).lower())
    return _WHITESPACE.sub(" ", text).strip(_STRIP)
