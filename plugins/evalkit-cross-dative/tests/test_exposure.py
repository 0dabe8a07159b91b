"""Exposure learning in evalkit against an independent PyTorch implementation (one exposure at a time), on
the same tiny random OPT: losses, validation scores, best step and log-probs agree; batching, meshes and
processes do not change a number; only the new row is trained."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from evalkit_cross_dative import files
from evalkit_cross_dative.exposure import STATES, Protocol, initial_rows, run_simulations
from evalkit_cross_dative.learners import make_learner
from flax import nnx

from evalkit import UserError
from evalkit.models import load_model
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config
from evalkit.testing import write_tiny_hf_opt
from evalkit.testing_multiprocess import run_processes

DATA = Path(files.default_data_dir())
needs_data = pytest.mark.skipif(not (DATA / files.VALIDATION).is_file(), reason=f"stimuli not at {DATA}")
EXPOSURES = ["mommy [verb] her me .", "lucy [verb] the cute cat to a red ball .", "he [verb] someone it ."]


def stimuli() -> tuple[list[str], list[str], list[str]]:
    good, bad = files.read_validation(DATA)
    gen = files.read_generalization(DATA)
    return good[:24], bad[:24], [g.sentence for g in gen[:20]] + [g.sentence for g in gen[-20:]]


@pytest.fixture(scope="module")
def opt_dir(tmp_path_factory) -> Path:
    good, bad = files.read_validation(DATA) if (DATA / files.VALIDATION).is_file() else ([], [])
    texts = [s.replace("[verb]", "gave") for s in good + bad + EXPOSURES] * 2 or None
    return write_tiny_hf_opt(tmp_path_factory.mktemp("opt") / "learner", texts=texts, vocab_size=400, seed=3)


def evalkit_run(folder: Path, lrs, steps: int, sims_per_batch: int, exposures=EXPOSURES):
    mesh = make_mesh(mesh_config())
    model, tokenizer, _ = load_model(folder, mesh, DEFAULT_RULES)
    learner = make_learner("tiny", model, tokenizer)
    good, bad, gen = stimuli()
    table = np.asarray(model.output_embedding())
    sims = [(s, lr) for s in exposures for lr in lrs]
    rows = initial_rows(table, [(0, exposures.index(s)) for s, _ in sims], 1e-5)
    before = jax_state(model)
    result = run_simulations(
        model,
        mesh,
        DEFAULT_RULES,
        rows,
        [lr for _, lr in sims],
        [learner.encode(s) for s, _ in sims],
        [learner.encode(s) for s in good],
        [learner.encode(s) for s in bad],
        [learner.encode(s) for s in gen],
        Protocol(steps=steps, sims_per_batch=sims_per_batch, max_groups=3),  # fewer programs to compile
    )
    after = jax_state(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # the frozen learner is untouched
    return learner, rows, result


def jax_state(model) -> dict:
    return {str(k): np.asarray(v.get_value()) for k, v in nnx.to_flat_state(nnx.state(model))}


@needs_data
def test_batched_exposures_equal_the_pytorch_reference_one_at_a_time(opt_dir):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).parent))
    import torch_reference

    steps = 12
    learner, rows, ours = evalkit_run(opt_dir, (0.1, 0.01), steps, sims_per_batch=4)
    good, bad, gen = stimuli()
    model, verb_id = torch_reference.load_model(opt_dir)
    assert verb_id == learner.verb_id  # the new row follows the old table in both
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    enc = lambda s: learner.encode(s)[1:]  # noqa: E731 - the reference prepends <s> itself
    for k, (sentence, lr) in enumerate((s, lr) for s in EXPOSURES for lr in (0.1, 0.01)):
        ref = torch_reference.run_exposure(
            model, verb_id, rows[k], enc(sentence), [enc(s) for s in good], [enc(s) for s in bad],
            [enc(s) for s in gen], lr, steps,
        )  # fmt: skip
        np.testing.assert_allclose(ours.train_losses[k], ref.train_losses, atol=1e-4)
        np.testing.assert_allclose(ours.val_scores[k], ref.val_scores, atol=1e-4)
        assert ours.best_step[k] == ref.best_step
        for s, state in enumerate(STATES):
            np.testing.assert_allclose(ours.gen_scores[k, s], ref.logprobs[state], atol=1e-4)
            np.testing.assert_allclose(ours.rows[k, s], ref.new_row[state], atol=1e-4)
    # and the reference too moved nothing but the new row
    for name, value in model.state_dict().items():
        if "embed_tokens" in name or "lm_head" in name:
            assert torch.equal(value[:verb_id], original[name][:verb_id])
        else:
            assert torch.equal(value, original[name])


@needs_data
def test_batch_size_does_not_change_a_number(opt_dir):
    _, _, together = evalkit_run(opt_dir, (0.1,), 6, sims_per_batch=3)
    _, _, alone = evalkit_run(opt_dir, (0.1,), 6, sims_per_batch=1)
    for field in ("train_losses", "val_scores", "gen_scores", "rows", "best_step"):
        np.testing.assert_allclose(getattr(together, field), getattr(alone, field), atol=2e-6)


MESH_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
from test_exposure import evalkit_run_on
print("RESULT " + json.dumps(evalkit_run_on({folder!r}, {shape!r})))
"""


