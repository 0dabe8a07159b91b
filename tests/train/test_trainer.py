"""Probe training: packed batches, learning a copy task, kill-and-resume, run reuse, data parallelism."""

import json
import os
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from evalkit.errors import UserError
from evalkit.models import transformer_config
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config
from evalkit.train import trainer as trainer_module
from evalkit.train.config import identity_view, train_config
from evalkit.train.data import make_batch
from evalkit.train.flops import mfu
from evalkit.train.probes import load_probe, probe_workdir, train_probe
from evalkit.train.trainer import load_trained, train

BOS, SEP, EOS = 1, 2, 3  # 0 is padding; symbols are 4..7
MODEL = dict(vocab_size=8, num_layers=2, d_model=32, num_heads=4, num_kv_heads=4, d_ff=64, max_len=64)
# One train config for every test in this process, so the compiled init and step are shared.
TRAIN = dict(
    steps=120, batch_size=16, context_len=36, lr=3e-3, warmup_steps=10, log_every=10, checkpoint_every=60
)


def copy_document(rng: np.random.Generator) -> tuple[list[int], list[bool]]:
    """`[BOS, a, b, c, SEP, a, b, c, EOS]`, loss on the answer and EOS."""
    x = rng.integers(4, 8, size=3).tolist()
    return [BOS, *x, SEP, *x, EOS], [False] * 5 + [True] * 4


def varied_document(rng: np.random.Generator) -> tuple[list[int], list[bool]]:
    """Copy documents of 1 to 5 symbols, so rows do not divide evenly into documents."""
    x = rng.integers(4, 8, size=int(rng.integers(1, 6))).tolist()
    return [BOS, *x, SEP, *x, EOS], [False] * (len(x) + 2) + [True] * (len(x) + 1)


def greedy_exact_match(model: nnx.Module, step: int = 0) -> dict[str, float]:
    """Greedy answers to all 64 copy prompts by full forward passes; fraction exactly right."""
    x = np.array(np.meshgrid(*[np.arange(4, 8)] * 3, indexing="ij")).reshape(3, -1).T
    tokens = np.zeros((len(x), 9), np.int32)
    tokens[:, 0], tokens[:, 1:4], tokens[:, 4] = BOS, x, SEP
    positions = jnp.broadcast_to(jnp.arange(9), tokens.shape)
    forward = nnx.jit(lambda m, t: m(t, positions)[0])
    for i in range(5, 8):
        tokens[:, i] = np.asarray(jnp.argmax(forward(model, jnp.asarray(tokens))[:, i - 1], axis=-1))
    return {"exact_match": float(np.mean(np.all(tokens[:, 5:8] == x, axis=1)))}


@pytest.fixture(scope="module")
def mesh() -> jax.sharding.Mesh:
    return make_mesh(mesh_config(), devices=jax.devices()[:1])


@pytest.fixture(scope="module")
def model_cfg():
    return transformer_config(**MODEL)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mesh, model_cfg):
    """One uninterrupted run with evals at 0, 60 and 120 steps."""
    workdir = tmp_path_factory.mktemp("uninterrupted")
    cfg = train_config(**TRAIN, eval_every=60)
    return train(
        model_cfg, cfg, copy_document, workdir, mesh, DEFAULT_RULES, greedy_exact_match, progress=False
    )


def params_of(model: nnx.Module) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))]


# --- batches -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("packing", ["concat", "segments"])
def test_batches_are_deterministic_and_masked(packing: str) -> None:
    args = (varied_document, 3, 7, 4, 20, packing)
    batch = make_batch(*args)
    again = make_batch(*args)
    assert all(np.array_equal(batch[k], again[k]) for k in batch)
    other = make_batch(varied_document, 4, 7, 4, 20, packing)
    assert not np.array_equal(batch["tokens"], other["tokens"])
    tokens, targets, mask = batch["tokens"], batch["targets"], batch["loss_mask"]
    assert np.array_equal(targets[:, :-1], tokens[:, 1:]) and not mask[:, -1].any()
    # Loss only on answer symbols and EOS (targets after SEP), never on prompts, BOS or padding.
    for row in range(4):
        after_sep = False
        for t in range(20):
            if tokens[row, t] == SEP:
                after_sep = True
            elif tokens[row, t] in (BOS, 0):
                after_sep = False
            expect = after_sep and targets[row, t] not in (BOS, 0) and t < 19
            assert mask[row, t] == expect, (row, t, tokens[row], mask[row])
    if packing == "concat":
        assert np.array_equal(batch["positions"], np.broadcast_to(np.arange(20), (4, 20)))
        assert (batch["segment_ids"] == 1).all()
        assert (tokens != 0).all()  # rows are full; the last document is cut
    else:
        seg, pos = batch["segment_ids"], batch["positions"]
        assert (tokens[seg == 0] == 0).all() and not mask[seg == 0].any()
        starts = (pos == 0) & (seg > 0)
        assert (tokens[starts] == BOS).all()  # every segment is a whole document starting at position 0
        assert not (mask[:, :-1] & (seg[:, 1:] != seg[:, :-1])).any()  # no loss across segments


