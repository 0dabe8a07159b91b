"""Host pieces for prompting benchmarks: chat contexts, multi-pass requests (with resume between passes),
suites, and the ID / OOD generalization figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ml_collections import ConfigDict

from evalkit import hookimpl
from evalkit.api import Chat, Generate, Generation, Metric, ModelSpec, Suite, Task, UserError
from evalkit.cli import run_resolved
from evalkit.default_plugins.fake_model import FakeModel
from evalkit.metrics import summarize_generalization, summarize_suite_generalization
from evalkit.metrics.generalization import split_draws
from evalkit.plugins import get_host
from evalkit.reporting import markdown_report
from evalkit.resolve import resolve_run
from evalkit.testing import plugin_registered

MEAN = {"first": Metric("mean", np.mean), "second": Metric("mean", np.mean), "acc": Metric("mean", np.mean)}


class TwoPass(Task):
    """Asks the model, then asks again with its first answer and a trigger (Scylla's second pass)."""

    description = "two-pass toy"

    def __init__(self, name: str, ood_every: int = 2):
        self.name = name
        self.ood_every = ood_every

    def default_config(self):
        return ConfigDict({"num_items": 12})

    def generate(self, config):
        for i in range(config.num_items):
            split = "ood" if i % self.ood_every == 0 else "id"
            yield {"id": str(i), "text": f"abc{i}", "groups": {"split": split}}

    def _chat(self, example, prefix=""):
        return Chat((("system", "Be brief."), ("user", example["text"])), assistant_prefix=prefix)

    def requests(self, example, config):
        return [Generate(self._chat(example), until=("\n",), max_new_tokens=16)]

    def follow_up(self, example, responses, config):
        if len(responses) == 1:
            prefix = responses[0].text + "\nTherefore, the answer is " + example["text"]
            return [Generate(self._chat(example, prefix), until=("\n",), max_new_tokens=64)]
        return ()

    def score(self, example, responses, config):
        first = float(responses[0].text == example["text"][::-1])
        return {"first": first, "second": float(responses[1].text == example["text"][::-1])}


class FromModel(TwoPass):
    """Its items are the model's answers to two data requests (e.g. a benchmark's distribution probing)."""

    def model_data_requests(self, config):
        return [Generate(f"seed\n{word}", max_new_tokens=16) for word in ("olleh", "dlrow")]

    def model_data(self, config, responses):
        for i, r in enumerate(responses):
            yield {"id": str(i), "text": r.text.strip(), "groups": {"split": "id"}}


class Judged(TwoPass):
    """Asks the run's judge to rate its first answer."""

    def judge_requests(self, example, responses, config):
        return [Generate(f"rate this answer to {example['text']}: {responses[0].text}", max_new_tokens=8)]

    def judge_score(self, example, responses, judgements, config):
        text = judgements[0].text or ""
        return {"judge": float(text.split(":")[-1]) / 10 if text.startswith("Rating:") else None}


class Rater:
    """A judge model that gives every answer the same rating, and counts the requests it got."""

    name = "rater"
    tokenizer = None
    asked = 0

    def generate(self, requests):
        Rater.asked += len(requests)
        return [Generation("Rating: 7", (), "eos") for _ in requests]

    def stats(self):
        return {}


def load_rater(config, runtime):
    if config.get("broken", False):
        raise OSError("no weights here")
    return Rater()


SUMMARY = {"broken": False}


def toy_summary(records, configs):
    if SUMMARY["broken"]:
        raise ZeroDivisionError("broken on purpose")
    return {t: {"n": len(r), "num_items": configs[t].num_items} for t, r in records.items()}


class Plugin:
    @hookimpl
    def evalkit_register_tasks(self, register):
        register(TwoPass("twopass_a"))
        register(TwoPass("twopass_b", ood_every=3))
        register(FromModel("from_model"))
        register(Judged("judged"))

    @hookimpl
    def evalkit_register_models(self, register):
        register(ModelSpec("rater", load_rater, lambda: ConfigDict({"broken": False}), "a judge that says 7"))

    @hookimpl
    def evalkit_register_suites(self, register):
        register(
            Suite(
                "toysuite",
                ("twopass_a", "twopass_b"),
                groups={"twopass_a": "L1", "twopass_b": "L2"},
                group_key="level",
                group_order=("L1", "L2"),
                summarize=toy_summary,
            )
        )


@pytest.fixture
def toy_host(evalkit_host):
    with plugin_registered(Plugin(), "toy-passes"):
        yield get_host()


def run_config(tmp_path: Path, tasks: dict, out: str = "run", overrides=None, model=None, chunk_size=4):
    cfg = ConfigDict()
    cfg.output_dir = str(tmp_path / out)
    cfg.data_dir = str(tmp_path / "data")
    cfg.model = ConfigDict(model or {"name": "fake"})
    cfg.tasks = ConfigDict(tasks)
    cfg.reporters = ()
    cfg.runtime = ConfigDict({"progress": False, "chunk_size": chunk_size})
    return resolve_run(cfg, overrides or {}, get_host())


def run(tmp_path, tasks, **kwargs) -> dict:
    resolved = run_config(tmp_path, tasks, **kwargs)
    run_resolved(get_host(), resolved)
    return json.loads((Path(resolved.config.output_dir) / "results.json").read_text())


def samples(tmp_path, task, out="run"):
    return [json.loads(line) for line in (tmp_path / out / task / "samples.jsonl").read_text().splitlines()]


def test_templates_see_a_fixed_day_not_the_clock():
    from evalkit.models.chat_template import ChatTemplate

    template = ChatTemplate("Today Date: {{ strftime_now('%d %b %Y') }}", "inline")
    assert template.render([{"role": "user", "content": "hi"}]) == "Today Date: 26 Jul 2024"


def test_chat_contexts_render_as_plain_prompts_without_a_template():
    chat = Chat([{"role": "system", "content": "S"}, {"role": "user", "content": "olleh"}], "x")
    assert chat.messages == (("system", "S"), ("user", "olleh"))
    (out,) = FakeModel().generate([Generate(chat, max_new_tokens=8)])
    assert out.text == "xhello\n"  # rendered "S\n\nolleh" + prefix "x": the fake reverses the last line
    with pytest.raises(TypeError):
        Chat([("robot", "hi")])
    with pytest.raises(ValueError):
        Chat([])


def test_second_pass_sees_the_first_answer_and_records_keep_both(tmp_path, toy_host):
    res = run(tmp_path, {"twopass_a": {"num_items": 6}})
    task = res["tasks"]["twopass_a"]
    assert task["status"] == "ok" and task["num_items"] == 6
    assert task["metrics"]["first"]["value"] == 1.0  # the fake reverses "abc<i>": the first pass is right
    for rec in samples(tmp_path, "twopass_a"):
        assert rec["passes"] == 2 and len(rec["requests"]) == 2 and len(rec["responses"]) == 2
        first, second = rec["requests"]
        text = f"abc{rec['id']}"
        assert first["context"]["messages"] == [["system", "Be brief."], ["user", text]]
        assert second["context"]["assistant_prefix"].startswith(text[::-1] + "\nTherefore")
        assert first["key"] == f"twopass_a/{rec['id']}/0" and second["key"] == f"twopass_a/{rec['id']}/1"
        # the second pass continues the rendered first prompt: its last line is the trigger + item text
        assert rec["responses"][1]["text"] == (f"Therefore, the answer is {text}")[::-1]


def test_a_run_killed_between_passes_resumes_without_losing_or_repeating_items(
    tmp_path, toy_host, monkeypatch
):
    clean = run(tmp_path, {"twopass_a": {"num_items": 12}}, out="clean")
    calls = {"n": 0}
    original = FakeModel.generate

    def killed_on_fourth_call(self, requests):
        calls["n"] += 1
        if calls["n"] == 4:  # chunk 2's second pass: chunk 1 is stored, chunk 2's first pass is not
            raise KeyboardInterrupt
        return original(self, requests)

    monkeypatch.setattr(FakeModel, "generate", killed_on_fourth_call)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, {"twopass_a": {"num_items": 12}})
    assert len(samples(tmp_path, "twopass_a")) == 4  # only items whose last pass finished
    monkeypatch.setattr(FakeModel, "generate", original)
    resumed = run(tmp_path, {"twopass_a": {"num_items": 12}})
    task = resumed["tasks"]["twopass_a"]
    assert task["num_resumed"] == 4 and task["num_items"] == 12
    ids = [r["id"] for r in samples(tmp_path, "twopass_a")]
    assert sorted(ids, key=int) == [str(i) for i in range(12)]
    assert task["metrics"] == clean["tasks"]["twopass_a"]["metrics"]
    assert task["generalization"] == clean["tasks"]["twopass_a"]["generalization"]


