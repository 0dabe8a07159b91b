"""Novel-verb exposure learning for many exposures at once (Misra & Kim 2024, §3 of the reference note).

One simulation = one exposure sentence × one learning rate: a new token " [verb]" gets one embedding row (tied:
it is both the input embedding and the output vector), drawn from N(mean, init_scale · Σ) of the existing rows;
only that row is trained, with Adam (eps 1e-8, no weight decay, constant LR), for ``steps`` full-batch steps on the
exposure sentence (loss on every non-BOS token). After every step the verbhood validation score (mean log-prob of
the good minus the bad validation sentences) is measured; the best step is its first argmax. The generalization
sentences are scored (mean per-token log-prob given ``<s>``) at the initial, final and best states.

The frozen transformer is shared and only one row differs per simulation, so simulations run as a batch: one
row per simulation, trained together (each its own Adam state and LR), the whole run one compiled ``scan``. A
sentence's tokens before its first ``[verb]`` do not depend on the row, so their hidden states, keys/values and
their logits over the old vocabulary are computed once per learner and reused by every simulation and step;
each step only runs the rest of the sentence (from the first ``[verb]`` on) per simulation, attending to the
cached prefix. Sentences are bucketed by the length of that rest (:func:`sentence_groups`) so short ones are
not padded to the longest. The new token is id ``V`` (the model's row count), kept outside the frozen table.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from evalkit.api import UserError
from evalkit.runtime import shard_activation, use_mesh

STATES = ("initial", "final", "best")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """The exposure-learning hyperparameters (defaults: the paper's)."""

    steps: int = 70
    init_scale: float = 1e-5  # covariance scale of the new row's Gaussian initialisation
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    sims_per_batch: int = 16  # simulations trained together in one compiled call
    max_groups: int = 8  # sentence buckets by suffix length (more: less padding, more programs per step)


@dataclasses.dataclass(frozen=True)
class SentenceSet:
    """Token rows split at each sentence's first new-token slot, ready for shared-prefix scoring.

    Prefixes are right-aligned in ``[S, Tp]`` (padding: segment 0) so every suffix starts at slot Tp of the
    KV cache; ``*_targets`` is the next token of each slot and ``*_mask`` which slots are scored. The suffix
    holds only the row-dependent slots whose next token is scored (a sentence's last token predicts nothing),
    so a set whose sentences end at their first new token has no suffix columns at all.
    """

    prefix_tokens: np.ndarray
    prefix_positions: np.ndarray
    prefix_segments: np.ndarray
    prefix_targets: np.ndarray
    prefix_mask: np.ndarray
    suffix_tokens: np.ndarray
    suffix_positions: np.ndarray
    suffix_segments: np.ndarray
    suffix_targets: np.ndarray
    suffix_mask: np.ndarray
    counts: np.ndarray  # [S] scored tokens per sentence

    @property
    def size(self) -> int:
        return int(self.counts.shape[0])


@dataclasses.dataclass(frozen=True)
class SentenceGroups:
    """Sentences bucketed by suffix length so that short suffixes are not padded to the longest one.

    ``sets[g]`` holds the sentences ``order[offsets[g]:offsets[g + 1]]``; concatenating the groups' scores and
    indexing with ``inverse`` gives them back in input order.
    """

    sets: tuple[SentenceSet, ...]
    order: np.ndarray

    @property
    def inverse(self) -> np.ndarray:
        return np.argsort(self.order)

    @property
    def size(self) -> int:
        return int(self.order.shape[0])

    def padding(self) -> float:
        """The fraction of row-dependent (suffix) slots that are padding."""
        slots = sum(s.suffix_segments.size for s in self.sets)
        used = sum(float(s.suffix_segments.sum()) for s in self.sets)
        return 1.0 - used / slots if slots else 0.0


def _split(seq: Sequence[int], verb_id: int) -> tuple[list[int], int]:
    seq = [int(t) for t in seq]
    first = seq.index(verb_id) if verb_id in seq[1:] else len(seq)
    return seq, max(first, 1)


def sentence_set(sequences: Sequence[Sequence[int]], verb_id: int) -> SentenceSet:
    """Prepares token sequences (each starting with BOS) for shared-prefix scoring as one padded set."""
    splits = [_split(seq, verb_id) for seq in sequences]
    if any(len(seq) < 2 for seq, _ in splits):
        raise UserError(
            "a stimulus sentence tokenizes to nothing after <s>; every sentence needs at least one token"
        )
    tp = max(j for _, j in splits)
    ts = max(len(seq) - 1 - j for seq, j in splits)  # scored row-dependent slots: seq[j:n-1]
    s = len(splits)
    out = {
        f"{part}_{name}": np.zeros((s, width), dtype)
        for part, width in (("prefix", tp), ("suffix", max(ts, 0)))
        for name, dtype in (
            ("tokens", np.int32),
            ("positions", np.int32),
            ("segments", np.int32),
            ("targets", np.int32),
            ("mask", np.float32),
        )
    }
    counts = np.zeros((s,), np.float32)
    for i, (seq, j) in enumerate(splits):
        n = len(seq)
        nxt = seq[1:] + [0]
        lo = tp - j
        out["prefix_tokens"][i, lo:] = seq[:j]
        out["prefix_positions"][i, lo:] = np.arange(j)
        out["prefix_segments"][i, lo:] = 1
        out["prefix_targets"][i, lo:] = nxt[:j]
        out["prefix_mask"][i, lo:] = [1.0 if p + 1 < n else 0.0 for p in range(j)]
        m = n - 1 - j
        if m > 0:
            out["suffix_tokens"][i, :m] = seq[j : n - 1]
            out["suffix_positions"][i, :m] = np.arange(j, n - 1)
            out["suffix_segments"][i, :m] = 1
            out["suffix_targets"][i, :m] = seq[j + 1 :]
            out["suffix_mask"][i, :m] = 1.0
        counts[i] = n - 1
    return SentenceSet(**out, counts=counts)


def _length_buckets(lengths: np.ndarray, max_groups: int) -> list[np.ndarray]:
    """Splits the sorted distinct ``lengths`` into at most ``max_groups`` contiguous buckets that minimise the
    padded slot count (each bucket costs its sentence count times its longest length); returns the lengths
    of each bucket."""
    values, counts = np.unique(lengths, return_counts=True)
    u, k = len(values), max(1, min(max_groups, len(values)))
    prefix = np.concatenate([[0], np.cumsum(counts)])
    inf = float("inf")
    best = np.full((k + 1, u + 1), inf)
    cut = np.zeros((k + 1, u + 1), int)
    best[0, 0] = 0.0
    for g in range(1, k + 1):
        for b in range(1, u + 1):
            for a in range(b):
                cost = best[g - 1, a] + (prefix[b] - prefix[a]) * values[b - 1]
                if cost < best[g, b]:
                    best[g, b], cut[g, b] = cost, a
    g = int(np.argmin(best[:, u]))
    buckets, b = [], u
    while b > 0:
        a = cut[g, b]
        buckets.append(values[a:b])
        b, g = a, g - 1
    return buckets[::-1]


def sentence_groups(sequences: Sequence[Sequence[int]], verb_id: int, max_groups: int = 8) -> SentenceGroups:
    """Prepares token sequences (each starting with BOS) for :func:`run_simulations`: bucketed by the length of
    their row-dependent suffix into at most ``max_groups`` padded sets (fewer slots computed per step)."""
    splits = [_split(seq, verb_id) for seq in sequences]
    lengths = np.asarray([max(len(seq) - 1 - j, 0) for seq, j in splits])
    sets, order = [], []
    for bucket in _length_buckets(lengths, max_groups):
        members = np.flatnonzero(np.isin(lengths, bucket))
        sets.append(sentence_set([sequences[i] for i in members], verb_id))
        order.extend(members.tolist())
    return SentenceGroups(sets=tuple(sets), order=np.asarray(order, np.int64))


def exposure_rows(
    sequences: Sequence[Sequence[int]], length: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training rows of exposure sentences (each starting with BOS): tokens, positions, segments, targets and
    a loss mask over every non-BOS token, right-padded to ``length`` (at least the longest)."""
    t = max(length, max(len(s) for s in sequences))
    n = len(sequences)
    tokens, positions, segments, targets = (np.zeros((n, t), np.int32) for _ in range(4))
    mask = np.zeros((n, t), np.float32)
    for i, seq in enumerate(sequences):
        k = len(seq)
        tokens[i, :k] = seq
        positions[i, :k] = np.arange(k)
        segments[i, :k] = 1
        targets[i, : k - 1] = seq[1:]
        mask[i, : k - 1] = 1.0
    return tokens, positions, segments, targets, mask


def initial_rows(table: np.ndarray, keys: Sequence[Sequence[int]], scale: float) -> np.ndarray:
    """One new row per key, drawn from N(mean of ``table``'s rows, scale · their covariance) with
    ``numpy.random.default_rng(key)`` (the same key gives the same row, e.g. for every LR of an exposure)."""
    table = np.asarray(table, np.float64)
    mean = table.mean(axis=0)
    cov = np.cov(table, rowvar=False)
    values, vectors = np.linalg.eigh(cov)
    factor = vectors * np.sqrt(np.clip(values, 0.0, None) * scale)
    rows = [
        mean + factor @ np.random.default_rng([int(k) for k in key]).standard_normal(mean.shape[0])
        for key in keys
    ]
    return np.asarray(rows, np.float32)


# --- the compiled simulation ---------------------------------------------------------------------------


def _token_logprobs(
    model: Any, hidden: jax.Array, targets: jax.Array, row: jax.Array, verb_id: int
) -> tuple[jax.Array, jax.Array]:
    """Log-probs of ``targets`` over the old vocabulary plus the new row: (logp, logits over old vocab)."""
    logits = model.logits_from_hidden(hidden)
    verb = jnp.einsum("...d,...d->...", hidden.astype(jnp.float32), row.astype(jnp.float32))
    norm = jnp.logaddexp(jax.nn.logsumexp(logits, axis=-1), verb)
    old = jnp.take_along_axis(logits, jnp.clip(targets, 0, verb_id - 1)[..., None], axis=-1)[..., 0]
    return jnp.where(targets == verb_id, verb, old) - norm, logits


def _embed(model: Any, tokens: jax.Array, row: jax.Array, verb_id: int) -> jax.Array:
    """Input embeddings of ``tokens`` with ``row`` (broadcast against [..., T, D]) at the new token's slots."""
    x = model.embed_tokens(jnp.where(tokens == verb_id, 0, tokens))
    return jnp.where((tokens == verb_id)[..., None], row.astype(x.dtype), x)


def _prefix_pass(model: Any, sset: dict[str, jax.Array], verb_id: int) -> dict[str, Any]:
    """Row-independent work of a sentence set: prefix hidden states, KV cache, old-vocabulary figures."""
    s, tp = sset["prefix_tokens"].shape
    cache = model.init_cache(s, tp + sset["suffix_tokens"].shape[1])
    hidden, cache = model.hidden_states(
        sset["prefix_tokens"], sset["prefix_positions"], sset["prefix_segments"], cache
    )
    logits = model.logits_from_hidden(hidden)
    targets = sset["prefix_targets"]
    old = jnp.take_along_axis(logits, jnp.clip(targets, 0, verb_id - 1)[..., None], axis=-1)[..., 0]
    return {
        "hidden": hidden.astype(jnp.float32),
        "norm": jax.nn.logsumexp(logits, axis=-1),
        "old": old,
        "cache": cache,
    }


def _sentence_scores(
    model: Any, sset: dict[str, jax.Array], shared: dict[str, Any], rows: jax.Array, verb_id: int
) -> jax.Array:
    """Mean per-token log-prob of every sentence of the set for every row: [R, S]."""

    def one(row: jax.Array) -> jax.Array:
        verb = shared["hidden"] @ row
        logp = jnp.where(sset["prefix_targets"] == verb_id, verb, shared["old"]) - jnp.logaddexp(
            shared["norm"], verb
        )
        total = jnp.sum(logp * sset["prefix_mask"], axis=-1)
        if sset["suffix_tokens"].shape[1]:  # static: a set without row-dependent scored slots skips this
            x = _embed(model, sset["suffix_tokens"], row, verb_id)
            hidden, _ = model.hidden_states_from_embeddings(
                x, sset["suffix_positions"], sset["suffix_segments"], shared["cache"]
            )
            logp, _ = _token_logprobs(model, hidden, sset["suffix_targets"], row, verb_id)
            total = total + jnp.sum(logp * sset["suffix_mask"], axis=-1)
        return total / sset["counts"]

    return jax.vmap(one)(rows)


def _group_scores(
    model: Any,
    groups: Sequence[dict[str, jax.Array]],
    shared: Sequence[dict[str, Any]],
    rows: jax.Array,
    verb_id: int,
) -> jax.Array:
    """:func:`_sentence_scores` of every group, concatenated in group order: [R, S]."""
    return jnp.concatenate(
        [_sentence_scores(model, g, sh, rows, verb_id) for g, sh in zip(groups, shared)], axis=-1
    )


def _exposure_losses(model: Any, ex: dict[str, jax.Array], rows: jax.Array, verb_id: int) -> jax.Array:
    """Mean cross-entropy of each simulation's exposure sentence under its own row: [R]."""
    x = _embed(model, ex["tokens"], rows[:, None, :], verb_id)
    hidden, _ = model.hidden_states_from_embeddings(x, ex["positions"], ex["segments"])
    logp, _ = _token_logprobs(model, hidden, ex["targets"], rows[:, None, :], verb_id)
    return -jnp.sum(logp * ex["mask"], axis=-1) / jnp.sum(ex["mask"], axis=-1)


def _simulate(
    graphdef: Any,
    state: Any,
    rows: jax.Array,
    lrs: jax.Array,
    ex: dict[str, jax.Array],
    val: tuple[dict[str, jax.Array], ...],
    val_sign: jax.Array,
    gen: tuple[dict[str, jax.Array], ...],
    gen_inverse: jax.Array,
    *,
    verb_id: int,
    protocol: Protocol,
) -> dict[str, jax.Array]:
    model = nnx.merge(graphdef, state)
    rows = shard_activation(rows, ("batch", None))
    val_shared = [_prefix_pass(model, g, verb_id) for g in val]

    def validation(r: jax.Array) -> jax.Array:
        scores = _group_scores(model, val, val_shared, r, verb_id)  # val_sign is in group order
        good, bad = val_sign > 0, val_sign < 0
        return jnp.sum(scores * good, -1) / jnp.sum(good) - jnp.sum(scores * bad, -1) / jnp.sum(bad)

    def total_loss(r: jax.Array) -> tuple[jax.Array, jax.Array]:
        losses = _exposure_losses(model, ex, r, verb_id)
        return losses.sum(), losses

    loss_and_grad = jax.value_and_grad(total_loss, has_aux=True)
    b1, b2, eps = protocol.b1, protocol.b2, protocol.eps

    def step(carry: tuple, t: jax.Array) -> tuple[tuple, tuple[jax.Array, jax.Array]]:
        r, m, v, best_val, best_rows, best_step = carry
        (_, losses), grad = loss_and_grad(r)  # one forward per step gives the losses and the gradient
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        r = r - lrs[:, None] * m_hat / (jnp.sqrt(v_hat) + eps)
        score = validation(r)
        better = score > best_val
        best_rows = jnp.where(better[:, None], r, best_rows)
        best_step = jnp.where(better, t.astype(jnp.int32), best_step)
        best_val = jnp.where(better, score, best_val)
        return (r, m, v, best_val, best_rows, best_step), (losses, score)

    zeros = jnp.zeros_like(rows)
    start = (
        rows,
        zeros,
        zeros,
        jnp.full(rows.shape[:1], -jnp.inf),
        rows,
        jnp.zeros(rows.shape[:1], jnp.int32),
    )
    steps = jnp.arange(1, protocol.steps + 1, dtype=jnp.float32)
    (final, _, _, best_val, best_rows, best_step), (losses, scores) = jax.lax.scan(step, start, steps)
    gen_shared = [_prefix_pass(model, g, verb_id) for g in gen]
    states = jnp.stack([rows, final, best_rows])  # STATES order
    gen_scores = jax.vmap(lambda r: _group_scores(model, gen, gen_shared, r, verb_id))(states)
    gen_scores = jnp.take(gen_scores, gen_inverse, axis=-1)  # back to input order
    return {
        "train_losses": jnp.concatenate([losses, _exposure_losses(model, ex, final, verb_id)[None]]).T,
        "val_scores": jnp.concatenate([validation(rows)[None], scores]).T,
        "best_step": best_step,
        "val_performance": best_val,
        "rows": jnp.swapaxes(states, 0, 1),
        "gen_scores": jnp.swapaxes(gen_scores, 0, 1),
    }


@dataclasses.dataclass
class SimulationResult:
    """Per simulation (rows in input order): the protocol's curves, best step and generalization scores."""

    train_losses: np.ndarray  # [N, steps + 1] exposure loss at states 0..steps
    val_scores: np.ndarray  # [N, steps + 1] verbhood validation score at states 0..steps
    best_step: np.ndarray  # [N] first argmax of val_scores[:, 1:], plus one
    val_performance: np.ndarray  # [N] the validation score at the best step
    rows: np.ndarray  # [N, 3, D] the new row at STATES
    gen_scores: np.ndarray  # [N, 3, G] mean log-prob of every generalization sentence at STATES


def _place(x: np.ndarray, mesh: jax.sharding.Mesh, spec: P) -> jax.Array:
    sharding = NamedSharding(mesh, spec)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _place_groups(groups: SentenceGroups, mesh: jax.sharding.Mesh) -> tuple[dict[str, jax.Array], ...]:
    return tuple(
        {f.name: _place(getattr(sset, f.name), mesh, P()) for f in dataclasses.fields(sset)}
        for sset in groups.sets
    )


@functools.lru_cache(maxsize=8)
def _compiled_simulation(verb_id: int, protocol: Protocol, mesh: jax.sharding.Mesh) -> Any:
    """The jitted simulation for one learner vocabulary, protocol and mesh, built once so that later calls (a
    task's durable chunks, several learners of one shape) reuse its compiled programs instead of recompiling."""
    return jax.jit(
        partial(_simulate, verb_id=verb_id, protocol=protocol), out_shardings=NamedSharding(mesh, P())
    )


def run_simulations(
    model: Any,
    mesh: jax.sharding.Mesh,
    rules: Any,
    init_rows: np.ndarray,
    lrs: Sequence[float],
    exposures: Sequence[Sequence[int]],
    validation_good: Sequence[Sequence[int]],
    validation_bad: Sequence[Sequence[int]],
    generalization: Sequence[Sequence[int]],
    protocol: Protocol = Protocol(),
    progress: Any = None,
    exposure_len: int = 0,
) -> SimulationResult:
    """Runs one simulation per (init row, lr, exposure) triple — all sequences start with BOS and write the new
    token as id ``V`` = the model's vocabulary size — in batches of ``protocol.sims_per_batch``. Exposure rows
    are padded to ``exposure_len`` so that calls with different sentences reuse one compiled program."""
    verb_id = int(model.config.vocab_size)
    n = len(exposures)
    if not (len(init_rows) == len(lrs) == n):
        raise ValueError("init_rows, lrs and exposures must have one entry per simulation")
    val_groups = sentence_groups([*validation_good, *validation_bad], verb_id, protocol.max_groups)
    sign = np.asarray([1.0] * len(validation_good) + [-1.0] * len(validation_bad), np.float32)
    sign = sign[val_groups.order]  # in group order, as the validation scores come out
    gen_groups = sentence_groups(generalization, verb_id, protocol.max_groups)
    graphdef, state = nnx.split(model)
    batch = max(1, min(int(protocol.sims_per_batch), n))
    ex_all = exposure_rows(exposures, exposure_len)
    replicated = P()
    with use_mesh(mesh, rules):
        val = _place_groups(val_groups, mesh)
        gen = _place_groups(gen_groups, mesh)
        sign_dev = _place(sign, mesh, replicated)
        gen_inverse = _place(gen_groups.inverse.astype(np.int32), mesh, replicated)
        fn = _compiled_simulation(verb_id, protocol, mesh)
        parts: list[dict[str, np.ndarray]] = []
        for lo in range(0, n, batch):
            idx = np.arange(lo, lo + batch) % n  # the last batch repeats earlier simulations (fixed shape)
            keep = min(batch, n - lo)
            ex = dict(zip(("tokens", "positions", "segments", "targets", "mask"), (a[idx] for a in ex_all)))
            out = fn(
                graphdef,
                state,
                _place(np.asarray(init_rows, np.float32)[idx], mesh, replicated),
                _place(np.asarray(lrs, np.float32)[idx], mesh, replicated),
                {k: _place(v, mesh, replicated) for k, v in ex.items()},
                val,
                sign_dev,
                gen,
                gen_inverse,
            )
            parts.append({k: np.asarray(jax.device_get(v))[:keep] for k, v in out.items()})
            if progress is not None:
                progress(keep)
    return SimulationResult(**{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
