"""Training batches: documents drawn online from a task and packed into fixed-size rows.

Batch ``step`` is a pure function of ``(seed, step)``: its documents come from
``numpy.random.default_rng([seed, step])``, so a resumed run sees exactly the batches it would have seen.
A document's loss mask marks its *target* tokens: ``mask[i]`` true means the model is trained to predict
token ``i`` from the tokens before it in the same document (a document's first token is never a target).
With ``position_range`` > 0, positions are a sorted random subset of ``range(position_range)`` instead
of ``0, 1, 2, ...`` (randomized positional encodings, Ruoss et al. 2023), drawn from a separate stream
so the documents of a batch do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from evalkit.errors import UserError

DocumentFn = Callable[[np.random.Generator], tuple[Sequence[int], Sequence[bool]]]
BATCH_KEYS = ("tokens", "positions", "segment_ids", "targets", "loss_mask")


def _draw(
    document_fn: DocumentFn, rng: np.random.Generator, context_len: int
) -> tuple[np.ndarray, np.ndarray]:
    ids, mask = document_fn(rng)
    ids = np.asarray(ids, np.int32)
    mask = np.asarray(mask, bool)
    if ids.ndim != 1 or ids.shape != mask.shape or ids.size == 0:
        raise UserError(
            f"a training document must be a non-empty 1-D token list with a loss mask of the same length; "
            f"got {ids.shape} tokens and {mask.shape} mask values"
        )
    if ids.size > context_len:
        raise UserError(
            f"a training document has {ids.size} tokens but train context_len is {context_len}; "
            "raise context_len or shorten the task's training documents"
        )
    return ids, mask


def _positions(rng: np.random.Generator, n: int, position_range: int) -> np.ndarray:
    """0..n-1, or (position_range > 0) `n` distinct increasing positions drawn from range(position_range)."""
    if not position_range:
        return np.arange(n, dtype=np.int32)
    return np.sort(rng.choice(position_range, n, replace=False)).astype(np.int32)


def make_batch(
    document_fn: DocumentFn,
    step: int,
    seed: int,
    batch_size: int,
    context_len: int,
    packing: str = "concat",
    pad_id: int = 0,
    position_range: int = 0,
) -> dict[str, np.ndarray]:
    """Rows of packed documents: int32 tokens, positions, segment_ids, targets [B, T] and bool loss_mask.

    'concat' puts documents back to back with positions 0..T-1 and segment id 1 everywhere (no attention
    masking); the last document of a row is cut at the row end. 'segments' gives each document its own
    segment (1, 2, ...) with positions restarting at 0; a document that does not fit starts the next row
    and the row end is padded (segment 0). Loss is only on masked targets inside the same document.
    `position_range` > 0 replaces each row's ('concat') or document's ('segments') positions by a sorted
    random subset of range(position_range), so relative distances up to position_range are trained.
    """
    if packing not in ("concat", "segments"):
        raise UserError(f"packing={packing!r} must be 'concat' or 'segments'")
    if position_range and position_range < context_len:
        raise UserError(f"position_range={position_range} must be 0 (off) or >= context_len={context_len}")
    rng = np.random.default_rng([seed, step])
    # A separate stream (spawned, so it never equals another (seed, step)'s document stream).
    position_rng = np.random.default_rng(np.random.SeedSequence([seed, step], spawn_key=(1,)))
    shape = (batch_size, context_len)
    tokens = np.full(shape, pad_id, np.int32)
    positions = np.zeros(shape, np.int32)
    segments = np.zeros(shape, np.int32)
    doc_ids = np.zeros(shape, np.int32)  # 0 = padding; unique per document within the batch
    target_mask = np.zeros(shape, bool)  # the token at this slot is a training target of its document
    pending: tuple[np.ndarray, np.ndarray] | None = None
    doc = 0
    for row in range(batch_size):
        col, seg = 0, 0
        while col < context_len:
            ids, mask = pending if pending is not None else _draw(document_fn, rng, context_len)
            pending = None
            n = min(ids.size, context_len - col)
            if packing == "segments" and n < ids.size:
                pending = (ids, mask)  # starts the next row; the rest of this row stays padding
                break
            doc, seg = doc + 1, seg + 1
            tokens[row, col : col + n] = ids[:n]
            doc_ids[row, col : col + n] = doc
            segments[row, col : col + n] = seg
            if packing == "segments":
                positions[row, col : col + n] = _positions(position_rng, n, position_range)
            target_mask[row, col : col + n] = mask[:n]
            target_mask[row, col] = False  # a document's first token has no context to predict it from
            col += n
    if packing == "concat":
        for row in range(batch_size):
            positions[row] = _positions(position_rng, context_len, position_range)
        segments[:] = 1
    targets = np.full(shape, pad_id, np.int32)
    targets[:, :-1] = tokens[:, 1:]
    loss_mask = np.zeros(shape, bool)
    loss_mask[:, :-1] = target_mask[:, 1:] & (doc_ids[:, 1:] == doc_ids[:, :-1]) & (doc_ids[:, 1:] > 0)
    return {
        "tokens": tokens,
        "positions": positions,
        "segment_ids": segments,
        "targets": targets,
        "loss_mask": loss_mask,
    }
