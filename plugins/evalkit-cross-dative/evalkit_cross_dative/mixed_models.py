"""The paper's linear mixed model per direction (REML, crossed random intercepts for learner and item; OLS when
none is identifiable), with the terms and random effects the data cannot estimate dropped and listed."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from evalkit.api import UserError
from evalkit_cross_dative.features import DIRECTION_TITLES, FEATURE_COLUMNS, FEATURES
from evalkit_cross_dative.scores import KEY, require_columns

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
    require_columns(scores, [*KEY, "direction", response, *FEATURE_COLUMNS], "the CDG score table")
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
