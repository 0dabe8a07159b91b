"""Scylla task strings, prompts and input formats against the reference (byte for byte).

The fixtures below are copied verbatim from ``shared/reference/scylla.md`` sections 3-7 (which copy the
authors' code), never generated from the code under test.
"""

from __future__ import annotations

import pytest
from evalkit_scylla.core import formats, prompts, spec

# ---- fixtures: reference section 4 (class -> (task_title, task_description)) and section 5 -------------

TITLES_AND_DESCRIPTIONS = {
    "FindMinimum": (
        "finding minimum",
        "Given a list of numbers separated by spaces, find the smallest number.",
    ),
    "FindMaximum": (
        "finding maximum",
        "Given a list of numbers separated by spaces, find the largest number.",
    ),
    "FindMode": (
        "finding mode",
        "Given a list of numbers separated by spaces, find the mode of the numbers.",
    ),
    "FindTopk": (
        "finding top k",
        "Given a list of numbers $l$ separated by spaces and a positive integer $k$, find the $k$th largest number.",
    ),
    "SortNumbers": (
        "sorting numbers",
        "Given a list of numbers separated by spaces, sort the numbers in ascending order.",
    ),
    "RemoveDuplicateNumbers": (
        "removing duplicate numbers",
        "Given a list of numbers separated by spaces, remove duplicate numbers so that every number appears only once, and output the remaining numbers in their original order.",
    ),
    "TwoSum": (
        "finding two numbers adding up to a specific sum",
        "Given a list of numbers $l$ separated by spaces and a target value $k$, find two numbers in the list that add up to the target value.",
    ),
    "ThreeSum": (
        "finding three numbers adding up to a specific sum",
        "Given a list of numbers $l$ separated by spaces and a target value $k$, find three numbers in the list that add up to the target value.",
    ),
    "FourSum": (
        "finding four numbers adding up to a specific sum",
        "Given a list of numbers $l$ separated by spaces and a target value $k$, find four numbers in the list that add up to the target value.",
    ),
    "SubsetSum": (
        "finding the subset of numbers adding up to a specific sum",
        "Given a list of numbers $l$ separated by spaces and a target value $k$, find a set of numbers in the list that add up to the target value.",
    ),
    "ThreeSumInRange": (
        "finding three numbers adding up to be in a specific range",
        "Given a list of numbers $l$ separated by spaces and two numbers $a$ and $b$, find three numbers in the list that add up to a value that is in the range $(a, b)$, i.e. greater than $a$ and less than $b$.",
    ),
    "FourSumInRange": (
        "finding four numbers adding up to be in a specific range",
        "Given a list of numbers $l$ separated by spaces and two numbers $a$ and $b$, find four numbers in the list that add up to a value that is in the range $(a, b)$, i.e. greater than $a$ and less than $b$.",
    ),
    "SubsetSumInRange": (
        "finding a subset adding up to be in a specific range",
        "Given a list of numbers $l$ separated by spaces and two numbers $a$ and $b$, find a subset in the list that adds up to a value that is in the range $(a, b)$, i.e. greater than $a$ and less than $b$.",
    ),
    "ThreeSumMultipleTen": (
        "finding three numbers adding up to be multiple of 10",
        "Given a list of numbers separated by spaces, find three numbers in the list that add up to be a multiple of 10.",
    ),
    "FourSumMultipleTen": (
        "finding four numbers adding up to be multiple of 10",
        "Given a list of numbers separated by spaces, find four numbers in the list that add up to be a multiple of 10.",
    ),
    "SubsetSumMultipleTen": (
        "finding a subset adding up to be multiple of 10",
        "Given a list of numbers separated by spaces, find a subset in the list that adds up to be a multiple of 10.",
    ),
    "LongestIncreasingSubsequence": (
        "finding the longest increasing subsequence",
        "Given a list of numbers separated by spaces, return the longest strictly increasing subsequence. A subsequence is a list that can be derived from another list by deleting some or no elements without changing the order of the remaining elements.",
    ),
    "LongestConsecutiveElements": (
        "finding the longest consecutive elements",
        "Given a list of numbers separated by spaces, return the longest consecutive number sequence in ascending order. A consecutive sequence is a sequence of numbers where each number is exactly 1 greater than the previous number.",
    ),
    "LongestCommonSubarray": (
        "finding the longest common subarray",
        "Given two integer arrays $l_1$ and $l_2$, return the longest common subarray that appears in both arrays. A subarray is a contiguous sequence of numbers within an array.",
    ),
    "TSP": (
        "Traveling Salesman Problem (TSP)",
        "Your task is to solve the Traveling Salesman Problem (TSP). Given a list of cities and the distances between each pair of cities, your goal is to find the shortest path that visits every city once and returns to the starting city. The inputs include 1) $n$: the number of cities; 2) $D$: an adjacency matrix of size $n \\times n$ where $D_{ij}$ is the distance between city $i$ and city $j$. The output should be a list of integers representing the order of cities to visit. The cities are indexed from 0 to $n-1$. City 0 is always the starting city.",
    ),
}
ANSWER_FORMATS = {
    "NUM": (
        'The answer should be a single number. For example, "The answer is 123" is in a valid format.'
    ),  # FindMinimum, FindMaximum, FindMode, FindTopk
    "LIST": (
        'The answer should be a list. The list must be wrapped by square brackets and each element in the list must be a single number and must be separated by commas. For example, "The answer is [12, 34, 56]" is in a valid format.'
    ),  # SortNumbers, RemoveDuplicateNumbers, SubsetSum, SubsetSumInRange, SubsetSumMultipleTen, LIS, LCE, LCS
    "LIST2": (
        'The answer should be a list of exactly two numbers. The list must be wrapped by square brackets and each element in the list must be a single number and must be separated by commas. For example, "The answer is [12, 34]" is in a valid format.'
    ),  # TwoSum
    "LIST3": (
        'The answer should be a list of exactly three numbers. The list must be wrapped by square brackets and each element in the list must be a single number and must be separated by commas. For example, "The answer is [12, 34, 56]" is in a valid format.'
    ),  # ThreeSum, ThreeSumInRange, ThreeSumMultipleTen
    "LIST4": (
        'The answer should be a list of exactly four numbers. The list must be wrapped by square brackets and each element in the list must be a single number and must be separated by commas. For example, "The answer is [12, 34, 56, 78]" is in a valid format.'
    ),  # FourSum, FourSumInRange, FourSumMultipleTen
    "TSP": (
        'The answer should be a list of integers representing the order of cities to visit, and must start with 0 and also end with 0. For example, "The answer is [0, 1, 2, 3, 0]" is in a valid format.'
    ),  # TSP
}
# Section 6 template with its \\n escapes as printed in the reference.
EVAL_TEMPLATE_ESCAPED = 'Here is a task: {task_description}\\n\\nSolve the task with the following input:\\n{input_str}\\n\\nIMPORTANT: End your response with "The answer is <ANSWER>" where you should fill <ANSWER> with your final answer and must format the final answer obeying the following rules: {answer_format_requirements}\\n\\nYour response:\\nLet\'s think step by step.'
# Section 7 probing prompts (number lists, LCS pairs, TSP), \\n escapes as printed.
PROBE_LIST_ESCAPED = "Randomly generate number lists as test inputs for testing a program written for the task of {task_title}. The task description is: {task_description} Enclose each number list by square brackets, e.g. [x1, x2, x3, x4]. Do not generate the corresponding output. Do not use or generate any code. Make sure that the number elements are non-negative integers. Make sure that the number lists are not empty and not too long.\\n\\nNow please generate as many such number lists as possible:\\n\\n"
PROBE_PAIR_ESCAPED = "Randomly generate pairs of number lists as test inputs for testing a program written for the task of {task_title}. The task description is: {task_description} Enclose each of the two number list by square brackets and put them in another list, e.g. [[x1, x2], [x3, x4]]. Do not generate the corresponding output. Do not use or generate any code. Make sure that the number elements are non-negative integers. Make sure that the number lists are not empty and not too long.\\n\\nNow please generate as many such pairs of number lists as possible:\\n\\n"
PROBE_TSP_ESCAPED = "Randomly generate some adjacency matrices as test inputs for testing a program written for the task of solving the Traveling Salesman Problem (TSP). The task description is: Given a list of cities and the distances between each pair of cities, find the shortest path that visits every city once and returns to the starting city. Enclose each adjacency matrix by square brackets. Make sure the matrix is symmetric, and each element should be a non-negative integer. For example, [[0, x1, x2, x3], [x1, 0, x4, x5], [x2, x4, 0, x6], [x3, x5, x6, 0]] is a valid adjacency matrix. Do not generate the corresponding output. Do not use or generate any code. Make sure that the adjacency matrices have length larger than 3 but not too large.\\n\\nNow please generate as many such adjacency matrices as possible:\\n\\n"