def test_data_built_from_the_models_answers_is_kept_for_resume(tmp_path, toy_host, monkeypatch):
    res = run(tmp_path, {"from_model": {}})
    assert res["tasks"]["from_model"]["num_items"] == 2
    users = [r["requests"][0]["context"]["messages"][1][1] for r in samples(tmp_path, "from_model")]
    assert users == ["hello", "world"]  # the items are the model's answers
    saved = json.loads((tmp_path / "run" / "from_model" / "model_data.json").read_text())
    assert [r["text"] for r in saved["responses"]] == ["hello\n", "world\n"]
    assert saved["requests"][0]["key"] == "from_model/model-data/0"
    monkeypatch.setattr(FakeModel, "generate", lambda self, requests: pytest.fail("asked the model again"))
    again = run(tmp_path, {"from_model": {}})  # resumed: the saved answers rebuild the same items
    assert again["tasks"]["from_model"]["num_resumed"] == 2


def test_a_task_that_never_stops_asking_is_named(tmp_path, toy_host, monkeypatch):
    monkeypatch.setattr(TwoPass, "follow_up", lambda self, ex, responses, cfg: self.requests(ex, cfg))
    res = run(tmp_path, {"twopass_a": {"num_items": 2}})
    assert res["tasks"]["twopass_a"]["status"] == "failed"
    assert "more than 8 passes" in res["tasks"]["twopass_a"]["error"]


