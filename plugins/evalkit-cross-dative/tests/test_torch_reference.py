"""The PyTorch reference of the exposure protocol, checked on its own against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from torch_reference import BOS, load_model, run_exposure  # noqa: E402

from evalkit.testing import write_tiny_hf_opt  # noqa: E402

STEPS = 6


@pytest.fixture(scope="module")
def learner(tmp_path_factory):
    model, verb_id = load_model(write_tiny_hf_opt(tmp_path_factory.mktemp("opt") / "opt"))
    return model, verb_id


@pytest.fixture(scope="module")
def data(learner):
    model, verb = learner
    rng = np.random.default_rng(0)

    def sentence(lo: int, hi: int) -> list[int]:
        seq = rng.integers(4, verb, int(rng.integers(lo, hi + 1))).tolist()
        seq[int(rng.integers(0, len(seq)))] = verb
        return seq

    embedding = model.get_input_embeddings().weight.detach().numpy()[:verb]
    init_row = embedding.mean(0) + 0.01 * rng.standard_normal(embedding.shape[1]).astype(np.float32)
    return dict(
        init_row=init_row.astype(np.float32),
        exposure=sentence(5, 5),
        good=[sentence(3, 9) for _ in range(5)],
        bad=[sentence(3, 9) for _ in range(4)],
        generalization=[sentence(4, 12) for _ in range(3)],
    )


def _logprobs(model, seq: list[int]) -> np.ndarray:
    """log P(token | bos, previous tokens) of each token of one unpadded sequence, by hand in float64."""
    ids = torch.tensor([[BOS, *seq]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].double().numpy()
    logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    return logits[np.arange(len(seq)), seq] - logz


def _set_row(model, verb: int, row) -> None:
    with torch.no_grad():
        model.get_input_embeddings().weight[verb] = torch.tensor(np.asarray(row, np.float32))


def test_model_is_tied_and_grown_by_one_row(learner):
    model, verb = learner
    assert verb == 512 and model.get_input_embeddings().weight.shape == (513, 32)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert not model.training and model.get_input_embeddings().weight.dtype == torch.float32


def test_states_match_hand_computations(learner, data):
    model, verb = learner
    res = run_exposure(model, verb, lr=0.01, steps=STEPS, **data)
    assert len(res.train_losses) == len(res.val_scores) == STEPS + 1
    assert res.best_step == int(np.argmax(res.val_scores[1:])) + 1 and 1 <= res.best_step <= STEPS
    assert res.val_scores[res.best_step] == max(res.val_scores[1:])
    np.testing.assert_array_equal(res.new_row["initial"], data["init_row"])
    np.testing.assert_array_equal(model.get_input_embeddings().weight[verb].detach(), res.new_row["final"])

    for state, k in (("initial", 0), ("final", STEPS), ("best", res.best_step)):
        _set_row(model, verb, res.new_row[state])
        loss = -_logprobs(model, data["exposure"]).mean()
        val = np.mean([_logprobs(model, s).mean() for s in data["good"]]) - np.mean(
            [_logprobs(model, s).mean() for s in data["bad"]]
        )
        gen = [_logprobs(model, s).mean() for s in data["generalization"]]
        np.testing.assert_allclose(res.train_losses[k], loss, rtol=1e-5, err_msg=state)
        np.testing.assert_allclose(res.val_scores[k], val, atol=1e-5, err_msg=state)
        np.testing.assert_allclose(res.logprobs[state], gen, atol=1e-5, err_msg=state)


def test_only_the_new_row_moves(learner, data):
    model, verb = learner
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    res = run_exposure(model, verb, lr=0.1, steps=STEPS, **data)
    after = dict(model.named_parameters())
    assert before.keys() == after.keys()
    for name, p in after.items():
        if p is model.get_input_embeddings().weight:
            rows = torch.ones(p.shape[0], dtype=torch.bool)
            rows[verb] = False
            assert torch.equal(p.detach()[rows], before[name][rows])
            assert not torch.equal(p.detach()[verb], torch.tensor(data["init_row"]))
        else:
            assert torch.equal(p.detach(), before[name]), name
    assert res.new_row["final"] != res.new_row["initial"]


def test_lr_01_lowers_the_exposure_loss(learner, data):
    model, verb = learner
    res = run_exposure(model, verb, lr=0.1, steps=STEPS, **data)
    print(np.round(res.train_losses, 3))
    losses = res.train_losses
    assert losses[2] < losses[1] < losses[0]  # later, Adam at lr 0.1 may overshoot a little
    assert losses[-1] < losses[0] - 0.3


def test_exposures_are_independent_and_reproducible(learner, data):
    model, verb = learner
    first = run_exposure(model, verb, lr=0.1, steps=STEPS, **data)
    other = dict(data, exposure=data["good"][0], init_row=data["init_row"][::-1].copy())
    run_exposure(model, verb, lr=0.01, steps=3, **other)  # trains the row elsewhere in between
    again = run_exposure(model, verb, lr=0.1, steps=STEPS, **data)
    assert again == first
    # The best state is the row after best_step updates: a run that stops there ends on it.
    short = run_exposure(model, verb, lr=0.1, steps=first.best_step, **data)
    assert short.new_row["final"] == first.new_row["best"]
    assert short.logprobs["final"] == first.logprobs["best"]
