"""Scylla metrics (section 10): per-task and per-level ID/OOD accuracy, generalization gap, score S,
the upstream ``ratio`` / ``relative_diff``, critical complexity, and the two accuracy denominators.

Level means use the level's *anchor* tasks only (probe tasks LIS/LCE/LCS are reported separately);
``std_*`` are population standard deviations (ddof=0) over those tasks. ``S_of_means`` applies
S = A_OOD - max(0, A_ID - A_OOD) to the level means (how Table 2 relates to Fig. 5);
``S_task_mean`` averages the per-task S instead. The critical complexity is the level with the largest
gap of level means; on ties the first (lowest) such level wins, so all-zero gaps give "O(N)".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .spec import LEVELS, PROBE, get_task


def gap(a_id: float, a_ood: float) -> float:
    """Generalization gap ``max(0, A_ID - A_OOD)``."""
    return max(0.0, float(a_id) - float(a_ood))


def score_s(a_id: float, a_ood: float) -> float:
    """Generalization score ``S = A_OOD - max(0, A_ID - A_OOD)``, in [-1, 1]."""
    return float(a_ood) - gap(a_id, a_ood)


def ratio(a_id: float, a_ood: float) -> float:
    """Upstream ``A_OOD / A_ID`` (1 if ``A_ID`` is 0)."""
    return float(a_ood) / float(a_id) if a_id > 0 else 1.0


def relative_diff(a_id: float, a_ood: float) -> float:
    """Upstream ``gap / A_ID`` (1 if ``A_ID`` is 0)."""
    return gap(a_id, a_ood) / float(a_id) if a_id > 0 else 1.0


def pair_metrics(a_id: float, a_ood: float) -> dict[str, float]:
    """Accuracies plus gap, S, ratio and relative_diff for one (A_ID, A_OOD) pair."""
    return {
        "id": float(a_id),
        "ood": float(a_ood),
        "gap": gap(a_id, a_ood),
        "S": score_s(a_id, a_ood),
        "ratio": ratio(a_id, a_ood),
        "relative_diff": relative_diff(a_id, a_ood),
    }


def level_table(per_task: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """Aggregate per-task ``(A_ID, A_OOD)`` (keyed by slug) into Scylla's level table.

    Returns ``{"levels": {level: {...}}, "critical": level or None, "tasks": {slug: pair_metrics},
    "probes": {slug: pair_metrics}}``. Each level entry holds ``n_tasks``, ``tasks``, ``mean_id``,
    ``mean_ood``, ``std_id``, ``std_ood``, ``gap``, ``S_of_means``, ``S_task_mean``, ``ratio`` and
    ``relative_diff``; levels without tasks in ``per_task`` are left out.
    """
    by_level: dict[str, list[str]] = {lv: [] for lv in LEVELS}
    tasks: dict[str, dict[str, float]] = {}
    probes: dict[str, dict[str, float]] = {}
    for slug, (a_id, a_ood) in per_task.items():
        level = get_task(slug).level
        if level == PROBE:
            probes[slug] = pair_metrics(a_id, a_ood)
        else:
            tasks[slug] = pair_metrics(a_id, a_ood)
            by_level[level].append(slug)
    levels: dict[str, dict[str, Any]] = {}
    for level, slugs in by_level.items():
        if not slugs:
            continue
        ids = np.array([tasks[s]["id"] for s in slugs])
        oods = np.array([tasks[s]["ood"] for s in slugs])
        m_id, m_ood = float(ids.mean()), float(oods.mean())
        levels[level] = {
            "n_tasks": len(slugs),
            "tasks": list(slugs),
            "mean_id": m_id,
            "mean_ood": m_ood,
            "std_id": float(ids.std()),
            "std_ood": float(oods.std()),
            "gap": gap(m_id, m_ood),
            "S_of_means": score_s(m_id, m_ood),
            "S_task_mean": float(np.mean([tasks[s]["S"] for s in slugs])),
            "ratio": ratio(m_id, m_ood),
            "relative_diff": relative_diff(m_id, m_ood),
        }
    critical = None
    for level, row in levels.items():  # LEVELS order; strict ">" keeps the first level on ties
        if critical is None or row["gap"] > levels[critical]["gap"]:
            critical = level
    if critical is not None and levels[critical]["gap"] <= 0:
        critical = None  # no level has a gap (as the host's suite figures say)
    return {"levels": levels, "critical": critical, "tasks": tasks, "probes": probes}


def paper_accuracy(
    correct_flags: Iterable[bool], parsed_flags: Iterable[bool], threshold: float = 0.10
) -> float:
    """The paper's accuracy (section 9 rule 5): mean correctness over *parsed* items, forced to 0 when
    fewer than ``threshold`` of all items parsed (0.10 first pass; the paper uses 0.5 for the second)."""
    correct, parsed = list(correct_flags), list(parsed_flags)
    if len(correct) != len(parsed):
        raise ValueError(f"got {len(correct)} correct flags but {len(parsed)} parsed flags")
    kept = [bool(c) for c, p in zip(correct, parsed) if p]
    if not correct or not kept or len(kept) < threshold * len(correct):
        return 0.0
    return sum(kept) / len(kept)


def strict_accuracy(correct_flags: Iterable[bool]) -> float:
    """Strict accuracy: parse failures count as wrong, denominator = all items (0 for no items)."""
    flags = [bool(c) for c in correct_flags]
    return sum(flags) / len(flags) if flags else 0.0