@pytest.mark.parametrize("packing", ["concat", "segments"])
def test_random_positions_keep_documents_and_order(packing: str) -> None:
    plain = make_batch(varied_document, 3, 7, 4, 20, packing)
    spread = make_batch(varied_document, 3, 7, 4, 20, packing, position_range=64)
    for key in ("tokens", "segment_ids", "targets", "loss_mask"):  # same documents, only positions move
        assert np.array_equal(plain[key], spread[key])
    pos, seg = spread["positions"], spread["segment_ids"]
    assert pos.min() >= 0 and pos.max() < 64 and pos.max() >= 20  # beyond what contiguous rows reach
    same_doc = seg[:, 1:] == seg[:, :-1]  # 'concat': one segment per row
    assert (
        np.diff(pos, axis=1)[same_doc & (seg[:, 1:] > 0)] > 0
    ).all()  # strictly increasing within a document
    assert np.array_equal(
        spread["positions"], make_batch(varied_document, 3, 7, 4, 20, packing, 0, 64)["positions"]
    )
    with pytest.raises(UserError, match="position_range"):
        make_batch(varied_document, 3, 7, 4, 20, packing, position_range=10)


def test_document_longer_than_context_is_an_error() -> None:
    with pytest.raises(UserError, match="context_len"):
        make_batch(copy_document, 0, 0, 2, 8, "concat")


def test_config_validation() -> None:
    with pytest.raises(UserError, match="packing"):
        train_config(packing="zigzag")
    with pytest.raises(UserError, match="warmup_steps"):
        train_config(steps=10, warmup_steps=20)
    with pytest.raises(UserError, match="unknown"):
        train_config(learning_rate=1.0)
    with pytest.raises(UserError, match="position_range"):
        train_config(context_len=64, position_range=32)
    # position_range joins a run's identity only when set: runs from before the option keep their hashes
    assert "position_range" not in identity_view(train_config())
    assert identity_view(train_config(context_len=64, position_range=128))["position_range"] == 128
    assert mfu(1000, 1e6, jax.devices()) is None  # no peak FLOPs for CPUs


# --- training ----------------------------------------------------------------------------------------


def test_probe_learns_copy(trained) -> None:
    losses = [r["loss"] for r in trained.history if "loss" in r]
    evals = {r["step"]: r["eval"]["exact_match"] for r in trained.history if "eval" in r}
    assert losses[-1] < 0.4 * losses[0], losses
    assert set(evals) == {0, 60, 120}
    assert evals[0] < 0.2 and evals[120] > 0.9, evals
    assert greedy_exact_match(trained.model)["exact_match"] == evals[120]
    final = trained.final
    assert final["steps"] == 120 and final["tokens_per_s"] > 0 and final["mfu"] is None
    assert final["final_loss"] == losses[-1] and final["eval"]["exact_match"] == evals[120]


def test_segments_packing_trains(tmp_path, mesh, model_cfg, trained) -> None:
    cfg = train_config(**TRAIN, packing="segments")
    result = train(model_cfg, cfg, varied_document, tmp_path, mesh, DEFAULT_RULES, progress=False)
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < 0.5 * losses[0], losses


class Killed(Exception):
    pass


def test_kill_and_resume_matches_uninterrupted(tmp_path, monkeypatch, mesh, model_cfg, trained) -> None:
    cfg = train_config(**TRAIN)
    real_make_batch = trainer_module.make_batch

    def dying_make_batch(document_fn, step, *args, **kwargs):
        if step == 75:  # after the step-60 checkpoint and the step-70 log line
            raise Killed
        return real_make_batch(document_fn, step, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "make_batch", dying_make_batch)
    with pytest.raises(Killed):
        train(model_cfg, cfg, copy_document, tmp_path, mesh, DEFAULT_RULES, progress=False)
    assert not (tmp_path / "final.json").exists()
    assert load_trained(tmp_path, mesh, DEFAULT_RULES) is None
    monkeypatch.setattr(trainer_module, "make_batch", real_make_batch)

    resumed = train(model_cfg, cfg, copy_document, tmp_path, mesh, DEFAULT_RULES, progress=False)
    assert not resumed.reused and resumed.step == 120
    for a, b in zip(params_of(resumed.model), params_of(trained.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    logged = [(r["step"], r["loss"]) for r in resumed.history]
    assert logged == [(r["step"], r["loss"]) for r in trained.history if "loss" in r]
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(10, 121, 10))


def test_train_probe_reuses_finished_run(tmp_path, mesh, model_cfg) -> None:
    cfg = train_config(**TRAIN)
    task = {"name": "copy", "version": "1", "config": {"symbols": 3}}
    first = train_probe(
        model_cfg, cfg, copy_document, tmp_path, 1, mesh, DEFAULT_RULES, task=task, progress=False
    )
    assert not first.reused and first.step == 120
    workdir = probe_workdir(tmp_path, model_cfg, cfg, task, 1)
    assert (workdir / "final.json").exists()

    def no_documents(rng):
        raise AssertionError("a finished run must not train again")

    t0 = time.perf_counter()
    again = train_probe(
        model_cfg, cfg, no_documents, tmp_path, 1, mesh, DEFAULT_RULES, task=task, progress=False
    )
    assert again.reused and again.step == 120 and again.history == first.history
    assert time.perf_counter() - t0 < 10
    for a, b in zip(params_of(again.model), params_of(first.model), strict=True):
        np.testing.assert_array_equal(a, b)
    loaded = load_probe(model_cfg, cfg, tmp_path, 1, mesh, DEFAULT_RULES, task=task)
    for a, b in zip(params_of(loaded), params_of(first.model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert load_probe(model_cfg, cfg, tmp_path, 2, mesh, DEFAULT_RULES, task=task) is None
    assert load_trained(workdir, mesh, DEFAULT_RULES, model_cfg, train_config(**TRAIN)) is None  # other hash
    assert probe_workdir(tmp_path, model_cfg, cfg, {**task, "version": "2"}, 1) != workdir
    assert probe_workdir(tmp_path, model_cfg, cfg, task, 2) != workdir


def test_workdir_of_another_config_is_refused(tmp_path, mesh, model_cfg, trained) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"config_hash": "something-else"}))
    with pytest.raises(UserError, match="different config"):
        train(model_cfg, train_config(**TRAIN), copy_document, tmp_path, mesh, DEFAULT_RULES, progress=False)


