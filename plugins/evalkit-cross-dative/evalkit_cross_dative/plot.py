"""The effects figure: one panel per direction with the first-argument differences and their 95% CIs (matplotlib
is imported only when a figure is drawn)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit_cross_dative.atomic import write_bytes_atomic
from evalkit_cross_dative.features import DIRECTION_TITLES


def feature_label(row: pd.Series) -> str:
    """Axis label of one effect, e.g. "pronominal recipient\n(pronoun − nominal)"."""
    adjective = {"first_pronominal": "pronominal", "first_definite": "definite", "first_short": "short"}
    words = row["first_argument"] + " of prototypical animacy"
    if row["feature"] in adjective:
        words = f"{adjective[row['feature']]} {row['first_argument']}"
    return f"{words}\n({row['level']} − {row['other_level']})"


def plot_effects(effects: pd.DataFrame, path: str | Path) -> Path:
    """A PNG with one panel per direction: the first-argument differences with 95% CIs and a zero line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    directions = [d for d in DIRECTION_TITLES if (effects["direction"] == d).any()] or list(DIRECTION_TITLES)
    figure = Figure(figsize=(5.2 * len(directions), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(directions), squeeze=False)[0]
    for ax, direction in zip(axes, directions):
        _effect_panel(ax, effects[effects["direction"] == direction], direction)
    response = effects["response"].iloc[0] if len(effects) else "cdg"
    figure.suptitle(
        f"First postverbal argument and cross-dative generalization ({response}, 95% bootstrap CI)"
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def _effect_panel(ax: Any, rows: pd.DataFrame, direction: str) -> None:
    """One direction's differences as points with CI bars, top to bottom in feature order."""
    ax.axvline(0.0, color="grey", linewidth=1, linestyle="--")
    ax.set_title(DIRECTION_TITLES[direction])
    if rows.empty:
        ax.text(0.5, 0.5, "no exposures", ha="center", va="center", transform=ax.transAxes)
        return
    y = np.arange(len(rows))[::-1]
    diff = rows["difference"].to_numpy(float)
    err = np.abs(np.vstack([diff - rows["difference_low"].to_numpy(float), rows["difference_high"] - diff]))
    ax.errorbar(diff, y, xerr=np.nan_to_num(err), fmt="o", color="tab:blue", capsize=4)
    ax.set_yticks(y, [feature_label(r) for _, r in rows.iterrows()])
    ax.set_xlabel("difference in mean log P per token (nats)")
