"""Aggregate per-item records into overall and per-group metrics with bootstrap CIs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evalkit.api import Metric, Record
from evalkit.metrics.bootstrap import bootstrap_ci
from evalkit.metrics.items import item_of


def summarize_scores(
    records: Sequence[Record], metrics: Mapping[str, Metric], seed: int = 0, resamples: int = 1000
) -> dict[str, dict[str, float]]:
    """{score: {value, ci_low, ci_high, n, metric}} for every score found in the records; the interval
    resamples test items (a probe task's seeds score the same items: :mod:`evalkit.metrics.items`)."""
    columns: dict[str, list[float]] = defaultdict(list)
    items: dict[str, list[str]] = defaultdict(list)  # the test item of each value (seeds share items)
    for rec in records:
        for key, value in rec.get("scores", {}).items():
            if value is not None:
                columns[key].append(float(value))
                items[key].append(item_of(rec))
    out = {}
    for key in sorted(columns):
        metric = metrics[key]
        value, low, high = bootstrap_ci(
            np.asarray(columns[key]), metric.aggregate, clusters=items[key], seed=seed, resamples=resamples
        )
        out[key] = {
            "metric": metric.name,
            "value": value,
            "ci_low": low,
            "ci_high": high,
            "n": len(columns[key]),
        }
    return out


def summarize_groups(
    records: Sequence[Record], metrics: Mapping[str, Metric], seed: int = 0, resamples: int = 1000
) -> dict[str, dict[str, Any]]:
    """{group key: {group value: summarize_scores(records in that group)}}, values in natural order."""
    by_group: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        for gkey, gval in rec.get("groups", {}).items():
            by_group[gkey][str(gval)].append(rec)
    return {
        gkey: {
            gval: summarize_scores(recs, metrics, seed, resamples)
            for gval, recs in sorted(vals.items(), key=lambda kv: natural_key(kv[0]))
        }
        for gkey, vals in sorted(by_group.items())
    }


def natural_key(text: str) -> tuple:
    """Sort key that orders '2' before '10' and keeps strings stable."""
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)
