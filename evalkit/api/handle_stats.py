"""The `ModelHandle.stats()` convention: which numbers are counters, and the rates derived from them.

A handle's `stats()` is a flat dict. Numbers named `compiles` or ending in `_compiles`, `_count`,
`_tokens` or `_s` (but not `_per_s`) are counters: a task's figures are the counters' growth while it
ran, summed over the handles it used (one per probe seed). Everything else is a fact reported as the
last handle gave it (`device_kind`, `devices`). Rates and fractions (`tokens_per_s`,
`new_tokens_per_s`, `padding_fraction`) are not added up: they are derived again from the counters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_COUNTER_SUFFIXES = ("_compiles", "_count", "_tokens", "_s")


def is_counter(key: str, value: Any) -> bool:
    """Whether a `stats()` entry is a counter (summed over handles, differenced over time)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return key == "compiles" or (key.endswith(_COUNTER_SUFFIXES) and not key.endswith("_per_s"))


def with_rates(stats: Mapping[str, Any]) -> dict[str, Any]:
    """`stats` plus the rates its counters give: padding fraction and real / new tokens per device second."""
    out = dict(stats)
    device_s = float(stats.get("device_s") or 0.0)
    if "real_tokens" in stats and "padded_tokens" in stats:
        padded = stats["padded_tokens"]
        out["padding_fraction"] = round(1.0 - stats["real_tokens"] / padded, 4) if padded else 0.0
        out["tokens_per_s"] = round(stats["real_tokens"] / device_s, 1) if device_s else 0.0
    if "new_tokens" in stats:
        new = stats["new_tokens"]
        out["new_tokens_per_s"] = round(new / device_s, 1) if device_s and new else 0.0
    return out


def _rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def add_stats(total: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """Figures of two handles together: counters summed, facts from `more`, rates derived again."""
    out = dict(total)
    for key, value in more.items():
        out[key] = _rounded(out.get(key, 0) + value) if is_counter(key, value) else value
    return with_rates(out)


def stats_since(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What one handle did between two `stats()` calls: counters' growth, facts as of `after`, rates."""
    out = {
        key: _rounded(value - before.get(key, 0)) if is_counter(key, value) else value
        for key, value in after.items()
    }
    return with_rates(out)