ANSWER_FORMAT_USERS = {
    "NUM": ["FindMinimum", "FindMaximum", "FindMode", "FindTopk"],
    "LIST": [
        "SortNumbers",
        "RemoveDuplicateNumbers",
        "SubsetSum",
        "SubsetSumInRange",
        "SubsetSumMultipleTen",
        "LongestIncreasingSubsequence",
        "LongestConsecutiveElements",
        "LongestCommonSubarray",
    ],
    "LIST2": ["TwoSum"],
    "LIST3": ["ThreeSum", "ThreeSumInRange", "ThreeSumMultipleTen"],
    "LIST4": ["FourSum", "FourSumInRange", "FourSumMultipleTen"],
    "TSP": ["TSP"],
}

# Table 1 / section 2 order and levels.
TABLE1 = [
    ("FindMinimum", "O(N)"),
    ("FindMaximum", "O(N)"),
    ("FindMode", "O(N)"),
    ("FindTopk", "O([N,N^2])"),
    ("SortNumbers", "O([N,N^2])"),
    ("RemoveDuplicateNumbers", "O([N,N^2])"),
    ("TwoSum", "O([N,N^2])"),
    ("ThreeSum", "O([N^2,N^3])"),
    ("ThreeSumInRange", "O([N^2,N^3])"),
    ("ThreeSumMultipleTen", "O([N^2,N^3])"),
    ("FourSum", "O([N^3,N^4])"),
    ("FourSumInRange", "O([N^3,N^4])"),
    ("FourSumMultipleTen", "O([N^3,N^4])"),
    ("SubsetSum", "O(2^N)"),
    ("SubsetSumInRange", "O(2^N)"),
    ("SubsetSumMultipleTen", "O(2^N)"),
    ("TSP", "O(2^N)"),
    ("LongestIncreasingSubsequence", "probe"),
    ("LongestConsecutiveElements", "probe"),
    ("LongestCommonSubarray", "probe"),
]

