"""The Scylla tasks and suites inside evalkit: prompts as the paper sends them, both runs end to end (prompted
on a tiny Hugging Face model with a chat template, probe models on a CPU), and bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from evalkit_scylla.core.prompts import paper_raw_text
from evalkit_scylla.core.spec import LEVELS
from evalkit_scylla.probe import PROBE_TASKS, decode_answer, encode_answer
from evalkit_scylla.task import TASKS
from ml_collections import ConfigDict

from evalkit.api import Generation, UserError
from evalkit.cli import run_resolved
from evalkit.config import load_config_file
from evalkit.models.chat_template import chat_text
from evalkit.plugins import get_host, reset_host
from evalkit.resolve import resolve_run
from evalkit.runner import prepare_data
from evalkit.testing import write_tiny_hf_llama

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(autouse=True)
def fresh_host():
    reset_host()
    yield
    reset_host()


def config(tmp_path: Path, tasks: dict, model: dict, reporters=(), runtime=None) -> ConfigDict:
    c = ConfigDict()
    c.output_dir = str(tmp_path / "run")
    c.data_dir = str(tmp_path / "data")
    c.model = ConfigDict(model)
    c.tasks = ConfigDict(tasks)
    c.reporters = tuple(reporters)
    c.runtime = ConfigDict({"progress": False, **(runtime or {})})
    return c


def run(cfg: ConfigDict, overrides=None) -> dict:
    resolved = resolve_run(cfg, overrides or {}, get_host())
    run_resolved(get_host(), resolved)
    return json.loads((Path(cfg.output_dir) / "results.json").read_text())


def samples(tmp_path: Path, task: str) -> list[dict]:
    lines = (tmp_path / "run" / task / "samples.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_all_tasks_and_suites_are_registered():
    host = get_host()
    names = host.registry("tasks").names()
    assert sum(n.startswith("scylla_") and not n.startswith("scylla_probe_") for n in names) == 20
    assert sum(n.startswith("scylla_probe_") for n in names) == 20
    suite = host.registry("suites").get("scylla")
    assert len(suite.tasks) == 20 and len(suite.groups) == 17  # the probe tasks LIS, LCE, LCS have no level
    assert set(suite.groups.values()) == set(LEVELS) and suite.group_order == LEVELS


def test_the_prompt_without_a_template_is_the_papers_raw_text():
    for task in TASKS:
        cfg = task.default_config()
        cfg.num_id = cfg.num_ood = 1
        example = next(iter(task.generate(cfg)))
        (request,) = task.requests(example, cfg)
        assert chat_text(request.context, None) == paper_raw_text(task.spec, example["input_str"])
        assert request.max_new_tokens == 2048 and request.temperature == 0
        first = Generation("... so the answer is 5.", (), "length")
        (second,) = task.follow_up(example, [first], cfg)
        assert second.context.assistant_prefix == "... so the answer is 5.Therefore, the answer is"
        assert second.max_new_tokens == 256


def test_probe_answers_round_trip_through_tokens():
    for task in PROBE_TASKS:
        cfg = task.default_config()
        cfg.num_id = cfg.num_ood = 2
        for example in task.generate(cfg):
            answer = example["answer"]
            assert decode_answer(task.spec, encode_answer(task.spec, answer)) == answer
            assert len(example["prompt"]) + len(example["target"]) <= cfg.probe.model.max_len


def test_prompted_run_on_a_tiny_hf_model_writes_levels_table_and_plot(tmp_path):
    folder = write_tiny_hf_llama(tmp_path / "hf", chat_template=TEMPLATE)
    tasks = {"scylla": {"num_id": 2, "num_ood": 2, "max_new_tokens": 6, "second_max_new_tokens": 4}}
    model = {"name": "flax", "checkpoint": str(folder)}
    res = run(config(tmp_path, tasks, model, ("markdown", "plots"), {"too_long": "error"}))
    assert all(t["status"] == "ok" for t in res["tasks"].values()) and len(res["tasks"]) == 20
    sha = hashlib.sha256(TEMPLATE.encode()).hexdigest()
    assert res["model"]["identity"]["chat_template"]["sha256"] == sha
    suite = res["suites"]["scylla"]
    assert suite["status"] == "ok" and suite["summary"]["modes"] == ["fixed"]
    figures = suite["generalization"]["accuracy"]
    assert figures["order"] == list(LEVELS) and set(figures["groups"]) == set(LEVELS)
    assert sum(figures["critical_frequency"].values()) == pytest.approx(1.0)
    assert set(suite["summary"]["levels_strict"]["levels"]) == set(LEVELS)
    assert set(suite["summary"]["levels_paper"]["levels"]) == set(LEVELS)
    assert set(suite["summary"]["probe_complexity_strict"]) == {
        "longest_increasing_subsequence", "longest_consecutive_elements", "longest_common_subarray"
    }  # fmt: skip
    assert (tmp_path / "run" / "scylla_accuracy_by_level.png").stat().st_size > 0
    assert "## scylla by level: accuracy" in (tmp_path / "run" / "results.md").read_text()
    records = samples(tmp_path, "scylla_find_maximum")
    assert len(records) == 4 and all(r["passes"] == 2 for r in records)
    for rec in records:  # random weights: outputs are noise, scored as a recorded outcome
        assert rec["details"]["second_output"].startswith("Therefore, the answer is")
        assert rec["scores"]["accuracy"] in (0.0, 1.0) and rec["requests"][0]["max_new_tokens"] == 6


def test_unparseable_answers_are_recorded_outcomes(tmp_path):
    res = run(config(tmp_path, {"scylla_sort_numbers": {"num_id": 3, "num_ood": 3}}, {"name": "fake"}))
    task = res["tasks"]["scylla_sort_numbers"]  # the fake model answers with its prompt's last line reversed
    assert task["status"] == "ok"
    assert task["metrics"]["accuracy"]["value"] == 0.0 and task["metrics"]["parsed"]["value"] == 0.0
    assert "accuracy_paper" not in task["metrics"]  # nothing parsed: no paper-compatible score at all
    assert all(r["scores"]["accuracy_paper"] is None for r in samples(tmp_path, "scylla_sort_numbers"))


def test_probe_run_trains_tests_and_reports_per_level(tmp_path):
    cfg = load_config_file(str(ROOT / "configs" / "scylla_probe.py") + ":test")
    cfg.output_dir, cfg.data_dir = str(tmp_path / "run"), str(tmp_path / "data")
    cfg.reporters = ("markdown", "plots")
    cfg.runtime.progress = False
    res = run(cfg, {"tasks.scylla_probe_cpu.num_id": "6", "tasks.scylla_probe_cpu.num_ood": "6"})
    assert [t["status"] for t in res["tasks"].values()] == ["ok"] * 5
    assert res["tasks"]["scylla_probe_sort_numbers"]["summary"]["probes"]["0"]["steps"] == 20
    figures = res["suites"]["scylla_probe_cpu"]["generalization"]["accuracy"]
    assert figures["order"] == list(LEVELS) and all(len(g["tasks"]) == 1 for g in figures["groups"].values())
    summary = res["suites"]["scylla_probe_cpu"]["summary"]
    assert set(summary["levels_strict"]["levels"]) == set(LEVELS) and "levels_paper" not in summary
    assert (tmp_path / "run" / "scylla_probe_cpu_accuracy_by_level.png").exists()
    assert "## scylla_probe_cpu by level: accuracy" in (tmp_path / "run" / "results.md").read_text()


def test_more_unique_items_than_a_task_has_are_refused_before_work(tmp_path):
    tasks = {"scylla_find_minimum": {"num_id": 100, "id_range": (0, 1), "lengths": (4, 4)}}
    resolved = resolve_run(config(tmp_path, tasks, {"name": "fake"}), {}, get_host())
    with pytest.raises(UserError, match="scylla_find_minimum: Could only make 16 unique"):
        prepare_data(resolved)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("mode", "strict", "mode='strict' must be 'fixed' or 'paper'"),
        ("num_ood", "0", "num_ood must be >= 1"),
        ("id_range", "(9, 1)", "id_range must be two ints 0 <= low <= high"),
    ],
)
def test_bad_settings_are_named(tmp_path, key, value, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_run(
            config(tmp_path, {"scylla": {}}, {"name": "fake"}), {f"tasks.scylla.{key}": value}, get_host()
        )


def test_a_model_too_short_for_prompt_and_answer_stops_the_run(tmp_path):
    model = {"name": "flax", "max_len": 256, "vocab_size": 512, "num_layers": 1, "d_model": 32, "d_ff": 64}
    cfg = config(
        tmp_path, {"scylla_find_minimum": {"num_id": 1, "num_ood": 1}}, model, runtime={"too_long": "error"}
    )
    with pytest.raises(UserError, match="does not fit the model's max_len=256"):
        run(cfg)


class Proposer:
    """A model that answers probing prompts with number lists (different per generation key) and every
    other prompt with a fixed sorted-looking answer; counts its probing generations."""

    name = "proposer"
    tokenizer = None
    chat_template = None
    probing_calls = 0

    def generate(self, requests):
        from zlib import crc32

        from evalkit.models.chat_template import render_chats

        out = []
        for r in render_chats(requests, None):
            if "Randomly generate" in r.context:
                Proposer.probing_calls += 1
                k = crc32(r.key.encode())
                lists = [[(k >> s) % 90 + 5 + i for i in range(4 + (k >> s) % 5)] for s in (0, 7, 13)]
                out.append(Generation(" ".join(str(lst) for lst in lists), (), "eos"))
            else:
                out.append(Generation("So the answer is [1, 2, 3].", (), "eos"))
        return out

    def stats(self):
        return {}


class ProposerPlugin:
    from evalkit import hookimpl

    @hookimpl
    def evalkit_register_models(self, register):
        from evalkit.api import ModelSpec

        register(ModelSpec("proposer", lambda config, runtime: Proposer()))


def test_distribution_probing_builds_id_data_from_the_models_proposals(tmp_path):
    from evalkit.testing import plugin_registered

    tasks = {"scylla_sort_numbers": {"id_source": "probing", "num_id": 6, "num_ood": 6}}
    overrides = {"tasks.scylla_sort_numbers.probing.num_generations": "10"}
    with plugin_registered(ProposerPlugin(), "proposer"):
        Proposer.probing_calls = 0
        res = run(config(tmp_path, tasks, {"name": "proposer"}), overrides)
        assert Proposer.probing_calls == 10
        saved = json.loads((tmp_path / "run" / "scylla_sort_numbers" / "model_data.json").read_text())
        proposed = {
            int(v)
            for r in saved["responses"]
            for v in r["text"].replace("[", " ").replace("]", " ").replace(",", " ").split()
        }
        records = samples(tmp_path, "scylla_sort_numbers")
        assert res["tasks"]["scylla_sort_numbers"]["status"] == "ok" and len(records) == 12
        for rec in records:
            values = [int(v) for v in rec["details"]["input"].split()]
            if rec["groups"]["split"] == "id":
                assert set(values) <= proposed
            else:
                assert not set(values) & proposed and all(1000 <= v <= 9999 for v in values)
        assert records[0]["details"]["probing"]["lists"] == 30
        again = run(config(tmp_path, tasks, {"name": "proposer"}), overrides)  # resumed: nothing asked again
        assert Proposer.probing_calls == 10 and again["tasks"]["scylla_sort_numbers"]["num_resumed"] == 12


def test_proposals_that_cannot_make_items_fail_the_task_alone():
    task = next(t for t in TASKS if t.spec.slug == "tsp")
    cfg = task.default_config()
    cfg.id_source = "probing"
    answers = [Generation("[[0, 4, 7], [4, 0, 5], [7, 5, 0]]", (), "eos")] * 4  # 3 cities: TSP needs 4-10
    with pytest.raises(RuntimeError, match="cannot make the items"):
        list(task.model_data(cfg, answers))
    with pytest.raises(RuntimeError, match="proposed 0 number lists in 1 probing generations"):
        list(task.model_data(cfg, [Generation("no lists here", (), "eos")]))


def test_probe_training_refuses_an_id_space_made_only_of_test_items():
    import numpy as np

    task = next(t for t in PROBE_TASKS if t.spec.slug == "find_maximum")
    cfg = task.default_config()
    cfg.id_range, cfg.lengths, cfg.num_id = (0, 1), (4, 4), 16  # every possible list is a test item
    with pytest.raises(UserError, match="training draws in a row were test items"):
        task.training_document(cfg, np.random.default_rng(0))