def test_a_suite_runs_its_tasks_with_shared_settings_and_reports_per_group(tmp_path, toy_host):
    resolved = run_config(
        tmp_path, {"toysuite": {"num_items": 9}}, overrides={"tasks.toysuite.num_items": "6"}
    )
    assert [e.label for e in resolved.tasks] == ["twopass_a", "twopass_b"]
    assert all(e.config.num_items == 6 for e in resolved.tasks)
    run_resolved(get_host(), resolved)
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["schema_version"] == 2 and set(res["tasks"]) == {"twopass_a", "twopass_b"}
    suite = res["suites"]["toysuite"]
    assert suite["status"] == "ok" and suite["tasks"] == ["twopass_a", "twopass_b"]
    assert suite["group_key"] == "level" and suite["groups"] == {"twopass_a": "L1", "twopass_b": "L2"}
    assert suite["summary"] == {"twopass_a": {"n": 6, "num_items": 6}, "twopass_b": {"n": 6, "num_items": 6}}
    first = suite["generalization"]["first"]
    assert list(first["groups"]) == ["L1", "L2"] and first["groups"]["L1"]["tasks"] == ["twopass_a"]
    assert first["groups"]["L1"]["id"]["value"] == 1.0 and first["groups"]["L1"]["gap"]["value"] == 0.0
    assert sum(first["critical_frequency"].values()) == pytest.approx(1.0)
    report = markdown_report(res)
    assert "## toysuite by level: first (* = critical level, largest gap)" in report
    assert "## Generalization: in vs out of distribution" in report and "| twopass_b | second |" in report


def test_a_suite_reports_the_members_that_finished_and_survives_its_own_summary_failing(
    tmp_path, toy_host, monkeypatch
):
    original = TwoPass.score

    def score(self, example, responses, config):
        if self.name == "twopass_b":
            raise RuntimeError("broken on purpose")
        return original(self, example, responses, config)

    monkeypatch.setattr(TwoPass, "score", score)
    suite = run(tmp_path, {"toysuite": {"num_items": 4}})["suites"]["toysuite"]
    assert suite["status"] == "partial" and suite["failed_tasks"] == ["twopass_b"]
    assert list(suite["generalization"]["first"]["groups"]) == ["L1"]
    assert suite["summary"] == {"twopass_a": {"n": 4, "num_items": 4}}
    monkeypatch.setattr(TwoPass, "score", original)
    monkeypatch.setitem(SUMMARY, "broken", True)
    res = run(tmp_path, {"toysuite": {"num_items": 4}}, out="broken")
    assert res["suites"]["toysuite"]["status"] == "failed"
    assert "ZeroDivisionError" in res["suites"]["toysuite"]["error"]
    assert res["tasks"]["twopass_a"]["status"] == "ok"  # results.json is still written


