"""The 20 Scylla tasks (Table 1 of Qi et al. 2024): names, levels and the exact task strings.

Strings are copied byte for byte from the authors' ``modules/Task.py`` (commit f96c058); the
reference is ``shared/reference/scylla.md`` sections 2, 4 and 5.
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS: tuple[str, ...] = ("O(N)", "O([N,N^2])", "O([N^2,N^3])", "O([N^3,N^4])", "O(2^N)")
PROBE = "probe"

ANSWER_NUM = 'The answer should be a single number. For example, "The answer is 123" is in a valid format.'
ANSWER_LIST = (
    "The answer should be a list. The list must be wrapped by square brackets and each element in the list "
    "must be a single number and must be separated by commas. "
    'For example, "The answer is [12, 34, 56]" is in a valid format.'
)
ANSWER_LIST2 = (
    "The answer should be a list of exactly two numbers. The list must be wrapped by square brackets and each "
    "element in the list must be a single number and must be separated by commas. "
    'For example, "The answer is [12, 34]" is in a valid format.'
)
ANSWER_LIST3 = (
    "The answer should be a list of exactly three numbers. The list must be wrapped by square brackets and each "
    "element in the list must be a single number and must be separated by commas. "
    'For example, "The answer is [12, 34, 56]" is in a valid format.'
)
ANSWER_LIST4 = (
    "The answer should be a list of exactly four numbers. The list must be wrapped by square brackets and each "
    "element in the list must be a single number and must be separated by commas. "
    'For example, "The answer is [12, 34, 56, 78]" is in a valid format.'
)
ANSWER_TSP = (
    "The answer should be a list of integers representing the order of cities to visit, and must start with 0 "
    'and also end with 0. For example, "The answer is [0, 1, 2, 3, 0]" is in a valid format.'
)

# Input shapes (see ``formats``): "list" = plain list, "list_k" = list + target/k, "list_range" = list + (a, b),
# "list_pair" = two lists (LCS), "matrix" = TSP distance matrix.
INPUT_KINDS: tuple[str, ...] = ("list", "list_k", "list_range", "list_pair", "matrix")


@dataclass(frozen=True)
class TaskSpec:
    """One Scylla task: the paper's class name, evalkit slug, level and exact prompt strings."""

    name: str
    slug: str
    level: str
    title: str
    description: str
    answer_format: str
    answer_kind: str  # "number" | "list"
    order_free: bool  # list answers compared as multisets (the sum tasks)
    is_tour: bool  # TSP: a tour or its reverse
    input_kind: str = "list"  # one of INPUT_KINDS


_L = "Given a list of numbers separated by spaces, "
_LK = "Given a list of numbers $l$ separated by spaces and a target value $k$, "
_LAB = "Given a list of numbers $l$ separated by spaces and two numbers $a$ and $b$, "
_IN_RANGE = "in the list that add up to a value that is in the range $(a, b)$, i.e. greater than $a$ and less than $b$."

_TSP_DESCRIPTION = (
    "Your task is to solve the Traveling Salesman Problem (TSP). Given a list of cities and the distances between "
    "each pair of cities, your goal is to find the shortest path that visits every city once and returns to the "
    "starting city. The inputs include 1) $n$: the number of cities; 2) $D$: an adjacency matrix of size "
    "$n \\times n$ where $D_{ij}$ is the distance between city $i$ and city $j$. The output should be a list of "
    "integers representing the order of cities to visit. The cities are indexed from 0 to $n-1$. City 0 is always "
    "the starting city."
)


def _spec(
    name: str,
    slug: str,
    level: str,
    title: str,
    description: str,
    answer_format: str,
    *,
    order_free: bool,
    is_tour: bool,
    input_kind: str = "list",
) -> TaskSpec:
    """A ``TaskSpec`` whose ``answer_kind`` follows from the answer-format string."""
    kind = "number" if answer_format == ANSWER_NUM else "list"
    return TaskSpec(
        name, slug, level, title, description, answer_format, kind, order_free, is_tour, input_kind
    )


