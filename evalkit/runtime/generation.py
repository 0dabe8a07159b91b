"""KV-cache generation: fixed-shape batches, one jitted prefill, then on-device decode loops in chunks.

Requests are sorted by (new-token bucket, prompt length) and cut into batches of
`runtime.batch.generate_batch` rows (a partial batch halves while it can, down to 8 rows; dummy
rows fill it). Prompts are left-padded to a bucket (16, 24, 32, 48, 64, 96, ...: see `bucket`)
and `max_new_tokens` is bucketed the same way; the cache holds prompt bucket + new bucket slots.
So compilations are bounded by the number of (rows, prompt bucket, new bucket) shapes, not by the
number of requests. Contexts are encoded as in scoring (no BOS added;
an empty context starts from BOS, else EOS). Each row samples with its own PRNG stream,
`fold_in(fold_in(key(seed), crc32(request.key)), step)`, so an item's output does not depend on
batch composition, padding, mesh shape or process count.

Decoding stops a row at EOS, at a stop token id, or after exactly `max_new_tokens`; stop strings
are checked on the host after each chunk of steps. With several processes every process builds
the same host batch, feeds its rows with `shard_batch`, and reads results back with
`process_allgather`, so all processes return all generations.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from evalkit.api.requests import Generate, Generation
from evalkit.errors import UserError
from evalkit.models.cache import KEY_CACHE_AXES, KV_AXES, Cache
from evalkit.models.config import head_dim
from evalkit.models.tokenizers import checked_ids
from evalkit.runtime.mesh import shard_batch
from evalkit.runtime.stats import RuntimeStats, state_signature
from evalkit.sharding import Rules, logical_to_mesh, state_shardings, use_mesh

MIN_BUCKET = 16  # smallest prompt / new-token bucket
FIRST_CHUNK = 8  # decode steps before the first host stop-string check; doubles up to MAX_CHUNK
MAX_CHUNK = 64
MIN_PARTIAL_ROWS = 8  # a last, partial batch may shrink to generate_batch / 2, / 4, ... but not below this


def bucket(n: int, cap: int | None = None) -> int:
    """Smallest size >= max(n, MIN_BUCKET) of the form 2^k or 1.5 * 2^k, capped at `cap` (never below n).

    Half-steps keep padding under a third (prompt padding also costs every decode step, since
    attention reads the whole cache) for twice the shapes of plain powers of two.
    """
    n_min = max(n, MIN_BUCKET)
    size = 1 << (n_min - 1).bit_length()
    if size * 3 // 4 >= n_min:
        size = size * 3 // 4
    return max(n, min(size, cap)) if cap is not None else size


class _Params(NamedTuple):
    """Per-row decoding settings (device arrays, batch-sharded)."""

    eos: jax.Array  # [B] int32, -1 = none
    stop_ids: jax.Array  # [B, M] int32, -1 = unused
    max_new: jax.Array  # [B] int32, 0 for dummy rows
    temperature: jax.Array  # [B] float32, 0 = greedy
    top_k: jax.Array  # [B] int32, 0 = off
    top_p: jax.Array  # [B] float32, 1 = off
    seed: jax.Array  # [B] uint32
    key_hash: jax.Array  # [B] uint32, crc32 of the request key


class _Carry(NamedTuple):
    """Decode-loop state carried between steps and between host chunks."""

    cache: Cache
    token: jax.Array  # [B] last sampled token (input of the next step)
    pos: jax.Array  # [B] its position
    step: jax.Array  # scalar: index of the next token to sample
    done: jax.Array  # [B] bool
    n: jax.Array  # [B] tokens generated so far
    out: jax.Array  # [B, N] generated tokens


@dataclasses.dataclass
class _Item:
    """One request after tokenisation and truncation."""

    index: int
    prompt: list[int]
    truncated: int
    max_new: int
    stop_ids: tuple[int, ...]
    stop_strings: tuple[str, ...]
    is_text: bool
    request: Generate


# --- device functions --------------------------------------------------------------------------


def _argmax(logits: jax.Array) -> jax.Array:
    """First index of the row maximum; several times faster than `jnp.argmax` on CPU (no variadic reduce)."""
    vocab = logits.shape[-1]
    ids = jnp.where(
        logits == jnp.max(logits, axis=-1, keepdims=True), jnp.arange(vocab, dtype=jnp.int32), vocab
    )
    return jnp.minimum(jnp.min(ids, axis=-1), vocab - 1)


def _sample(logits: jax.Array, params: _Params, step: jax.Array) -> jax.Array:
    """Next token per row: argmax at temperature 0, else temperature / top-k / top-p sampling.

    `step` (scalar, or [B] when rows are at different lengths) is the index of the token being sampled in
    its row's output: with the row's seed and key hash it makes the row's PRNG key."""
    greedy = _argmax(logits)

    def sampled() -> jax.Array:
        vocab = logits.shape[-1]
        temp = jnp.where(params.temperature > 0, params.temperature, 1.0)
        x = logits / temp[:, None]
        ordered = -jnp.sort(-x, axis=-1)  # descending
        k = jnp.where((params.top_k > 0) & (params.top_k < vocab), params.top_k, vocab)
        ranks = jnp.arange(vocab)[None, :]
        ordered = jnp.where(ranks < k[:, None], ordered, -jnp.inf)
        probs = jax.nn.softmax(ordered, axis=-1)
        before = jnp.cumsum(probs, axis=-1) - probs  # mass of strictly higher-ranked tokens
        keep = (before < params.top_p[:, None]) | (ranks == 0)
        last = jnp.sum(keep & (ranks < k[:, None]), axis=-1) - 1
        threshold = jnp.take_along_axis(ordered, last[:, None], axis=-1)
        x = jnp.where(x >= threshold, x, -jnp.inf)

        def one(seed: jax.Array, key_hash: jax.Array, row: jax.Array, index: jax.Array) -> jax.Array:
            key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), key_hash), index)
            return jax.random.categorical(key, row)

        steps = jnp.broadcast_to(step, params.seed.shape)
        drawn = jax.vmap(one)(params.seed, params.key_hash, x, steps).astype(jnp.int32)
        return jnp.where(params.temperature > 0, drawn, greedy)

    return jax.lax.cond(jnp.any(params.temperature > 0), sampled, lambda: greedy)


