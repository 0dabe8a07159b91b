"""The RASP-L tasks as evalkit tasks: data checked against oracle and program, scoring, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from evalkit_rasp.task import TASKS, RaspTask, length_generalization_summary

from evalkit.api import Generation, UserError
from evalkit.testing import run_cli

ROOT = Path(__file__).resolve().parents[3]


def test_every_format_is_registered_once():
    names = [t.name for t in TASKS]
    assert len(names) == len(set(names)) == 10 and "rasp_count" in names and "rasp_add_plain" in names


@pytest.mark.parametrize("fmt", ["count", "add_hints_reverse", "parity_scratchpad", "copy_repeat"])
def test_generated_examples_are_checked_and_grouped(fmt):
    task = RaspTask(fmt)
    cfg = task.default_config()
    cfg.examples_per_length = 3
    examples = list(task.generate(cfg))
    assert len(examples) == 3 * len(cfg.test_lengths)
    assert len({ex["id"] for ex in examples}) == len(examples)
    spec = task.spec(cfg)
    for ex in examples:
        prompt, answer = spec.vocab.decode(ex["prompt"]), spec.vocab.decode(ex["answer"])
        assert spec.oracle(prompt) == answer and answer[-1] == spec.eos
        split = "id" if int(ex["groups"]["length"]) <= max(cfg.train_lengths) else "ood"
        assert ex["groups"]["split"] == split


def test_training_documents_stay_in_the_training_range():
    task = RaspTask("copy_unique")
    cfg = task.default_config()
    rng = np.random.default_rng(0)
    for _ in range(50):
        ids, mask = task.training_document(cfg, rng)
        assert len(ids) == len(mask) and any(mask) and not mask[0]
        n_answer = sum(mask)  # answer = copy + EOS
        assert cfg.train_lengths[0] <= n_answer - 1 <= cfg.train_lengths[1]


@pytest.mark.parametrize("fmt", ["add_hints_reverse", "parity_scratchpad"])
def test_hint_window_trains_every_hint_the_tests_use(fmt):
    task = RaspTask(fmt)
    cfg = task.default_config()
    cfg.params.max_hint = max(cfg.test_lengths) + 1
    spec = task.spec(cfg)
    hint_ids = {spec.vocab.encode([h])[0] for h in range(-100, -100 - spec.vocab.num_hints, -1)}

    def hints_seen(window: bool) -> set[int]:
        cfg.hint_window = window
        rng = np.random.default_rng(0)
        return {t for _ in range(300) for t in task.training_document(cfg, rng)[0] if t in hint_ids}

    test_hints = {t for ex in task.generate(cfg) for t in ex["prompt"] if t in hint_ids}
    assert not test_hints <= hints_seen(False)  # reference numbering: long tests need unseen hints
    assert test_hints <= hints_seen(True)
    for ex in task.generate(cfg):  # test examples keep the reference numbering
        assert spec.vocab.decode(ex["prompt"])[1] == -100
    cfg.hint_window = False
    plain = task.training_identity(cfg)
    cfg.hint_window = True
    assert task.training_identity(cfg) != plain  # a probe trained one way is never reused for the other


def test_hint_window_on_a_format_without_hints_is_refused(tmp_path):
    res = run_cli(["run", str(write_config(tmp_path)), "--config.tasks.rasp_count.hint_window=true"])
    assert res.returncode == 2 and "hint_window only applies to formats with index hints" in res.stderr


def test_scoring_is_exact_match_of_the_whole_answer_with_its_end():
    task = RaspTask("count")
    cfg = task.default_config()
    ex = next(iter(task.generate(cfg)))
    eos = task.spec(cfg).eos_id
    body = tuple(ex["answer"][:-1])
    assert task.score(ex, [Generation(None, body, "stop")], cfg) == {"exact_match": 1.0, "stopped": 1.0}
    assert task.score(ex, [Generation(None, body, "length")], cfg) == {"exact_match": 0.0, "stopped": 0.0}
    wrong = body[:-1] + (body[-1] + 1,)
    assert task.score(ex, [Generation(None, wrong, "stop")], cfg)["exact_match"] == 0.0
    assert task.requests(ex, cfg)[0].until == (eos,)


def test_records_show_prompt_target_and_output_as_readable_tokens():
    task = RaspTask("count")
    cfg = task.default_config()
    vocab = task.spec(cfg).vocab
    ex = {"prompt": vocab.encode([-1, 2, 5, -2]), "answer": vocab.encode([2, 3, 4, 5, -2])}  # count 2..5
    out = task.details(ex, [Generation(None, tuple(vocab.encode([2, 3, 5])), "stop")], cfg)
    assert out == {"prompt": "START 2 5 END", "target": "2 3 4 5 END", "output": "2 3 5 END"}
    assert task.details(ex, [Generation(None, (), "length")], cfg)["output"] == ""
    hints = RaspTask("add_hints_reverse")
    add_vocab = hints.spec(hints.default_config()).vocab
    assert add_vocab.render([1, 5, 15, 16, 10_000]) == "START 0 h0 h1 ?10000"


def test_summary_finds_the_longest_generalized_length_per_seed():
    def rec(seed, length, em):
        return {"groups": {"seed": str(seed), "length": str(length)}, "scores": {"exact_match": em}}

    records = [
        rec(0, 10, 1.0),
        rec(0, 20, 1.0),
        rec(0, 30, 0.0),
        rec(1, 10, 1.0),
        rec(1, 20, 0.0),
        rec(1, 30, 1.0),
    ]
    task = RaspTask("count")
    out = length_generalization_summary(records, 0.95, 20, task.spec(task.default_config()))
    assert out["per_seed"]["0"]["longest_length"] == 20 and out["per_seed"]["1"]["longest_length"] == 10
    assert out["longest_length_median"] == 15 and out["rasp_program_size"] == 21


def write_config(tmp_path, **task_overrides):
    task = {"train_lengths": (1, 8), "test_lengths": (4, 8, 12), "examples_per_length": 4}
    task.update(task_overrides)
    path = tmp_path / "cfg.py"
    path.write_text(
        "from ml_collections import ConfigDict\n"
        "def get_config(arg=None):\n"
        f"    return ConfigDict({{'output_dir': {str(tmp_path / 'run')!r}, 'data_dir': {str(tmp_path / 'data')!r},\n"
        f"        'model': {{'name': 'probe'}}, 'tasks': {{'rasp_count': {task!r}}}}})\n"
    )
    return path


def test_bad_input_is_refused_before_training(tmp_path):
    cfg = write_config(tmp_path, test_lengths=(2, 4, 8))
    res = run_cli(["run", str(cfg)])
    assert res.returncode == 2 and "never go beyond the training lengths" in res.stderr
    res = run_cli(["run", str(write_config(tmp_path)), "--config.tasks.rasp_count.task=rasp_cont"])
    assert res.returncode == 2 and "unknown task or suite 'rasp_cont'" in res.stderr and "rasp_count" in res.stderr
    res = run_cli(["run", str(write_config(tmp_path)), "--config.tasks.rasp_count.probe.model.max_len=10"])
    assert (
        res.returncode == 2
        and "probe.model.max_len=10 is shorter than the longest test example" in res.stderr
    )
    res = run_cli(
        ["run", str(write_config(tmp_path)), "--config.tasks.rasp_count.probe.train.position_range=4096"]
    )
    assert res.returncode == 2 and "tasks.rasp_count.probe: train position_range=4096 exceeds" in res.stderr
    assert "Traceback" not in res.stderr
    res = run_cli(["run", str(write_config(tmp_path)), "--config.tasks.rasp_count.probe.train.context_len=8"])
    assert res.returncode == 2 and "context_len=8 is shorter than the longest training example" in res.stderr
    res = run_cli(["run", str(write_config(tmp_path)), "--config.tasks.rasp_count.probe.model.vocab_size=10"])
    assert res.returncode == 2 and "vocab_size is set by the task from its vocabulary" in res.stderr
    res = run_cli(["run", str(write_config(tmp_path)), "--config.tasks.rasp_count.probe.train.seed=3"])
    assert res.returncode == 2 and "set probe.seeds instead" in res.stderr
    res = run_cli(["run", str(write_config(tmp_path)), "--config.tasks.rasp_count.probe.model.position=fire"])
    assert (
        res.returncode == 2
        and "tasks.rasp_count.probe: model: Model config field position='fire'" in res.stderr
    )
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "run" / "probes").exists()


@pytest.mark.slow
def test_quickstart_runs_end_to_end_in_reduced_form(tmp_path):
    out = tmp_path / "qs"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "evalkit.cli",
            "run",
            str(ROOT / "configs" / "quickstart.py") + ":test",
            f"--config.output_dir={out}",
            f"--config.data_dir={tmp_path / 'data'}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    lengths = {"rasp_count": {"8", "16", "20", "24", "32"}, "rasp_copy_repeat": {"8", "16", "20", "24", "32"}}
    for label, want in lengths.items():
        task = results["tasks"][label]
        assert task["status"] == "ok" and task["num_items"] == 80  # 40 test items for each of 2 seeds
        assert set(task["groups"]["length"]) == want
        assert {s: p["steps"] for s, p in task["summary"]["probes"].items()} == {"0": 20, "1": 20}
        spread = task["over_seeds"]["groups"]["length"]["8"]["exact_match"]
        assert set(spread["per_seed"]) == {"0", "1"} and spread["min"] <= spread["median"] <= spread["max"]
        rt = task["runtime"]  # both seeds' engine counters added up, rates derived from the totals
        assert rt["devices"] == 1 and rt["processes"] == 1 and rt["compiles"] + rt["reused_compiles"] >= 2
        assert rt["new_tokens_per_s"] == pytest.approx(rt["new_tokens"] / rt["device_s"], rel=1e-3)
    first = json.loads((out / "rasp_count" / "samples.jsonl").read_text().splitlines()[0])
    assert set(first["details"]) == {"prompt", "target", "output"} and first["details"]["prompt"].startswith(
        "START"
    )
    assert (out / "report.html").exists() and (out / "rasp_count_by_length.png").exists()
    assert "## rasp_count by length, over 2 seeds" in (out / "results.md").read_text()


def test_shipped_configs_refuse_arguments_they_do_not_know():
    from evalkit.config import load_config_file

    assert load_config_file(str(ROOT / "configs" / "quickstart.py") + ":test").output_dir.endswith("-test")
    with pytest.raises(UserError, match="unknown argument 'tset'"):
        load_config_file(str(ROOT / "configs" / "quickstart.py") + ":tset")
    with pytest.raises(UserError, match="unknown switch"):
        load_config_file(str(ROOT / "configs" / "rasp_paper.py") + ":positon=rope")


@pytest.mark.slow
def test_probe_run_across_two_processes(tmp_path):
    """`evalkit run` of a probe config with runtime.distributed: both processes join before any jax call,
    train and evaluate together, and only process 0 writes results."""
    from evalkit.testing_multiprocess import run_processes

    cfg = write_config(tmp_path, train_lengths=(1, 4), test_lengths=(4, 6))
    script = f"""
import os, sys
from evalkit.cli import main
sys.exit(main([
    "run", {str(cfg)!r}, "--config.tasks.rasp_count.probe.train.steps=10",
    "--config.tasks.rasp_count.probe.train.warmup_steps=2",
    "--config.tasks.rasp_count.probe.seeds=(0,)", "--config.runtime.progress=false",
    "--config.runtime.distributed.enabled=true",
    "--config.runtime.distributed.coordinator_address=" + os.environ["EVALKIT_COORDINATOR"],
    "--config.runtime.distributed.num_processes=2",
    "--config.runtime.distributed.process_id=" + os.environ["EVALKIT_PROCESS_ID"],
]))
"""
    run_processes(script, n=2, devices_per_process=2, timeout=600, init=False)
    task = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["rasp_count"]
    assert task["status"] == "ok" and task["num_items"] == 8 and task["summary"]["probes"]["0"]["steps"] == 10
    assert task["runtime"]["processes"] == 2 and task["runtime"]["devices"] == 4
