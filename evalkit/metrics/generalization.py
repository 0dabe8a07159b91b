"""The generalization gap, computed one way for every benchmark whose items carry a ``split`` group.

For a score: ID = its aggregate over ``split=id`` items, OOD = over ``split=ood`` items,
gap = max(0, ID - OOD) and S = OOD - gap (Qi et al. 2024's generalization score, in [-1, 1] for
accuracies). Intervals are percentile bootstraps that resample ID and OOD items separately (the records of
one item under several probe seeds are drawn together). Over a suite, each group (e.g. a complexity level)
takes the mean over its tasks; the critical group is the one with the largest gap, and how often each group
is the critical one across resamples says how sure that choice is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evalkit.api import Metric, Record
from evalkit.metrics.bootstrap import resample_statistic
from evalkit.metrics.items import item_of

SPLIT_GROUP = "split"
ID, OOD = "id", "ood"


def gap(id_value: Any, ood_value: Any) -> Any:
    """max(0, ID - OOD), elementwise for arrays."""
    return np.maximum(0.0, np.asarray(id_value) - np.asarray(ood_value))


def score_s(id_value: Any, ood_value: Any) -> Any:
    """S = OOD - gap: rewards OOD accuracy and penalises relying on what was seen."""
    return np.asarray(ood_value) - gap(id_value, ood_value)


def ratio(id_value: Any, ood_value: Any) -> Any:
    """OOD / ID (1 where ID is 0), as Scylla's upstream code reports it."""
    id_value, ood_value = np.asarray(id_value, dtype=float), np.asarray(ood_value, dtype=float)
    return np.where(id_value > 0, ood_value / np.where(id_value > 0, id_value, 1.0), 1.0)


def relative_diff(id_value: Any, ood_value: Any) -> Any:
    """gap / ID (1 where ID is 0), as Scylla's upstream code reports it."""
    id_value = np.asarray(id_value, dtype=float)
    return np.where(id_value > 0, gap(id_value, ood_value) / np.where(id_value > 0, id_value, 1.0), 1.0)


class SplitDraws:
    """One score of one task: the ID and OOD point values and their bootstrap draws (aligned rows)."""

    def __init__(
        self,
        records: Sequence[Record],
        score: str,
        metric: Metric,
        seed: int,
        resamples: int,
        stream: int = 0,
    ) -> None:
        self.point: dict[str, float] = {}
        self.draws: dict[str, np.ndarray] = {}
        self.n: dict[str, int] = {}
        for offset, split in enumerate((ID, OOD)):
            values, items = [], []
            for rec in records:
                value = rec.get("scores", {}).get(score)
                if value is not None and str((rec.get("groups") or {}).get(SPLIT_GROUP)) == split:
                    values.append(float(value))
                    items.append(item_of(rec))
            self.n[split] = len(values)
            if not values:
                continue
            array = np.asarray(values)
            self.point[split] = float(metric.aggregate(array))
            rng = np.random.default_rng([seed, stream, offset])
            self.draws[split] = resample_statistic(array, metric.aggregate, items, rng, resamples)

    @property
    def complete(self) -> bool:
        return ID in self.point and OOD in self.point


