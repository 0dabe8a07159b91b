"""CDG scores per (learner, exposure) from the results table: the LR chosen by validation, then the best-state
log-prob of the alternate construction (and of the modeled one) with the gains over the untrained verb."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from evalkit.api import UserError
from evalkit_cross_dative.features import DATIVES, DIRECTIONS, feature_columns
from evalkit_cross_dative.table_reading import SCHEMA_HINT

KEY = ["learner", "item_id"]
ANALYSIS_COLUMNS: tuple[str, ...] = (
    "learner",
    "item_id",
    "lr",
    "adaptation_dative",
    "val_performance",
    "best_epoch",
    "adaptation_feature_config",
    "state",
    "generalization_dative",
    "logprob",
)


def require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """UserError naming the columns ``table`` lacks, so a hand-made table fails with its fix."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{what} lacks the column(s) {', '.join(missing)}; add them (schema: {SCHEMA_HINT})")
    if table.empty:
        raise UserError(f"{what} has no rows; run the exposure simulations first")


def select_lr(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the selected LR per (learner, item_id): the higher ``val_performance``, ties -> larger lr."""
    require_columns(table, ("learner", "item_id", "lr", "val_performance"), "the results table")
    per_lr = table.groupby([*KEY, "lr"], as_index=False, sort=False)["val_performance"].max()
    per_lr = per_lr.sort_values([*KEY, "val_performance", "lr"], na_position="first", kind="stable")
    chosen = per_lr.drop_duplicates(KEY, keep="last")[[*KEY, "lr"]]
    return table.merge(chosen, on=[*KEY, "lr"], how="inner")


def _generalization_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The naturalistic generalization rows when present (the released set); otherwise all rows."""
    if "generalization_feature_config" not in table.columns:
        return table
    natural = table["generalization_feature_config"] == "naturalistic"
    return table[natural] if natural.any() else table


def _state_scores(table: pd.DataFrame) -> pd.DataFrame:
    """Columns ``best_do``, ``best_pp``, ``initial_do``, ``initial_pp`` per (learner, item_id)."""
    rows = table[table["state"].isin(["best", "initial"])]
    wide = (
        rows.groupby([*KEY, "state", "generalization_dative"])["logprob"]
        .mean()
        .unstack(["state", "generalization_dative"])
    )
    wide.columns = [f"{state}_{dative}" for state, dative in wide.columns]
    return wide.reindex(columns=[f"{s}_{d}" for s in ("best", "initial") for d in DATIVES])


def _exposure_attributes(table: pd.DataFrame) -> pd.DataFrame:
    """One row of exposure attributes per (learner, item_id); an item with two datives or codes is an error."""
    columns = ["adaptation_dative", "adaptation_feature_config", "lr", "best_epoch", "val_performance"]
    columns += [c for c in ("hypothesis_id", "hypothesis_instance") if c in table.columns]
    grouped = table.groupby(KEY)
    for column in ("adaptation_dative", "adaptation_feature_config"):
        counts = grouped[column].nunique()
        if (counts > 1).any():
            learner, item = counts[counts > 1].index[0]
            raise UserError(
                f"learner {learner} item {item} has more than one {column}; each exposure item must have one "
                "(check that the table does not mix experiments)"
            )
    return grouped[columns].first()


def _feature_frame(attributes: pd.DataFrame) -> pd.DataFrame:
    """The feature columns of every row of ``attributes`` (codes parsed once per distinct code and dative)."""
    pairs = attributes[["adaptation_feature_config", "adaptation_dative"]].drop_duplicates()
    parsed = pd.DataFrame(
        [
            {**feature_columns(c, d), "adaptation_feature_config": c, "adaptation_dative": d}
            for c, d in pairs.values
        ]
    )
    merged = (
        attributes[["adaptation_feature_config", "adaptation_dative"]]
        .reset_index()
        .merge(parsed, on=["adaptation_feature_config", "adaptation_dative"], how="left")
    )
    return merged.set_index(KEY).drop(columns=["adaptation_feature_config", "adaptation_dative"])


def cdg_scores(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (learner, item_id) of the selected LR: features, ``cdg`` (best-state alternate construction),
    ``cdg_gain`` (best − initial), the same-construction ``modeled`` score and gain, and the ``direction``."""
    require_columns(table, ANALYSIS_COLUMNS, "the results table")
    selected = _generalization_rows(select_lr(table))
    attributes = _exposure_attributes(selected)
    scores = _state_scores(selected).reindex(attributes.index)
    do = (attributes["adaptation_dative"] == "do").to_numpy()
    alt, same = np.where(do, "pp", "do"), np.where(do, "do", "pp")

    def pick(state: str, datives: np.ndarray) -> np.ndarray:
        return np.where(datives == "do", scores[f"{state}_do"], scores[f"{state}_pp"])

    out = attributes.join(_feature_frame(attributes))
    out["direction"] = attributes["adaptation_dative"].map(DIRECTIONS)
    out["cdg"] = pick("best", alt)
    out["cdg_gain"] = out["cdg"] - pick("initial", alt)
    out["modeled"] = pick("best", same)
    out["modeled_gain"] = out["modeled"] - pick("initial", same)
    front = ["adaptation_dative", "direction", "adaptation_feature_config"]
    front += [c for c in ("hypothesis_id", "hypothesis_instance") if c in out.columns]
    rest = [c for c in out.columns if c not in front]
    return out[front + rest].reset_index().sort_values(KEY, kind="stable").reset_index(drop=True)
