"""An independent PyTorch reference of the novel-verb exposure protocol (Misra & Kim 2024, reference §3).

One exposure at a time, as the authors ran it: a transformers ``OPTForCausalLM`` with one extra embedding
row (the novel verb, tied input/output), only the embedding matrix trainable, AdamW on the whole matrix
with the gradients of every other row zeroed after each backward pass, 70 full-batch steps on the single
exposure sentence, the verbhood validation score after every step, and BOS-conditioned mean token
log-probs of the generalization sentences at the initial, final and best states.

Everything works on token ids WITHOUT the BOS (id 1 is prepended here), in float32. Used by the plugin's
tests and by ``benchmarks/dative.py`` to check evalkit's batched JAX implementation. Test-only: needs
torch and transformers.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

BOS = 1
PAD = 0
SCORE_BATCH = 256  # sentences per padded forward when scoring

# The embedding matrix of each loaded model as load_model left it (the new row as resized); each
# exposure starts from it.
_ORIGINAL_EMBEDDING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class ExposureResult:
    train_losses: list[float]  # exposure-sentence loss at states 0..steps (state k = after k updates)
    val_scores: list[float]  # verbhood validation score at states 0..steps
    best_step: int  # argmax of val_scores[1:] + 1 (first maximum), in 1..steps
    new_row: dict[str, list[float]]  # the new embedding row at "initial", "final", "best"
    logprobs: dict[str, list[float]]  # per generalization sentence, mean token log-prob, per state


def load_model(folder: str | Path) -> tuple[torch.nn.Module, int]:
    """A float32 ``OPTForCausalLM`` in eval mode (dropout off) with its tied embedding grown by one row;
    returns the model and the new row's id (the original vocabulary size). Only the embedding matrix
    requires gradients."""
    from transformers import OPTForCausalLM

    model = OPTForCausalLM.from_pretrained(str(folder), dtype=torch.float32).float().eval()
    verb_id = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(verb_id + 1, mean_resizing=False)
    embedding = model.get_input_embeddings().weight
    if model.get_output_embeddings().weight is not embedding:
        raise ValueError(f"{folder}: the input and output embeddings are not tied")
    for p in model.parameters():
        p.requires_grad_(False)
    embedding.requires_grad_(True)
    _ORIGINAL_EMBEDDING[model] = embedding.detach().clone()
    return model, verb_id


def _batch(seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """[bos] + seq for each, right-padded with PAD, and the attention mask (OPT derives positions from it,
    so right padding leaves each sentence's positions 0..n)."""
    if any(len(s) == 0 for s in seqs):
        raise ValueError("cannot score an empty sequence")
    width = 1 + max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), PAD, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s) + 1] = torch.tensor([BOS, *s], dtype=torch.long)
        mask[i, : len(s) + 1] = 1
    return ids, mask


@torch.no_grad()
def sentence_scores(model: torch.nn.Module, seqs: Sequence[Sequence[int]]) -> list[float]:
    """Mean over each sequence's tokens of log P(token | bos, previous tokens), natural log."""
    scores: list[float] = []
    for start in range(0, len(seqs), SCORE_BATCH):
        ids, mask = _batch(seqs[start : start + SCORE_BATCH])
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = F.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        valid = mask[:, 1:].to(logp.dtype)
        scores += ((logp * valid).sum(1) / valid.sum(1)).tolist()
    return scores


def exposure_loss(model: torch.nn.Module, exposure: Sequence[int]) -> torch.Tensor:
    """Mean cross-entropy of every token after the BOS of [bos] + exposure (one unpadded sentence)."""
    ids = torch.tensor([[BOS, *exposure]], dtype=torch.long)
    logits = model(input_ids=ids).logits.float()
    return F.cross_entropy(logits[0, :-1], ids[0, 1:])


def validation_score(
    model: torch.nn.Module, good: Sequence[Sequence[int]], bad: Sequence[Sequence[int]]
) -> float:
    """mean(score(good)) - mean(score(bad))."""
    scores = sentence_scores(model, [*good, *bad])
    return float(np.mean(scores[: len(good)]) - np.mean(scores[len(good) :]))


def run_exposure(
    model: torch.nn.Module,
    verb_id: int,
    init_row: np.ndarray,
    exposure: list[int],
    good: list[list[int]],
    bad: list[list[int]],
    generalization: list[list[int]],
    lr: float,
    steps: int = 70,
) -> ExposureResult:
    """One simulation: restore the original embedding, set row ``verb_id`` to ``init_row``, train it for
    ``steps`` AdamW steps on ``exposure`` and score the states. Leaves the model at the final state."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    embedding = model.get_input_embeddings().weight
    if model not in _ORIGINAL_EMBEDDING:
        _ORIGINAL_EMBEDDING[model] = embedding.detach().clone()
    for p in model.parameters():
        p.requires_grad_(False)
    embedding.requires_grad_(True)
    with torch.no_grad():
        embedding.copy_(_ORIGINAL_EMBEDDING[model])
        embedding[verb_id] = torch.as_tensor(np.asarray(init_row, np.float32))
    frozen_rows = torch.ones(embedding.shape[0], dtype=torch.bool)
    frozen_rows[verb_id] = False
    optimizer = torch.optim.AdamW([embedding], lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    def row() -> torch.Tensor:
        return embedding[verb_id].detach().clone()

    rows = [row()]
    val_scores = [validation_score(model, good, bad)]
    initial_logprobs = sentence_scores(model, generalization)
    train_losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = exposure_loss(model, exposure)  # at the state before this update
        train_losses.append(loss.item())
        loss.backward()
        embedding.grad[frozen_rows] = 0.0
        optimizer.step()
        rows.append(row())
        val_scores.append(validation_score(model, good, bad))
    optimizer.zero_grad()
    with torch.no_grad():
        train_losses.append(exposure_loss(model, exposure).item())
    final_logprobs = sentence_scores(model, generalization)

    best_step = int(np.argmax(val_scores[1:])) + 1
    with torch.no_grad():
        embedding[verb_id] = rows[best_step]
        best_logprobs = sentence_scores(model, generalization)
        embedding[verb_id] = rows[-1]
    states = {"initial": 0, "final": steps, "best": best_step}
    return ExposureResult(
        train_losses=train_losses,
        val_scores=val_scores,
        best_step=best_step,
        new_row={name: rows[k].tolist() for name, k in states.items()},
        logprobs={"initial": initial_logprobs, "final": final_logprobs, "best": best_logprobs},
    )
