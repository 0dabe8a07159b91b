"""Packed log-likelihood scoring on a device mesh: requests -> packed batches -> per-segment scalars.

Text requests are tokenized like lm-evaluation-harness's ``_encode_pair``: trailing whitespace of the
context moves to the continuation, then ``encode(context + continuation)`` is split after
``len(encode(context))`` tokens. Token-id requests are used as-is. An empty context gets the
tokenizer's BOS (EOS when it has none) as the only context token, as lm-eval does.

One jitted function per batch shape (counted in :class:`RuntimeStats`) takes the model state as an
argument, computes per-token target log-probs (float32 log-softmax at the target) and greedy flags on
device, and reduces them per segment, so only ``[rows, max_segments]`` scalars return to the host.

Requests with the same context (the choices of a multiple-choice question) share it
(``runtime.batch.share_prefixes``, on by default): the packer lays the context out once and each
continuation attends to it as its own context (``prefix_segments``), so the context is computed once per
row instead of once per choice, with the same log-likelihoods.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding

from evalkit.api.requests import Loglikelihood, LoglikelihoodResult, LoglikelihoodRolling, RollingResult
from evalkit.errors import UserError
from evalkit.models.tokenizers import checked_ids
from evalkit.runtime.packing import Batch, Packer, PackItem
from evalkit.runtime.stats import RuntimeStats, state_signature
from evalkit.sharding import Rules, logical_to_mesh, state_shardings, use_mesh

_ROW_AXES = ("batch", "length")
_IN_FLIGHT = 4  # batches dispatched but not yet collected


class Scorer:
    """Scores :class:`Loglikelihood` and :class:`LoglikelihoodRolling` requests with packed batches."""

    def __init__(
        self,
        model: nnx.Module,
        mesh: jax.sharding.Mesh,
        rules: Rules,
        runtime_cfg: ml_collections.ConfigDict,
        stats: RuntimeStats | None = None,
        tokenizer: Any = None,
    ):
        self.mesh, self.rules = mesh, tuple(tuple(r) for r in rules)
        self.tokenizer = tokenizer
        self.stats = stats if stats is not None else RuntimeStats()
        self.max_len = int(model.config.max_len)
        self.vocab_size = int(model.config.vocab_size)
        self.too_long = str(runtime_cfg.get("too_long", "truncate"))
        if self.too_long not in ("truncate", "error"):
            raise UserError(f"--config.runtime.too_long={self.too_long!r} must be 'truncate' or 'error'")
        batch = runtime_cfg.batch
        self.packer = Packer(
            max_len=self.max_len,
            max_tokens=int(batch.max_tokens),
            max_rows=int(batch.max_rows),
            num_buckets=int(batch.num_buckets),
            row_multiple=_batch_shards(mesh, self.rules),
            share_prefixes=bool(batch.share_prefixes),
        )
        self.graphdef, state = nnx.split(model)
        # Part of every executable's key: only identically shaped models on this mesh share executables.
        self._identity = (self.graphdef, state_signature(state), mesh, self.rules)
        self._state_shardings = state_shardings(state, mesh, self.rules)
        with use_mesh(mesh, self.rules):
            self.state = jax.device_put(state, self._state_shardings)
        self._compiling: dict[tuple[int, int, int, int], concurrent.futures.Future] = {}

    # --- public API --------------------------------------------------------------------------------

    def loglikelihood(self, requests: Sequence[Loglikelihood]) -> list[LoglikelihoodResult]:
        """Summed log-prob of each continuation, whether it is greedy, its length, and context tokens cut."""
        items, owners, truncated = [], [], []
        for n, req in enumerate(requests):
            context, continuation = self._encode_pair(req.context, req.continuation)
            item, cut = self._fit(context, continuation, n)
            truncated.append(cut)
            if item is not None:
                items.append(item)
                owners.append(n)
        sums, greedy, counts = self._score(items)
        out = [LoglikelihoodResult(0.0, True, 0, cut) for cut in truncated]
        for k, n in enumerate(owners):
            out[n] = LoglikelihoodResult(float(sums[k]), bool(greedy[k]), int(counts[k]), truncated[n])
        return out

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling]) -> list[RollingResult]:
        """Log-prob of each whole text over lm-eval's disjoint windows of max_len tokens, summed."""
        items, owners = [], []
        totals = []
        for n, req in enumerate(requests):
            tokens = self._ids(req.text, "text")
            totals.append(len(tokens))
            if tokens:
                prefix = self._prefix_id(n)
                for context, continuation in rolling_windows(tokens, prefix, self.max_len):
                    items.append(PackItem(np.asarray(context + continuation, np.int32), len(continuation)))
                    owners.append(n)
        sums, _, _ = self._score(items)
        logprob = np.zeros(len(requests), np.float64)
        np.add.at(logprob, np.asarray(owners, np.int64), sums.astype(np.float64))
        return [RollingResult(float(lp), n) for lp, n in zip(logprob, totals)]

    # --- requests -> items ---------------------------------------------------------------------------

    def _ids(self, value: str | Sequence[int], field: str) -> list[int]:
        if not isinstance(value, str):
            return checked_ids(value, self.vocab_size, field)
        if self.tokenizer is None:
            raise UserError(
                f"a text request {field} needs a tokenizer; set model.tokenizer or send token ids"
            )
        return checked_ids(self.tokenizer.encode(value), self.vocab_size, field, tokenized=True)

    def _encode_pair(
        self, context: str | Sequence[int], continuation: str | Sequence[int]
    ) -> tuple[list, list]:
        if isinstance(context, str) and isinstance(continuation, str) and context:
            spaces = len(context) - len(context.rstrip())
            if spaces:
                context, continuation = context[:-spaces], context[-spaces:] + continuation
            whole = self._ids(context + continuation, "context")
            n = len(self._ids(context, "context"))
            return whole[:n], whole[n:]
        return self._ids(context, "context"), self._ids(continuation, "continuation")

    def _prefix_id(self, n: int) -> int:
        tok = self.tokenizer
        prefix = (
            None if tok is None else (tok.bos_id if getattr(tok, "bos_id", None) is not None else tok.eos_id)
        )
        if prefix is None:
            raise UserError(
                f"request {n} has an empty context and the model has no tokenizer with a BOS/EOS id to start "
                "from; give every request at least one context token"
            )
        return int(prefix)

    def _fit(self, context: list[int], continuation: list[int], n: int) -> tuple[PackItem | None, int]:
        """The item to score (None for an empty continuation) and how many context tokens were cut."""
        if not continuation:
            return None, 0
        if not context:
            context = [self._prefix_id(n)]
        if len(continuation) > self.max_len:
            raise UserError(
                f"request {n} has a continuation of {len(continuation)} tokens, longer than the model context "
                f"({self.max_len}); shorten it"
            )
        cut = max(0, len(context) + len(continuation) - 1 - self.max_len)
        if cut:
            if self.too_long == "error":
                raise UserError(
                    f"request {n} needs {len(context) + len(continuation) - 1} tokens but the model context is "
                    f"{self.max_len}; shorten it or set --config.runtime.too_long=truncate"
                )
            self.stats.truncated_count += 1
            context = context[cut:]
        whole = np.asarray(context + continuation, np.int32)
        return PackItem(whole, len(continuation), shared=len(context)), cut

    # --- device -------------------------------------------------------------------------------------

    def _score(self, items: Sequence[PackItem]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per item: summed target log-prob, all-greedy flag, scored token count."""
        sums = np.zeros(len(items), np.float32)
        greedy = np.ones(len(items), bool)
        counts = np.zeros(len(items), np.int64)
        if not items:
            return sums, greedy, counts
        t0, waited = time.perf_counter(), 0.0
        plans = self.packer.plan(items)
        for plan in plans:  # compile every new shape in the background, in order of use
            self._compile_ahead(plan.shape_key)
        in_flight: collections.deque = collections.deque()

        def collect() -> None:
            batch, outs = in_flight.popleft()
            lp, ok, cnt = (_to_host(x) for x in outs)
            used = batch.items >= 0
            sums[batch.items[used]] = lp[used]
            greedy[batch.items[used]] = ok[used]
            counts[batch.items[used]] = cnt[used]

        with use_mesh(self.mesh, self.rules):
            for plan in plans:
                t1 = time.perf_counter()
                compiled = self._compiling[plan.shape_key].result()
                waited += time.perf_counter() - t1
                # Dispatch runs ahead of collection, so the host builds the next batches while the device works.
                for batch in plan.batches(items):
                    in_flight.append((batch, compiled(self.state, *self._device_args(batch))))
                    self.stats.real_tokens += batch.real_tokens
                    self.stats.padded_tokens += batch.tokens.size
                    if len(in_flight) > _IN_FLIGHT:
                        collect()
            while in_flight:
                collect()
        self.stats.device_s += time.perf_counter() - t0 - waited
        return sums, greedy, counts

    def _shardings(
        self, shape_key: tuple[int, int, int, int]
    ) -> tuple[NamedSharding, NamedSharding, NamedSharding]:
        """Shardings of the [R, T] row arrays, the [R, C] scored-slot arrays and the [R, S] outputs."""
        rows, length, segments, slots = shape_key
        return tuple(
            NamedSharding(self.mesh, logical_to_mesh(_ROW_AXES, self.rules, self.mesh, (rows, width)))
            for width in (length, slots, segments)
        )

    def _device_args(self, batch: Batch) -> list[jax.Array]:
        rows_sharding, slots_sharding, _ = self._shardings(batch.shape_key)
        rows = (batch.tokens, batch.positions, batch.segment_ids, batch.prefix_segments)
        args = [_to_device(x, rows_sharding) for x in rows]
        args += [
            _to_device(x, slots_sharding)
            for x in (batch.score_index, batch.score_target, batch.score_segment)
        ]
        return args

    def _compile_ahead(self, shape_key: tuple[int, int, int, int]) -> None:
        """Start compiling ``shape_key`` on the compile thread unless it is done or under way.

        Compilation then overlaps the execution of earlier shapes (and the host work around it). Each
        shape is compiled once, through ``stats.compiled``, so the count stays exact.
        """
        if shape_key in self._compiling:
            return
        rows, length, segments, slots = shape_key
        rows_sharding, slots_sharding, out_sharding = self._shardings(shape_key)
        body = functools.partial(_score_rows, self.graphdef, segments)
        if all(t == jax.sharding.AxisType.Explicit for t in self.mesh.axis_types):
            # Explicit axes would need an out_sharding on every gather; run the body with Auto axes.
            body = jax.sharding.auto_axes(body, out_sharding=(out_sharding.spec,) * 3)
        fn = jax.jit(
            body,
            in_shardings=(self._state_shardings, *[rows_sharding] * 4, *[slots_sharding] * 3),
            out_shardings=(out_sharding,) * 3,
        )
        args = [jax.ShapeDtypeStruct((rows, length), np.int32, sharding=rows_sharding)] * 4
        args += [jax.ShapeDtypeStruct((rows, slots), np.int32, sharding=slots_sharding)] * 3

        def compile_now() -> Any:
            with use_mesh(self.mesh, self.rules):
                key = ("score", self._identity, shape_key)
                return self.stats.compiled(key, lambda: fn.lower(self.state, *args))

        self._compiling[shape_key] = _compile_pool().submit(compile_now)


def _score_rows(
    graphdef: nnx.GraphDef,
    num_segments: int,
    state: nnx.State,
    tokens: jax.Array,
    positions: jax.Array,
    segment_ids: jax.Array,
    prefix_segments: jax.Array,
    score_index: jax.Array,
    score_target: jax.Array,
    score_segment: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """[R, S] per-segment (summed target log-prob, all-greedy, scored count) for one packed batch.

    The LM head runs only on the [R, C] scored positions gathered from the [R, T, D] hidden states.
    """
    model = nnx.merge(graphdef, state)
    hidden, _ = model.hidden_states(
        tokens, positions, segment_ids, scan_layers=True, prefix_segments=prefix_segments
    )
    hidden = jnp.take_along_axis(hidden, score_index[..., None], axis=1)  # [R, C, D]
    logits = model.logits_from_hidden(hidden).astype(jnp.float32)  # [R, C, V]
    target_logit = jnp.take_along_axis(logits, score_target[..., None], axis=-1)[..., 0]
    logprob = target_logit - jax.nn.logsumexp(logits, axis=-1)  # log_softmax at the target, float32
    is_greedy = jnp.argmax(logits, axis=-1) == score_target
    slot = score_segment[..., None] == jnp.arange(1, num_segments + 1)  # [R, C, S]
    sums = jnp.sum(jnp.where(slot, logprob[..., None], 0.0), axis=1)
    counts = jnp.sum(slot, axis=1, dtype=jnp.int32)
    misses = jnp.sum(slot & ~is_greedy[..., None], axis=1, dtype=jnp.int32)
    return sums, misses == 0, counts


def rolling_windows(tokens: Sequence[int], prefix: int, max_len: int) -> list[tuple[list[int], list[int]]]:
    """lm-eval's disjoint rolling windows (context_len=1): (context, continuation) pairs covering ``tokens``.

    The first window predicts ``tokens[:max_len]`` from ``[prefix]``; each later one predicts the next
    ``max_len`` tokens from the single token before them, so every token is scored exactly once.
    """
    tokens = list(tokens)
    windows = [([prefix], tokens[:max_len])]
    done = len(windows[0][1])
    while done < len(tokens):
        end = min(len(tokens), done + max_len)
        windows.append(([tokens[done - 1]], tokens[done:end]))
        done = end
    return windows


@functools.cache
def _compile_pool() -> concurrent.futures.ThreadPoolExecutor:
    """One background thread for XLA compilations (they release the GIL)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalkit-compile")


def _batch_shards(mesh: jax.sharding.Mesh, rules: Rules) -> int:
    """How many ways the mesh splits the batch dimension."""
    spec = logical_to_mesh(("batch",), rules, mesh)[0]
    axes = () if spec is None else (spec,) if isinstance(spec, str) else tuple(spec)
    return int(np.prod([mesh.shape[a] for a in axes], dtype=np.int64))


def _to_device(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """Place a global host batch; with several processes each feeds only the rows its devices hold."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    index = sharding.addressable_devices_indices_map(x.shape).values()
    lo = min(s[0].indices(x.shape[0])[0] for s in index)
    hi = max(s[0].indices(x.shape[0])[1] for s in index)
    return jax.make_array_from_process_local_data(sharding, x[lo:hi], x.shape)


def _to_host(x: jax.Array) -> np.ndarray:
    """The whole (global) array on this host; with several processes, gathered from all of them."""
    if jax.process_count() == 1 or x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