_SPECS: tuple[TaskSpec, ...] = (
    _spec(
        "FindMinimum",
        "find_minimum",
        LEVELS[0],
        "finding minimum",
        _L + "find the smallest number.",
        ANSWER_NUM,
        order_free=False,
        is_tour=False,
    ),
    _spec(
        "FindMaximum",
        "find_maximum",
        LEVELS[0],
        "finding maximum",
        _L + "find the largest number.",
        ANSWER_NUM,
        order_free=False,
        is_tour=False,
    ),
    _spec(
        "FindMode",
        "find_mode",
        LEVELS[0],
        "finding mode",
        _L + "find the mode of the numbers.",
        ANSWER_NUM,
        order_free=False,
        is_tour=False,
    ),
    _spec(
        "FindTopk",
        "find_topk",
        LEVELS[1],
        "finding top k",
        "Given a list of numbers $l$ separated by spaces and a positive integer $k$, find the $k$th largest number.",
        ANSWER_NUM,
        order_free=False,
        is_tour=False,
        input_kind="list_k",
    ),
    _spec(
        "SortNumbers",
        "sort_numbers",
        LEVELS[1],
        "sorting numbers",
        _L + "sort the numbers in ascending order.",
        ANSWER_LIST,
        order_free=False,
        is_tour=False,
    ),
    _spec(
        "RemoveDuplicateNumbers",
        "remove_duplicate_numbers",
        LEVELS[1],
        "removing duplicate numbers",
        _L
        + "remove duplicate numbers so that every number appears only once, and output the remaining numbers "
        "in their original order.",
        ANSWER_LIST,
        order_free=False,
        is_tour=False,
    ),
    _spec(
        "TwoSum",
        "two_sum",
        LEVELS[1],
        "finding two numbers adding up to a specific sum",
        _LK + "find two numbers in the list that add up to the target value.",
        ANSWER_LIST2,
        order_free=True,
        is_tour=False,
        input_kind="list_k",
    ),
    _spec(
        "ThreeSum",
        "three_sum",
        LEVELS[2],
        "finding three numbers adding up to a specific sum",
        _LK + "find three numbers in the list that add up to the target value.",
        ANSWER_LIST3,
        order_free=True,
        is_tour=False,
        input_kind="list_k",
    ),
    _spec(
        "ThreeSumInRange",
        "three_sum_in_range",
        LEVELS[2],
        "finding three numbers adding up to be in a specific range",
        _LAB + "find three numbers " + _IN_RANGE,
        ANSWER_LIST3,
        order_free=True,
        is_tour=False,
        input_kind="list_range",
    ),
    _spec(
        "ThreeSumMultipleTen",
        "three_sum_multiple_ten",
        LEVELS[2],
        "finding three numbers adding up to be multiple of 10",
        _L + "find three numbers in the list that add up to be a multiple of 10.",
        ANSWER_LIST3,
        order_free=True,
        is_tour=False,
    ),
    _spec(
        "FourSum",
        "four_sum",
        LEVELS[3],
        "finding four numbers adding up to a specific sum",
        _LK + "find four numbers in the list that add up to the target value.",
        ANSWER_LIST4,
        order_free=True,
        is_tour=False,
        input_kind="list_k",
    ),
    _spec(
        "FourSumInRange",
        "four_sum_in_range",
        LEVELS[3],
        "finding four numbers adding up to be in a specific range",
        _LAB + "find four numbers " + _IN_RANGE,
        ANSWER_LIST4,
        order_free=True,
        is_tour=False,
        input_kind="list_range",
    ),
    _spec(
        "FourSumMultipleTen",
        "four_sum_multiple_ten",
        LEVELS[3],
        "finding four numbers adding up to be multiple of 10",
        _L + "find four numbers in the list that add up to be a multiple of 10.",
        ANSWER_LIST4,
        order_free=True,
        is_tour=False,
    ),
    _spec(
        "SubsetSum",
        "subset_sum",
        LEVELS[4],
        "finding the subset of numbers adding up to a specific sum",
        _LK + "find a set of numbers in the list that add up to the target value.",
        ANSWER_LIST,
        order_free=True,
        is_tour=False,
        input_kind="list_k",
    ),
    _spec(
        "SubsetSumInRange",
        "subset_sum_in_range",
        LEVELS[4],
        "finding a subset adding up to be in a specific range",
        _LAB
        + "find a subset in the list that adds up to a value that is in the range $(a, b)$, i.e. greater "
        "than $a$ and less than $b$.",
        ANSWER_LIST,
        order_free=True,
        is_tour=False,
        input_kind="list_range",
    ),
    _spec(
        "SubsetSumMultipleTen",
        "subset_sum_multiple_ten",
        LEVELS[4],
        "finding a subset adding up to be multiple of 10",
        _L + "find a subset in the list that adds up to be a multiple of 10.",
        ANSWER_LIST,
        order_free=True,
        is_tour=False,
    ),
    _spec(
        "TSP",
        "tsp",
        LEVELS[4],
        "Traveling Salesman Problem (TSP)",
        _TSP_DESCRIPTION,
        ANSWER_TSP,
        order_free=False,
        is_tour=True,
        input_kind="matrix",
    ),
    _spec(
        "LongestIncreasingSubsequence",
        "longest_increasing_subsequence",
        PROBE,
        "finding the longest increasing subsequence",
        _L
        + "return the longest strictly increasing subsequence. A subsequence is a list that can be derived from "
        "another list by deleting some or no elements without changing the order of the remaining elements.",
        ANSWER_LIST,
        order_free=False,
        is_tour=False,
    ),
    _spec(
        "LongestConsecutiveElements",
        "longest_consecutive_elements",
        PROBE,
        "finding the longest consecutive elements",
        _L + "return the longest consecutive number sequence in ascending order. A consecutive sequence is a "
        "sequence of numbers where each number is exactly 1 greater than the previous number.",
        ANSWER_LIST,
        order_free=False,
        is_tour=False,
    ),
    _spec(
        "LongestCommonSubarray",
        "longest_common_subarray",
        PROBE,
        "finding the longest common subarray",
        "Given two integer arrays $l_1$ and $l_2$, return the longest common subarray that appears in both arrays. "
        "A subarray is a contiguous sequence of numbers within an array.",
        ANSWER_LIST,
        order_free=False,
        is_tour=False,
        input_kind="list_pair",
    ),
)

TASKS: dict[str, TaskSpec] = {s.slug: s for s in _SPECS}
ANCHOR_SLUGS: tuple[str, ...] = tuple(s.slug for s in _SPECS if s.level != PROBE)
PROBE_SLUGS: tuple[str, ...] = tuple(s.slug for s in _SPECS if s.level == PROBE)
SLUG_BY_NAME: dict[str, str] = {s.name: s.slug for s in _SPECS}


def get_task(slug: str) -> TaskSpec:
    """The spec for ``slug``; raises ``KeyError`` listing the valid slugs."""
    try:
        return TASKS[slug]
    except KeyError:
        raise KeyError(f"unknown Scylla task {slug!r}; valid slugs: {', '.join(TASKS)}") from None