def test_position_range_beyond_the_model_is_refused_before_training(tmp_path, mesh, model_cfg) -> None:
    cfg = train_config(**{**TRAIN, "position_range": 2 * MODEL["max_len"]})
    with pytest.raises(UserError, match="position_range"):
        train(model_cfg, cfg, copy_document, tmp_path, mesh, DEFAULT_RULES, progress=False)
    assert not any(tmp_path.iterdir())  # nothing was written


DATA_PARALLEL = textwrap.dedent(
    """
    import json, sys, tempfile
    import jax
    from evalkit.models import transformer_config
    from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config
    from evalkit.train.config import identity_view, train_config
    from evalkit.train.trainer import train
    sys.path.insert(0, sys.argv[1])
    from test_trainer import MODEL, copy_document

    assert jax.device_count() == 8
    cfg = train_config(steps=6, batch_size=16, context_len=18, lr=3e-3, warmup_steps=2, log_every=1)
    losses = {}
    tp = {"data": 2, "fsdp": 2, "tensor": 2}
    for name, shape, types in [("1", {"data": 1}, "auto"), ("dp8", {"data": 8}, "auto"),
                               ("dp2_fsdp2_tp2", tp, "auto"), ("explicit_2x2x2", tp, "explicit")]:
        mesh_cfg = mesh_config()
        mesh_cfg.shape = {"data": 1, "fsdp": 1, "tensor": 1, **shape}
        mesh_cfg.axis_types = types
        n = mesh_cfg.shape.data * mesh_cfg.shape.fsdp * mesh_cfg.shape.tensor
        mesh = make_mesh(mesh_cfg, devices=jax.devices()[:n])
        result = train(transformer_config(**MODEL), cfg, copy_document, tempfile.mkdtemp(), mesh,
                       DEFAULT_RULES, progress=False)
        assert result.final["num_devices"] == n
        losses[name] = [r["loss"] for r in result.history]
    print(json.dumps(losses))
    """
)


def test_data_parallel_and_sharded_match_one_device() -> None:
    # Low LLVM optimisation: both meshes compile the same way, several times faster on loaded CPUs.
    flags = "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0"
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    here = os.path.dirname(__file__)
    out = subprocess.run(
        [sys.executable, "-c", DATA_PARALLEL, here], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    losses = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(losses["1"]) == 6
    np.testing.assert_allclose(losses["dp8"], losses["1"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(losses["dp2_fsdp2_tp2"], losses["1"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(losses["explicit_2x2x2"], losses["1"], rtol=0, atol=1e-4)


def test_matmul_params_leave_out_lookup_tables() -> None:
    from evalkit.models import gpt2_small, llama_20m
    from evalkit.models.sharded import param_count
    from evalkit.models.transformer import Transformer
    from evalkit.train.flops import matmul_params

    untied = nnx.eval_shape(lambda: Transformer(llama_20m(), rngs=nnx.Rngs(0)))  # RoPE, separate head
    cfg = llama_20m()
    assert matmul_params(untied) == param_count(untied) - cfg.vocab_size * cfg.d_model
    tied = nnx.eval_shape(lambda: Transformer(gpt2_small(), rngs=nnx.Rngs(0)))  # learned positions, tied
    cfg = gpt2_small()
    assert matmul_params(tied) == param_count(tied) - (cfg.max_len + cfg.position_offset) * cfg.d_model
