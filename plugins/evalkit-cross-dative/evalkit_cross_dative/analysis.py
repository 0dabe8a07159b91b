"""Analysis of exposure simulations: cross-dative generalization (CDG) scores, mixed models, effects, plots.

Input is the per-item table the exposure simulations write (one row per learner, exposure item, LR, state and
generalization construction; schema of the upstream ``best_lr_results_hypwise.csv`` plus ``learner``). The CDG
score of an exposure is the ``best``-state mean log-prob of the *alternate* construction (Misra & Kim 2024).

Run ``python -m evalkit_cross_dative.analysis TABLE --out DIR`` to write the scores, effects, mixed-model
tables, a JSON summary, a figure and a Markdown headline table.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.api import UserError, jsonl_records

# ---------------------------------------------------------------------------------------------- features


@dataclass(frozen=True)
class Feature:
    """One argument feature: its letter position inside a 4-letter argument type and its two levels."""

    position: int
    levels: dict[str, str]  # letter -> word
    positive: str  # the word coded +0.5 in the mixed models


FEATURES: dict[str, Feature] = {
    "pronominality": Feature(0, {"p": "pronoun", "n": "nominal"}, "pronoun"),
    "animacy": Feature(1, {"a": "animate", "i": "inanimate"}, "animate"),
    "length": Feature(2, {"s": "short", "l": "long"}, "short"),
    "definiteness": Feature(3, {"d": "definite", "i": "indefinite"}, "definite"),
}
ROLE_OFFSETS: dict[str, int] = {"theme": 0, "recipient": 4}  # code = theme type + recipient type
CODE_PATTERN = re.compile(r"[pn][ai][sl][di][pn][ai][sl][di]")
DATIVES: tuple[str, ...] = ("do", "pp")
STATES: tuple[str, ...] = ("initial", "final", "best")
FIRST_ARGUMENT: dict[str, str] = {"do": "recipient", "pp": "theme"}  # first argument after the verb
PROTOTYPICAL_ANIMACY: dict[str, str] = {"do": "animate", "pp": "inanimate"}  # of that first argument
DIRECTIONS: dict[str, str] = {"do": "do→pp", "pp": "pp→do"}  # exposure dative -> direction label
DIRECTION_TITLES: dict[str, str] = {"do→pp": "DO exposure → PO use", "pp→do": "PO exposure → DO use"}
DIRECTION_FILES: dict[str, str] = {"do→pp": "do_pp", "pp→do": "pp_do"}
FIRST_FEATURES: dict[str, str] = {  # first-argument column -> the argument feature it reads
    "first_pronominal": "pronominality",
    "first_definite": "definiteness",
    "first_short": "length",
    "first_prototypical_animacy": "animacy",
}
FEATURE_COLUMNS: tuple[str, ...] = tuple(f"{role}_{name}" for role in ROLE_OFFSETS for name in FEATURES)
MAIN_TERMS: tuple[str, ...] = (
    "theme_animacy",
    "theme_pronominality",
    "recipient_animacy",
    "recipient_pronominality",
    "theme_definiteness",
    "recipient_definiteness",
    "theme_length",
    "recipient_length",
)
INTERACTION_TERMS: tuple[str, ...] = (
    "theme_animacy:theme_pronominality",
    "recipient_animacy:recipient_pronominality",
    "theme_animacy:recipient_animacy",
    "theme_pronominality:recipient_pronominality",
)
NOTE_MARGINAL = (
    "Differences are marginal (not adjusted for the other features; pronouns are always short, so the short "
    "level includes the pronoun effect); the mixed-model coefficients are adjusted."
)
NOTE_BASELINES = (
    "Raw DO and PO log-probs are on different baselines (the two generalization sets differ); compare "
    "within a direction, or use the gain over the untrained token (cdg_gain)."
)


def _check_code(code: object) -> str:
    """The code itself, or a UserError saying what an 8-letter configuration code looks like."""
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise UserError(
            f"feature configuration {code!r} is not an 8-letter code; write theme then recipient type, "
            "each p/n a/i s/l d/i (e.g. 'pasdnild')"
        )
    return code


def feature_columns(code: str, dative: str | None = None) -> dict[str, str | bool]:
    """The exposure's features as words (``theme_animacy`` -> "animate", ...) read from its 8-letter code;
    with the exposure ``dative``, also the first-postverbal-argument booleans (``first_pronominal``, ...)."""
    _check_code(code)
    out: dict[str, str | bool] = {}
    for role, offset in ROLE_OFFSETS.items():
        for name, feature in FEATURES.items():
            out[f"{role}_{name}"] = feature.levels[code[offset + feature.position]]
    if dative is None:
        return out
    if dative not in FIRST_ARGUMENT:
        raise UserError(f"dative {dative!r} is not 'do' or 'pp' (the prepositional object is labelled 'pp')")
    first = FIRST_ARGUMENT[dative]
    out["first_pronominal"] = out[f"{first}_pronominality"] == "pronoun"
    out["first_definite"] = out[f"{first}_definiteness"] == "definite"
    out["first_short"] = out[f"{first}_length"] == "short"
    out["first_prototypical_animacy"] = out[f"{first}_animacy"] == PROTOTYPICAL_ANIMACY[dative]
    return out


# ------------------------------------------------------------------------------------------- CDG scores

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


def _require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """UserError naming the columns ``table`` lacks, so a hand-made table fails with its fix."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{what} lacks the column(s) {', '.join(missing)}; add them (schema: {SCHEMA_HINT})")
    if table.empty:
        raise UserError(f"{what} has no rows; run the exposure simulations first")


