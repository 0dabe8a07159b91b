"""Plots of grouped metrics (e.g. exact match vs length), one PNG per task and group key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalkit.metrics.seeds import SEED_GROUP, seeds_in
from evalkit.reporting.tables import ordered


def plot_groups(results: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Plot of every score against every group key; returns the PNG paths.

    Numeric group values (lengths) get lines, categories (id / ood) points with whiskers. Bands are 95%
    bootstrap CIs over items, or, for tasks trained with several seeds, the min-max range over seeds
    around their median, with each seed drawn too.
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
            scores = sorted({s for v in values.values() for s in v})
            for n, score in enumerate(scores):
                pts = [(x, v[score]) for x, v in zip(xs, values.values()) if score in v]
                px = [p[0] for p in pts]
                if not numeric:  # categories (e.g. id / ood): points with whiskers, no line between them
                    _categorical(ax, pts, score, seeds, seeded, offset=0.1 * (n - (len(scores) - 1) / 2))
                    continue
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
                how = "band min-max, dashed per seed" if numeric else "whiskers min-max, hollow per seed"
                ax.set_title(f"{label}: median of {len(seeds)} seeds ({how})", fontsize=10)
            else:
                ax.set_title(f"{label}")
            if not numeric:
                ax.set_xticks(xs, keys, rotation=45 if max(map(len, keys)) > 6 else 0, ha="right")
                ax.set_xlim(-0.5, len(keys) - 0.5)
            ax.set_xlabel(gkey)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            fig.tight_layout()
            path = out_dir / f"{_slug(label)}_by_{_slug(gkey)}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
    return paths


def plot_suites(results: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Per suite and score with ID / OOD figures: ID and OOD accuracy (95% CIs) and the gap against the
    suite's groups in order (for Scylla, the generalization valley over complexity levels); the critical
    group is marked with how often it was the critical one across resamples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for label, suite in (results.get("suites") or {}).items():
        for score, fig_data in (suite.get("generalization") or {}).items():
            groups = fig_data["groups"]
            if not groups:
                continue
            names = list(fig_data.get("order") or groups)
            xs = list(range(len(names)))
            fig, ax = plt.subplots(figsize=(7, 4))
            for key, marker in (("id", "o"), ("ood", "s")):
                ys = [groups[g][key]["value"] for g in names]
                lo = [groups[g][key]["ci_low"] for g in names]
                hi = [groups[g][key]["ci_high"] for g in names]
                ax.plot(xs, ys, marker=marker, label=key.upper())
                ax.fill_between(xs, lo, hi, alpha=0.15)
            gaps = [groups[g]["gap"]["value"] for g in names]
            ax.bar(xs, gaps, width=0.35, alpha=0.35, color="gray", label="gap = max(0, ID - OOD)")
            critical = fig_data["critical"]
            if critical is not None:
                share = fig_data["critical_frequency"].get(critical, 0.0)
                ax.annotate(
                    f"critical ({share:.0%} of resamples)",
                    (names.index(critical), gaps[names.index(critical)]),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    fontsize=8,
                )
            ax.set_xticks(xs, names, rotation=20, ha="right")
            ax.set_ylim(-0.02, 1.05)
            ax.set_xlabel(suite.get("group_key", "group"))
            ax.set_ylabel(score)
            ax.set_title(f"{label}: {score} by {suite.get('group_key', 'group')} (95% CIs)", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            fig.tight_layout()
            path = out_dir / f"{_slug(label)}_{_slug(score)}_by_{_slug(suite.get('group_key', 'group'))}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
    return paths


def plot_suite_bars(results: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """The bar charts a suite's summary asks for (``summary.bars``: ``[{"title", "labels", "values",
    "ci_low", "ci_high", "ylabel"}]``), one PNG each, with 95% CI whiskers (e.g. CIF-Bench per category)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for label, suite in (results.get("suites") or {}).items():
        for n, bars in enumerate((suite.get("summary") or {}).get("bars", [])):
            values = [float(v) for v in bars["values"]]
            low = [v - float(lo) for v, lo in zip(values, bars["ci_low"], strict=True)]
            high = [float(hi) - v for v, hi in zip(values, bars["ci_high"], strict=True)]
            fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(values) + 2), 4))
            xs = list(range(len(values)))
            ax.bar(xs, values, yerr=[low, high], capsize=3, alpha=0.8)
            ax.set_xticks(xs, [str(x) for x in bars["labels"]], rotation=45, ha="right", fontsize=8)
            ax.set_ylabel(str(bars.get("ylabel", "")))
            ax.set_title(f"{label}: {bars.get('title', '')}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            fig.tight_layout()
            path = out_dir / f"{_slug(label)}_bars_{n}.png"
            fig.savefig(path, dpi=100)
            plt.close(fig)
            paths.append(path)
    return paths


def _categorical(ax: Any, pts: list, score: str, seeds: list[str], seeded: bool, offset: float) -> None:
    """One marker per category with its band as whiskers (median and min-max over seeds, or the value
    and its CI), and each seed as a small hollow marker."""
    px = [p[0] + offset for p in pts]
    lo, mid, hi = ("min", "median", "max") if seeded else ("ci_low", "value", "ci_high")
    ys = [p[1][mid] for p in pts]
    err = [[y - p[1][lo] for y, p in zip(ys, pts)], [p[1][hi] - y for y, p in zip(ys, pts)]]
    bar = ax.errorbar(px, ys, yerr=err, fmt="o", capsize=4, label=score)
    for seed in seeds if seeded else []:
        ax.plot(px, [p[1]["per_seed"].get(seed, float("nan")) for p in pts], ls="none", marker="o",
                mfc="none", ms=4, color=bar.lines[0].get_color(), alpha=0.7)  # fmt: skip


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)