# Reference section 3: the n = 3 TSP illustration, with the trailing newline after "\\]".
TSP_3X3 = "$n$ = 3, $D$ =\n\\[\n\\begin{bmatrix}\n0 & 12 & 7 \\\\\n12 & 0 & 5 \\\\\n7 & 5 & 0\n\\end{bmatrix}\n\\]\n"


def _unescape(s: str) -> str:
    """The reference prints newlines as backslash-n inside its code blocks."""
    return s.replace("\\n", "\n")


def test_levels_constant() -> None:
    assert spec.LEVELS == ("O(N)", "O([N,N^2])", "O([N^2,N^3])", "O([N^3,N^4])", "O(2^N)")


def test_table1_order_and_levels() -> None:
    assert [(s.name, s.level) for s in spec.TASKS.values()] == TABLE1
    assert len(spec.TASKS) == 20
    assert all(slug == s.slug for slug, s in spec.TASKS.items())
    assert spec.TASKS["find_minimum"].name == "FindMinimum"
    assert spec.TASKS["three_sum_in_range"].name == "ThreeSumInRange"
    assert spec.TASKS["tsp"].name == "TSP"
    assert spec.TASKS["longest_increasing_subsequence"].name == "LongestIncreasingSubsequence"
    assert len(spec.ANCHOR_SLUGS) == 17 and len(spec.PROBE_SLUGS) == 3


@pytest.mark.parametrize("name", list(TITLES_AND_DESCRIPTIONS))
def test_title_and_description(name: str) -> None:
    task = spec.TASKS[spec.SLUG_BY_NAME[name]]
    assert (task.title, task.description) == TITLES_AND_DESCRIPTIONS[name]


@pytest.mark.parametrize("key", list(ANSWER_FORMATS))
def test_answer_formats(key: str) -> None:
    for name in ANSWER_FORMAT_USERS[key]:
        task = spec.TASKS[spec.SLUG_BY_NAME[name]]
        assert task.answer_format == ANSWER_FORMATS[key], name
        assert task.answer_kind == ("number" if key == "NUM" else "list")
    assert sum(len(v) for v in ANSWER_FORMAT_USERS.values()) == 20


