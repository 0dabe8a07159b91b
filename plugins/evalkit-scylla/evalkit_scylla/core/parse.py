"""Answer parsing: the paper's extractor (section 9, byte-compatible) and evalkit's strict parser.

``parse_paper`` follows the authors' ``utils/task_utils.py``: delete the substrings ```json, ```python,
backticks, newlines and double quotes; try the keywords in order and take the *last* match of
``keyword \\s* [ ... ]`` (lists, first ``]`` closes) or ``keyword \\s* digits[.digits]`` (numbers, no
sign), falling back to the empty keyword (last list / number anywhere). Lists must be valid JSON and
contain no ``{``/``}``. Numbers come back as floats (so "-3" parses as 3.0, quirk Q4). Keyword lists are
immutable tuples here; the original appended "" to a mutable default on every call (harmless).

``parse_strict`` reads only the *final answer*: the last "answer is / answer: / answer = / answer to
the task is" (case-insensitive, markdown ``**`` allowed around it) whose text *starts* with a number or
a bracketed list, after skipping spaces, ``:``, ``*``, ``_``, ``$``, backticks, quotes, a code-fence tag,
``\\(``, ``\\[``, ``\\text{``/``\\textbf{``/``\\mathbf{``/``\\mathrm{`` and ``\\displaystyle``; or else a
``\\boxed{...}`` (the later of the two wins). Rules: a leading ``-`` (or U+2212) is kept; ``1,234`` (groups
of exactly three digits, numbers only) is 1234; ``12.0`` is 12, ``12.5`` stays a float (parsed, wrong);
list items are separated by commas and/or spaces and must all be numbers, else None; ``\\left``/``\\right``
are ignored; only inside ``\\boxed{}`` may a list lack brackets (``\\boxed{1, 2}``) or use ``\\{ \\}``.
Text after the answer (periods, explanations) is ignored. Returns None when nothing parses.
"""

from __future__ import annotations

import json
import re
from typing import Any

# ---- paper-compatible ---------------------------------------------------------------------------------

PAPER_CLEAN: tuple[str, ...] = ("```json", "```python", "`", "\n", '"')
PAPER_LIST_KEYWORDS: tuple[str, ...] = (
    "answer is",
    "answer:",
    "answer is:",
    "answer to the task is",
    "numbers are",
    "numbers are:",
    "numbers:",
    "",
)
PAPER_NUMBER_KEYWORDS: tuple[str, ...] = ("answer is", "answer:", "answer is:", "answer to the task is", "")


def paper_clean(text: str) -> str:
    """Delete the substrings the paper removes before extraction."""
    for s in PAPER_CLEAN:
        text = text.replace(s, "")
    return text


def paper_extract_list(text: str) -> str | None:
    """The paper's list extractor on raw model output: the JSON string it stores, or None."""
    cleaned = paper_clean(text)
    for keyword in PAPER_LIST_KEYWORDS:
        matches = re.findall(re.escape(keyword) + r"\s*(\[.*?\])", cleaned)
        if matches:
            try:
                json.loads(matches[-1])
            except json.JSONDecodeError:
                continue
            return None if "{" in matches[-1] or "}" in matches[-1] else matches[-1]
    return None


def paper_extract_number(text: str) -> str | None:
    """The paper's number extractor on raw model output: the JSON float string it stores, or None."""
    cleaned = paper_clean(text)
    for keyword in PAPER_NUMBER_KEYWORDS:
        matches = re.findall(re.escape(keyword) + r"\s*([0-9]+\.?[0-9]*)", cleaned)
        if matches:
            return json.dumps(float(matches[-1]))
    return None


def parse_paper(kind: str, text: str) -> Any:
    """Paper-mode parse: a float for ``kind="number"``, the JSON list for ``kind="list"``, or None."""
    if kind == "number":
        got = paper_extract_number(text)
    elif kind == "list":
        got = paper_extract_list(text)
    else:
        raise ValueError(f"kind must be 'number' or 'list', got {kind!r}")
    return None if got is None else json.loads(got)


# ---- strict ---------------------------------------------------------------------------------------------

