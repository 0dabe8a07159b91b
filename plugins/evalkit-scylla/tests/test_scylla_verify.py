"""Fixed-mode verifiers (quirks Q1-Q3 worked examples, rejections) and the paper's gold comparison."""

from __future__ import annotations

import itertools

import pytest
from evalkit_scylla.core import solve
from evalkit_scylla.core.tsp import solve_tsp

LIS = {"l": [2, 4, 3, 5, 1, 7, 6, 8, 0]}
LCE = {"l": [45, 12, 46, 13, 14, 15, 47, 48]}


def test_q1_lis_worked_example() -> None:
    slug = "longest_increasing_subsequence"
    gold = solve.solve(slug, LIS)
    assert gold == [2, 4, 5, 7, 8]  # the paper's DP reconstruction
    for ok in ([2, 4, 5, 7, 8], [2, 3, 5, 7, 8], [2, 3, 5, 6, 8], [2, 4, 5, 6, 8]):
        assert solve.verify(slug, LIS, ok), ok
    assert solve.all_answers(slug, LIS) == [
        [2, 3, 5, 6, 8],
        [2, 3, 5, 7, 8],
        [2, 4, 5, 6, 8],
        [2, 4, 5, 7, 8],
    ]
    assert not solve.paper_correct(slug, gold, [2, 3, 5, 7, 8])  # the quirk: paper marks it wrong
    for bad in (
        [2, 3, 5, 8],
        [2, 4, 3, 5, 7],
        [2, 4, 5, 7, 9],
        [1, 3, 5, 7, 8],
        [2, 4, 5, 7, 8, 9],
        [],
        "2 4 5 7 8",
    ):
        assert not solve.verify(slug, LIS, bad), bad


def test_q1_lce_worked_example() -> None:
    slug = "longest_consecutive_elements"
    assert solve.all_answers(slug, LCE) == [[12, 13, 14, 15], [45, 46, 47, 48]]
    assert solve.solve(slug, LCE) in solve.all_answers(slug, LCE)
    assert solve.verify(slug, LCE, [12, 13, 14, 15]) and solve.verify(slug, LCE, [45, 46, 47, 48])
    gold = solve.solve(slug, LCE)
    other = [45, 46, 47, 48] if gold[0] == 12 else [12, 13, 14, 15]
    assert not solve.paper_correct(slug, gold, other)
    for bad in ([12, 13, 14], [45, 46, 47, 49], [15, 14, 13, 12], [12, 13, 14, 16], [46, 47, 48, 49]):
        assert not solve.verify(slug, LCE, bad), bad


def test_lcs_verifier() -> None:
    slug = "longest_common_subarray"
    data = {"l1": [7, 14, 21, 28], "l2": [14, 21, 28, 35]}
    assert solve.solve(slug, data) == [14, 21, 28]
    assert solve.verify(slug, data, [14, 21, 28])
    for bad in ([14, 21], [21, 28, 35], [28, 21, 14], [7, 14, 21]):
        assert not solve.verify(slug, data, bad)
    tie = {"l1": [1, 2, 9, 3, 4], "l2": [3, 4, 8, 1, 2]}
    assert solve.all_answers(slug, tie) == [[1, 2], [3, 4]]
    assert solve.verify(slug, tie, [1, 2]) and solve.verify(slug, tie, [3, 4])


def test_q2_four_sum_in_range_several_quadruples() -> None:
    slug = "four_sum_in_range"
    data = {"l": [1, 2, 3, 4, 5, 6], "a": 11, "b": 15}
    answers = solve.all_answers(slug, data)
    assert len(answers) > 1
    gold = solve.solve(slug, data)
    assert gold == [1, 2, 3, 6]  # first quadruple in index order with 11 < sum < 15
    for ans in answers:
        assert solve.verify(slug, data, ans)
        assert solve.verify(slug, data, ans[::-1])  # order-free
    assert not solve.paper_correct(slug, gold, [1, 2, 4, 5])  # valid (sum 12) but not the stored gold
    assert solve.paper_correct(slug, gold, [6, 3, 2, 1])
    for bad in ([1, 2, 3, 4], [3, 4, 5, 6], [1, 2, 3], [1, 2, 3, 6, 0], [1, 1, 5, 6], [1, 2, 3, 7]):
        assert not solve.verify(slug, data, bad), bad


def test_q3_subset_in_range_other_sizes() -> None:
    slug = "subset_sum_in_range"
    data = {"l": [1, 2, 4, 8, 16, 32], "a": 14, "b": 17}  # 15 = 1+2+4+8 (4-subset, unique); 16 = [16]
    assert sum(1 for r in (4, 5, 6) for c in itertools.combinations(data["l"], r) if 14 < sum(c) < 17) == 1
    gold = solve.solve(slug, data)
    assert gold == [1, 2, 4, 8]
    assert solve.verify(slug, data, [16]) and solve.verify(slug, data, [8, 4, 2, 1])
    assert not solve.paper_correct(slug, gold, [16])
    assert sorted(map(sorted, solve.all_answers(slug, data))) == [[1, 2, 4, 8], [16]]
    for bad in ([], [32], [1, 2, 4, 8, 16], [16, 16], [15]):
        assert not solve.verify(slug, data, bad), bad