def _interval(point: float, draws: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return {"value": float(point), "ci_low": float(low), "ci_high": float(high)}


def _figures(id_point, ood_point, id_draws, ood_draws) -> dict[str, dict[str, float]]:
    return {
        "id": _interval(id_point, id_draws),
        "ood": _interval(ood_point, ood_draws),
        "gap": _interval(gap(id_point, ood_point), gap(id_draws, ood_draws)),
        "S": _interval(score_s(id_point, ood_point), score_s(id_draws, ood_draws)),
    }


def split_draws(
    records: Sequence[Record],
    metrics: Mapping[str, Metric],
    seed: int = 0,
    resamples: int = 1000,
    stream: int = 0,
) -> dict[str, SplitDraws]:
    """Every score in ``metrics`` that has both ID and OOD values, with its draws; give each task of a suite
    its own ``stream`` so that their resamples are independent, as their items are."""
    names = sorted({k for rec in records for k in rec.get("scores", {}) if k in metrics})
    draws = {name: SplitDraws(records, name, metrics[name], seed, resamples, stream) for name in names}
    return {name: d for name, d in draws.items() if d.complete}


def summarize_generalization(
    records: Sequence[Record], metrics: Mapping[str, Metric], seed: int = 0, resamples: int = 1000
) -> dict[str, dict[str, Any]]:
    """{score: {id, ood, gap, S: {value, ci_low, ci_high}, n_id, n_ood}} for the scores of a task whose
    records are split into ``id`` and ``ood``; {} when they are not."""
    out = {}
    for name, d in split_draws(records, metrics, seed, resamples).items():
        out[name] = _figures(d.point[ID], d.point[OOD], d.draws[ID], d.draws[OOD])
        out[name] |= {"n_id": d.n[ID], "n_ood": d.n[OOD]}
    return out


def summarize_suite_generalization(
    task_draws: Mapping[str, Mapping[str, SplitDraws]],
    group_of: Mapping[str, str],
    group_order: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Per score common to the suite's grouped tasks: per group the mean over its tasks of ID and OOD (with
    their spread over tasks), gap, S, ratio and relative_diff of those means, the mean over tasks of each
    task's own S (``S_task_mean``), and the critical group: largest gap (first in ``group_order`` on ties; None when no
    group has a gap) and how often each group is the critical one across bootstrap resamples ("none": how
    often no group has a gap). ``order`` lists the groups in ``group_order`` (JSON files may sort keys)."""
    grouped = [label for label in task_draws if label in group_of]
    scores = set.intersection(*(set(task_draws[t]) for t in grouped)) if grouped else set()
    order = [g for g in group_order if any(group_of[t] == g for t in grouped)]
    order += sorted({group_of[t] for t in grouped} - set(order))
    out = {}
    for score in sorted(scores):
        groups, gap_points, gap_draws = {}, [], []
        for group in order:
            members = [t for t in grouped if group_of[t] == group]
            draws = [task_draws[t][score] for t in members]
            ids = np.array([d.point[ID] for d in draws])
            oods = np.array([d.point[OOD] for d in draws])
            id_draws = np.mean([d.draws[ID] for d in draws], axis=0)
            ood_draws = np.mean([d.draws[OOD] for d in draws], axis=0)
            task_s = np.mean([score_s(d.draws[ID], d.draws[OOD]) for d in draws], axis=0)
            figures = _figures(ids.mean(), oods.mean(), id_draws, ood_draws)
            figures["S_task_mean"] = _interval(float(np.mean(score_s(ids, oods))), task_s)
            figures["ratio"] = _interval(ratio(ids.mean(), oods.mean()), ratio(id_draws, ood_draws))
            figures["relative_diff"] = _interval(
                relative_diff(ids.mean(), oods.mean()), relative_diff(id_draws, ood_draws)
            )
            groups[group] = figures | {
                "tasks": members,
                "id_std": float(ids.std()),
                "ood_std": float(oods.std()),
            }
            gap_points.append(float(gap(ids.mean(), oods.mean())))
            gap_draws.append(gap(id_draws, ood_draws))
        stacked = np.stack(gap_draws)
        winners = np.where(stacked.max(axis=0) > 0, np.argmax(stacked, axis=0), -1)  # -1: no group has a gap
        frequency = {g: float(np.mean(winners == i)) for i, g in enumerate(order)}
        out[score] = {
            "order": order,
            "groups": groups,
            "critical": order[int(np.argmax(gap_points))] if max(gap_points) > 0 else None,
            "critical_frequency": frequency | {"none": float(np.mean(winners == -1))},
        }
    return out
