"""`evalkit compare`: two runs of one config with different models, paired item by item."""

import json

from test_run import one_line_error, toy, write_config  # noqa: F401 - the fixture is used by name

from evalkit.testing import run_cli


def _run(tmp_path, toy_path, out, error_rate):
    cfg = write_config(tmp_path)
    res = run_cli(
        ["run", str(cfg), f"--config.output_dir={tmp_path / out}", f"--config.model.error_rate={error_rate}"],
        pythonpath=toy_path,
    )
    assert res.returncode == 0, res.stderr
    return tmp_path / out


def test_compare_pairs_items_and_reports_the_difference(tmp_path, toy):  # noqa: F811
    good = _run(tmp_path, toy, "good", 0.0)
    bad = _run(tmp_path, toy, "bad", 0.75)
    res = run_cli(
        ["compare", str(good), str(bad / "results.json"), "--json", "--resamples", "500"], pythonpath=toy
    )
    assert res.returncode == 0, res.stderr
    rows = {(r["task"], r["score"]): r for r in json.loads(res.stdout)}
    em = rows[("toy_reverse", "exact_match")]
    assert em["n"] == 24 and em["a"] == 1.0 and em["b"] < 0.6
    assert abs(em["mean_diff"] - (em["a"] - em["b"])) < 1e-9
    assert 0 < em["ci_low"] <= em["mean_diff"] <= em["ci_high"] and em["p_value"] < 0.05
    text = run_cli(["compare", str(good), str(bad), "--task", "toy_reverse"], pythonpath=toy)
    assert text.returncode == 0 and "toy_reverse" in text.stdout and "toy_choice" not in text.stdout


def test_compare_bad_input(tmp_path, toy):  # noqa: F811
    good = _run(tmp_path, toy, "good", 0.0)
    one_line_error(run_cli(["compare", str(good), str(tmp_path / "nowhere")], pythonpath=toy), "results.json")
    one_line_error(
        run_cli(["compare", str(good), str(good), "--task", "nope"], pythonpath=toy), "'nope'", "toy_reverse"
    )
    (good / "toy_reverse" / "samples.jsonl").unlink()
    one_line_error(run_cli(["compare", str(good), str(good)], pythonpath=toy), "samples.jsonl")
