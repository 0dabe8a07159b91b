"""Offline proxy metrics for CIF-Bench (evalkit's choice, not the paper's GPT-4/BLEURT scores), one per class.

Every metric normalises both strings with :func:`evalkit_cif_bench.normalize.normalize` first and returns a
float in [0, 1]. An empty prediction scores 0 against a non-empty gold; two strings that are equal after
normalisation (both empty included) score 1, so an empty gold never divides by zero.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from itertools import accumulate

import sacrebleu

from evalkit_cif_bench.normalize import normalize

METRIC_CLASSES = ("label", "multi_label", "short_answer", "short_generation", "long_generation")

# The scores each class reports, and the one copied into "score" so tasks of every class can be
# macro-averaged on one column (see score_item for why each primary score was chosen).
CLASS_SCORES: dict[str, tuple[str, ...]] = {
    "label": ("accuracy",),
    "multi_label": ("set_f1",),
    "short_answer": ("exact_match", "char_f1"),
    "short_generation": ("chrf", "bleu", "rouge_l"),
    "long_generation": ("chrf", "bleu", "rouge_l"),
}
PRIMARY_SCORE: dict[str, str] = {
    "label": "accuracy",
    "multi_label": "set_f1",
    "short_answer": "char_f1",
    "short_generation": "chrf",
    "long_generation": "chrf",
}

# The lenient label rule applies only to golds this short (in characters, after normalisation).
SHORT_LABEL_CHARS = 8
# Separators between the items of a multi-label answer, after NFKC (which turns ，；into ,;).
SET_SEPARATORS = re.compile(r"[、，,;；/\s]+")

_ASCII_WORD = re.compile(r"[0-9a-z]")
_ANY_WORD = re.compile(r"[^\W_]")  # a letter or digit of any script, CJK included


def _clip(value: float) -> float:
    """``value`` clipped to [0, 1] (sacrebleu returns e.g. 100.00000000000004 for a perfect match)."""
    return min(1.0, max(0.0, value))


def _glued(text: str, start: int, end: int, candidate: str, word: re.Pattern[str] | None) -> bool:
    """Whether the occurrence text[start:end] of ``candidate`` is glued to a neighbouring character.

    An edge of the candidate that is an ASCII letter/digit is glued when the neighbour beyond it is one too.
    Any other edge is glued only when ``word`` is given and both the edge and the neighbour match it.
    """
    for edge, pos in ((candidate[0], start - 1), (candidate[-1], end)):
        if not 0 <= pos < len(text):
            continue
        if _ASCII_WORD.match(edge):
            if _ASCII_WORD.match(text[pos]):
                return True
        elif word is not None and word.match(edge) and word.match(text[pos]):
            return True
    return False


def _occurrences(text: str, candidate: str, word: re.Pattern[str] | None) -> list[tuple[int, int]]:
    """The (start, end) spans of all non-glued occurrences of ``candidate`` in ``text``, overlaps too."""
    spans, start = [], text.find(candidate)
    while start != -1:
        end = start + len(candidate)
        if not _glued(text, start, end, candidate, word):
            spans.append((start, end))
        start = text.find(candidate, start + 1)
    return spans


_ANSWER_PHRASE = re.compile(r"^(答案|回答|输出|结果|判断)(是|为)?\s*[:：]?\s*")
_CJK = re.compile(r"[\u3400-\u9fff]")
_NEGATION = "不非没"


def _single_cjk_ok(text: str, start: int, end: int) -> bool:
    """Whether a one-character Chinese label (是, 否, ...) at ``start`` is an answer, not part of a word: it
    must not follow a negation (不是), and must either end the answer or touch no other Chinese character."""
    if start > 0 and text[start - 1] in _NEGATION:
        return False
    if end == len(text):
        return True
    return not (start > 0 and _CJK.match(text[start - 1])) and not _CJK.match(text[end])


def _labels_found(prediction: str, candidates: set[str]) -> set[str]:
    """The candidates found in ``prediction``; an occurrence inside a longer candidate's does not count,
    nor a one-character Chinese label inside a word (:func:`_single_cjk_ok`)."""
    spans = [
        (s, e, c)
        for c in candidates
        for s, e in _occurrences(prediction, c, None)
        if not (len(c) == 1 and _CJK.match(c)) or _single_cjk_ok(prediction, s, e)
    ]
    # reach[n][i]: the furthest end of an occurrence longer than n characters that starts at or before i,
    # so (s, e) lies inside a longer occurrence iff reach[e - s][s] >= e (linear, not quadratic, in spans).
    reach: dict[int, list[int]] = {}
    for n in {e - s for s, e, _ in spans}:
        row = [-1] * len(prediction)
        for s, e, _ in spans:
            if e - s > n:
                row[s] = max(row[s], e)
        reach[n] = list(accumulate(row, max))
    return {c for s, e, c in spans if reach[e - s][s] < e}


def label_accuracy(prediction: str, gold: str, labels: Iterable[str] | None = None) -> float:
    """Accuracy on one single-label item: exact after normalisation, or the gold as the answer's only label.

    With ``p = normalize(prediction)`` and ``g = normalize(gold)``:

    1. ``p == g`` → 1 (both empty included); otherwise an empty ``p`` or ``g`` → 0, and a gold longer than
       :data:`SHORT_LABEL_CHARS` characters → 0 (the lenient rule is for short labels only).
    2. With ``labels`` (the task's label set, e.g. its distinct gold outputs; normalised here, ``g`` always
       added): find every occurrence of every candidate label in ``p``. A candidate edge that is an ASCII
       letter or digit must not touch another ASCII letter or digit (``1`` does not occur in ``10``, ``b``
       does occur in ``答案是b``); a Chinese label may occur anywhere (``正确`` occurs in ``答案是正确的``).
       An occurrence lying inside an occurrence of a longer candidate is ignored (``正确`` inside
       ``不正确``). A leading answer phrase (``答案是：``, ``输出``, ...) is dropped first, and a one-character
       Chinese label (是 / 否) counts only outside words: not after 不 / 非 / 没, and either at the end of the
       answer or touching no other Chinese character (``不是`` is no 是; ``……，输出否`` is 否). Score 1 iff the
       candidates left are exactly ``{g}``: ``答案:1`` → 1 for gold ``1`` with labels ``{0, 1}``; ``0或1`` → 0
       (two labels); ``10`` → 0 (no label).
    3. Without ``labels``: score 1 iff ``g`` occurs in ``p`` as a standalone token and ``p`` holds no
       other digit/label-like token. Standalone: an ASCII letter/digit edge of ``g`` must not touch another
       ASCII letter or digit, and any other edge (a Chinese character, say) must not touch any letter or
       digit of any script (so ``答案:正确`` qualifies, ``不正确`` and ``是正确的`` do not). Label-like:
       any ASCII letter or digit left in ``p`` once the standalone occurrences of ``g`` are cut out
       (``答案是b`` → 1 for gold ``b``; ``0或1``, ``选1或2`` and ``the answer is b`` → 0). Chinese
       words are not recognised as competing labels without a label set: pass ``labels`` for that.
    """
    p, g = normalize(prediction), normalize(gold)
    if p == g:
        return 1.0
    if not p or not g or len(g) > SHORT_LABEL_CHARS:
        return 0.0
    if labels is not None:
        candidates = {c for c in (normalize(label) for label in labels) if c} | {g}
        answer = _ANSWER_PHRASE.sub("", p)  # "答案是：否" -> "否": the phrase's 是 is not a label
        return float(answer == g or _labels_found(answer, candidates) == {g})
    spans = _occurrences(p, g, _ANY_WORD)
    if not spans:
        return 0.0
    rest, last = [], 0
    for start, end in spans:  # cut out every standalone occurrence of g (they may overlap)
        rest.append(p[last:start] + " ")
        last = max(last, end)
    rest.append(p[last:])
    return float(not _ASCII_WORD.search("".join(rest)))


def _items(text: str) -> set[str]:
    """The distinct non-empty items of a normalised multi-label answer, each item normalised itself."""
    return {item for item in (normalize(x) for x in SET_SEPARATORS.split(normalize(text))) if item}


def set_f1(prediction: str, gold: str) -> float:
    """F1 between the label sets of a multi-label answer and its gold.

    Both are normalised and split on 、 ， , ; ； / and whitespace; each item is normalised again (so
    ``比喻。`` is ``比喻``), empty items are dropped and duplicates collapse. F1 = 2|P∩G| / (|P| + |G|);
    both sets empty → 1, one empty → 0.
    """
    p, g = _items(prediction), _items(gold)
    if not p and not g:
        return 1.0
    return 2 * len(p & g) / (len(p) + len(g))


def exact_match(prediction: str, gold: str) -> float:
    """1 if prediction and gold are equal after normalisation, else 0."""
    return float(normalize(prediction) == normalize(gold))


def _chars(text: str) -> str:
    """The normalised text without any whitespace: the character sequence the character metrics compare."""
    return "".join(normalize(text).split())


def char_f1(prediction: str, gold: str) -> float:
    """SQuAD-style F1 over characters: the multiset overlap of the normalised, whitespace-free strings.

    precision = overlap / len(prediction), recall = overlap / len(gold), F1 = 2PR / (P + R); both empty → 1,
    one empty (or no overlap) → 0. Characters, not words: Chinese has no spaces to tokenise on.
    """
    p, g = _chars(prediction), _chars(gold)
    if not p or not g:
        return float(p == g)
    overlap = sum((Counter(p) & Counter(g)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(p), overlap / len(g)
    return 2 * precision * recall / (precision + recall)


def chrf(prediction: str, gold: str) -> float:
    """chrF (Popović 2015) of the normalised strings, sacrebleu's ``sentence_chrf`` defaults, / 100.

    Character n-grams n = 1..6 with whitespace removed, beta = 2. sacrebleu (2.x, ``eps_smoothing=False``)
    averages precision and recall over the orders n for which both strings have n-grams, then takes
    F_beta = (1 + beta²)·P·R / (beta²·P + R) of those averages. Both empty → 1, one empty → 0.
    """
    p, g = normalize(prediction), normalize(gold)
    if not p or not g:
        return float(p == g)
    return _clip(sacrebleu.sentence_chrf(p, [g]).score / 100)


def bleu(prediction: str, gold: str) -> float:
    """Sentence BLEU of the normalised strings with sacrebleu's Chinese tokenizer (``zh``), / 100.

    The ``zh`` tokenizer splits every Chinese character into its own token and tokenises the rest with
    ``13a``. sacrebleu's ``sentence_bleu`` defaults are kept: up to 4-grams, effective order (orders for
    which the prediction has no n-gram at all are left out of the geometric mean) and ``exp`` smoothing
    (Chen & Cherry 2014 method 3, as in NIST mteval: the k-th order with no match gets precision
    1 / (2^k · number of prediction n-grams of that order)); no match at any order → 0. Brevity
    penalty exp(1 - r/c) when the prediction has fewer tokens c than the gold's r. Both empty → 1.
    """
    p, g = normalize(prediction), normalize(gold)
    if not p or not g:
        return float(p == g)
    return _clip(sacrebleu.sentence_bleu(p, [g], tokenize="zh").score / 100)


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence of two strings (bit-parallel, Hyyrö 2004).

    The O(len(a)·len(b)) dynamic programme, run one row per character of ``a`` with the whole row of
    ``len(b)`` cells packed into one Python integer: V starts all ones; for each character c of ``a``,
    U = V & M[c] (M[c]: the positions of c in ``b``) and V = (V + U) | (V - U); the LCS length is the
    number of zero bits of V. A 1,000 × 1,000 pair takes well under a millisecond.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    positions: dict[str, list[int]] = {}
    for j, ch in enumerate(b):
        positions.setdefault(ch, []).append(j)
    masks = {ch: sum(1 << j for j in js) for ch, js in positions.items()}
    full = (1 << len(b)) - 1
    v = full
    for ch in a:
        u = v & masks.get(ch, 0)
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def rouge_l_chars(prediction: str, gold: str) -> float:
    """ROUGE-L F-measure (beta = 1) over characters of the normalised, whitespace-free strings.

    P = LCS / len(prediction), R = LCS / len(gold), F = 2PR / (P + R) = 2·LCS / (len(prediction) + len(gold));
    both empty → 1, one empty → 0.
    """
    p, g = _chars(prediction), _chars(gold)
    if not p or not g:
        return float(p == g)
    return 2 * lcs_length(p, g) / (len(p) + len(g))


def score_item(
    metric_class: str, prediction: str, gold: str, labels: Iterable[str] | None = None
) -> dict[str, float]:
    """The scores of one item for its task's metric class, plus ``"score"``: the class's primary score.

    label → accuracy (:func:`label_accuracy`, ``labels`` passed through); multi_label → set_f1;
    short_answer → exact_match and char_f1; short_generation and long_generation → chrf, bleu and
    rouge_l (:func:`rouge_l_chars`). ``labels`` is used by the label class only.

    Primary scores: accuracy and set F1 are the paper's own metric types for the two classification
    classes. For short answers char F1, not exact match: with 50 items per task, partial credit for a
    near-miss answer (an extra particle, a longer span) is less noisy, and exact match is still reported.
    For both generation classes chrF: tokeniser-free, so it treats Chinese and the non-Latin targets of
    the translation tasks alike, it is well defined and informative on short strings where sentence BLEU
    collapses to smoothing artefacts, and it rewards partial word matches that ROUGE-L's single
    subsequence ignores.
    """
    if metric_class not in CLASS_SCORES:
        raise ValueError(f"unknown CIF-Bench metric class {metric_class!r}; expected one of {METRIC_CLASSES}")
    metrics = {
        "accuracy": lambda: label_accuracy(prediction, gold, labels),
        "set_f1": lambda: set_f1(prediction, gold),
        "exact_match": lambda: exact_match(prediction, gold),
        "char_f1": lambda: char_f1(prediction, gold),
        "chrf": lambda: chrf(prediction, gold),
        "bleu": lambda: bleu(prediction, gold),
        "rouge_l": lambda: rouge_l_chars(prediction, gold),
    }
    scores = {name: metrics[name]() for name in CLASS_SCORES[metric_class]}
    scores["score"] = scores[PRIMARY_SCORE[metric_class]]
    return scores
