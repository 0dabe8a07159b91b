"""Which records are the same test item: a probe task evaluates every item once per training seed.

Its records have ids ``seed<S>/<item id>`` and a ``seed`` group. Confidence intervals resample test
items, so the records of one item (one per seed) are drawn together instead of as independent items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEED_GROUP = "seed"


def seed_item_id(seed: int | str, item_id: str) -> str:
    """The record id of ``item_id`` as evaluated by the probe of ``seed``."""
    return f"seed{seed}/{item_id}"


def item_of(record: Mapping[str, Any]) -> str:
    """The test item a record scores: its id without the ``seed<S>/`` prefix of its seed group."""
    rid = str(record["id"])
    seed = (record.get("groups") or {}).get(SEED_GROUP)
    prefix = None if seed is None else seed_item_id(seed, "")
    return rid[len(prefix) :] if prefix and rid.startswith(prefix) else rid
