"""Plots of grouped metrics (e.g. exact match vs length), one PNG per task and group key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalkit.reporting.tables import ordered


def plot_groups(results: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Line plot with CI bands of every score against every group key; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for label, t in results.get("tasks", {}).items():
        for gkey, values in (t.get("groups") or {}).items():
            if len(values) < 2:
                continue
            values = dict(ordered(values))
            keys = list(values)
            numeric = all(_is_number(k) for k in keys)
            xs = [float(k) for k in keys] if numeric else list(range(len(keys)))
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for score in sorted({s for v in values.values() for s in v}):
                pts = [(x, v[score]) for x, v in zip(xs, values.values()) if score in v]
                ax.plot([p[0] for p in pts], [p[1]["value"] for p in pts], marker="o", label=score)
                ax.fill_between(
                    [p[0] for p in pts],
                    [p[1]["ci_low"] for p in pts],
                    [p[1]["ci_high"] for p in pts],
                    alpha=0.2,
                )
            if not numeric:
                ax.set_xticks(xs, keys, rotation=45, ha="right")
            ax.set_xlabel(gkey)
            ax.set_title(f"{label}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            fig.tight_layout()
            path = out_dir / f"{_slug(label)}_by_{_slug(gkey)}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
    return paths


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)