def test_suite_errors_name_the_fix(tmp_path, toy_host):
    both = run_config(tmp_path, {"toysuite": {"num_items": 5}, "twopass_a": {"num_items": 3}})
    assert [e.config.num_items for e in both.tasks] == [3, 5]  # a member listed on its own keeps its settings
    explicit = {"toysuite": {"num_items": 5}, "twopass_a": {"num_items": 3}}
    overridden = run_config(tmp_path, explicit, overrides={"tasks.twopass_a.num_items": "2"})
    assert [e.config.num_items for e in overridden.tasks] == [2, 5]
    only = run_config(tmp_path, {"toysuite": {"groups": ("L2",)}})
    assert [e.label for e in only.tasks] == ["twopass_b"] and only.suites[0].members == ("twopass_b",)
    picked = run_config(tmp_path, {"toysuite": {}}, overrides={"tasks.toysuite.groups": "('L1',)"})
    assert [e.label for e in picked.tasks] == ["twopass_a"]
    with pytest.raises(
        UserError,
        match="groups names 'L3', which suite 'toysuite' does not have; its level labels are 'L1', 'L2'",
    ):
        run_config(tmp_path, {"toysuite": {"groups": ("L1", "L3")}})
    with pytest.raises(UserError, match="groups names '1', which suite 'toysuite' does not have"):
        run_config(tmp_path, {"toysuite": {}}, overrides={"tasks.toysuite.groups": "1"})  # not a tuple: a label
    bare = run_config(tmp_path, {"toysuite": {}}, overrides={"tasks.toysuite.groups": "L2"})  # one bare label
    assert [e.label for e in bare.tasks] == ["twopass_b"]
    listed = run_config(tmp_path, {"toysuite": {"groups": ("L2",)}, "twopass_a": {"num_items": 3}})
    assert [e.label for e in listed.tasks] == ["twopass_b"]  # a member the groups left out does not run
    with pytest.raises(UserError, match="unknown task or suite 'toysuit'; did you mean 'toysuite'"):
        run_config(tmp_path, {"toysuit": {}})
    with pytest.raises(UserError, match="tasks.twopass_a.num_itemz"):
        run_config(tmp_path, {"toysuite": {}}, overrides={"tasks.toysuite.num_itemz": "3"})


def records(values: dict[str, list[float]], prefix: str = "") -> list[dict]:
    out = []
    for split, vals in values.items():
        for i, v in enumerate(vals):
            out.append({"id": f"{prefix}{split}{i}", "groups": {"split": split}, "scores": {"acc": v}})
    return out


def test_generalization_figures_equal_hand_computed_values():
    recs = records({"id": [1, 1, 1, 0], "ood": [1, 0, 0, 0]})
    fig = summarize_generalization(recs, MEAN, resamples=500)["acc"]
    assert fig["id"]["value"] == 0.75 and fig["ood"]["value"] == 0.25
    assert fig["gap"]["value"] == 0.5 and fig["S"]["value"] == -0.25
    assert fig["n_id"] == 4 and fig["n_ood"] == 4
    for key in ("id", "ood", "gap", "S"):
        assert fig[key]["ci_low"] <= fig[key]["value"] <= fig[key]["ci_high"]
    # OOD above ID: no gap, S = OOD
    better = summarize_generalization(records({"id": [0, 1], "ood": [1, 1]}), MEAN)["acc"]
    assert better["gap"]["value"] == 0.0 and better["S"]["value"] == 1.0
    assert summarize_generalization(records({"id": [1, 0]}), MEAN) == {}  # no OOD items: no figures


def test_suite_figures_average_tasks_and_find_the_critical_group():
    def right(k: int) -> list[float]:  # k of 60 items right
        return [1.0] * k + [0.0] * (60 - k)

    tasks = {
        "a": records({"id": right(54), "ood": right(54)}, "a"),  # no gap
        "b": records({"id": right(42), "ood": right(6)}, "b"),  # a large one
        "c": records({"id": right(30), "ood": right(33)}, "c"),  # OOD above ID
    }
    draws = {
        t: split_draws(r, MEAN, seed=0, resamples=400, stream=i) for i, (t, r) in enumerate(tasks.items())
    }
    out = summarize_suite_generalization(draws, {"a": "L1", "b": "L2", "c": "L2"}, ("L1", "L2"))["acc"]
    l2 = out["groups"]["L2"]
    ids = [draws["b"]["acc"].point["id"], draws["c"]["acc"].point["id"]]
    oods = [draws["b"]["acc"].point["ood"], draws["c"]["acc"].point["ood"]]
    assert l2["id"]["value"] == pytest.approx(np.mean(ids)) and l2["ood"]["value"] == pytest.approx(
        np.mean(oods)
    )
    assert l2["gap"]["value"] == pytest.approx(max(0, np.mean(ids) - np.mean(oods)))
    per_task_s = [o - max(0, i - o) for i, o in zip(ids, oods)]
    assert l2["S_task_mean"]["value"] == pytest.approx(np.mean(per_task_s))
    assert l2["id_std"] == pytest.approx(np.std(ids))
    assert l2["ratio"]["value"] == pytest.approx(np.mean(oods) / np.mean(ids))
    assert l2["relative_diff"]["value"] == pytest.approx(l2["gap"]["value"] / np.mean(ids))
    for key in ("ratio", "relative_diff"):
        assert l2[key]["ci_low"] <= l2[key]["value"] <= l2[key]["ci_high"]
    assert out["critical"] == "L2" and out["critical_frequency"]["L2"] > 0.95