STRICT_KEYWORDS: tuple[str, ...] = ("answer is", "answer:", "answer =", "answer to the task is")
_KEYWORD_RE = re.compile(r"\banswer(?:[\s*_]+to[\s*_]+the[\s*_]+task)?[\s*_]*(?:is\b|:|=)", re.IGNORECASE)
_WRAPPER_RE = re.compile(
    r"(?:\s+|```[A-Za-z]*|[:*_$`\"'=]|\\\(|\\\[|\\displaystyle|\\(?:text|textbf|mathbf|mathrm)\{)"
)
_NUMBER_RE = re.compile(r"[-\u2212]?(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+(?:\.\d+)?)")
_ITEM_RE = re.compile(r"[-\u2212]?\d+(?:\.\d+)?")
_BOXED = "\\boxed{"


def _number(token: str, allow_commas: bool) -> int | float | None:
    """An int for integral tokens (``12.0`` -> 12), a float otherwise, None if not a number."""
    token = token.replace("\u2212", "-")
    if allow_commas and re.fullmatch(r"-?\d{1,3}(?:,\d{3})+", token):
        token = token.replace(",", "")
    if not re.fullmatch(r"-?\d+(?:\.\d+)?", token):
        return None
    value = float(token)
    return int(token) if "." not in token else (int(value) if value.is_integer() else value)


def _items(inner: str) -> list[int | float] | None:
    """Comma- and/or space-separated numbers, or None if any item is not a number."""
    parts = [p for p in re.split(r"[,\s]+", inner.strip()) if p]
    out = [_number(p, allow_commas=False) if _ITEM_RE.fullmatch(p) else None for p in parts]
    return None if any(v is None for v in out) else out  # type: ignore[return-value]


def _braced(text: str, open_at: int) -> str | None:
    """The text inside the ``{`` at ``open_at`` up to its matching ``}``, or None if unbalanced."""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1 : i]
    return None


def _skip_wrappers(text: str, pos: int) -> int:
    """Position after any run of formatting wrappers at ``pos``."""
    while True:
        m = _WRAPPER_RE.match(text, pos)
        if not m or m.end() == pos:
            return pos
        pos = m.end()


def _leading(kind: str, text: str, pos: int) -> Any:
    """The answer that starts ``text`` at ``pos`` (after wrappers), or None."""
    pos = _skip_wrappers(text, pos)
    if text.startswith(_BOXED, pos):
        inner = _braced(text, pos + len(_BOXED) - 1)
        return None if inner is None else _whole(kind, inner)
    if kind == "list":
        m = re.compile(r"\[([^\[\]]*)\]").match(text, pos)
        return None if m is None else _items(m.group(1))
    m = _NUMBER_RE.match(text, pos)
    if m is None or text[m.end() : m.end() + 1].isdigit():
        return None
    return _number(m.group(0), allow_commas=True)


def _whole(kind: str, inner: str) -> Any:
    """A complete ``\\boxed{}`` body as an answer (lists may omit brackets or use ``\\{ \\}``)."""
    body = inner.strip().strip("$ ").strip()
    body = re.sub(r"^\\text(?:bf)?\{(.*)\}$", r"\1", body).strip()
    if kind == "number":
        return _number(body, allow_commas=True)
    if body.startswith("\\{") and body.endswith("\\}"):
        body = body[2:-2]
    elif body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    if "[" in body or "]" in body:
        return None
    return _items(body)


def parse_strict(kind: str, text: str) -> Any:
    """Strict parse of the final answer: int/float for ``kind="number"``, a list for ``kind="list"``, or None."""
    if kind not in ("number", "list"):
        raise ValueError(f"kind must be 'number' or 'list', got {kind!r}")
    text = re.sub(r"\\(?:left|right)(?=[\[\](){}.|\\])", "", text)
    candidates = [m.end() for m in _KEYWORD_RE.finditer(text)]
    candidates += [m.start() for m in re.finditer(re.escape(_BOXED), text)]
    for pos in sorted(candidates, reverse=True):
        got = _leading(kind, text, pos)
        if got is not None:
            return got
    return None
