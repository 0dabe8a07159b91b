"""Deterministic instance generation: gold answers against independent brute force, constraints,
ID/OOD shape pairing, value ranges, uniqueness, determinism and the impossible-request error."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest
from evalkit_scylla.core import draws, generate, solve, spec
from evalkit_scylla.core.formats import format_input

N = 24
SLUGS = list(spec.TASKS)
SUBSET_TASKS = {"subset_sum_in_range", "subset_sum_multiple_ten"}
QUIRK_TASKS = {"longest_increasing_subsequence", "longest_consecutive_elements", "four_sum_in_range"}


def _pairs(slug: str, mode: str, n: int = N) -> list[tuple[generate.Instance, generate.Instance]]:
    ids = generate.make_instances(slug, "id", n, mode=mode)
    oods = generate.make_instances(slug, "ood", n, mode=mode)
    assert len(ids) == len(oods) == n
    return list(zip(ids, oods, strict=True))


def _values(inst: generate.Instance) -> list[int]:
    d = inst.data
    if "D" in d:
        return [v for i, row in enumerate(d["D"]) for j, v in enumerate(row) if i != j]
    return list(d.get("l", [])) + list(d.get("l1", [])) + list(d.get("l2", []))


def _pattern(values: list[int]) -> list[int]:
    """Positions labelled by first occurrence of their value (the duplicate pattern)."""
    first: dict[int, int] = {}
    return [first.setdefault(v, len(first)) for v in values]


def _count_4to6(values: list[int], ok) -> int:
    return sum(1 for r in (4, 5, 6) for c in itertools.combinations(values, r) if ok(sum(c)))


def test_every_task_has_a_generator() -> None:
    assert set(draws.DRAW) == set(generate.LIMITS) == set(spec.TASKS)


@pytest.mark.parametrize("mode", generate.MODES)
@pytest.mark.parametrize("slug", SLUGS)
def test_gold_matches_brute_force_and_verifies(slug: str, mode: str) -> None:
    for pair in _pairs(slug, mode):
        for inst in pair:
            assert inst.task == slug and inst.mode == mode
            assert inst.input_str == format_input(slug, inst.data)
            json.dumps(inst.data)
            json.dumps(inst.answer)
            assert solve.solve(slug, inst.data) == inst.answer, inst
            assert solve.verify(slug, inst.data, inst.answer), inst
            assert solve.paper_correct(slug, inst.answer, inst.answer)
            if isinstance(inst.answer, list):
                assert all(type(v) is int for v in inst.answer)
            else:
                assert type(inst.answer) is int


@pytest.mark.parametrize("mode", generate.MODES)
@pytest.mark.parametrize("slug", SLUGS)
def test_ood_keeps_shape_and_ranges(slug: str, mode: str) -> None:
    ood_lo, ood_hi = (100, 999) if slug == "tsp" else (1000, 9999)
    for i, (a, b) in enumerate(_pairs(slug, mode)):
        assert (a.split, b.split, a.index, b.index) == ("id", "ood", i, i)
        assert all(0 <= v <= 99 for v in _values(a))
        assert all(ood_lo <= v <= ood_hi for v in _values(b))
        da, db = a.data, b.data
        assert da.keys() == db.keys()
        if slug == "tsp":
            assert da["n"] == db["n"] == len(db["D"]) and 4 <= da["n"] <= 10
            d = db["D"]
            assert all(d[r][c] == d[c][r] and d[r][r] == 0 for r in range(db["n"]) for c in range(db["n"]))
        elif slug == "longest_common_subarray":
            assert (len(da["l1"]), len(da["l2"])) == (len(db["l1"]), len(db["l2"]))
        else:
            assert len(da["l"]) == len(db["l"])
            lo, hi = generate.LIMITS[slug]
            assert max(lo, 4) <= len(da["l"]) <= min(hi or 16, 16)
        if slug == "find_topk":
            assert da["k"] == db["k"] and 2 <= da["k"] <= len(da["l"]) // 2
        if slug in ("remove_duplicate_numbers", "find_mode"):
            assert _pattern(da["l"]) == _pattern(db["l"])
        if slug == "remove_duplicate_numbers":
            assert len(set(da["l"])) < len(da["l"])
        if slug == "longest_consecutive_elements":
            assert len(a.answer) == len(b.answer) >= 2


@pytest.mark.parametrize("slug", ["longest_common_subarray"])
def test_lcs_row2_construction(slug: str) -> None:
    """Row 2 shares elements with row 1 at the same index (the 50/50 rule), in both splits."""
    shared = 0
    for a, b in _pairs(slug, "fixed"):
        for inst in (a, b):
            l1, l2 = inst.data["l1"], inst.data["l2"]
            shared += sum(1 for i in range(min(len(l1), len(l2))) if l1[i] == l2[i])
    assert shared > N  # roughly half the overlapping positions


@pytest.mark.parametrize("mode", generate.MODES)
@pytest.mark.parametrize("slug", SLUGS)
def test_answer_uniqueness_constraints(slug: str, mode: str) -> None:
    """Constraints from the reference table; paper mode may have several answers only for Q1-Q3."""
    n = 12 if slug in SUBSET_TASKS | {"subset_sum"} else N
    for pair in _pairs(slug, mode, n):
        for inst in pair:
            d = inst.data
            if slug in SUBSET_TASKS:
                ok = (lambda s: s % 10 == 0) if slug.endswith("ten") else (lambda s, d=d: d["a"] < s < d["b"])
                assert _count_4to6(d["l"], ok) == 1  # Q3: unique among 4-6 subsets only, in both modes
                assert 6 <= len(d["l"]) <= 16
                continue
            answers = solve.all_answers(slug, d)
            if slug == "tsp":
                assert len(answers) == 2 and answers[0] == answers[1][::-1]
            elif slug == "find_mode":
                top = Counter(d["l"]).most_common(2)
                assert len(top) == 1 or top[0][1] > top[1][1]
            elif spec.TASKS[slug].answer_kind == "list" and (mode == "fixed" or slug not in QUIRK_TASKS):
                assert len(answers) == 1, (inst, answers)
            if slug == "subset_sum":
                assert 4 <= len(answers[0]) <= 6
            if slug == "longest_increasing_subsequence":
                assert len(inst.answer) >= 2


def test_paper_mode_quirks_occur() -> None:
    """Paper mode really reproduces Q1/Q2: some items have several valid answers."""
    for slug in ("four_sum_in_range", "longest_increasing_subsequence", "longest_consecutive_elements"):
        items = generate.make_instances(slug, "id", N, mode="paper")
        assert any(len(solve.all_answers(slug, i.data)) > 1 for i in items), slug


@pytest.mark.parametrize("slug", SLUGS)
def test_modes_agree_outside_the_quirks(slug: str) -> None:
    fixed = generate.make_instances(slug, "id", 8, mode="fixed")
    paper = generate.make_instances(slug, "id", 8, mode="paper")
    same = [a.input_str == b.input_str for a, b in zip(fixed, paper, strict=True)]
    assert all(same) or slug in QUIRK_TASKS


@pytest.mark.parametrize("slug", SLUGS)
def test_determinism_and_seed(slug: str) -> None:
    a = generate.make_instances(slug, "ood", 6, seed=3)
    b = generate.make_instances(slug, "ood", 6, seed=3)
    c = generate.make_instances(slug, "ood", 6, seed=4)
    assert a == b
    assert [x.input_str for x in a] != [x.input_str for x in c]
    assert a[0].data is not b[0].data  # callers get copies, not the cache


def test_full_size_run_all_tasks() -> None:
    """The real configuration: 256 unique ID + 256 unique OOD items for every task."""
    for slug in SLUGS:
        for split in generate.SPLITS:
            items = generate.make_instances(slug, split, 256)
            assert len({i.input_str for i in items}) == 256
            assert [i.index for i in items] == list(range(256))


def test_impossible_request_raises_one_sentence() -> None:
    with pytest.raises(ValueError) as err:
        generate.make_instances("find_minimum", "id", 256, id_range=(0, 1), lengths=(2, 2))
    message = str(err.value)
    assert message.startswith("Could only make 4 unique valid find_minimum instances for the id split")
    assert "id_range" in message and message.endswith(".") and message.count(". ") == 0


def test_impossible_ood_request_names_ood_range() -> None:
    with pytest.raises(
        ValueError, match=r"Could only make 1 unique valid sort_numbers .* ood split.*ood_range"
    ):
        generate.make_instances("sort_numbers", "ood", 5, ood_range=(1000, 1000), lengths=(4, 4))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="does not overlap"):
        generate.make_instances("tsp", "id", 4, lengths=(11, 16))
    with pytest.raises(ValueError, match="split"):
        generate.make_instances("tsp", "train", 4)
    with pytest.raises(ValueError, match="mode"):
        generate.make_instances("tsp", "id", 4, mode="exact")
    with pytest.raises(ValueError, match="no values outside"):
        generate.make_instances("find_minimum", "ood", 4, ood_range=(0, 50))
    with pytest.raises(KeyError):
        generate.make_instances("FindMinimum", "id", 4)


def test_custom_ranges_and_lengths() -> None:
    items = generate.make_instances("four_sum", "ood", 16, id_range=(0, 9), ood_range=(0, 30), lengths=(5, 6))
    assert all(10 <= v <= 30 for i in items for v in i.data["l"])  # OOD excludes the ID values
    assert all(5 <= len(i.data["l"]) <= 6 for i in items)
    for i in items:
        assert solve.solve("four_sum", i.data) == i.answer
