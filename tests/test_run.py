"""`evalkit run` end to end with an installed task plugin: results, bad input, failures, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.testing import run_cli

CONFIG = """
from ml_collections import ConfigDict

def get_config(arg=None):
    c = ConfigDict()
    c.output_dir = {out!r}
    c.data_dir = {data!r}
    c.model = ConfigDict({{"name": "fake", "error_rate": 0.25}})
    c.tasks = ConfigDict({{"toy_reverse": ConfigDict({{"num_items": 24}}), "toy_choice": ConfigDict()}})
    c.runtime = ConfigDict({{"chunk_size": 4}})
    return c
"""


@pytest.fixture
def toy(installed_plugins):
    return [installed_plugins["evalkit-toy"]]


def write_config(tmp_path, name="cfg.py", out="run"):
    path = tmp_path / name
    path.write_text(CONFIG.format(out=str(tmp_path / out), data=str(tmp_path / "data")))
    return path


def results(tmp_path, out="run"):
    return json.loads((tmp_path / out / "results.json").read_text())


def test_run_writes_results_samples_and_reports(tmp_path, toy):
    res = run_cli(["run", str(write_config(tmp_path))], pythonpath=toy)
    assert res.returncode == 0, res.stderr
    data = results(tmp_path)
    assert data["schema_version"] == 2 and data["tasks"]["toy_reverse"]["status"] == "ok"
    rev = data["tasks"]["toy_reverse"]
    assert rev["plugin"] == "toy" and rev["plugin_version"] == "0.3.0" and len(rev["config_hash"]) == 16
    em = rev["metrics"]["exact_match"]
    assert 0.5 < em["value"] < 1.0 and em["ci_low"] <= em["value"] <= em["ci_high"] and em["n"] == 24
    assert set(rev["groups"]["length"]) == {"3", "5", "8"}
    lines = (tmp_path / "run" / "toy_reverse" / "samples.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(str(i) for i in range(24))
    assert all(json.loads(line)["details"]["target"] for line in lines)  # Task.details, kept with the record
    for name in ("results.md", "report.html", "toy_reverse_by_length.png"):
        assert (tmp_path / "run" / name).exists()
    assert "toy_reverse" in res.stdout and '"run_hash"' in res.stdout


def test_rerun_is_resumed_from_the_store(tmp_path, toy):
    cfg = write_config(tmp_path)
    assert run_cli(["run", str(cfg)], pythonpath=toy).returncode == 0
    assert run_cli(["run", str(cfg)], pythonpath=toy).returncode == 0
    assert results(tmp_path)["tasks"]["toy_reverse"]["num_resumed"] == 24


def test_killed_run_resumes_with_identical_metrics(tmp_path, toy):
    cfg = write_config(tmp_path)
    ref_cfg = write_config(tmp_path, "ref.py", out="ref")
    assert run_cli(["run", str(ref_cfg)], pythonpath=toy).returncode == 0

    env_path = ":".join(str(p) for p in toy)
    args = [sys.executable, "-m", "evalkit.cli", "run", str(cfg), "--config.model.delay_s=0.05"]
    proc = subprocess.Popen(
        args,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    samples = tmp_path / "run" / "toy_reverse" / "samples.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not samples.exists() or len(samples.read_text().splitlines()) < 8):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(samples.read_text().splitlines())
    assert 8 <= done_before < 24, "the kill must land mid-task"
    assert not (tmp_path / "run" / "results.json").exists()

    # resume on a different "mesh": runtime settings never enter the record key
    res = run_cli(
        ["run", str(cfg), "--config.runtime.mesh.shape.data=1", "--config.runtime.chunk_size=5"],
        pythonpath=toy,
    )
    assert res.returncode == 0, res.stderr
    got, ref = results(tmp_path), results(tmp_path, "ref")
    for label in ("toy_reverse", "toy_choice"):
        assert got["tasks"][label]["metrics"] == ref["tasks"][label]["metrics"]
        assert got["tasks"][label]["groups"] == ref["tasks"][label]["groups"]
    ids = [json.loads(line)["id"] for line in samples.read_text().splitlines()]
    assert sorted(ids) == sorted(str(i) for i in range(24))  # every item exactly once
    assert got["tasks"]["toy_reverse"]["num_resumed"] == done_before


def one_line_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def test_bad_config_key(tmp_path, toy):
    res = run_cli(
        ["run", str(write_config(tmp_path)), "--config.tasks.toy_reverse.num_iterms=3"], pythonpath=toy
    )
    one_line_error(
        res, "unknown config key 'tasks.toy_reverse.num_iterms'", "did you mean 'tasks.toy_reverse.num_items'"
    )


def test_bad_config_value(tmp_path, toy):
    one_line_error(
        run_cli(["run", str(write_config(tmp_path)), "--config.seed=one"], pythonpath=toy),
        "--config.seed='one' is not a valid int",
    )
    one_line_error(
        run_cli(
            ["run", str(write_config(tmp_path)), "--config.tasks.toy_reverse.num_items=-1"], pythonpath=toy
        ),
        "num_items must be >= 0",
    )


def test_unknown_task_and_model(tmp_path, toy):
    cfg = str(write_config(tmp_path))
    one_line_error(
        run_cli(["run", cfg, "--config.tasks.toy_choice.task=toy_revrse"], pythonpath=toy),
        "unknown task or suite 'toy_revrse'",
        "did you mean 'toy_reverse'",
    )
    one_line_error(run_cli(["run", cfg, "--config.model.name=fak"], pythonpath=toy), "unknown model 'fak'")


def test_unknown_metric_and_reporter(tmp_path, toy):
    one_line_error(
        run_cli(["run", str(write_config(tmp_path)), "--config.reporters=('console','pdf')"], pythonpath=toy),
        "unknown reporter 'pdf'",
    )


def test_empty_dataset(tmp_path, toy):
    one_line_error(
        run_cli(
            ["run", str(write_config(tmp_path)), "--config.tasks.toy_reverse.num_items=0"], pythonpath=toy
        ),
        "produced no examples",
    )


def test_missing_data_directory(tmp_path, toy):
    cfg = tmp_path / "files.py"
    cfg.write_text(
        CONFIG.format(out=str(tmp_path / "run"), data=str(tmp_path / "data")).replace(
            '"toy_choice": ConfigDict()',
            '"toy_files": ConfigDict({{"manual_dir": {!r}}})'.format(str(tmp_path / "nope")),
        )
    )
    one_line_error(
        run_cli(["run", str(cfg)], pythonpath=toy),
        "manual_dir",
        "nope",
        "--config.tasks.toy_files.manual_dir=PATH",
    )
    (tmp_path / "nope").mkdir()
    (tmp_path / "nope" / "a.txt").write_text("abc\nxyz\n")
    res = run_cli(["run", str(cfg)], pythonpath=toy)
    assert res.returncode == 0, res.stderr
    assert results(tmp_path)["tasks"]["toy_files"]["num_items"] == 2


def test_debug_shows_traceback(tmp_path, toy):
    res = run_cli(["--debug", "run", str(write_config(tmp_path)), "--config.sed=1"], pythonpath=toy)
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_failing_task_is_recorded_and_others_finish(tmp_path, toy):
    res = run_cli(
        ["run", str(write_config(tmp_path)), "--config.tasks.toy_reverse.fail=true"], pythonpath=toy
    )
    assert res.returncode == 1
    data = results(tmp_path)
    assert data["tasks"]["toy_reverse"]["status"] == "failed"
    assert "toy failure on purpose" in data["tasks"]["toy_reverse"]["error"]
    assert data["tasks"]["toy_choice"]["status"] == "ok"


def test_a_config_problem_found_mid_run_stops_it_with_exit_2(tmp_path, toy):
    cfg = str(write_config(tmp_path))
    res = run_cli(["run", cfg, "--config.tasks.toy_reverse.user_error=true"], pythonpath=toy)
    one_line_error(res, "tasks.toy_reverse.user_error is set; set it to False")
    assert not (tmp_path / "run" / "results.json").exists()  # not recorded as a failed task


def test_unusable_output_dir_and_run_settings_stop_before_any_work(tmp_path, toy):
    cfg = str(write_config(tmp_path))
    (tmp_path / "afile").write_text("")
    for override, needle in [
        (f"--config.output_dir={tmp_path / 'afile'}", "cannot be created (File exists)"),
        (f"--config.output_dir={tmp_path / 'afile' / 'sub'}", "set --config.output_dir to a writable folder"),
        ("--config.output_dir=", "output_dir is empty"),
        ("--config.runtime.too_long=bogus", "runtime.too_long='bogus' must be one of 'truncate', 'error'"),
        ("--config.required_plugins=('evalkit-nlp',)", "missing required plugins: evalkit-nlp"),
    ]:
        one_line_error(run_cli(["run", cfg, override], pythonpath=toy), needle)
    assert not (tmp_path / "data").exists()  # stopped before any data was built
    bad_label = tmp_path / "label.py"
    bad_label.write_text(Path(cfg).read_text().replace('"toy_choice": ConfigDict()', '"a/b": ConfigDict()'))
    one_line_error(run_cli(["run", str(bad_label)], pythonpath=toy), "task label 'a/b' cannot name files")


def test_output_dir_with_a_tilde_is_one_folder_for_every_writer(tmp_path, toy):
    cfg = tmp_path / "tilde.py"
    cfg.write_text(CONFIG.format(out="~/tilde_run", data=str(tmp_path / "data")))
    res = run_cli(["run", str(cfg)], env={"HOME": str(tmp_path)}, pythonpath=toy)
    assert res.returncode == 0, res.stderr
    run = tmp_path / "tilde_run"
    assert (run / "results.json").exists() and (run / "results.md").exists()
    assert (run / "toy_reverse" / "samples.jsonl").exists() and not (tmp_path / "~").exists()


def test_output_files_follow_the_umask(tmp_path, toy):
    from evalkit.results import write_text_atomic

    write_text_atomic(tmp_path / "x.txt", "x")
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_broken_reporter_costs_neither_results_nor_the_other_reports(tmp_path, toy):
    res = run_cli(
        ["run", str(write_config(tmp_path)), "--config.reporters=('toy_broken','markdown')"], pythonpath=toy
    )
    assert res.returncode == 1 and "reporter 'toy_broken' failed (OSError: toy reporter failure" in res.stderr
    assert (tmp_path / "run" / "results.json").exists() and (tmp_path / "run" / "results.md").exists()


def test_parallel_runs_sharing_a_data_dir_build_each_dataset_once(tmp_path, toy):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(toy[0]), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evalkit.cli",
                "run",
                str(write_config(tmp_path, f"c{i}.py", out=f"run{i}")),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(2)
    ]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert (
        results(tmp_path, "run0")["tasks"]["toy_reverse"]["metrics"]
        == results(tmp_path, "run1")["tasks"]["toy_reverse"]["metrics"]
    )


def test_missing_config_file(tmp_path):
    one_line_error(run_cli(["run", str(tmp_path / "nope.py")]), "does not exist")


def test_evaluate_task_helper(tmp_path, evalkit_host, installed_plugins, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_plugins["evalkit-toy"]))
    from evalkit.testing import evaluate_task

    res = evaluate_task("toy_reverse", tmp_path, {"num_items": 6})
    assert res["tasks"]["toy_reverse"]["metrics"]["exact_match"]["value"] == 1.0


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["plugins"]])
def test_help_and_plugins_do_not_import_jax(argv):
    code = (
        f"import sys\nfrom evalkit.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('jax' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_options_must_be_spelled_out_and_a_closed_pipe_is_quiet(tmp_path):
    """`--print-conf` is not taken for `--print-config` (an abbreviation could later mean another option);
    `evalkit list tasks --json | head -1` (more than a pipe buffer) ends without a BrokenPipeError traceback."""
    config = Path(__file__).resolve().parents[1] / "configs" / "quickstart.py"
    res = run_cli(["run", str(config), "--print-conf"])
    assert res.returncode == 2 and "unrecognized arguments: --print-conf" in res.stderr
    piped = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m evalkit.cli list tasks --json | head -1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0 and piped.stdout.strip() and piped.stderr == "", piped.stderr