def _is_stop(token: jax.Array, params: _Params) -> jax.Array:
    return (token == params.eos) | jnp.any(token[:, None] == params.stop_ids, axis=-1)


def _prefill(
    graphdef: nnx.GraphDef,
    cache_len: int,
    new_len: int,
    state: nnx.State,
    tokens: jax.Array,
    positions: jax.Array,
    segments: jax.Array,
    params: _Params,
) -> _Carry:
    """Runs the prompts through the model into a fresh cache and samples the first new token."""
    model = nnx.merge(graphdef, state)
    batch, prompt_len = tokens.shape
    # Attend over the prompt slots only, then grow the cache with empty (segment 0) slots.
    cache = model.init_cache(batch, prompt_len)
    hidden, cache = model.hidden_states(tokens, positions, segments, cache)
    cache = cache.pad_to(cache_len)
    token = _sample(model.logits_from_hidden(hidden[:, -1]), params, jnp.zeros((), jnp.int32))
    active = params.max_new > 0
    out = jnp.zeros((batch, new_len), jnp.int32).at[:, 0].set(jnp.where(active, token, 0))
    n = active.astype(jnp.int32)
    done = ~active | (n >= params.max_new) | _is_stop(token, params)
    return _Carry(cache, token, positions[:, -1] + 1, jnp.ones((), jnp.int32), done, n, out)