def select_lr(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the selected LR per (learner, item_id): the higher ``val_performance``, ties -> larger lr."""
    _require_columns(table, ("learner", "item_id", "lr", "val_performance"), "the results table")
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
    _require_columns(table, ANALYSIS_COLUMNS, "the results table")
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


# ---------------------------------------------------------------------------------------- mixed models


@dataclass
class MixedModelResult:
    """One direction's linear mixed model: coefficient table, sizes, random effects fitted, what was dropped."""

    direction: str
    response: str
    formula: str
    coefficients: pd.DataFrame  # index term; estimate, std_error, z, p, ci_low, ci_high
    n_obs: int
    n_learners: int
    n_items: int
    converged: bool
    method: str  # "REML linear mixed model" or "OLS" (no random effect could be fitted)
    random_effects: dict[str, float] = field(default_factory=dict)  # fitted grouping factor -> variance
    residual_variance: float = float("nan")
    dropped_predictors: dict[str, str] = field(default_factory=dict)  # term -> why
    dropped_random_effects: dict[str, str] = field(default_factory=dict)  # grouping factor -> why
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (coefficients as a list of records with a ``term`` key)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "coefficients"}
        out["coefficients"] = self.coefficients.rename_axis("term").reset_index().to_dict(orient="records")
        return out


COEFFICIENT_COLUMNS = ["estimate", "std_error", "z", "p", "ci_low", "ci_high"]


def _direction(direction: str) -> str:
    """The canonical direction label ("do→pp" or "pp→do") from it or a spelling like "do_pp" or "do->pp"."""
    key = str(direction).lower().replace("->", "→").replace("_", "→").replace("po", "pp")
    if key in DIRECTION_TITLES:
        return key
    raise UserError(f"direction {direction!r} is not 'do→pp' or 'pp→do' (also accepted: 'do_pp', 'pp_do')")


def _coded(scores: pd.DataFrame, response: str) -> pd.DataFrame:
    """Response, grouping factors and the eight features sum-coded ±0.5 (pronoun, animate, short, definite = +0.5)."""
    frame = pd.DataFrame(
        {"learner": scores["learner"].astype(str), "item_id": scores["item_id"], response: scores[response]}
    )
    for column in FEATURE_COLUMNS:
        positive = FEATURES[column.split("_", 1)[1]].positive
        frame[column] = np.where(scores[column] == positive, 0.5, -0.5)
    return frame


