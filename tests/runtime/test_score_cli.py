"""`evalkit score`: a JSONL file round-trips in input order; bad input names the file, line and fix."""

import argparse
import json
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.runtime import score_cli

CONFIG = """
from ml_collections import ConfigDict


def get_config(arg=None):
    c = ConfigDict()
    c.model = ConfigDict(dict(name="flax", d_model=32, d_ff=64, num_layers=1, max_len=32, tokenizer="bytes"))
    c.runtime = ConfigDict(dict(batch=dict(num_buckets=1)))
    return c
"""


def parse(argv):
    parser = argparse.ArgumentParser()
    score_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["score", *argv])


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_score_round_trip(tmp_path, capsys):
    config = tmp_path / "model.py"
    config.write_text(CONFIG, encoding="utf-8")
    rows = [
        {"id": "b", "context": "Hello", "continuation": " world"},
        {"id": 7, "context": [1, 2, 3], "continuation": [4]},
        {"id": "long", "context": "x" * 40, "continuation": "yz"},
    ]
    requests = write_lines(tmp_path / "in.jsonl", [json.dumps(r) for r in rows] + [""])
    out = tmp_path / "out" / "scores.jsonl"
    args = parse(
        ["--model", str(config), "--requests", str(requests), "--out", str(out), "--batch-tokens", "64"]
    )
    assert args.func(args, {"runtime.too_long": "truncate"}) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == ["b", 7, "long"]
    assert [g["num_tokens"] for g in got] == [6, 1, 2]
    assert all(set(g) == {"id", "loglik", "is_greedy", "num_tokens"} and g["loglik"] < 0 for g in got)
    assert "1 left-truncated" in capsys.readouterr().err


@pytest.mark.parametrize(
    "lines, match",
    [
        (['{"id": 1, "context": "a", "continuation": "b"}', "{not json"], "line 2 is not valid JSON"),
        (['{"id": 1, "context": "a"}'], "line 1 has no 'continuation' field"),
        (['{"id": 1, "context": "a", "continuation": 3}'], "line 1: continuation must be a string"),
        (["[1, 2]"], "line 1 is not a JSON object"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, lines, match):
    path = write_lines(tmp_path / "bad.jsonl", lines)
    with pytest.raises(UserError, match=match) as err:
        score_cli.read_requests(path)
    assert "bad.jsonl" in str(err.value)


def test_missing_file_wrong_model_kind_and_bad_override(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        score_cli.read_requests(tmp_path / "nope.jsonl")
    with pytest.raises(UserError, match="neither a checkpoint folder nor a config file"):
        score_cli.model_and_runtime(str(tmp_path / "no_such_model"), {}, None)
    shipped = score_cli.model_and_runtime(
        str(Path(__file__).parents[2] / "configs" / "flax_model.py"), {}, None
    )
    assert shipped[0].name == "flax" and shipped[0].tokenizer == "bytes" and shipped[0].checkpoint == ""
    config = tmp_path / "fake.py"
    config.write_text(CONFIG.replace('name="flax"', 'name="fake"'), encoding="utf-8")
    with pytest.raises(UserError, match="needs a flax model"):
        score_cli.model_and_runtime(str(config), {}, None)
    config.write_text(CONFIG, encoding="utf-8")
    with pytest.raises(UserError, match="only model.\\* and runtime.\\*"):
        score_cli.model_and_runtime(str(config), {"seed": "1"}, None)
    model, runtime = score_cli.model_and_runtime(str(config), {"model.init_seed": "3"}, 99)
    assert (model.init_seed, model.d_model, runtime.batch.max_tokens, runtime.batch.num_buckets) == (
        3,
        32,
        99,
        1,
    )


def test_token_ids_outside_the_vocabulary_and_an_unwritable_out(tmp_path):
    config = tmp_path / "model.py"
    config.write_text(CONFIG, encoding="utf-8")
    ok = '{"id": 1, "context": [1, 2], "continuation": [3]}'
    requests = write_lines(
        tmp_path / "in.jsonl", [ok, '{"id": 2, "context": [1, 99999], "continuation": [3]}']
    )
    args = parse(["--model", str(config), "--requests", str(requests), "--out", str(tmp_path / "o.jsonl")])
    with pytest.raises(UserError, match="in.jsonl line 2: a request's context has token id 99999, outside"):
        args.func(args, {})
    assert not (tmp_path / "o.jsonl").exists()
    (tmp_path / "afile").write_text("")
    args = parse(
        ["--model", str(config), "--requests", str(requests), "--out", str(tmp_path / "afile" / "o")]
    )
    with pytest.raises(UserError, match="the folder of --out"):
        args.func(args, {})


def one_line_error(capsys, argv: list[str]) -> str:
    """Runs `evalkit ARGV` in-process, checks it exits 2 with one line and no traceback, returns that line."""
    from evalkit import cli

    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_non_utf8_requests_file_names_the_line(tmp_path, capsys):
    requests = tmp_path / "latin1.jsonl"
    requests.write_bytes(
        b'{"id": 1, "context": "a", "continuation": "b"}\n'
        b'{"id": 2, "context": "caf\xe9", "continuation": "b"}\n'  # Latin-1, not UTF-8
    )
    out = tmp_path / "o.jsonl"
    err = one_line_error(
        capsys, ["score", "--model", "no_such_model", "--requests", str(requests), "--out", str(out)]
    )
    assert f"{requests} line 2 is not UTF-8 text (byte 26 of the line is 0xe9); save the file as UTF-8" in err
    assert not out.exists()


def test_duplicate_ids_are_refused_before_any_work(tmp_path, capsys):
    lines = [
        '{"id": "a", "context": "x", "continuation": "y"}',
        '{"id": 1, "context": "x", "continuation": "y"}',
        '{"id": "1", "context": "x", "continuation": "y"}',  # a string, not the number 1
        '{"id": "a", "context": "z", "continuation": "w"}',
    ]
    requests = write_lines(tmp_path / "dup.jsonl", lines)
    out = tmp_path / "o.jsonl"
    # The model does not exist: the duplicate is reported first, before any model is looked at.
    err = one_line_error(
        capsys, ["score", "--model", "no_such_model", "--requests", str(requests), "--out", str(out)]
    )
    assert f'{requests} lines 1 and 4 both have id "a"; give every request its own id' in err
    assert not out.exists()
    assert [r["id"] for r in score_cli.read_requests(write_lines(tmp_path / "ok.jsonl", lines[:3]))] == [
        "a",
        1,
        "1",
    ]


@pytest.mark.parametrize("text", ["", "\n  \n\n"])
def test_empty_requests_file_is_an_error(tmp_path, capsys, text):
    requests = tmp_path / "empty.jsonl"
    requests.write_text(text, encoding="utf-8")
    out = tmp_path / "o.jsonl"
    err = one_line_error(
        capsys, ["score", "--model", "no_such_model", "--requests", str(requests), "--out", str(out)]
    )
    assert f"{requests} has no requests (it is empty or only blank lines), so nothing was scored" in err
    assert not out.exists()
