"""Answer parsing: the paper-compatible extractor (section 9) and the strict parser, on realistic outputs."""

from __future__ import annotations

import pytest
from evalkit_scylla.core import parse

N, L = "number", "list"

# (kind, model output, paper-mode result, strict-mode result)
CASES: list[tuple[str, str, object, object]] = [
    # 1-10: plain final answers, the happy path
    (N, "The smallest number is 2.\n\nThe answer is 2", 2.0, 2),
    (N, "Scanning the list, 7 < 48 and 2 < 7, so the minimum is 2. The answer is 2.", 2.0, 2),
    (N, "answer: 12", 12.0, 12),
    (N, "Answer: 97", 97.0, 97),
    (L, "Sorting step by step gives 2, 7, 29.\nThe answer is [2, 7, 29].", [2, 7, 29], [2, 7, 29]),
    (L, "The answer is [12,34,56]", [12, 34, 56], [12, 34, 56]),
    (L, "We need 3 + 7 = 10.\n\nThe answer is [3, 7]", [3, 7], [3, 7]),
    (
        L,
        "The tour 0->2->1->3->0 has length 41. The answer is [0, 2, 1, 3, 0]",
        [0, 2, 1, 3, 0],
        [0, 2, 1, 3, 0],
    ),
    (L, "The answer is: [4, 5, 6]", [4, 5, 6], [4, 5, 6]),
    (L, "The answer to the task is [8, 9]", [8, 9], [8, 9]),
    # 11-16: markdown, code fences, LaTeX
    (N, "**The answer is 42**", 42.0, 42),
    (L, "**Final answer:** The answer is **[1, 2, 3]**", [1, 2, 3], [1, 2, 3]),
    (L, "The answer is:\n```json\n[5, 6]\n```", [5, 6], [5, 6]),
    (L, "```python\nprint(sorted(l))\n```\nThe answer is `[1, 3, 9]`", [1, 3, 9], [1, 3, 9]),
    (L, "Thus the answer is $\\boxed{[1, 2]}$.", [1, 2], [1, 2]),
    (N, "The final answer is $\\boxed{57}$.", 57.0, 57),
    # 17-20: LaTeX the paper cannot read
    (L, "**The answer is:** \\[ [3, 4] \\]", None, [3, 4]),
    (L, "The subset is \\boxed{10, 20, 30}", None, [10, 20, 30]),
    (L, "The answer is \\left[1, 2\\right]", None, [1, 2]),
    (L, "Final: $\\boxed{\\{2, 8\\}}$", None, [2, 8]),
    # 21-24: signs and number formats
    (N, "The answer is -3", 3.0, -3),
    (N, "The answer is $\\boxed{-7}$.", 7.0, -7),
    (N, "The answer is 1,234.", 1.0, 1234),
    (N, "The answer is 12.0", 12.0, 12),
    # 25-28: several lists / second thoughts / trailing text
    (L, "First try: the answer is [1, 2]. Wait, that is wrong. The answer is [2, 3]", [2, 3], [2, 3]),
    (L, "The answer is [5, 1]. Checking the answer: 5 + 1 = 6, correct.", [5, 1], [5, 1]),
    (L, "Candidates: [1, 2] and [3, 4]. The answer is [3, 4] because 3 + 4 = 7.", [3, 4], [3, 4]),
    (L, "The numbers are [4, 9]. So we pick them.", [4, 9], None),
    # 29-33: no usable final answer
    (N, "I cannot determine this without more information.", None, None),
    (L, "Let me think about the list 1 2 3 and sort it...", None, None),
    (N, "We compare 48 and 2, then 2 and 64; the smallest so far is 2 and then", 2.0, None),
    (L, "The sorted list is [1, 2, 3] but I am not sure.", [1, 2, 3], None),
    (L, "The answer is the list of cities in order.", None, None),
    # 34-38: JSON objects, nesting and junk
    (L, 'The answer is {"answer": [1, 2]}', [1, 2], None),
    (L, "The answer is [{}, 1]", None, None),
    (L, "The answer is [[1, 2], [3, 4]]", [3, 4], None),  # paper: "[[1, 2]" fails, last list anywhere
    (L, "The answer is [a, b, c]", None, None),
    (L, "The answer is [1 2 3]", None, [1, 2, 3]),
    # 39-42: keyword order and spacing quirks of the paper's extractor
    (L, "numbers: [7, 8]\nanswer is [1, 2]", [1, 2], [1, 2]),
    (L, "answer is: [1, 2] and numbers are [3]", [1, 2], [1, 2]),
    (N, "The answer is 2. (The list had 16 elements.)", 2.0, 2),
    (N, "The answer is three, i.e. 3", 3.0, None),
    # 43-45: second-pass style continuations (trigger prepended)
    (N, "Therefore, the answer is 85.", 85.0, 85),
    (L, "Therefore, the answer is [0, 3, 1, 2, 0].", [0, 3, 1, 2, 0], [0, 3, 1, 2, 0]),
    (N, "Therefore, the answer is\n\n**64**", 64.0, 64),
]


@pytest.mark.parametrize(("kind", "text", "paper", "strict"), CASES)
def test_parsers(kind: str, text: str, paper: object, strict: object) -> None:
    got_paper = parse.parse_paper(kind, text)
    got_strict = parse.parse_strict(kind, text)
    assert got_paper == paper and type(got_paper) is type(paper)
    assert got_strict == strict and type(got_strict) is type(strict)


def test_enough_cases() -> None:
    assert len(CASES) >= 30


def test_keyword_tuples_are_immutable_and_calls_are_pure() -> None:
    assert isinstance(parse.PAPER_LIST_KEYWORDS, tuple) and isinstance(parse.PAPER_NUMBER_KEYWORDS, tuple)
    assert parse.PAPER_LIST_KEYWORDS[-1] == "" and parse.PAPER_NUMBER_KEYWORDS[-1] == ""
    before = (parse.PAPER_LIST_KEYWORDS, parse.PAPER_NUMBER_KEYWORDS)
    for _ in range(3):
        parse.parse_paper(L, "The answer is [1, 2]")
        parse.parse_paper(N, "The answer is 3")
    assert (parse.PAPER_LIST_KEYWORDS, parse.PAPER_NUMBER_KEYWORDS) == before


def test_paper_extractors_return_the_stored_json_strings() -> None:
    assert parse.paper_extract_number("The answer is 2.") == "2.0"
    assert parse.paper_extract_list('The answer is "[1,2]"') == "[1,2]"
    assert parse.paper_clean('a```json\nb`c"d```python') == "abcd"


def test_strict_number_edge_cases() -> None:
    assert parse.parse_strict(N, "The answer is 12.5") == 12.5
    assert parse.parse_strict(N, "The answer is \u22125") == -5
    assert parse.parse_strict(N, "The answer is [42]") is None
    assert parse.parse_strict(N, "Answer = 17") == 17
    assert parse.parse_strict(L, "The answer is []") == []


def test_unknown_kind() -> None:
    with pytest.raises(ValueError):
        parse.parse_paper("matrix", "x")
    with pytest.raises(ValueError):
        parse.parse_strict("matrix", "x")