def _decode(
    graphdef: nnx.GraphDef,
    max_pos: int,
    state: nnx.State,
    carry: _Carry,
    params: _Params,
    end_step: jax.Array,
) -> _Carry:
    """Decodes until `end_step` or until every row is done, entirely on device."""
    model = nnx.merge(graphdef, state)

    def cond(c: _Carry) -> jax.Array:
        return (c.step < end_step) & ~jnp.all(c.done)

    def body(c: _Carry) -> _Carry:
        pos = jnp.minimum(c.pos, max_pos)[:, None]  # done rows run on; keep them in range
        hidden, cache = model.hidden_states(c.token[:, None], pos, jnp.ones_like(pos), c.cache)
        token = _sample(model.logits_from_hidden(hidden[:, 0]), params, c.step)
        active = ~c.done
        out = jax.lax.dynamic_update_slice(c.out, jnp.where(active, token, 0)[:, None], (0, c.step))
        n = c.n + active.astype(jnp.int32)
        done = c.done | (active & ((n >= params.max_new) | _is_stop(token, params)))
        return _Carry(cache, token, c.pos + 1, c.step + 1, done, n, out)

    return jax.lax.while_loop(cond, body, carry)


# --- host side ---------------------------------------------------------------------------------


def _runtime_value(cfg: Any, path: str, default: Any) -> Any:
    node = cfg
    for part in path.split("."):
        if node is None or part not in node:
            return default
        node = node[part]
    return node


