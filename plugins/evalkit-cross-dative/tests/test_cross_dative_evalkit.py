"""The plugin inside evalkit: the learner config trains a tokenizer and a tiny learner on AO-CHILDES and exports
it; the cross_dative task teaches it the novel verb and writes the table, the analysis and the plot; bad input
stops the run with one sentence before any work."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from evalkit_cross_dative import aochildes, files
from evalkit_cross_dative.table import COLUMNS

from evalkit import UserError
from evalkit.cli import main, run_resolved
from evalkit.config import load_config_file
from evalkit.plugins import get_host, reset_host
from evalkit.resolve import resolve_run

ROOT = Path(__file__).resolve().parents[3]
STIMULI = Path(files.default_data_dir())
CORPUS = aochildes.default_transcripts_dir()
needs_data = pytest.mark.skipif(
    not (STIMULI / files.VALIDATION).is_file() or not CORPUS.is_dir(),
    reason="cross-dative or AO-CHILDES data missing",
)


@pytest.fixture(autouse=True)
def fresh_host():
    reset_host()
    yield
    reset_host()


def run(cfg, overrides=None) -> dict:
    overrides = {"runtime.progress": "False", "reporters": "()", **(overrides or {})}
    run_resolved(get_host(), resolve_run(cfg, overrides, get_host()))
    return json.loads((Path(cfg.output_dir) / "results.json").read_text())


@needs_data
def test_a_learner_is_trained_exported_and_taught_the_novel_verb(tmp_path):
    cfg = load_config_file(str(ROOT / "configs" / "dative_learner.py:test"))
    cfg.output_dir, cfg.data_dir = str(tmp_path / "learner-run"), str(tmp_path / "data")
    cfg.tasks.dative_learner.export_dir = str(tmp_path / "learners")
    res = run(cfg)
    summary = res["tasks"]["dative_learner"]["summary"]
    assert summary["generalization_sentences_in_corpus"] > 0  # found in the text, and removed from it
    assert summary["dev_loss_per_token"]["0"] > 0
    learner = tmp_path / "learners" / "seed_0"
    assert (learner / "tokenizer" / "tokenizer.json").is_file()

    reset_host()
    cfg = load_config_file(str(ROOT / "configs" / "dative_cpu.py"))
    cfg.output_dir, cfg.data_dir = str(tmp_path / "run"), str(tmp_path / "data")
    del cfg.tasks["dative_learner"]
    codes = "('pasdnild', 'nalinild', 'pisinasd', 'nisdpasd')"
    overrides = {
        "tasks.dative_run.learners": f"('{learner}',)",
        "tasks.dative_run.configurations": codes,
        "tasks.dative_run.steps": "4",
        "tasks.dative_run.lrs": "(0.1, 0.01)",
        "tasks.dative_run.bootstrap": "40",
        "tasks.dative_run.sentence_groups": "2",
    }
    res = run(cfg, overrides)
    task = res["tasks"]["dative_run"]
    assert task["num_items"] == 8 and task["status"] == "ok"
    assert set(task["summary"]["directions"]) == {"do→pp", "pp→do"}
    out = tmp_path / "run" / "dative_run"
    with (out / "table.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 8 * 2 * 3 * 2  # exposures x LRs x states x constructions
    assert {r["state"] for r in rows} == {"initial", "final", "best"}
    assert all(1 <= int(r["best_epoch"]) <= 4 for r in rows)
    assert (out / "analysis" / "effects.png").read_bytes()[:4] == b"\x89PNG"
    assert {"analysis.json", "analysis.md", "cdg_scores.csv", "mixed_model_do_pp.csv"} <= {
        p.name for p in (out / "analysis").iterdir()
    }
    record = json.loads((out / "samples.jsonl").read_text().splitlines()[0])
    run0 = record["details"]["runs"][0]
    assert len(run0["val_scores"]) == 5 and run0["best_epoch"] == 1 + run0["val_scores"][1:].index(
        max(run0["val_scores"][1:])
    )


def test_a_missing_data_directory_names_the_files_and_their_source(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README").write_text("nothing here")
    code = main(
        [
            "run",
            str(ROOT / "configs" / "dative.py"),
            f"--config.tasks.cross_dative.manual_dir={tmp_path / 'empty'}",
            f"--config.output_dir={tmp_path / 'run'}",
            f"--config.data_dir={tmp_path / 'data'}",
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 2 and "encouraging-exposures" in err and "adaptation.json" in err and "Traceback" not in err
    )


def test_the_learner_list_and_settings_are_checked_before_any_work():
    from evalkit_cross_dative.task import CrossDativeTask

    task = CrossDativeTask()
    cfg = task.default_config()
    cfg.learners = ("a/seed_1", "b/seed_1")
    with pytest.raises(UserError, match="several learners named seed_1"):
        task.validate_config(cfg)
    cfg = task.default_config()
    cfg.lrs = (0.1, -1.0)
    with pytest.raises(UserError, match="positive learning rates"):
        task.validate_config(cfg)
