"""First-postverbal-argument effects on CDG with 95% bootstrap CIs (exposure items resampled, one draw in every
learner), and the bootstrap helpers the summary's per-direction means share."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evalkit.api import UserError
from evalkit_cross_dative.features import (
    DIRECTION_TITLES,
    FEATURES,
    FIRST_ARGUMENT,
    FIRST_FEATURES,
    PROTOTYPICAL_ANIMACY,
)
from evalkit_cross_dative.scores import require_columns


def bootstrap_index(subset: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, learners × items) row indices of resamples: exposure items drawn with replacement, one draw used
    within every learner (items are crossed with learners, so their shared effects stay in the interval);
    -1 where a learner lacks a drawn item."""
    learners, learner_levels = pd.factorize(subset["learner"].astype(str))
    items, item_levels = pd.factorize(subset["item_id"])
    grid = np.full((len(learner_levels), len(item_levels)), -1, dtype=np.int64)
    grid[learners, items] = np.arange(len(subset))
    draws = rng.integers(0, len(item_levels), size=(n_boot, len(item_levels)))
    return grid[:, draws].transpose(1, 0, 2).reshape(n_boot, -1)


def _ci(samples: np.ndarray) -> tuple[float, float]:
    """95% percentile interval of bootstrap samples (NaN samples ignored; NaN if none are finite)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


def _level_means(y: np.ndarray, mask: np.ndarray, index: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of ``y`` where ``mask``, and its value in every bootstrap resample (rows of ``index``; -1 = none)."""
    values, weights = np.append(np.where(mask, y, 0.0), 0.0), np.append(mask, False)
    with np.errstate(invalid="ignore", divide="ignore"):
        point = float(y[mask].mean()) if mask.any() else float("nan")
        boot = values[index].sum(axis=1) / weights[index].sum(axis=1)
    return point, boot


def check_bootstrap(bootstrap: int) -> int:
    """``bootstrap`` as a positive int, else a UserError."""
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int | np.integer) or bootstrap < 1:
        raise UserError(f"bootstrap={bootstrap!r} is not a positive number of resamples; use e.g. 1000")
    return int(bootstrap)


def direction_rows(scores: pd.DataFrame, response: str) -> dict[str, pd.DataFrame]:
    """Rows with a ``response`` value per direction present, in the order DO→PO, PO→DO."""
    valid = scores[scores[response].notna()]
    return {d: valid[valid["direction"] == d] for d in DIRECTION_TITLES if (valid["direction"] == d).any()}


def first_argument_effects(
    scores: pd.DataFrame, response: str = "cdg", *, bootstrap: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Per direction and first-postverbal-argument feature: mean ``response`` at each level and the difference
    (level − other level), each with a 95% percentile bootstrap CI (exposure items resampled within learner,
    the same draw in every learner)."""
    bootstrap = check_bootstrap(bootstrap)
    require_columns(scores, ["learner", "direction", response, *FIRST_FEATURES], "the CDG score table")
    rng = np.random.default_rng(seed)
    rows = []
    for direction, subset in direction_rows(scores, response).items():
        index = bootstrap_index(subset, bootstrap, rng)
        y = subset[response].to_numpy(float)
        for column in FIRST_FEATURES:
            rows.append(_effect_row(direction, column, subset[column].to_numpy(bool), y, index))
    effects = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    effects.insert(2, "response", response)
    return effects


EFFECT_COLUMNS = [
    "direction", "feature", "first_argument", "level", "other_level", "n_level", "n_other",
    "mean_level", "mean_level_low", "mean_level_high", "mean_other", "mean_other_low", "mean_other_high",
    "difference", "difference_low", "difference_high",
]  # fmt: skip


def _levels(direction: str, column: str) -> tuple[str, str]:
    """Words for the True and False levels of a first-argument feature in this direction."""
    feature = FEATURES[FIRST_FEATURES[column]]
    if column == "first_prototypical_animacy":
        yes = PROTOTYPICAL_ANIMACY[direction[:2]]
        return yes, next(w for w in feature.levels.values() if w != yes)
    return feature.positive, next(w for w in feature.levels.values() if w != feature.positive)


def _effect_row(direction: str, column: str, mask: np.ndarray, y: np.ndarray, index: np.ndarray) -> list[Any]:
    """One row of ``first_argument_effects``."""
    level, other = _levels(direction, column)
    mean_yes, boot_yes = _level_means(y, mask, index)
    mean_no, boot_no = _level_means(y, ~mask, index)
    return [
        direction, column, FIRST_ARGUMENT[direction[:2]], level, other, int(mask.sum()), int((~mask).sum()),
        mean_yes, *_ci(boot_yes), mean_no, *_ci(boot_no), mean_yes - mean_no, *_ci(boot_yes - boot_no),
    ]  # fmt: skip


def mean_with_ci(subset: pd.DataFrame, column: str, index: np.ndarray) -> dict[str, float]:
    """Mean of a score column (missing values left out) with its bootstrap CI; ``index`` resamples ``subset``."""
    y = subset[column].to_numpy(float)
    point, boot = _level_means(y, np.isfinite(y), index)
    low, high = _ci(boot)
    return {"estimate": point, "low": low, "high": high}
