"""Analysis of exposure simulations: cross-dative generalization (CDG) scores, mixed models, effects, plots.

Input is the per-item table the exposure simulations write (one row per learner, exposure item, LR, state and
generalization construction; schema of the upstream ``best_lr_results_hypwise.csv`` plus ``learner``). The CDG
score of an exposure is the ``best``-state mean log-prob of the *alternate* construction (Misra & Kim 2024).

This module runs the analysis and writes its files; the parts live beside it: ``table_reading`` (the saved
table), ``features``, ``scores``, ``effects``, ``mixed_models`` and ``plot``.

Run ``python -m evalkit_cross_dative.analysis TABLE --out DIR`` to write the scores, effects, mixed-model
tables, a JSON summary, a figure and a Markdown headline table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.api import UserError
from evalkit_cross_dative.atomic import write_bytes_atomic
from evalkit_cross_dative.effects import (
    bootstrap_index,
    check_bootstrap,
    direction_rows,
    first_argument_effects,
    mean_with_ci,
)
from evalkit_cross_dative.features import DIRECTION_FILES, DIRECTION_TITLES, FIRST_ARGUMENT, FIRST_FEATURES
from evalkit_cross_dative.mixed_models import COEFFICIENT_COLUMNS, MixedModelResult, fit_mixed_model
from evalkit_cross_dative.plot import feature_label, plot_effects
from evalkit_cross_dative.scores import cdg_scores
from evalkit_cross_dative.table_reading import read_table

NOTE_MARGINAL = (
    "Differences are marginal (not adjusted for the other features; pronouns are always short, so the short "
    "level includes the pronoun effect); the mixed-model coefficients are adjusted."
)
NOTE_BASELINES = (
    "Raw DO and PO log-probs are on different baselines (the two generalization sets differ); compare "
    "within a direction, or use the gain over the untrained token (cdg_gain)."
)


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
    write_bytes_atomic(path, frame.to_csv(index=index, lineterminator="\n").encode("utf-8"))


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
    for direction, subset in direction_rows(scores, "cdg").items():
        index = bootstrap_index(subset, bootstrap, rng)
        directions[direction] = {
            "title": DIRECTION_TITLES[direction],
            "exposures": len(subset),
            "learners": int(subset["learner"].nunique()),
            "items": int(subset["item_id"].nunique()),
            **{
                f"mean_{c}": mean_with_ci(subset, c, index)
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
    label = feature_label(row).replace("\n", " ")
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
    bootstrap = check_bootstrap(bootstrap)
    scores = cdg_scores(table)
    effects = first_argument_effects(scores, bootstrap=bootstrap, seed=seed)
    models = {d: fit_mixed_model(scores, d) for d in direction_rows(scores, "cdg")}
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
    write_bytes_atomic(
        out / "analysis.json", (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode()
    )
    plot_effects(effects, out / "effects.png")
    write_bytes_atomic(out / "analysis.md", _markdown(summary, effects, models).encode("utf-8"))
    return summary


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
