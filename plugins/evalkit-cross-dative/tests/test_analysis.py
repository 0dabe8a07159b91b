"""CDG analysis: planted effects are recovered, LR selection, alternate construction, reduced designs, file errors."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evalkit_cross_dative.analysis import analyze, main
from evalkit_cross_dative.effects import first_argument_effects
from evalkit_cross_dative.features import FEATURES, feature_columns
from evalkit_cross_dative.mixed_models import fit_mixed_model
from evalkit_cross_dative.plot import plot_effects
from evalkit_cross_dative.scores import cdg_scores, select_lr
from evalkit_cross_dative.table_reading import read_table

from evalkit.api import UserError

DATA = Path(
    os.environ.get("EVALKIT_CROSS_DATIVE_DIR")
    or Path(__file__).resolve().parents[4] / "shared/data/cross-dative"
)
ADAPTATION = (
    DATA
    / "data/experiments/single_stimuli_dative_simulation_valtest_vbd_no_markedness_no_discourse"
    / "sentences/adaptation.json"
)
PRONOUNS = ["pasd", "pasi", "pisd", "pisi"]
NOMINALS = [f"n{a}{s}{d}" for a in "ai" for s in "sl" for d in "di"]


def built_codes() -> list[str]:
    """The 135 configurations: 12 × 12 argument types minus pronoun pairs in which neither is `pasd`."""
    types = PRONOUNS + NOMINALS
    return [t + r for t in types for r in types if not (t[0] == r[0] == "p" and "pasd" not in (t, r))]


def release_codes() -> list[str]:
    """The released configuration codes when the shared data is here, else the built ones."""
    if ADAPTATION.exists():
        return list(json.loads(ADAPTATION.read_text(encoding="utf-8")))
    return built_codes()


def make_table(
    learners: int = 4,
    instances: int = 2,
    codes: list[str] | None = None,
    seed: int = 0,
    pronominal_effect: float = 0.8,
    definite_effect: float = 0.3,
) -> pd.DataFrame:
    """A results table with a planted CDG: learner intercept + item noise + 0.8 × first argument pronominal
    + 0.3 × recipient definite + noise; features read from the code letters independently of the module."""
    rng = np.random.default_rng(seed)
    codes = codes or release_codes()
    exposures = pd.DataFrame(
        [
            (h, k, d, code, (h - 1) * 2 * instances + (instances if d == "pp" else 0) + k)
            for h, code in enumerate(codes, start=1)
            for d in ("do", "pp")
            for k in range(1, instances + 1)
        ],
        columns=[
            "hypothesis_id",
            "hypothesis_instance",
            "adaptation_dative",
            "adaptation_feature_config",
            "item_id",
        ],
    )
    item_noise = rng.normal(0.0, 0.3, exposures["item_id"].max() + 1)
    frames = []
    for index in range(learners):
        e = exposures.copy()
        e["learner"] = f"seed_{index}"
        first = np.where(
            e["adaptation_dative"] == "do",
            e["adaptation_feature_config"].str[4],
            e["adaptation_feature_config"].str[0],
        )
        recipient_definite = (e["adaptation_feature_config"].str[7] == "d").to_numpy(float)
        e["cdg"] = (
            rng.normal(-4.0, 0.5)
            + item_noise[e["item_id"]]
            + pronominal_effect * (first == "p")
            + definite_effect * recipient_definite
            + rng.normal(0.0, 1.0, len(e))
        )
        e["modeled"] = -4.5 + rng.normal(0.0, 0.2, len(e))
        frames.append(e)
    return long_rows(pd.concat(frames, ignore_index=True), rng)


def long_rows(exposures: pd.DataFrame, rng: np.random.Generator, lr: float = 0.1) -> pd.DataFrame:
    """Rows of the results schema (3 states × 2 generalization datives) from per-exposure cdg/modeled scores."""
    rows = []
    initial = {"do": -6.5, "pp": -5.5}
    for e in exposures.itertuples(index=False):
        alternate = "pp" if e.adaptation_dative == "do" else "do"
        best = {alternate: e.cdg, e.adaptation_dative: e.modeled}
        common = dict(
            learner=e.learner, item_id=e.item_id, hypothesis_id=e.hypothesis_id,
            hypothesis_instance=e.hypothesis_instance, lr=lr, adaptation_dative=e.adaptation_dative,
            val_performance=3.0, best_epoch=int(rng.integers(1, 71)), train_loss=1.0,
            adaptation_feature_config=e.adaptation_feature_config, generalization_feature_config="naturalistic",
        )  # fmt: skip
        for dative in ("do", "pp"):
            scores = {"initial": initial[dative], "final": best[dative] - 0.1, "best": best[dative]}
            for state, logprob in scores.items():
                rows.append({**common, "state": state, "generalization_dative": dative, "logprob": logprob})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    """CDG scores of the planted 4-learner × 135-configuration × 2-instance table."""
    return cdg_scores(make_table())


# ------------------------------------------------------------------------------------------ features


def test_fallback_codes_match_the_release() -> None:
    codes = built_codes()
    assert len(codes) == len(set(codes)) == 135
    if ADAPTATION.exists():
        assert set(codes) == set(release_codes())


def test_feature_columns_read_the_code_and_the_first_argument() -> None:
    assert set(FEATURES) == {"pronominality", "animacy", "length", "definiteness"}
    do = feature_columns("pasdnild", "do")
    assert do["theme_pronominality"] == "pronoun" and do["theme_animacy"] == "animate"
    assert do["theme_length"] == "short" and do["theme_definiteness"] == "definite"
    assert do["recipient_pronominality"] == "nominal" and do["recipient_animacy"] == "inanimate"
    assert do["recipient_length"] == "long" and do["recipient_definiteness"] == "definite"
    # DO: the recipient comes first ("she [verb] the food on the table it"); an inanimate recipient is atypical
    assert (do["first_pronominal"], do["first_definite"], do["first_short"]) == (False, True, False)
    assert do["first_prototypical_animacy"] is False
    # PO: the theme ("something") comes first; an inanimate theme is prototypical
    po = feature_columns("pisinasd", "pp")
    assert (po["first_pronominal"], po["first_definite"], po["first_short"]) == (True, False, True)
    assert po["first_prototypical_animacy"] is True
    assert "first_pronominal" not in feature_columns("pasdnild")
    with pytest.raises(UserError, match="8-letter"):
        feature_columns("pasdnil")


# -------------------------------------------------------------------------------- selection and scoring


def small_table(values: dict[tuple[str, int, float], tuple[float, dict[str, float]]]) -> pd.DataFrame:
    """Rows for (learner, item, lr) -> (val_performance, {state_dative: logprob}); item 1 DO, item 2 PO."""
    rows = []
    for (learner, item, lr), (val, scores) in values.items():
        for key, logprob in scores.items():
            state, dative = key.split("_")
            rows.append(
                dict(
                    learner=learner, item_id=item, hypothesis_id=1, hypothesis_instance=1, lr=lr,
                    adaptation_dative="do" if item == 1 else "pp", val_performance=val, best_epoch=5,
                    train_loss=1.0, adaptation_feature_config="pasdnild", state=state,
                    generalization_dative=dative, generalization_feature_config="naturalistic", logprob=logprob,
                )
            )  # fmt: skip
    return pd.DataFrame(rows)


FULL = {"initial_do": -6.5, "initial_pp": -5.5, "best_do": -5.0, "best_pp": -3.0}


def test_select_lr_keeps_the_higher_validation_score_ties_to_the_larger_lr() -> None:
    table = small_table(
        {
            ("a", 1, 0.1): (2.0, FULL), ("a", 1, 0.01): (3.0, FULL),  # 0.01 validates better
            ("a", 2, 0.1): (1.5, FULL), ("a", 2, 0.01): (1.5, FULL),  # tie -> 0.1
            ("b", 1, 0.1): (4.0, FULL), ("b", 1, 0.01): (3.0, FULL),  # same item, other learner: 0.1
        }
    )  # fmt: skip
    chosen = select_lr(table).groupby(["learner", "item_id"])["lr"].unique()
    assert {k: list(v) for k, v in chosen.items()} == {("a", 1): [0.01], ("a", 2): [0.1], ("b", 1): [0.1]}
    assert len(select_lr(table)) == 3 * 4


def test_cdg_is_the_alternate_construction_of_the_selected_lr() -> None:
    worse = {k: v - 1.0 for k, v in FULL.items()}
    table = small_table(
        {
            ("a", 1, 0.1): (3.0, FULL), ("a", 1, 0.01): (1.0, worse),
            ("a", 2, 0.1): (1.0, worse), ("a", 2, 0.01): (3.0, {**FULL, "best_do": -4.0, "best_pp": -2.0}),
        }
    )  # fmt: skip
    scores = cdg_scores(table).set_index("item_id")
    do, po = scores.loc[1], scores.loc[2]
    assert (do["direction"], do["lr"], do["cdg"], do["modeled"]) == ("do→pp", 0.1, -3.0, -5.0)
    assert do["cdg_gain"] == pytest.approx(2.5) and do["modeled_gain"] == pytest.approx(1.5)
    assert (po["direction"], po["lr"], po["cdg"], po["modeled"]) == ("pp→do", 0.01, -4.0, -2.0)
    assert po["cdg_gain"] == pytest.approx(2.5) and po["modeled_gain"] == pytest.approx(3.5)
    assert do["recipient_animacy"] == "inanimate" and not do["first_pronominal"] and po["first_pronominal"]


# ------------------------------------------------------------------------------------ planted effects


def test_mixed_model_recovers_the_planted_effects(planted: pd.DataFrame) -> None:
    for direction, first in (("do→pp", "recipient"), ("pp→do", "theme")):
        model = fit_mixed_model(planted, direction)
        c = model.coefficients
        assert model.converged and set(model.random_effects) == {"learner", "item_id"}
        assert (model.n_obs, model.n_learners, model.n_items) == (1080, 4, 270)
        assert not model.dropped_predictors and "theme_animacy:recipient_animacy" in c.index
        for term, planted_value in ((f"{first}_pronominality", 0.8), ("recipient_definiteness", 0.3)):
            assert abs(c.loc[term, "estimate"] - planted_value) < 3 * c.loc[term, "std_error"]
            assert c.loc[term, "p"] < 0.01 and c.loc[term, "ci_low"] > 0
        assert c.loc["theme_length", "p"] > 0.01
        assert c.loc["theme_length", "ci_low"] < 0 < c.loc["theme_length", "ci_high"]


def test_first_argument_effects_find_the_planted_difference(planted: pd.DataFrame) -> None:
    effects = first_argument_effects(planted, bootstrap=200, seed=1).set_index(["direction", "feature"])
    assert len(effects) == 8
    for direction in ("do→pp", "pp→do"):
        pronominal = effects.loc[(direction, "first_pronominal")]
        assert 0 < pronominal["difference_low"] < pronominal["difference"] < pronominal["difference_high"]
        assert pronominal["difference"] == pytest.approx(0.8, abs=0.15)
        assert pronominal["level"] == "pronoun" and pronominal["other_level"] == "nominal"
        low, mean, high = pronominal[["mean_level_low", "mean_level", "mean_level_high"]]
        assert low < mean < high
        null = effects.loc[(direction, "first_prototypical_animacy")]
        assert null["difference_low"] < 0 < null["difference_high"]
    assert effects.loc[("pp→do", "first_prototypical_animacy"), "level"] == "inanimate"
    again = first_argument_effects(planted, bootstrap=200, seed=1).set_index(["direction", "feature"])
    pd.testing.assert_frame_equal(effects, again)


def test_a_convergence_warning_is_recorded_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    import statsmodels.regression.mixed_linear_model as mixed
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    original = mixed.MixedLM.fit

    def failing_fit(self, *args, **kwargs):
        warnings.warn("Gradient optimization failed, |grad| = 1.0", ConvergenceWarning, stacklevel=2)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(mixed.MixedLM, "fit", failing_fit)
    scores = cdg_scores(make_table(learners=2, instances=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # even a strict warning filter must not turn it into an exception
        model = fit_mixed_model(scores, "pp→do")
    assert model.converged is False and any("Gradient optimization failed" in w for w in model.warnings)
    assert np.isfinite(model.coefficients.loc["theme_pronominality", "estimate"])


# ------------------------------------------------------------------------------------- reduced designs


def test_one_learner_drops_the_learner_random_effect() -> None:
    scores = cdg_scores(make_table(learners=1, instances=2))
    model = fit_mixed_model(scores, "do_pp")
    assert model.direction == "do→pp" and model.n_learners == 1
    assert model.random_effects == {} and model.method == "OLS"
    assert set(model.dropped_random_effects) == {"learner", "item_id"}
    assert "(1 | learner)" not in model.formula
    assert np.isfinite(model.coefficients.loc["recipient_pronominality", "estimate"])


def test_constant_predictors_are_dropped_and_listed() -> None:
    nominal_theme = [c for c in release_codes() if c[0] == "n"]
    model = fit_mixed_model(cdg_scores(make_table(learners=2, instances=1, codes=nominal_theme)), "pp→do")
    assert "constant" in model.dropped_predictors["theme_pronominality"]
    assert {"theme_animacy:theme_pronominality", "theme_pronominality:recipient_pronominality"} <= set(
        model.dropped_predictors
    )
    assert (
        "theme_pronominality" not in model.coefficients.index and "theme_animacy" in model.coefficients.index
    )
    assert set(model.random_effects) == {"learner", "item_id"}

    one_config = fit_mixed_model(cdg_scores(make_table(learners=2, instances=3, codes=["pasdnild"])), "do→pp")
    assert len(one_config.dropped_predictors) == 12 and list(one_config.coefficients.index) == ["Intercept"]


# ---------------------------------------------------------------------------------------- files and CLI


def write_csv(path: Path, table: pd.DataFrame) -> Path:
    table.to_csv(path, index=False)
    return path


def test_read_table_round_trips_csv_and_jsonl(tmp_path: Path) -> None:
    table = small_table({("seed_6", 1, 0.1): (3.0, FULL), ("seed_6", 2, 0.01): (2.0, FULL)})
    from_csv = read_table(write_csv(tmp_path / "t.csv", table))
    table.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    from_jsonl = read_table(tmp_path / "t.jsonl")
    pd.testing.assert_frame_equal(from_csv, table, check_like=True)
    pd.testing.assert_frame_equal(from_jsonl, table, check_like=True)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda t, p: write_csv(p, t.drop(columns=["logprob", "state"])),
            r"lacks the column\(s\) state, logprob",
        ),
        (
            lambda t, p: write_csv(p, t.assign(state=["best", "bestt", *t["state"][2:]])),
            r"line 3: state is 'bestt'",
        ),
        (lambda t, p: write_csv(p, t.assign(adaptation_feature_config="pasdnilx")), "8-letter code"),
        (lambda t, p: write_csv(p, t.assign(generalization_dative="po")), "one of do, pp"),
        (lambda t, p: write_csv(p, t.assign(lr=0.0)), "lr is '0.0', expected a positive number"),
        (lambda t, p: p.write_bytes(b"learner,item_id\nseed_\xff6,1\n"), "line 2 is not UTF-8"),
        (lambda t, p: p.write_text(t.to_csv(index=False) + "x,1,2\n"), "fields but the header has 14"),
        (lambda t, p: write_csv(p, pd.concat([t, t.iloc[:1]])), "repeats an earlier row"),
    ],
)
def test_read_table_errors_name_the_file(tmp_path: Path, damage, message: str) -> None:
    path = tmp_path / "results.csv"
    damage(small_table({("seed_6", 1, 0.1): (3.0, FULL)}), path)
    with pytest.raises(UserError, match=message) as error:
        read_table(path)
    assert str(path) in str(error.value)


def test_read_table_missing_file_bad_jsonl_and_suffix(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        read_table(tmp_path / "nothing.csv")
    bad = tmp_path / "results.jsonl"
    bad.write_text('{"learner": "a"}\n{not json\n')
    with pytest.raises(UserError, match="line 2 is not valid JSON"):
        read_table(bad)
    with pytest.raises(UserError, match=r"\.csv or \.jsonl"):
        read_table(tmp_path / "results.parquet")


def test_main_reports_a_user_error_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(
        tmp_path / "results.csv", small_table({("a", 1, 0.1): (3.0, FULL)}).drop(columns="learner")
    )
    assert main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evalkit: error: ") and str(path) in err and "learner" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_analyze_writes_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    codes = release_codes()[::9]
    path = write_csv(tmp_path / "results.csv", make_table(learners=3, instances=1, codes=codes, seed=3))
    out = tmp_path / "out"
    assert main([str(path), "--out", str(out), "--bootstrap", "50", "--seed", "2"]) == 0
    assert "DO exposure → PO use" in capsys.readouterr().out
    names = ["cdg_scores.csv", "effects.csv", "mixed_model_do_pp.csv", "mixed_model_pp_do.csv"]
    names += ["analysis.json", "effects.png", "analysis.md"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files left
    assert (out / "effects.png").read_bytes().startswith(b"\x89PNG")
    summary = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert summary["counts"]["scored_exposures"] == 3 * len(codes) * 2
    assert set(summary["mixed_models"]) == {"do→pp", "pp→do"} and len(summary["effects"]) == 8
    assert (
        summary["directions"]["do→pp"]["mean_cdg"]["low"] < summary["directions"]["do→pp"]["mean_cdg"]["high"]
    )
    coefficients = pd.read_csv(out / "mixed_model_do_pp.csv")
    assert list(coefficients.columns) == ["term", "estimate", "std_error", "z", "p", "ci_low", "ci_high"]
    report = (out / "analysis.md").read_text(encoding="utf-8")
    assert (
        "PO exposure → DO use" in report and "pronominal recipient" in report and "`theme_animacy`" in report
    )
    assert len(pd.read_csv(out / "cdg_scores.csv")) == 3 * len(codes) * 2
    again = analyze(read_table(path), tmp_path / "again", bootstrap=50, seed=2)
    assert again["effects"] == summary["effects"]


def test_plot_effects_handles_a_single_direction(tmp_path: Path, planted: pd.DataFrame) -> None:
    effects = first_argument_effects(planted[planted["direction"] == "pp→do"], bootstrap=20)
    assert plot_effects(effects, tmp_path / "deep" / "fig.png").read_bytes().startswith(b"\x89PNG")
