"""Level metrics: Table 2 of the paper reproduced from Fig. 5's Qwen1.5 level accuracies (reference
section 11), plus the metric helpers and the two accuracy denominators."""

from __future__ import annotations

import pytest
from evalkit_scylla.core import levels, spec

MODELS = [
    "Qwen1.5-1.8B",
    "Qwen1.5-4B",
    "Qwen1.5-7B",
    "Qwen1.5-14B",
    "Qwen1.5-32B",
    "Qwen1.5-72B",
    "Qwen1.5-110B",
]

# Fig. 5 (reference section 11): per level, ID accuracies then OOD accuracies for the seven models above.
FIG5 = {
    "O(N)": ([0.78, 0.80, 0.91, 0.95, 0.99, 0.95, 0.99], [0.66, 0.72, 0.91, 0.90, 0.98, 0.93, 0.98]),
    "O([N,N^2])": ([0.45, 0.32, 0.53, 0.75, 0.83, 0.95, 0.96], [0.34, 0.26, 0.41, 0.67, 0.67, 0.89, 0.96]),
    "O([N^2,N^3])": ([0.05, 0.11, 0.13, 0.19, 0.30, 0.26, 0.36], [0.05, 0.12, 0.16, 0.13, 0.22, 0.19, 0.25]),
    "O([N^3,N^4])": ([0.03, 0.06, 0.10, 0.06, 0.21, 0.22, 0.36], [0.01, 0.07, 0.09, 0.04, 0.16, 0.09, 0.21]),
    "O(2^N)": ([0.05, 0.05, 0.09, 0.05, 0.07, 0.06, 0.18], [0.03, 0.03, 0.07, 0.05, 0.06, 0.03, 0.10]),
}

# Table 2 (reference section 11): S per level and the critical complexity.
TABLE2 = {
    "Qwen1.5-1.8B": ([0.547, 0.226, 0.042, -0.009, 0.018], "O(N)"),
    "Qwen1.5-4B": ([0.631, 0.173, 0.094, 0.061, 0.007], "O(N)"),
    "Qwen1.5-7B": ([0.887, 0.268, 0.152, 0.063, 0.056], "O([N,N^2])"),
    "Qwen1.5-14B": ([0.849, 0.568, 0.075, 0.025, 0.037], "O([N,N^2])"),
    "Qwen1.5-32B": ([0.969, 0.521, 0.137, 0.102, 0.045], "O([N,N^2])"),
    "Qwen1.5-72B": ([0.911, 0.825, 0.115, -0.027, 0.01], "O([N^3,N^4])"),
    "Qwen1.5-110B": ([0.965, 0.95, 0.129, 0.044, 0.01], "O([N^3,N^4])"),
}


def _per_task_from_level_means(model: int) -> dict[str, tuple[float, float]]:
    """Every anchor task of a level gets that level's Fig. 5 means (so the level means are exact)."""
    return {slug: (FIG5[spec.TASKS[slug].level][0][model], FIG5[spec.TASKS[slug].level][1][model])
            for slug in spec.ANCHOR_SLUGS}  # fmt: skip


@pytest.mark.parametrize("model", range(len(MODELS)))
def test_table2_from_fig5(model: int) -> None:
    name = MODELS[model]
    table = levels.level_table(_per_task_from_level_means(model))
    want_s, want_critical = TABLE2[name]
    assert table["critical"] == want_critical, name
    assert list(table["levels"]) == list(spec.LEVELS)
    for level, s in zip(spec.LEVELS, want_s, strict=True):
        row = table["levels"][level]
        assert row["S_of_means"] == pytest.approx(s, abs=0.03), (name, level)
        assert row["S_task_mean"] == pytest.approx(row["S_of_means"])  # equal tasks -> same S
        assert row["std_id"] == pytest.approx(0.0) and row["std_ood"] == pytest.approx(0.0)


def test_max_table2_deviation() -> None:
    worst = max(
        abs(levels.level_table(_per_task_from_level_means(m))["levels"][lv]["S_of_means"] - s)
        for m, name in enumerate(MODELS)
        for lv, s in zip(spec.LEVELS, TABLE2[name][0], strict=True)
    )
    assert worst < 0.028


def test_reference_sanity_checks() -> None:
    assert levels.score_s(0.99, 0.98) == pytest.approx(0.97)
    assert levels.score_s(0.78, 0.66) == pytest.approx(0.54)
    assert levels.gap(0.05, 0.12) == 0.0
    assert levels.score_s(0.05, 0.12) == pytest.approx(0.12)
    assert levels.ratio(0.0, 0.3) == 1.0 and levels.relative_diff(0.0, 0.0) == 1.0
    assert levels.ratio(0.5, 0.25) == 0.5 and levels.relative_diff(0.5, 0.25) == 0.5


def test_level_table_details() -> None:
    per_task = {
        "find_minimum": (1.0, 0.5),
        "find_maximum": (0.5, 0.5),
        "find_mode": (0.0, 0.2),
        "two_sum": (0.6, 0.4),
        "longest_common_subarray": (0.9, 0.1),  # probe: kept out of the level means
    }
    table = levels.level_table(per_task)
    row = table["levels"]["O(N)"]
    assert row["n_tasks"] == 3 and row["tasks"] == ["find_minimum", "find_maximum", "find_mode"]
    assert row["mean_id"] == pytest.approx(0.5) and row["mean_ood"] == pytest.approx(0.4)
    assert row["std_id"] == pytest.approx((1 / 6) ** 0.5)  # population std of (1, .5, 0)
    assert row["gap"] == pytest.approx(0.1) and row["S_of_means"] == pytest.approx(0.3)
    assert row["S_task_mean"] == pytest.approx((0.0 + 0.5 + 0.2) / 3)
    assert row["ratio"] == pytest.approx(0.8) and row["relative_diff"] == pytest.approx(0.2)
    assert set(table["levels"]) == {"O(N)", "O([N,N^2])"}
    assert table["critical"] == "O([N,N^2])"  # gap .2 > .1
    assert (
        set(table["probes"]) == {"longest_common_subarray"}
        and table["probes"]["longest_common_subarray"]["gap"] == 0.8
    )
    with pytest.raises(KeyError):
        levels.level_table({"nope": (0.1, 0.1)})


def test_critical_ties_take_the_first_level() -> None:
    table = levels.level_table({"find_minimum": (0.5, 0.4), "two_sum": (0.3, 0.2), "tsp": (0.1, 0.2)})
    assert table["critical"] == "O(N)"
    # no level has a gap: no critical level (the host's suite figures say the same)
    assert levels.level_table({s: (0.3, 0.3) for s in spec.ANCHOR_SLUGS})["critical"] is None
    assert levels.level_table({})["critical"] is None


def test_paper_accuracy_denominator() -> None:
    parsed = [True] * 26 + [False] * 230
    correct = [True] * 13 + [False] * 243
    assert levels.paper_accuracy(correct, parsed) == pytest.approx(0.5)
    parsed25 = [True] * 25 + [False] * 231
    assert levels.paper_accuracy(correct, parsed25) == 0.0  # fewer than 10% parsed
    assert levels.paper_accuracy(correct, parsed, threshold=0.5) == 0.0  # the second-pass rule
    assert levels.paper_accuracy([], []) == 0.0
    assert levels.strict_accuracy(correct) == pytest.approx(13 / 256)
    assert levels.strict_accuracy([]) == 0.0
    with pytest.raises(ValueError):
        levels.paper_accuracy([True], [True, False])
