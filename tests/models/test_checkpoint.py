"""Orbax model checkpoints: round trips (same and other mesh), `evalkit convert`, and bad-checkpoint errors."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx
from hf_tiny import write_numpy_llama, write_tokenizer

from evalkit.errors import UserError
from evalkit.models import ByteTokenizer, HFTokenizer
from evalkit.models.checkpoint import load_model, save_model
from evalkit.models.hf_import import load_hf_model
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config
from evalkit.runtime.convert_cli import add_parser

MESH_CHECK = Path(__file__).parent / "checkpoint_mesh_check.py"
REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def mesh():
    return make_mesh(mesh_config())


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, mesh):
    """(model, cfg) of a random 2-layer GQA Llama (imported: much faster than initialising on CPU)."""
    model, _, cfg = load_hf_model(
        write_numpy_llama(tmp_path_factory.mktemp("hf") / "llama"), mesh, DEFAULT_RULES
    )
    return model, cfg


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_model):
    """The tiny model saved at step 3 with a copied tokenizer.json; returns (dir, model, cfg)."""
    root = tmp_path_factory.mktemp("ck")
    tok = write_tokenizer(root / "tok.json")
    model, cfg = tiny_model
    save_model(root / "ck", model, cfg, step=3, tokenizer_spec=str(tok))
    return root / "ck", model, cfg


def _leaves(model) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model))]


def test_round_trip_restores_params_config_and_tokenizer(saved, mesh):
    path, model, cfg = saved
    restored, tokenizer, cfg2 = load_model(path, mesh, DEFAULT_RULES)
    assert cfg2 == cfg
    for a, b in zip(_leaves(model), _leaves(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    assert isinstance(tokenizer, HFTokenizer) and tokenizer.encode("w3 w9") == [3, 9]
    assert tokenizer.name == "ck"
    assert (path / "tokenizer" / "tokenizer.json").is_file()


def test_spec_tokenizer_and_step_selection(tmp_path, mesh, tiny_model):
    model, cfg = tiny_model
    save_model(tmp_path, model, cfg, step=0, tokenizer_spec="bytes")
    save_model(tmp_path, model, cfg, step=5)
    assert isinstance(load_model(tmp_path, mesh, DEFAULT_RULES, step=0)[1], ByteTokenizer)
    assert load_model(tmp_path, mesh, DEFAULT_RULES)[1] is None  # Latest step (5) has no tokenizer.
    with pytest.raises(UserError, match="already has step 5"):
        save_model(tmp_path, model, cfg, step=5)
    with pytest.raises(UserError, match="has no step 4; available steps: 0, 5"):
        load_model(tmp_path, mesh, DEFAULT_RULES, step=4)


@pytest.mark.slow
def test_restore_on_other_mesh_is_bit_identical(tmp_path):
    hf_dir = write_numpy_llama(tmp_path / "hf")
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, str(MESH_CHECK), str(tmp_path), str(hf_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["identical"] and result["same_config"] and result["tokenizer"] == "bytes", result
    assert "'data'" in result["saved_spec"], result
    assert result["q_mesh"] == {"data": 4, "fsdp": 1, "tensor": 2}, result
    assert "tensor" in result["q_spec"] and "tensor" in result["hf_q_spec"], result
    assert result["hf_devices"] == 8 and result["hf_grid_vs_single"] < 1e-5, result


def test_convert_cli_writes_a_loadable_checkpoint(tmp_path, mesh, capsys):
    hf_dir = write_numpy_llama(tmp_path / "hf")
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["convert", str(hf_dir), str(tmp_path / "out")])
    assert args.func(args, {}) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dtype"] == "float32"
    shutil.rmtree(hf_dir)  # The checkpoint must stand alone.
    model, tokenizer, cfg = load_model(tmp_path / "out", mesh, DEFAULT_RULES)
    assert tokenizer.encode("w4") == [4] and tokenizer.bos_id == 1 and cfg.num_kv_heads == 2
    reference, _, _ = load_hf_model(write_numpy_llama(tmp_path / "hf2"), mesh, DEFAULT_RULES)
    for a, b in zip(_leaves(reference), _leaves(model), strict=True):
        np.testing.assert_array_equal(a, b)


# --- bad checkpoints -------------------------------------------------------------------------------


@pytest.fixture
def broken(saved, tmp_path):
    return Path(shutil.copytree(saved[0], tmp_path / "broken"))


def _raises(path: Path, mesh, *fragments: str) -> None:
    with pytest.raises(UserError) as info:
        load_model(path, mesh, DEFAULT_RULES)
    for fragment in (str(path), *fragments):
        assert fragment in str(info.value), str(info.value)


def _meta_file(path: Path) -> Path:
    return path / "3" / "meta" / "metadata"


def test_missing_directory(tmp_path, mesh):
    _raises(tmp_path / "nope", mesh, "does not exist")


def test_directory_without_steps(tmp_path, mesh):
    _raises(tmp_path, mesh, "holds no checkpoint steps")


def test_missing_config_item(broken, mesh):
    shutil.rmtree(broken / "3" / "meta")
    _raises(broken, mesh, "has no 'meta' item")


def test_corrupt_config_item(broken, mesh):
    _meta_file(broken).write_text("{not json")
    _raises(broken, mesh, "unreadable model config")


def test_invalid_config(broken, mesh):
    meta = json.loads(_meta_file(broken).read_text())
    meta["model_config"]["mlp"] = "swish"
    _meta_file(broken).write_text(json.dumps(meta))
    _raises(broken, mesh, "invalid model config", "mlp")


def test_shape_mismatch(broken, mesh):
    meta = json.loads(_meta_file(broken).read_text())
    meta["model_config"]["d_ff"] = 48
    _meta_file(broken).write_text(json.dumps(meta))
    _raises(
        broken,
        mesh,
        "tensor layers.0.mlp.down.kernel has shape (64, 32) but the model config implies (48, 32)",
    )


def test_missing_tokenizer_file(broken, mesh):
    (broken / "tokenizer" / "tokenizer.json").unlink()
    _raises(broken, mesh, "missing its tokenizer file")


def test_corrupt_params_give_one_short_sentence(broken, mesh):
    for data in (broken / "3" / "params" / "d").iterdir():
        data.write_bytes(b"garbage" * 10)
    with pytest.raises(UserError) as info:
        load_model(broken, mesh, DEFAULT_RULES)
    message = str(info.value)
    assert (
        "params could not be restored" in message or "unreadable params" in message
    ) and "save it again" in message
    assert len(message.splitlines()) == 1 and len(message) < 400, message