def evalkit_run_on(folder: str, shape: dict) -> dict:
    """What a mesh or multi-process run gives (called in subprocesses)."""
    from evalkit.config import runtime_defaults
    from evalkit.runtime.handle import runtime_mesh

    rt = runtime_defaults()
    rt.mesh.shape.update(shape)
    mesh = runtime_mesh(rt)
    model, tokenizer, _ = load_model(folder, mesh, DEFAULT_RULES)
    learner = make_learner("tiny", model, tokenizer)
    good, bad, gen = stimuli()
    rows = initial_rows(np.asarray(model.output_embedding()), [(0, i) for i in range(3)], 1e-5)
    out = run_simulations(
        model, mesh, DEFAULT_RULES, rows, [0.1] * 3, [learner.encode(s) for s in EXPOSURES],
        [learner.encode(s) for s in good], [learner.encode(s) for s in bad], [learner.encode(s) for s in gen],
        Protocol(steps=5, sims_per_batch=2, max_groups=2),
    )  # fmt: skip
    return {"val": out.val_scores.tolist(), "gen": out.gen_scores.tolist(), "best": out.best_step.tolist()}


@needs_data
@pytest.mark.multiprocess
def test_an_eight_device_mesh_and_two_processes_give_the_same_numbers(opt_dir):
    tests = str(Path(__file__).parent)
    alone = evalkit_run_on(str(opt_dir), {"data": 1})
    script = MESH_SCRIPT.format(tests=tests, folder=str(opt_dir), shape={"data": 4, "fsdp": 1, "tensor": 2})
    outs = run_processes(script, 1, 8, timeout=300, init=False)
    outs += run_processes(
        MESH_SCRIPT.format(tests=tests, folder=str(opt_dir), shape={"data": 8}), 2, 4, timeout=300
    )
    for out in outs:
        got = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
        assert got["best"] == alone["best"]
        np.testing.assert_allclose(got["val"], alone["val"], atol=1e-5)
        np.testing.assert_allclose(got["gen"], alone["gen"], atol=1e-5)


def test_bad_learners_are_refused_before_any_work(tmp_path):
    from evalkit.models import ByteTokenizer, Transformer, transformer_config

    untied = Transformer(
        transformer_config(vocab_size=300, d_model=16, d_ff=32, num_heads=2, num_kv_heads=2), rngs=nnx.Rngs(0)
    )
    with pytest.raises(UserError, match="untied"):
        make_learner("x", untied, ByteTokenizer())
    tied = Transformer(
        transformer_config(
            vocab_size=300, d_model=16, d_ff=32, num_heads=2, num_kv_heads=2, tied_embeddings=True
        ),
        rngs=nnx.Rngs(0),
    )
    with pytest.raises(UserError, match="cannot take the novel token"):
        make_learner("x", tied, ByteTokenizer())
    folder = write_tiny_hf_opt(tmp_path / "m", vocab_size=300)
    model, tok, _ = load_model(folder, make_mesh(mesh_config()), DEFAULT_RULES)
    with pytest.raises(UserError, match="already has a token"):
        make_learner("x", model, tok.with_added_tokens([" [verb]"]))
    from evalkit_cross_dative.learners import check_lengths

    learner = make_learner("x", model, tok)
    with pytest.raises(UserError, match="context of 128 positions"):
        check_lengths(learner, ["mommy [verb] " + "the ball " * 200 + "."])
    with pytest.raises(UserError, match="no \\[verb\\]"):
        files.check_stimulus("mommy gave her me .", "exposure 1")