def _first_stop_string(text: str, stops: Sequence[str]) -> int:
    """Index of the earliest occurrence of any stop string in `text`, or -1."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else -1


class Generator:
    """Batched KV-cache generation for one model on one mesh; `generate(requests)` -> generations."""

    def __init__(
        self,
        model: nnx.Module,
        mesh: jax.sharding.Mesh,
        rules: Rules,
        runtime_cfg: ml_collections.ConfigDict | None,
        stats: RuntimeStats,
        tokenizer: Any = None,
    ):
        self.mesh, self.rules, self.stats, self.tokenizer = mesh, tuple(rules), stats, tokenizer
        self.max_len = int(model.config.max_len)
        self.vocab_size = int(model.config.vocab_size)
        self.num_layers = int(model.config.num_layers)
        self._kv_shape = (int(model.config.num_kv_heads), head_dim(model.config))
        self.too_long = _runtime_value(runtime_cfg, "too_long", "truncate")
        if self.too_long not in ("truncate", "error"):
            raise UserError(
                f"--config.runtime.too_long={self.too_long!r} is not valid; use 'truncate' or 'error'"
            )
        rows = int(_runtime_value(runtime_cfg, "batch.generate_batch", 32))
        self.batch_size = _round_up(max(1, rows), self._batch_multiple())
        self._graphdef, state = nnx.split(model)
        self._state = self._place_state(state)
        # Part of every executable's key: only identically shaped models on this mesh share executables.
        self._identity = (self._graphdef, state_signature(state), self.mesh, self.rules)

    # -- placement -------------------------------------------------------------------------------

    def _batch_multiple(self) -> int:
        spec = logical_to_mesh(("batch",), self.rules, self.mesh)[0]
        axes = () if spec is None else (spec,) if isinstance(spec, str) else spec
        shards = math.prod(self.mesh.shape[a] for a in axes)
        return math.lcm(shards, jax.process_count())

    def _place_state(self, state: nnx.State) -> nnx.State:
        shardings = state_shardings(state, self.mesh, self.rules)

        def place(x: Any, sharding: NamedSharding) -> jax.Array:
            if not isinstance(x, jax.Array):  # host values: every process fills its own shards
                x = np.asarray(x)
                return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])
            if x.sharding.is_equivalent_to(sharding, x.ndim):
                return x
            return jax.device_put(x, sharding)

        return jax.tree.map(place, state, shardings)

    def _sharding(self, logical: Sequence[str | None], shape: Sequence[int]) -> NamedSharding:
        return NamedSharding(self.mesh, logical_to_mesh(logical, self.rules, self.mesh, shape))

    def _place(self, x: np.ndarray, logical: Sequence[str | None] = ("batch", "length")) -> jax.Array:
        """Batch-major host array -> global device array; each process feeds only its own rows."""
        if jax.process_count() == 1:
            return shard_batch(x, self.mesh, self.rules, logical)
        names = tuple(logical)[: x.ndim] + (None,) * max(0, x.ndim - len(logical))
        sharding = self._sharding(names, x.shape)
        rows = sorted(
            {
                r
                for idx in sharding.addressable_devices_indices_map(x.shape).values()
                for r in range(*idx[0].indices(x.shape[0]))
            }
        )
        contiguous = rows == list(range(rows[0], rows[0] + len(rows)))
        if contiguous and len(rows) * jax.process_count() == x.shape[0]:
            return shard_batch(x[rows], self.mesh, self.rules, logical)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    def _replicated(self, x: np.ndarray) -> jax.Array:
        sharding = NamedSharding(self.mesh, PartitionSpec())
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    @staticmethod
    def _to_host(x: jax.Array) -> np.ndarray:
        if jax.process_count() == 1:
            return np.asarray(x)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    def _carry_shardings(self, batch: int, cache_len: int, new_len: int, num_layers: int) -> _Carry:
        num_kv_heads, dh = self._kv_shape
        keys = self._sharding(KEY_CACHE_AXES, (batch, num_kv_heads, dh, cache_len))
        values = self._sharding(KV_AXES, (batch, num_kv_heads, cache_len, dh))
        rows = self._sharding(("batch", "length"), (batch, cache_len))
        vec = self._sharding(("batch",), (batch,))
        scalar = NamedSharding(self.mesh, PartitionSpec())
        cache = Cache((keys,) * num_layers, (values,) * num_layers, rows, rows, scalar)
        out = self._sharding(("batch", "length"), (batch, new_len))
        return _Carry(cache, vec, vec, scalar, vec, vec, out)

    def _jit(self, fn: Any, out_shardings: _Carry, **kwargs: Any) -> Any:
        """`jax.jit` with fixed output shardings; on an Explicit mesh the body runs with Auto axes."""
        if any(t == AxisType.Explicit for t in self.mesh.axis_types):
            fn = jax.sharding.auto_axes(fn, out_sharding=out_shardings)
        return jax.jit(fn, out_shardings=out_shardings, **kwargs)

    def _compiled(self, key: tuple, fn: Any, out_shardings: _Carry, args: tuple, **jit_kwargs: Any) -> Any:
        """The executable for `fn` at these argument shapes, compiled (and counted) once per key."""
        return self.stats.compiled(
            ("generate", *key, self._identity),
            lambda: self._jit(fn, out_shardings, **jit_kwargs).lower(*args),
        )

    # -- requests --------------------------------------------------------------------------------

    def _encode(self, value: Any, what: str) -> list[int]:
        if isinstance(value, str):
            if self.tokenizer is None:
                raise UserError(f"a text {what} needs a tokenizer; configure the model's tokenizer")
            return checked_ids(self.tokenizer.encode(value), self.vocab_size, what, tokenized=True)
        return checked_ids(value, self.vocab_size, what)

    def _prepare(self, index: int, request: Generate) -> _Item:
        """Tokenises one request and fits it in max_len: the prompt keeps its last max_len - max_new
        tokens (max_new itself is capped at max_len - 1), or UserError when runtime.too_long='error'."""
        is_text = isinstance(request.context, str)
        prompt = self._encode(request.context, "generation context")
        if not prompt:  # as in scoring: start from BOS (else EOS); no BOS is added otherwise
            tok = self.tokenizer
            start = getattr(tok, "bos_id", None)
            start = getattr(tok, "eos_id", None) if start is None else start
            if start is None:
                raise UserError(
                    f"generate request {index} has an empty context and no tokenizer BOS/EOS id to start from; "
                    "give it at least one context token"
                )
            prompt = [int(start)]
        stop_ids = tuple(int(s) for s in request.until if not isinstance(s, str))
        stop_strings = tuple(s for s in request.until if isinstance(s, str) and s)
        if stop_strings and self.tokenizer is None:
            raise UserError("stop strings in `until` need a tokenizer; configure the model's tokenizer")
        max_new = min(request.max_new_tokens, self.max_len - 1)
        keep = self.max_len - max_new
        truncated = max(0, len(prompt) - keep)
        if self.too_long == "error" and (truncated or max_new < request.max_new_tokens):
            raise UserError(
                f"a generation prompt of {len(prompt)} tokens plus max_new_tokens={request.max_new_tokens} "
                f"does not fit the model's max_len={self.max_len}; shorten it or set "
                "--config.runtime.too_long=truncate to left-truncate the prompt"
            )
        if truncated:
            prompt = prompt[-keep:]
        return _Item(index, prompt, truncated, max_new, stop_ids, stop_strings, is_text, request)

    def generate(self, requests: Sequence[Generate]) -> list[Generation]:
        """One generation per request, in request order (the same list on every process)."""
        items = [self._prepare(i, r) for i, r in enumerate(requests)]
        self.stats.truncated_count += sum(1 for it in items if it.truncated)
        items.sort(key=lambda it: (bucket(it.max_new), -len(it.prompt), it.index))
        results: list[Generation | None] = [None] * len(items)
        with use_mesh(self.mesh, self.rules):
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                for item, generation in zip(chunk, self._run_batch(chunk)):
                    results[item.index] = generation
        return results  # type: ignore[return-value]

    # -- one batch -------------------------------------------------------------------------------

    def _rows(self, n: int) -> int:
        """Rows for a batch of `n` requests: generate_batch, halved while a half still holds them.

        Never below MIN_PARTIAL_ROWS: decoding reads every weight per step whatever the row count, so
        smaller shapes would cost compilations and save little.
        """
        rows, multiple = self.batch_size, self._batch_multiple()
        while (
            rows % 2 == 0 and n <= rows // 2 and rows // 2 >= MIN_PARTIAL_ROWS and (rows // 2) % multiple == 0
        ):
            rows //= 2
        return rows

    def _host_batch(self, items: list[_Item], b: int, prompt_len: int, stop_width: int):
        tokens = np.zeros((b, prompt_len), np.int32)
        positions = np.zeros((b, prompt_len), np.int32)
        segments = np.zeros((b, prompt_len), np.int32)
        segments[:, -1] = 1  # dummy rows attend to one slot of their own
        eos = np.full((b,), -1, np.int32)
        stop_ids = np.full((b, stop_width), -1, np.int32)
        max_new = np.zeros((b,), np.int32)
        temperature = np.zeros((b,), np.float32)
        top_k = np.zeros((b,), np.int32)
        top_p = np.ones((b,), np.float32)
        seed = np.zeros((b,), np.uint32)
        key_hash = np.zeros((b,), np.uint32)
        eos_id = getattr(self.tokenizer, "eos_id", None)
        for r, it in enumerate(items):
            length = len(it.prompt)
            tokens[r, prompt_len - length :] = it.prompt
            positions[r, prompt_len - length :] = np.arange(length)
            segments[r, prompt_len - length :] = 1
            eos[r] = -1 if eos_id is None else eos_id
            stop_ids[r, : len(it.stop_ids)] = it.stop_ids
            max_new[r] = it.max_new
            req = it.request
            temperature[r], top_k[r], top_p[r] = req.temperature, req.top_k, req.top_p
            seed[r] = req.seed & 0xFFFFFFFF
            key_hash[r] = zlib.crc32(req.key.encode("utf-8"))
        params = _Params(eos, stop_ids, max_new, temperature, top_k, top_p, seed, key_hash)
        return tokens, positions, segments, params

    def _run_batch(self, items: list[_Item]) -> list[Generation]:
        t0, compile0 = time.perf_counter(), self.stats.compile_s
        b = self._rows(len(items))
        new_len = bucket(max(it.max_new for it in items), cap=self.max_len)
        longest = max(len(it.prompt) for it in items)
        # Fit prompt + new tokens in max_len when the bucket allows; both caps keep the set of shapes small.
        fits = longest <= self.max_len - new_len
        prompt_len = bucket(longest, cap=self.max_len - new_len if fits else self.max_len)
        cache_len = prompt_len + new_len
        most_stops = max(len(it.stop_ids) for it in items)
        stop_width = max(4, 1 << max(0, most_stops - 1).bit_length())  # 4, 8, 16, ...
        host = self._host_batch(items, b, prompt_len, stop_width)
        tokens, positions, segments = (self._place(x) for x in host[:3])
        params = _Params(*(self._place(x) for x in host[3]))
        state = self._state
        shardings = self._carry_shardings(b, cache_len, new_len, self.num_layers)

        prefill = functools.partial(_prefill, self._graphdef, cache_len, new_len)
        prefill_args = (state, tokens, positions, segments, params)
        carry = self._compiled(
            ("prefill", b, prompt_len, new_len, stop_width), prefill, shardings, prefill_args
        )(*prefill_args)

        has_strings = any(it.stop_strings for it in items)
        step, chunk = 1, FIRST_CHUNK if has_strings else new_len
        done = n = out = None
        decode = functools.partial(_decode, self._graphdef, self.max_len - 1)
        while True:
            end = self._replicated(np.asarray(min(new_len, step + chunk), np.int32))
            args = (state, carry, params, end)
            key = ("decode", b, cache_len, new_len, stop_width)
            carry = self._compiled(key, decode, shardings, args, donate_argnums=(1,))(*args)
            step = min(new_len, step + chunk)
            chunk = min(MAX_CHUNK, chunk * 2)
            done, n, out = (self._to_host(x) for x in (carry.done, carry.n, carry.out))
            if has_strings:
                newly = self._stop_string_rows(items, done, n, out)
                if newly.any():
                    done = done | newly
                    carry = carry._replace(done=self._place(done))
            if done.all() or step >= new_len:
                break

        results = [self._finish(it, out[r, : n[r]]) for r, it in enumerate(items)]
        generated = int(sum(n[: len(items)]))
        self.stats.new_tokens += generated
        self.stats.real_tokens += sum(len(it.prompt) for it in items) + generated
        self.stats.padded_tokens += b * (prompt_len + int(n.max()))
        self.stats.device_s += time.perf_counter() - t0 - (self.stats.compile_s - compile0)
        return results

    def _stop_string_rows(
        self, items: list[_Item], done: np.ndarray, n: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
        """Rows (not yet done) whose generated text now contains one of their stop strings."""
        hit = np.zeros(done.shape, bool)
        for r, it in enumerate(items):
            if it.stop_strings and not done[r]:
                text = self.tokenizer.decode(out[r, : n[r]].tolist())
                hit[r] = _first_stop_string(text, it.stop_strings) >= 0
        return hit

    def _finish(self, item: _Item, generated: np.ndarray) -> Generation:
        """Cuts a row at EOS / stop id / stop string and builds its Generation."""
        tokens = [int(t) for t in generated]
        eos_id = getattr(self.tokenizer, "eos_id", None)
        reason = "length"
        for i, tok in enumerate(tokens):
            if tok == eos_id or tok in item.stop_ids:
                reason = "eos" if tok == eos_id else "stop"
                tokens = tokens[:i]
                break
        text = None
        if item.stop_strings:
            full = self.tokenizer.decode(tokens)
            cut = _first_stop_string(full, item.stop_strings)
            if cut >= 0:
                text, reason = full[:cut], "stop"
                tokens = tokens[: self._covering_prefix(tokens, text)]
            else:
                text = full
        if item.is_text and text is None:
            text = self.tokenizer.decode(tokens)
        return Generation(text if item.is_text else None, tuple(tokens), reason, item.truncated)

    def _covering_prefix(self, tokens: list[int], text: str) -> int:
        """Fewest leading tokens whose decoding starts with `text` (the tokens behind the returned text)."""
        lo, hi = 0, len(tokens)
        while lo < hi:  # first k whose decoding is at least as long as text
            mid = (lo + hi) // 2
            if len(self.tokenizer.decode(tokens[:mid])) >= len(text):
                hi = mid
            else:
                lo = mid + 1
        for k in range(lo, len(tokens) + 1):
            if self.tokenizer.decode(tokens[:k]).startswith(text):
                return k
        return len(tokens)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple
