"""Spread over training seeds: each seed's metric, then their median, min and max.

Probe tasks train one model per seed and tag every record with a ``seed`` group. Pooling all seeds'
items into one bootstrap interval hides what the length-generalization literature reports: how much
the *seed* moves the result. This module computes each score per seed (with the score's own metric
aggregate), overall and within every other group value, and summarises the seeds by median and range.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evalkit.api import Metric, Record
from evalkit.metrics.aggregate import natural_key
from evalkit.metrics.items import SEED_GROUP


def _per_seed(records: Sequence[Record], metrics: Mapping[str, Metric]) -> dict[str, dict[str, float]]:
    """{score: {seed: the score's aggregate over that seed's records}} for every score found."""
    columns: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        seed = str(rec["groups"][SEED_GROUP])
        for key, value in rec.get("scores", {}).items():
            if value is not None:
                columns[key][seed].append(float(value))
    return {
        key: {
            seed: float(metrics[key].aggregate(np.asarray(values)))
            for seed, values in sorted(by_seed.items(), key=lambda kv: natural_key(kv[0]))
        }
        for key, by_seed in sorted(columns.items())
    }


def _spread(per_seed: Mapping[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    out = {}
    for key, by_seed in per_seed.items():
        values = np.asarray(list(by_seed.values()))
        out[key] = {
            "median": float(np.median(values)),
            "min": float(values.min()),
            "max": float(values.max()),
            "seeds": len(values),
            "per_seed": dict(by_seed),
        }
    return out


def summarize_over_seeds(records: Sequence[Record], metrics: Mapping[str, Metric]) -> dict[str, Any] | None:
    """Per-seed scores and their median / min / max, overall and per other group value.

    Returns ``{"overall": {score: spread}, "groups": {group key: {group value: {score: spread}}}}``,
    where a spread is ``{median, min, max, seeds, per_seed: {seed: value}}``, or None when the records
    come from fewer than two seeds (nothing to spread).
    """
    seeded = [rec for rec in records if SEED_GROUP in rec.get("groups", {})]
    if len({str(rec["groups"][SEED_GROUP]) for rec in seeded}) < 2:
        return None
    by_group: dict[str, dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    for rec in seeded:
        for gkey, gval in rec["groups"].items():
            if gkey != SEED_GROUP:
                by_group[gkey][str(gval)].append(rec)
    return {
        "overall": _spread(_per_seed(seeded, metrics)),
        "groups": {
            gkey: {
                gval: _spread(_per_seed(recs, metrics))
                for gval, recs in sorted(vals.items(), key=lambda kv: natural_key(kv[0]))
            }
            for gkey, vals in sorted(by_group.items())
        },
    }


def seeds_in(over_seeds: Mapping[str, Any]) -> list[str]:
    """Every seed that appears anywhere in a :func:`summarize_over_seeds` result, in natural order."""
    spreads = [*over_seeds["overall"].values()]
    spreads += [sp for values in over_seeds["groups"].values() for v in values.values() for sp in v.values()]
    return sorted({seed for sp in spreads for seed in sp["per_seed"]}, key=natural_key)