def test_answer_semantics_flags() -> None:
    order_free = {s.name for s in spec.TASKS.values() if s.order_free}
    assert order_free == {
        "TwoSum", "ThreeSum", "FourSum", "SubsetSum", "ThreeSumInRange", "FourSumInRange", "SubsetSumInRange",
        "ThreeSumMultipleTen", "FourSumMultipleTen", "SubsetSumMultipleTen",
    }  # fmt: skip
    assert [s.name for s in spec.TASKS.values() if s.is_tour] == ["TSP"]


@pytest.mark.parametrize("slug", list(spec.TASKS))
def test_eval_prompt_matches_template(slug: str) -> None:
    task = spec.TASKS[slug]
    want = (
        _unescape(EVAL_TEMPLATE_ESCAPED)
        .replace("{task_description}", task.description)
        .replace("{input_str}", "12 7 33")
        .replace("{answer_format_requirements}", task.answer_format)
    )
    assert prompts.eval_prompt(task, "12 7 33") == want
    assert prompts.paper_raw_text(task, "12 7 33") == "You are a helpful AI assistant.\n\n" + want


def test_eval_prompt_literal_find_minimum() -> None:
    got = prompts.eval_prompt(spec.get_task("find_minimum"), "48 2 64 29 85 7 41")
    assert got == (
        "Here is a task: Given a list of numbers separated by spaces, find the smallest number.\n\n"
        "Solve the task with the following input:\n48 2 64 29 85 7 41\n\n"
        'IMPORTANT: End your response with "The answer is <ANSWER>" where you should fill <ANSWER> with your '
        "final answer and must format the final answer obeying the following rules: The answer should be a "
        'single number. For example, "The answer is 123" is in a valid format.\n\n'
        "Your response:\nLet's think step by step."
    )
    assert not got.endswith("\n")


def test_prompt_constants() -> None:
    assert prompts.SYSTEM_PROMPT == "You are a helpful AI assistant."
    assert prompts.SECOND_PASS_TRIGGER == "Therefore, the answer is"


@pytest.mark.parametrize("slug", list(spec.TASKS))
def test_probing_prompts(slug: str) -> None:
    task = spec.TASKS[slug]
    if slug == "tsp":
        want = _unescape(PROBE_TSP_ESCAPED)
    else:
        template = PROBE_PAIR_ESCAPED if slug == "longest_common_subarray" else PROBE_LIST_ESCAPED
        want = (
            _unescape(template)
            .replace("{task_title}", task.title)
            .replace("{task_description}", task.description)
        )
    assert prompts.probing_prompt(task) == want
    assert want.endswith(":\n\n")


def test_tsp_input_string_3x3() -> None:
    data = {"n": 3, "D": [[0, 12, 7], [12, 0, 5], [7, 5, 0]]}
    assert formats.format_input("tsp", data) == TSP_3X3
    assert TSP_3X3.endswith("\\]\n")


def test_input_formats_examples() -> None:
    assert formats.format_input("find_minimum", {"l": [48, 2, 64, 29, 85, 7, 41]}) == "48 2 64 29 85 7 41"
    got = formats.format_input("find_topk", {"l": [100, 90, 80, 70, 60, 50], "k": 3})
    assert got == "$l$ = 100 90 80 70 60 50, $k$ = 3"
    got = formats.format_input("three_sum_in_range", {"l": [7, 12, 17, 22, 27, 32], "a": 71, "b": 81})
    assert got == "$l$ = 7 12 17 22 27 32, $a$ = 71, $b$ = 81"
    got = formats.format_input("longest_common_subarray", {"l1": [7, 14, 21, 28], "l2": [14, 21, 28, 35]})
    assert got == "$l_1$ = 7 14 21 28, $l_2$ = 14 21 28 35"
    for slug in ("two_sum", "three_sum", "four_sum", "subset_sum"):
        assert formats.format_input(slug, {"l": [1, 2], "k": 3}) == "$l$ = 1 2, $k$ = 3"
    for slug in ("three_sum_in_range", "four_sum_in_range", "subset_sum_in_range"):
        assert formats.format_input(slug, {"l": [1], "a": 0, "b": 2}) == "$l$ = 1, $a$ = 0, $b$ = 2"


def test_get_task_error_lists_slugs() -> None:
    with pytest.raises(KeyError) as err:
        spec.get_task("FindMinimum")
    message = str(err.value)
    assert "FindMinimum" in message
    for slug in spec.TASKS:
        assert slug in message