def test_the_chat_template_decides_the_prompt_and_enters_the_hash(tmp_path, toy_host):
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}>>")
    model = {"name": "fake", "chat_template": str(template)}
    plain = run_config(tmp_path, {"twopass_a": {"num_items": 2}})
    templated = run_config(tmp_path, {"twopass_a": {"num_items": 2}}, model=model)
    assert plain.tasks[0].config_hash != templated.tasks[0].config_hash
    assert templated.model_identity["chat_template"]["origin"] == str(template)
    res = run(tmp_path, {"twopass_a": {"num_items": 2}}, model=model, out="templated")
    identity = res["model"]["identity"]["chat_template"]
    assert len(identity["sha256"]) == 64 and identity["date"] == "2024-07-26"
    rec = samples(tmp_path, "twopass_a", out="templated")[0]
    assert rec["responses"][0]["text"] == ">>"[::-1]  # the rendered prompt ends in the template's ">>"
    template.write_text("{% for m in messages %}{{ m.content }}{% endfor %")
    with pytest.raises(UserError, match=str(template)):  # does not parse: refused before any work
        run_config(tmp_path, {"twopass_a": {}}, model=model)
    template.write_text(
        "{% if messages[0].role == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
    )
    with pytest.raises(UserError, match=f"{template}.*no system role"):  # fails to render: the run stops
        run(tmp_path, {"twopass_a": {"num_items": 2}}, model=model, out="refused")


def test_a_suite_summary_can_ask_reports_for_tables():
    from evalkit.reporting import html_report, suite_tables

    results = {
        "suites": {
            "s": {"summary": {"tables": [{"title": "per <b>class</b>", "header": ["class", "score"],
                                          "rows": [["label", 0.5], ["<script>x</script>", 0.25]]}]}}
        }
    }  # fmt: skip
    assert suite_tables(results) == [
        ("s: per <b>class</b>", ["class", "score"], [["label", "0.5"], ["<script>x</script>", "0.25"]])
    ]
    page = html_report(results)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "s: per &lt;b&gt;class&lt;/b&gt;" in page


def judge_config(tmp_path, judge, out):
    resolved = run_config(tmp_path, {"judged": {"num_items": 3}, "twopass_a": {"num_items": 3}}, out=out)
    cfg = resolved.config.to_dict()
    cfg["judge"] = judge
    return resolve_run(ConfigDict({k: v for k, v in cfg.items()}), {}, get_host())


def test_a_judge_model_rates_the_answers_of_tasks_that_ask_for_it(tmp_path, toy_host):
    plain = run_config(tmp_path, {"judged": {"num_items": 3}, "twopass_a": {"num_items": 3}})
    judged = judge_config(tmp_path, {"name": "rater"}, "run")
    hashes = {e.label: e.config_hash for e in plain.tasks}
    assert judged.tasks[0].config_hash != hashes["judged"]  # the judge decides its scores
    assert judged.tasks[1].config_hash == hashes["twopass_a"]  # not judged: its records stay valid
    Rater.asked = 0
    run_resolved(get_host(), judged)
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert Rater.asked == 3 and res["judge"]["name"] == "rater" and len(res["judge"]["config_hash"]) == 16
    assert res["tasks"]["judged"]["metrics"]["judge"]["value"] == pytest.approx(0.7)
    rec = samples(tmp_path, "judged")[0]
    assert rec["judge"]["responses"][0]["text"] == "Rating: 7" and rec["scores"]["judge"] == pytest.approx(
        0.7
    )
    assert rec["judge"]["requests"][0]["key"] == "judged/0/judge/0"
    assert "judge" not in samples(tmp_path, "twopass_a")[0]


def test_a_judge_that_cannot_be_loaded_stops_the_run_before_any_work(tmp_path, toy_host):
    with pytest.raises(UserError, match="unknown model 'ratr'"):
        judge_config(tmp_path, {"name": "ratr"}, "run")
    broken = judge_config(tmp_path, {"name": "rater", "broken": True}, "broken")
    with pytest.raises(
        UserError, match="judge 'rater' failed to load \\(OSError: no weights here\\); check config.judge"
    ):
        run_resolved(get_host(), broken)
    assert not (tmp_path / "broken" / "judged").exists()  # nothing half-written
