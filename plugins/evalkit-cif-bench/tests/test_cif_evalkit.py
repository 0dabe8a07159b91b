"""CIF-Bench inside evalkit: tasks read from the data directory, scored with the proxy metrics, aggregated per
task, class, category and overall; bad data directories stop the run with one sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evalkit_cif_bench.suite import summarize
from evalkit_cif_bench.task import table
from ml_collections import ConfigDict

from evalkit import UserError
from evalkit.cli import run_resolved
from evalkit.plugins import get_host, reset_host
from evalkit.reporting import markdown_report
from evalkit.resolve import resolve_run
from evalkit.runner import prepare_data

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cif-bench"
needs_data = pytest.mark.skipif(not (DATA / "dataset").is_dir(), reason=f"CIF-Bench data not at {DATA}")


@pytest.fixture(autouse=True)
def fresh_host():
    reset_host()
    yield
    reset_host()


def config(tmp_path: Path, tasks: dict) -> ConfigDict:
    c = ConfigDict()
    c.output_dir, c.data_dir = str(tmp_path / "run"), str(tmp_path / "data")
    c.model = ConfigDict({"name": "fake"})
    c.tasks = ConfigDict(tasks)
    c.reporters = ()
    c.runtime = ConfigDict({"progress": False})
    return c


def test_the_suites_cover_149_and_150_tasks():
    suites = get_host().registry("suites")
    assert len(suites.get("cif_bench").tasks) == 149 and "cif_bench_001" not in suites.get("cif_bench").tasks
    assert len(suites.get("cif_bench_all").tasks) == 150
    assert set(suites.get("cif_bench").groups.values()) == set(table()["classes"])


@needs_data
def test_a_run_reports_per_task_class_category_and_overall(tmp_path):
    tasks = {"cif_bench": {"groups": ("multi_label", "label"), "max_items": 3, "manual_dir": str(DATA)}}
    resolved = resolve_run(config(tmp_path, tasks), {}, get_host())
    run_resolved(get_host(), resolved)
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    suite = res["suites"]["cif_bench"]["summary"]
    assert suite["benchmark"] == "CIF-Bench (evalkit proxy)" and set(suite["classes"]) == {
        "label",
        "multi_label",
    }
    assert suite["overall"]["tasks"] == 35 and set(suite["excluded"]) == {"1"}
    assert all(0 <= c["ci_low"] <= c["value"] <= c["ci_high"] <= 1 for c in suite["categories"].values())
    titles = [t["title"] for t in suite["tables"]]
    assert len(titles) == 3 and "NOT comparable" in titles[2] and len(suite["tables"][2]["rows"]) == 28
    from evalkit.reporting import plot_suite_bars

    (png,) = plot_suite_bars(res, tmp_path)
    assert png.name == "cif_bench_bars_0.png" and png.stat().st_size > 0
    report = markdown_report(res)
    assert "## cif_bench: CIF-Bench (evalkit proxy), macro over tasks: overall and per metric class" in report
    task = res["tasks"]["cif_bench_010"]  # textual entailment, a label task
    assert task["num_items"] == 3 and set(task["metrics"]) == {"accuracy", "score"}
    assert task["summary"]["class"] == "label" and task["summary"]["normalization_version"] == "1"
    rec = json.loads((tmp_path / "run" / "cif_bench_010" / "samples.jsonl").read_text().splitlines()[0])
    assert rec["requests"][0]["until"] == ["\n\n"]  # a label answer ends at a blank line
    message = rec["requests"][0]["context"]["messages"][0]
    assert message[0] == "user" and message[1].endswith(
        "\n"
        + "珊瑚的形状各异，有的像盛开的五颜六色的花朵，有的像一面美丽的扇子左右摇摆，有的像亭亭玉立的小姑娘，有的像展翅的孔雀。\n珊瑚的形状都是一样的。"
    )


def test_tasks_are_picked_by_class_or_category_and_unknown_names_are_refused(tmp_path):
    pick = resolve_run(config(tmp_path, {"cif_bench": {"groups": ("Translation",)}}), {}, get_host())
    ids = {e.label for e in pick.tasks}
    assert len(ids) == 11 and {"cif_bench_144", "cif_bench_151"} <= ids  # the translation tasks
    with pytest.raises(
        UserError, match="names 'Poetry', which suite 'cif_bench' does not have; its class labels are"
    ):
        resolve_run(config(tmp_path, {"cif_bench": {"groups": ("Poetry",)}}), {}, get_host())


def test_the_scoring_versions_are_in_the_config_hash_and_not_overridable(tmp_path):
    from evalkit_cif_bench.task import scoring_identity

    resolved = resolve_run(config(tmp_path, {"cif_bench_010": {}}), {}, get_host())
    assert resolved.tasks[0].config.scoring == scoring_identity() and "table 1" in scoring_identity()
    with pytest.raises(UserError, match="scoring is set by the plugin"):
        resolve_run(config(tmp_path, {"cif_bench_010": {"scoring": "mine"}}), {}, get_host())


def test_the_macro_average_is_over_tasks_with_an_interval():
    def recs(values):
        return [{"id": str(i), "scores": {"score": v}} for i, v in enumerate(values)]

    records = {"cif_bench_010": recs([1.0, 1.0, 0.0, 1.0]), "cif_bench_087": recs([0.0, 0.5])}
    out = summarize(records, {})
    assert out["overall"]["value"] == pytest.approx((0.75 + 0.25) / 2) and out["overall"]["tasks"] == 2
    assert out["classes"]["label"]["value"] == 0.75 and out["classes"]["multi_label"]["value"] == 0.25
    assert out["overall"]["ci_low"] < out["overall"]["value"] < out["overall"]["ci_high"]


def test_a_missing_data_directory_names_the_layout(tmp_path):
    tasks = {"cif_bench_010": {"manual_dir": str(tmp_path / "nowhere")}}
    resolved = resolve_run(config(tmp_path, tasks), {}, get_host())
    with pytest.raises(
        UserError, match="manual_dir .*nowhere.* is missing or empty.*dataset/public/<id>_<Task_Name>"
    ):
        prepare_data(resolved)


def test_a_changed_file_is_refused_by_the_manifest(tmp_path):
    root = tmp_path / "cif"
    (root / "dataset" / "public").mkdir(parents=True)
    (root / "dataset" / "public" / "10_Textual_Entailment_public.jsonl").write_text(
        '{"Input": "a", "Output": "1", "Instruction": "x"}\n', encoding="utf-8"
    )
    (root / "MANIFEST.sha256").write_text(
        f"{'0' * 64}  ./dataset/public/10_Textual_Entailment_public.jsonl\n"
    )
    resolved = resolve_run(config(tmp_path, {"cif_bench_010": {"manual_dir": str(root)}}), {}, get_host())
    with pytest.raises(UserError, match="10_Textual_Entailment_public.jsonl differs from the released file"):
        prepare_data(resolved)


def test_ratings_are_read_from_the_judges_answer():
    from evalkit_cif_bench.task import parse_rating

    assert parse_rating("Rating: 10") == 1.0 and parse_rating("I think... Rating: 1") == 0.0
    assert parse_rating("Rating: 4\nRating: 7") == pytest.approx(6 / 9)  # the last one counts
    assert parse_rating("Rating: 0") is None and parse_rating("great answer") is None
    assert parse_rating("Rating: **8**") == pytest.approx(7 / 9) and parse_rating(
        "Rating：8"
    ) == pytest.approx(7 / 9)


class Rater:
    name = "rater"
    tokenizer = None
    prompts: list[str] = []

    def generate(self, requests):
        from evalkit.api import Generation

        Rater.prompts += [r.context.messages[0][1] for r in requests]
        return [Generation("Rating: 8", (), "eos") for _ in requests]

    def stats(self):
        return {}


class RaterPlugin:
    from evalkit import hookimpl

    @hookimpl
    def evalkit_register_models(self, register):
        from evalkit.api import ModelSpec

        register(ModelSpec("rater", lambda config, runtime: Rater()))


@needs_data
def test_a_judge_rates_every_output_with_the_documented_rubric(tmp_path):
    from evalkit_cif_bench.task import JUDGE_PROMPT_SHA256

    from evalkit.testing import plugin_registered

    cfg = config(
        tmp_path, {"cif_bench": {"groups": ("multi_label",), "max_items": 2, "manual_dir": str(DATA)}}
    )
    cfg.judge = ConfigDict({"name": "rater"})
    with plugin_registered(RaterPlugin(), "rater"):
        Rater.prompts = []
        run_resolved(get_host(), resolve_run(cfg, {}, get_host()))
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert len(Rater.prompts) == 6 and "Reference answer:" in Rater.prompts[0]  # 3 tasks x 2 items
    assert res["judge"]["name"] == "rater"
    task = res["tasks"]["cif_bench_087"]
    assert (
        task["metrics"]["judge"]["value"] == pytest.approx(7 / 9)
        and task["metrics"]["judge_parsed"]["value"] == 1
    )
    summary = res["suites"]["cif_bench"]["summary"]
    assert (
        summary["judge_overall"]["value"] == pytest.approx(7 / 9)
        and summary["judge_prompt_sha256"] == JUDGE_PROMPT_SHA256
    )


@needs_data
def test_the_smoke_config_runs_a_tiny_byte_level_model_end_to_end(tmp_path):
    from evalkit.config import load_config_file

    root = Path(__file__).resolve().parents[3]
    cfg = load_config_file(str(root / "configs" / "cif_bench_smoke.py"))
    cfg.output_dir, cfg.data_dir = str(tmp_path / "run"), str(tmp_path / "data")
    cfg.runtime.progress = False
    cfg.reporters = ("html", "plots")
    overrides = {
        "tasks.cif_bench.groups": "('multi_label',)",
        "tasks.cif_bench.max_items": "1",
    }
    overrides["tasks.cif_bench.manual_dir"] = str(DATA)
    run_resolved(get_host(), resolve_run(cfg, overrides, get_host()))
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    summary = res["suites"]["cif_bench"]["summary"]
    assert summary["overall"]["tasks"] == 3 and set(summary["classes"]) == {"multi_label"}
    assert res["runtime"]["new_tokens"] > 0 and res["runtime"]["devices"] == 1  # the flax model generated
    assert (tmp_path / "run" / "cif_bench_bars_0.png").exists() and (
        tmp_path / "run" / "report.html"
    ).exists()
