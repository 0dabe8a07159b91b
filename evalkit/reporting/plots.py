"""Plots of grouped metrics (e.g. exact match vs length), one PNG per task and group key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalkit.metrics.seeds import SEED_GROUP, seeds_in
from evalkit.reporting.tables import ordered


def plot_groups(results: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Line plot of every score against every group key; returns the PNG paths.

    Bands are 95% bootstrap CIs over items, or, for tasks trained with several seeds, the min-max
    range over seeds around their median, with each seed drawn as a thin line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for label, t in results.get("tasks", {}).items():
        over = t.get("over_seeds")
        seeds, over_seeds = (seeds_in(over), over["groups"]) if over else ([], {})
        for gkey, values in (t.get("groups") or {}).items():
            if len(values) < 2 or (over_seeds and gkey == SEED_GROUP):
                continue
            seeded = gkey in over_seeds
            values = dict(ordered(over_seeds[gkey] if seeded else values))
            keys = list(values)
            numeric = all(_is_number(k) for k in keys)
            xs = [float(k) for k in keys] if numeric else list(range(len(keys)))
            fig, ax = plt.subplots(figsize=(6, 3.5))
            for score in sorted({s for v in values.values() for s in v}):
                pts = [(x, v[score]) for x, v in zip(xs, values.values()) if score in v]
                px = [p[0] for p in pts]
                if seeded:
                    (line,) = ax.plot(px, [p[1]["median"] for p in pts], marker="o", label=score)
                    ax.fill_between(px, [p[1]["min"] for p in pts], [p[1]["max"] for p in pts], alpha=0.2)
                    for seed in seeds:
                        ys = [p[1]["per_seed"].get(seed, float("nan")) for p in pts]
                        ax.plot(px, ys, color=line.get_color(), lw=0.7, alpha=0.6, ls="--")
                    continue
                ax.plot(px, [p[1]["value"] for p in pts], marker="o", label=score)
                ax.fill_between(px, [p[1]["ci_low"] for p in pts], [p[1]["ci_high"] for p in pts], alpha=0.2)
            if seeded:
                ax.set_title(f"{label}: median of {len(seeds)} seeds (band min-max, dashed per seed)")
            else:
                ax.set_title(f"{label}")
            if not numeric:
                ax.set_xticks(xs, keys, rotation=45, ha="right")
            ax.set_xlabel(gkey)
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