def _term_column(frame: pd.DataFrame, term: str) -> np.ndarray:
    """The design column of a main effect or an interaction (product of the coded columns)."""
    return np.prod([frame[name].to_numpy() for name in term.split(":")], axis=0)


def _estimable_terms(frame: pd.DataFrame, scores: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """The formula's terms that the data can estimate, in order, and the dropped ones with the reason."""
    kept: list[str] = []
    dropped: dict[str, str] = {}
    design = np.ones((len(frame), 1))
    for term in MAIN_TERMS + INTERACTION_TERMS:
        parts = term.split(":")
        if len(parts) == 1 and frame[term].nunique() < 2:
            dropped[term] = f"constant in the data (all {scores[term].iloc[0]})"
            continue
        if any(p in dropped for p in parts):
            dropped[term] = "a component is constant in the data"
            continue
        candidate = np.column_stack([design, _term_column(frame, term)])
        if np.linalg.matrix_rank(candidate) <= np.linalg.matrix_rank(design):
            dropped[term] = "aliased with earlier terms in this grid"
            continue
        kept.append(term)
        design = candidate
    return kept, dropped


def _random_effects(frame: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """Grouping factors to fit random intercepts for, and those dropped with the reason."""
    fitted: list[str] = []
    dropped: dict[str, str] = {}
    if frame["learner"].nunique() >= 2:
        fitted.append("learner")
    else:
        dropped["learner"] = "only one learner"
    if frame["item_id"].duplicated().any():
        fitted.append("item_id")
    else:
        dropped["item_id"] = (
            "each item is observed once, so its variance cannot be told apart from the residual"
        )
    return fitted, dropped


def _coefficient_table(names: Sequence[str], estimate: Any, se: Any) -> pd.DataFrame:
    """estimate, std error, Wald z, two-sided normal p and 95% CI per term."""
    from scipy.stats import norm

    est, std = np.asarray(estimate, float), np.asarray(se, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / std
    p = 2 * norm.sf(np.abs(z))
    half = norm.ppf(0.975) * std
    table = pd.DataFrame({"estimate": est, "std_error": std, "z": z, "p": p}, index=list(names))
    table["ci_low"], table["ci_high"] = est - half, est + half
    return table


def _fit_mixed(formula: str, frame: pd.DataFrame, groups: list[str]) -> tuple[Any, list[str]]:
    """REML fit with crossed random intercepts (one constant group, a variance component per factor).

    Powell then Nelder-Mead: statsmodels' gradient optimisers stall on this single-group crossed design."""
    import statsmodels.formula.api as smf

    vc = {name: f"0 + C({name})" for name in groups}
    data = frame.assign(_all=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = smf.mixedlm(formula, data, groups="_all", re_formula="0", vc_formula=vc, use_sparse=True)
        result = model.fit(reml=True, method=["powell", "nm"])
    return result, list(dict.fromkeys(str(w.message) for w in caught))


def _failed(messages: Iterable[str]) -> bool:
    """Whether statsmodels' warnings say the optimisation failed or the Hessian is not positive definite.

    The "MLE may be on the boundary" warning is not a failure: it fires for any variance below 0.01 (absolute),
    which log-prob scales reach easily."""
    return any("failed" in m or "not positive definite" in m for m in messages)


def fit_mixed_model(scores: pd.DataFrame, direction: str, response: str = "cdg") -> MixedModelResult:
    """The paper's linear mixed model for one direction: ``response`` on the exposure's features, REML, random
    intercepts for learner and item (crossed). Predictors are sum-coded ±0.5 with pronoun, animate, short and
    definite = +0.5, so a main effect is the difference between its two levels averaged over the others.

    Terms constant or aliased in the data and unidentifiable random effects are dropped and listed; with no
    random effect left (one learner: each item seen once) the model is OLS."""
    direction = _direction(direction)
    _require_columns(scores, [*KEY, "direction", response, *FEATURE_COLUMNS], "the CDG score table")
    subset = scores[(scores["direction"] == direction) & scores[response].notna()]
    if subset.empty:
        raise UserError(
            f"there are no {direction} exposures with a {response} score; check the results table"
        )
    frame = _coded(subset, response)
    terms, dropped = _estimable_terms(frame, subset)
    groups, dropped_groups = _random_effects(frame)
    fixed = f"{response} ~ {' + '.join(terms) or '1'}"
    formula = fixed + "".join(f" + (1 | {g})" for g in groups)
    base = dict(direction=direction, response=response, formula=formula, n_obs=len(frame))
    base |= dict(n_learners=frame["learner"].nunique(), n_items=frame["item_id"].nunique())
    base |= dict(dropped_predictors=dropped, dropped_random_effects=dropped_groups)
    if not groups:
        return _ols_result(fixed, frame, base)
    try:
        result, messages = _fit_mixed(fixed, frame, groups)
    except (np.linalg.LinAlgError, ValueError) as exc:
        names = ["Intercept", *terms]
        table = _coefficient_table(names, [np.nan] * len(names), [np.nan] * len(names))
        return MixedModelResult(**base, coefficients=table, converged=False, method="REML linear mixed model",
                                warnings=[f"fit failed: {exc}"])  # fmt: skip
    table = _coefficient_table(result.fe_params.index, result.fe_params, result.bse_fe)
    variances = dict(zip(result.model.exog_vc.names, (float(v) for v in result.vcomp)))
    return MixedModelResult(
        **base,
        coefficients=table,
        converged=bool(result.converged) and not _failed(messages),
        method="REML linear mixed model",
        random_effects={g: variances[g] for g in groups},
        residual_variance=float(result.scale),
        warnings=messages,
    )


def _ols_result(formula: str, frame: pd.DataFrame, base: dict[str, Any]) -> MixedModelResult:
    """Ordinary least squares fallback when no random intercept is identifiable."""
    import statsmodels.formula.api as smf

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = smf.ols(formula, frame).fit()
    table = _coefficient_table(result.params.index, result.params, result.bse)
    return MixedModelResult(
        **base,
        coefficients=table,
        converged=True,
        method="OLS",
        residual_variance=float(result.scale),
        warnings=list(dict.fromkeys(str(w.message) for w in caught)),
    )


# ------------------------------------------------------------------------------------------- bootstrap


def _bootstrap_index(subset: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> np.ndarray:
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


def _check_bootstrap(bootstrap: int) -> int:
    """``bootstrap`` as a positive int, else a UserError."""
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int | np.integer) or bootstrap < 1:
        raise UserError(f"bootstrap={bootstrap!r} is not a positive number of resamples; use e.g. 1000")
    return int(bootstrap)


def _direction_rows(scores: pd.DataFrame, response: str) -> dict[str, pd.DataFrame]:
    """Rows with a ``response`` value per direction present, in the order DO→PO, PO→DO."""
    valid = scores[scores[response].notna()]
    return {d: valid[valid["direction"] == d] for d in DIRECTION_TITLES if (valid["direction"] == d).any()}


def first_argument_effects(
    scores: pd.DataFrame, response: str = "cdg", *, bootstrap: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Per direction and first-postverbal-argument feature: mean ``response`` at each level and the difference
    (level − other level), each with a 95% percentile bootstrap CI (exposure items resampled within learner,
    the same draw in every learner)."""
    bootstrap = _check_bootstrap(bootstrap)
    _require_columns(scores, ["learner", "direction", response, *FIRST_FEATURES], "the CDG score table")
    rng = np.random.default_rng(seed)
    rows = []
    for direction, subset in _direction_rows(scores, response).items():
        index = _bootstrap_index(subset, bootstrap, rng)
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


def _mean_with_ci(subset: pd.DataFrame, column: str, index: np.ndarray) -> dict[str, float]:
    """Mean of a score column (missing values left out) with its bootstrap CI; ``index`` resamples ``subset``."""
    y = subset[column].to_numpy(float)
    point, boot = _level_means(y, np.isfinite(y), index)
    low, high = _ci(boot)
    return {"estimate": point, "low": low, "high": high}


# ------------------------------------------------------------------------------------------------ plot


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _feature_label(row: pd.Series) -> str:
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
    _atomic_write(path, buffer.getvalue())
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
    ax.set_yticks(y, [_feature_label(r) for _, r in rows.iterrows()])
    ax.set_xlabel("difference in mean log P per token (nats)")


# ------------------------------------------------------------------------------------------- analysis


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars made Python and NaN/inf made None, so the JSON is strict."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_csv(path: Path, frame: pd.DataFrame, index: bool = False) -> None:
    """Atomic CSV write."""
    _atomic_write(path, frame.to_csv(index=index, lineterminator="\n").encode("utf-8"))


def _model_term(direction: str, column: str) -> tuple[str, float]:
    """The mixed-model main effect matching a first-argument feature, and the sign that aligns it
    (PO: prototypical = inanimate theme, the opposite of the +0.5 animate coding)."""
    role = FIRST_ARGUMENT[direction[:2]]
    sign = -1.0 if column == "first_prototypical_animacy" and direction.startswith("pp") else 1.0
    return f"{role}_{FIRST_FEATURES[column]}", sign


def _summary(
    table: pd.DataFrame,
    scores: pd.DataFrame,
    effects: pd.DataFrame,
    models: dict[str, MixedModelResult],
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    """The JSON summary: counts, per-direction means with CIs, effects and model results."""
    rng = np.random.default_rng(seed + 1)
    directions = {}
    for direction, subset in _direction_rows(scores, "cdg").items():
        index = _bootstrap_index(subset, bootstrap, rng)
        directions[direction] = {
            "title": DIRECTION_TITLES[direction],
            "exposures": len(subset),
            "learners": int(subset["learner"].nunique()),
            "items": int(subset["item_id"].nunique()),
            **{
                f"mean_{c}": _mean_with_ci(subset, c, index)
                for c in ("cdg", "cdg_gain", "modeled", "modeled_gain")
            },
        }
    lr_counts = scores["lr"].value_counts().sort_index()
    return {
        "response": "cdg",
        "bootstrap": bootstrap,
        "seed": seed,
        "counts": {
            "rows": len(table),
            "learners": int(scores["learner"].nunique()),
            "items": int(scores["item_id"].nunique()),
            "scored_exposures": len(scores),
            "exposures_missing_cdg": int(scores["cdg"].isna().sum()),
            "selected_lr": {repr(float(k)): int(v) for k, v in lr_counts.items()},
        },
        "directions": directions,
        "effects": effects.to_dict(orient="records"),
        "mixed_models": {d: m.to_dict() for d, m in models.items()},
        "coding": "sum-coded ±0.5: pronoun, animate, short, definite = +0.5",
        "notes": [NOTE_BASELINES, NOTE_MARGINAL],
    }


def _fmt(value: float, digits: int = 3) -> str:
    """A number for the Markdown table ("–" when missing)."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _format_p(p: float) -> str:
    """p for a table: "<0.001" or three decimals."""
    return "–" if not math.isfinite(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _markdown(summary: dict[str, Any], effects: pd.DataFrame, models: dict[str, MixedModelResult]) -> str:
    """A short headline report: per direction the mean CDG, then per feature the difference and coefficient."""
    lines = ["# Cross-dative generalization: effects of the first postverbal argument", ""]
    lines += [
        f"Response: `cdg`, best-state mean log P per token of the alternate construction. {NOTE_BASELINES} "
        "Differences are level − other level with 95% bootstrap CIs (exposure items resampled, one draw within "
        f"every learner, {summary['bootstrap']} resamples); coefficients are from the REML mixed model (±0.5 "
        f"coding; pronoun, animate, short, definite = +0.5). {NOTE_MARGINAL}",
        "",
    ]
    for direction, info in summary["directions"].items():
        cdg, gain = info["mean_cdg"], info["mean_cdg_gain"]
        lines += [
            f"## {info['title']}",
            "",
            f"{info['exposures']} exposures, {info['learners']} learners; mean CDG {_fmt(cdg['estimate'])} "
            f"[{_fmt(cdg['low'])}, {_fmt(cdg['high'])}], gain over the untrained verb {_fmt(gain['estimate'])} "
            f"[{_fmt(gain['low'])}, {_fmt(gain['high'])}].",
            "",
            "| First postverbal argument | Mean CDG (level) | Mean CDG (other) | Difference [95% CI] | "
            "Mixed-model coefficient (p) |",
            "|---|---|---|---|---|",
        ]
        for _, row in effects[effects["direction"] == direction].iterrows():
            lines.append(_markdown_row(row, models.get(direction)))
        model = models.get(direction)
        if model is not None:
            lines += ["", _model_note(model)]
        lines.append("")
    return "\n".join(lines) + "\n"


def _markdown_row(row: pd.Series, model: MixedModelResult | None) -> str:
    """One feature's row of the headline table."""
    term, sign = _model_term(row["direction"], row["feature"])
    coefficient = "not fitted"
    if model is not None and term in model.coefficients.index:
        c = model.coefficients.loc[term]
        flipped = " (sign flipped)" if sign < 0 else ""
        coefficient = f"{_fmt(sign * c['estimate'])} (p {_format_p(c['p'])}){flipped} `{term}`"
    elif model is not None:
        coefficient = f"dropped: {model.dropped_predictors.get(term, 'not in the model')}"
    label = _feature_label(row).replace("\n", " ")
    return (
        f"| {label} | {_fmt(row['mean_level'])} | {_fmt(row['mean_other'])} | "
        f"{_fmt(row['difference'])} [{_fmt(row['difference_low'])}, {_fmt(row['difference_high'])}] | {coefficient} |"
    )


def _model_note(model: MixedModelResult) -> str:
    """One line on the model: random effects, convergence, dropped terms."""
    effects = ", ".join(f"{k} (variance {_fmt(v, 4)})" for k, v in model.random_effects.items()) or "none"
    note = f"Model: {model.method}, random intercepts: {effects}; converged: {'yes' if model.converged else 'NO'}."
    if model.dropped_predictors:
        note += f" Dropped terms: {', '.join(model.dropped_predictors)}."
    if model.dropped_random_effects:
        note += f" Dropped random effects: {', '.join(model.dropped_random_effects)}."
    return note


def _output_dir(out_dir: str | Path) -> Path:
    """The output folder, created; a UserError if it cannot be."""
    path = Path(out_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the output folder {path} ({exc.strerror}); choose a writable --out"
        ) from None
    return path


def _analysis(
    table: pd.DataFrame, bootstrap: int, seed: int
) -> tuple[dict, pd.DataFrame, pd.DataFrame, dict[str, MixedModelResult]]:
    bootstrap = _check_bootstrap(bootstrap)
    scores = cdg_scores(table)
    effects = first_argument_effects(scores, bootstrap=bootstrap, seed=seed)
    models = {d: fit_mixed_model(scores, d) for d in _direction_rows(scores, "cdg")}
    return _jsonable(_summary(table, scores, effects, models, bootstrap, seed)), scores, effects, models


def summary_of(table: pd.DataFrame, *, bootstrap: int = 1000, seed: int = 0) -> dict:
    """The analysis' JSON summary (as ``analysis.json``) without writing files: what results.json keeps."""
    return _analysis(table, bootstrap, seed)[0]


def analyze(
    table: pd.DataFrame | str | Path, out_dir: str | Path, *, bootstrap: int = 1000, seed: int = 0
) -> dict:
    """Scores, effects, one mixed model per direction, and their files in ``out_dir`` (all written atomically);
    returns the JSON summary. ``table`` is a DataFrame or the path of a saved table."""
    if not isinstance(table, pd.DataFrame):
        table = read_table(table)
    out = _output_dir(out_dir)
    summary, scores, effects, models = _analysis(table, bootstrap, seed)
    _write_csv(out / "cdg_scores.csv", scores)
    _write_csv(out / "effects.csv", effects)
    for direction, stem in DIRECTION_FILES.items():
        coefficients = (
            models[direction].coefficients
            if direction in models
            else pd.DataFrame(columns=COEFFICIENT_COLUMNS)
        )
        _write_csv(out / f"mixed_model_{stem}.csv", coefficients.rename_axis("term"), index=True)
    _atomic_write(out / "analysis.json", (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode())
    plot_effects(effects, out / "effects.png")
    _atomic_write(out / "analysis.md", _markdown(summary, effects, models).encode("utf-8"))
    return summary


# ------------------------------------------------------------------------------------------ reading

SCHEMA: tuple[str, ...] = (
    "learner", "item_id", "hypothesis_id", "hypothesis_instance", "lr", "adaptation_dative", "val_performance",
    "best_epoch", "train_loss", "adaptation_feature_config", "state", "generalization_dative",
    "generalization_feature_config", "logprob",
)  # fmt: skip
SCHEMA_HINT = (
    "one row per learner, item_id, lr, state and generalization_dative, as the exposure simulations write"
)
_INTEGER = ("item_id", "hypothesis_id", "hypothesis_instance", "best_epoch")
_FLOAT = ("lr", "val_performance", "train_loss", "logprob")
_CHOICES = {"state": STATES, "adaptation_dative": DATIVES, "generalization_dative": DATIVES}
_TEXT = ("learner", "generalization_feature_config")
_FIX = "fix that value or rerun the exposure simulations to rewrite the table"


def _decode(path: Path) -> str:
    """The file's text; a UserError naming the file and the line if it is missing or not UTF-8."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"results table {path} does not exist; pass the path of a saved table") from None
    except OSError as exc:
        raise UserError(f"cannot read results table {path} ({exc.strerror}); check the path") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{path} line {line} is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the table as UTF-8"
        ) from None


def _read_csv(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """All-string frame of a CSV file and the line number of every row; malformed lines are UserErrors."""
    reader = csv.reader(io.StringIO(_decode(path), newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise UserError(f"{path} is empty; it needs a header line ({', '.join(SCHEMA)}) and rows")
        rows, lines = [], []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise UserError(
                    f"{path} line {reader.line_num} has {len(row)} fields but the header has {len(header)}; "
                    "fix or remove that line"
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise UserError(
            f"{path} line {reader.line_num} is not valid CSV ({exc}); fix or remove that line"
        ) from None
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise UserError(f"{path} has the column(s) {', '.join(duplicated)} twice; keep one of each")
    return pd.DataFrame(rows, columns=header, dtype=object), np.asarray(lines, dtype=int)


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Frame of a JSON Lines file (one object per line) and the line number of every row."""
    _decode(path)  # missing file / UTF-8 errors as for CSV
    records, lines = [], []
    for number, record in jsonl_records(path, json_fix="write one JSON object per line"):
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number} is not a JSON object; write one object per line")
        records.append(record)
        lines.append(number)
    return pd.DataFrame.from_records(records), np.asarray(lines, dtype=int)


def _bad_value(
    path: Path, lines: np.ndarray, bad: np.ndarray, frame: pd.DataFrame, column: str, want: str
) -> None:
    """Raise a UserError naming the first bad row's line, value and what was expected, if ``bad`` has any."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = frame[column].iloc[i]
        raise UserError(f"{path} line {lines[i]}: {column} is {value!r}, expected {want}; {_FIX}")


def _missing(series: pd.Series) -> np.ndarray:
    """Cells that are absent: None/NaN or empty text."""
    return (series.isna() | series.astype(str).str.strip().eq("")).to_numpy()


def _typed(path: Path, frame: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
    """The table with checked values and proper dtypes; the first bad value is a UserError with its line."""
    out = frame[list(SCHEMA)].copy()
    for column in SCHEMA:
        _bad_value(path, lines, _missing(out[column]), out, column, "a value (the cell is empty)")
    for column in _INTEGER:
        number = pd.to_numeric(out[column], errors="coerce")
        bad = number.isna() | (number % 1 != 0) | (number < 0)
        _bad_value(path, lines, bad.to_numpy(), out, column, "a whole number ≥ 0")
        out[column] = number.astype(np.int64)
    for column in _FLOAT:
        number = pd.to_numeric(out[column], errors="coerce")
        bad = ~np.isfinite(number.to_numpy(float))
        if column == "lr":
            bad |= (number <= 0).to_numpy()
        _bad_value(
            path, lines, bad, out, column, "a positive number" if column == "lr" else "a finite number"
        )
        out[column] = number.astype(float)
    for column, allowed in _CHOICES.items():
        out[column] = out[column].astype(str)
        _bad_value(
            path, lines, ~out[column].isin(allowed).to_numpy(), out, column, f"one of {', '.join(allowed)}"
        )
    for column in _TEXT:
        out[column] = out[column].astype(str)
    out["adaptation_feature_config"] = out["adaptation_feature_config"].astype(str)
    bad_code = ~out["adaptation_feature_config"].str.fullmatch(CODE_PATTERN.pattern).to_numpy(bool)
    want = "an 8-letter code (theme then recipient: p/n a/i s/l d/i, e.g. 'pasdnild')"
    _bad_value(path, lines, bad_code, out, "adaptation_feature_config", want)
    return out


def _check_duplicates(path: Path, table: pd.DataFrame, lines: np.ndarray) -> None:
    """A UserError naming the line of a repeated (learner, item, lr, state, construction) row."""
    key = ["learner", "item_id", "lr", "state", "generalization_dative", "generalization_feature_config"]
    repeated = table.duplicated(key).to_numpy()
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0])
        raise UserError(
            f"{path} line {lines[i]} repeats an earlier row's learner, item_id, lr, state and "
            "generalization_dative; remove the duplicate (a table may hold each row once)"
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """A saved results table (``.csv`` or ``.jsonl``) with checked columns and values; every problem is a
    UserError naming the file (and line) and the fix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise UserError(f"results table {path} is not a .csv or .jsonl file; save the table in one of those")
    frame, lines = _read_csv(path) if suffix == ".csv" else _read_jsonl(path)
    missing = [c for c in SCHEMA if c not in frame.columns]
    if missing:
        raise UserError(f"{path} lacks the column(s) {', '.join(missing)}; add them ({SCHEMA_HINT})")
    if frame.empty:
        raise UserError(f"{path} has no rows; run the exposure simulations first")
    table = _typed(path, frame, lines)
    _check_duplicates(path, table, lines)
    return table


# ------------------------------------------------------------------------------------------------ CLI


def _parser() -> argparse.ArgumentParser:
    """``TABLE --out DIR [--bootstrap N] [--seed S]``."""
    parser = argparse.ArgumentParser(
        prog="python -m evalkit_cross_dative.analysis",
        description="Cross-dative generalization analysis of a saved exposure-simulation table.",
    )
    parser.add_argument("table", help="results table (.csv or .jsonl) written by the exposure simulations")
    parser.add_argument(
        "--out", required=True, help="output folder for the scores, models, figure and report"
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``analyze`` on a saved table; a UserError prints ``evalkit: error: ...`` and returns 2."""
    args = _parser().parse_args(argv)
    try:
        summary = analyze(read_table(args.table), args.out, bootstrap=args.bootstrap, seed=args.seed)
    except UserError as exc:
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return 2
    for direction, info in summary["directions"].items():
        cdg = info["mean_cdg"]
        print(
            f"{info['title']} ({direction}): {info['exposures']} exposures, mean cdg {_fmt(cdg['estimate'])}"
        )
    print(f"wrote {Path(args.out) / 'analysis.md'} and the other results to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