def test_q3_subset_multiple_ten_other_sizes() -> None:
    slug = "subset_sum_multiple_ten"
    data = {"l": [24, 28, 8, 10, 26, 13]}
    assert sum(1 for r in (4, 5, 6) for c in itertools.combinations(data["l"], r) if sum(c) % 10 == 0) == 1
    gold = solve.solve(slug, data)
    assert gold == [8, 10, 24, 28]  # the paper's gold: sorted, first 4-6 combination
    for ok in ([10], [24, 26], [24, 28, 8], [24, 10, 26], [28, 8, 24, 10]):
        assert solve.verify(slug, data, ok), ok
    assert not solve.paper_correct(slug, gold, [10])
    for bad in ([10, 10], [20], [24, 28], [], [8, 10, 24, 28, 13]):
        assert not solve.verify(slug, data, bad), bad


def test_fixed_size_sums_reject_wrong_answers() -> None:
    data = {"l": [5, 3, 8, 1], "k": 10}
    assert solve.solve("two_sum", {"l": [5, 3, 8, 2], "k": 10}) == [8, 2]
    assert not solve.verify("two_sum", data, [5, 5])  # multiplicity: only one 5
    assert not solve.verify("two_sum", {"l": [5, 3, 8, 2], "k": 10}, [8, 2, 0])  # wrong size
    assert not solve.verify("two_sum", {"l": [5, 3, 8, 2], "k": 10}, [7, 3])  # 7 not in the list
    assert solve.verify("two_sum", {"l": [5, 3, 8, 2, 5], "k": 10}, [5, 5])  # two 5s available
    three = {"l": [90, 0, 79, 60, 64]}
    assert solve.verify("three_sum_multiple_ten", three, [60, 0, 90])
    assert not solve.verify("three_sum_multiple_ten", three, [90, 0, 79])
    assert not solve.verify("three_sum_multiple_ten", three, [90, 60])
    assert solve.verify("three_sum", {"l": [1, 2, 3, 4], "k": 9}, [2.0, 3, 4])  # integral floats are fine
    assert not solve.verify("three_sum", {"l": [1, 2, 3, 4], "k": 9}, [True, 4, 4])


def test_tsp_verifier() -> None:
    d = [[0, 1, 9, 1], [1, 0, 1, 9], [9, 1, 0, 1], [1, 9, 1, 0]]
    data = {"n": 4, "D": d}
    sol = solve_tsp(d)
    assert (sol.cost, sol.n_optimal, sol.tour) == (4, 2, [0, 1, 2, 3, 0])
    assert solve.solve("tsp", data) == [0, 1, 2, 3, 0]
    assert solve.verify("tsp", data, [0, 1, 2, 3, 0]) and solve.verify("tsp", data, [0, 3, 2, 1, 0])
    for bad in (
        [0, 2, 1, 3, 0],
        [0, 1, 2, 3],
        [1, 2, 3, 0, 1],
        [0, 1, 2, 2, 0],
        [0, 1, 2, 3, 4, 0],
        [0, 1, 3, 2, 0],
    ):
        assert not solve.verify("tsp", data, bad), bad
    assert solve.paper_correct("tsp", [0, 1, 2, 3, 0], [0, 3, 2, 1, 0])
    assert not solve.paper_correct("tsp", [0, 1, 2, 3, 0], [0, 2, 1, 3, 0])


def test_number_and_exact_list_tasks() -> None:
    data = {"l": [5, 9, 9, 2], "k": 2}
    assert solve.solve("find_topk", data) == 9
    assert solve.verify("find_topk", data, 9) and solve.verify("find_topk", data, 9.0)
    assert not solve.verify("find_topk", data, 5) and not solve.verify("find_topk", data, True)
    assert not solve.verify("find_topk", data, None) and not solve.verify("find_topk", data, [9])
    assert solve.solve("find_mode", {"l": [3, 1, 3, 2]}) == 3
    with pytest.raises(ValueError):
        solve.solve("find_mode", {"l": [3, 1, 3, 1]})
    assert solve.verify("sort_numbers", {"l": [3, 1, 2]}, [1, 2, 3])
    assert not solve.verify("sort_numbers", {"l": [3, 1, 2]}, [3, 2, 1])
    dedup = {"l": [4, 1, 4, 2, 1]}
    assert solve.solve("remove_duplicate_numbers", dedup) == [4, 1, 2]
    assert not solve.verify("remove_duplicate_numbers", dedup, [1, 2, 4])


def test_paper_correct_rules() -> None:
    assert solve.paper_correct("find_minimum", 12, 12.7)  # truncation
    assert solve.paper_correct("find_minimum", 3, 3.0)
    assert not solve.paper_correct("find_minimum", 3, None)
    assert not solve.paper_correct("find_minimum", 3, float("inf"))
    assert solve.paper_correct("three_sum", [1, 2, 3], [3, 1, 2])  # order-free: sorted
    assert not solve.paper_correct("sort_numbers", [1, 2, 3], [3, 1, 2])  # ordered
    assert not solve.paper_correct("sort_numbers", [1, 2, 3], [1, 2])  # length first
    assert solve.paper_correct("sort_numbers", [1, 2, 3], [1.0, 2.0, 3.0])
    assert not solve.paper_correct("sort_numbers", [1, 2, 3], [1, None, 3])
    assert not solve.paper_correct("sort_numbers", [1, 2], [[1], [2]])
    assert not solve.paper_correct("two_sum", [1, 2], "[1, 2]")
    assert not solve.paper_correct("longest_increasing_subsequence", [2, 4], [4, 2])


def test_subset_sum_gold_is_first_dfs_path() -> None:
    # two subsets reach 10 here ([0, 1] -> 3+7 and [2] -> 10); the paper's DFS returns index tuple (0, 1)
    assert solve.solve("subset_sum", {"l": [3, 7, 10], "k": 10}) == [3, 7]
    assert sorted(map(sorted, solve.all_answers("subset_sum", {"l": [3, 7, 10], "k": 10}))) == [[3, 7], [10]]
