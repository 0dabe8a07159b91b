"""Continuous batching: a fixed pool of decode slots over a fixed-length KV cache, refilled as rows finish.

The static engine (`generation.Generator`) decodes a batch until its longest row stops, so with long-tailed
output lengths most of its decode steps serve rows that are already done. Here every slot is a row of one
cache of `cache_len` slots with its own write index; when a row stops (EOS, stop id, stop string, its own
`max_new_tokens`) the host hands its slot the next request. Its prompt is prefilled in chunks of
`prefill_chunk` tokens into a one-row staging cache, between decode runs of the other slots, and then
inserted into the slot (the pool's cache is written, never read, by that call, so it is updated in place).
Requests of any `max_new_tokens` share the pool.

Shapes are fixed per `generate` call (slots, cache length, output length, prefill chunk, stop-id width), so
there are four executables (init, staging chunk, insert, decode), compiled once and counted in the stats.
An item's output does not depend on its slot or neighbours: positions are its own, padding and other rows
are masked out, and sampling uses the row's key `fold_in(fold_in(key(seed), crc32(request.key)), index)`
with `index` the token's place in its own output, as in the static engine (greedy outputs equal it).

Multi-host: every process runs the same host loop on the same all-gathered device results, so all make the
same slot decisions and return all generations.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import time
import zlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from evalkit.api.requests import Generate, Generation
from evalkit.errors import UserError
from evalkit.models.cache import KEY_CACHE_AXES, KV_AXES, Cache
from evalkit.runtime.generation import (
    Generator,
    _first_stop_string,
    _is_stop,
    _Item,
    _Params,
    _runtime_value,
    _sample,
    bucket,
)
from evalkit.sharding import use_mesh

DEFAULT_PREFILL_CHUNK = 128  # prompt tokens per prefill call (a power of two; short prompts use less)
DECODE_STEPS = 64  # most decode steps per call when nothing waits for a slot
INTERLEAVED_STEPS = 8  # decode steps between prefill chunks while a prompt is being prefilled
STOP_STRING_STEPS = 16  # decode steps between host stop-string checks


class _Slots(NamedTuple):
    """The slot pool on device, carried between calls."""

    cache: Cache  # [S] rows, one write index per row
    token: jax.Array  # [S] last token (the next decode input)
    pos: jax.Array  # [S] its position
    n: jax.Array  # [S] tokens generated so far
    active: jax.Array  # [S] bool: still decoding
    out: jax.Array  # [S, N] generated tokens


# --- device functions --------------------------------------------------------------------------


def _init_slots(graphdef: nnx.GraphDef, slots: int, cache_len: int, new_len: int, state: nnx.State) -> _Slots:
    model = nnx.merge(graphdef, state)
    zeros = jnp.zeros((slots,), jnp.int32)
    return _Slots(
        model.init_cache(slots, cache_len, per_row_index=True),
        zeros,
        zeros,
        zeros,
        jnp.zeros((slots,), bool),
        jnp.zeros((slots, new_len), jnp.int32),
    )


def _stage_chunk(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    staging: Cache,
    tokens: jax.Array,
    positions: jax.Array,
    count: jax.Array,
    first: jax.Array,
) -> tuple[Cache, jax.Array]:
    """Writes `count` prompt tokens ([1, C], padded) into the one-row staging cache (emptied first when
    `first`); returns it and the hidden state of the last real token ([1, D])."""
    model = nnx.merge(graphdef, state)
    index = jnp.where(first, 0, staging.index)
    staging = dataclasses.replace(staging, segment_ids=jnp.where(first, 0, staging.segment_ids), index=index)
    segments = (jnp.arange(tokens.shape[1]) < count).astype(jnp.int32)[None]
    hidden, staging = model.hidden_states(tokens, positions, segments, staging)
    staging = dataclasses.replace(staging, index=index + count)  # a last chunk's padding is overwritten later
    return staging, jax.lax.dynamic_slice_in_dim(hidden[0], count - 1, 1, axis=0)


def _insert(
    graphdef: nnx.GraphDef,
    state: nnx.State,
    pool: _Slots,
    staging: Cache,
    hidden: jax.Array,
    params: _Params,
    slot: jax.Array,
    next_pos: jax.Array,
) -> _Slots:
    """Copies a fully prefilled staging row into `slot`, samples the row's first new token from `hidden`
    and starts it decoding. The pool's cache is only written here (never read), so the update is in place."""
    model = nnx.merge(graphdef, state)

    def put(full: jax.Array, part: jax.Array) -> jax.Array:
        return jax.lax.dynamic_update_slice_in_dim(full, part.astype(full.dtype), slot, axis=0)

    cache = pool.cache
    cache = Cache(
        tuple(map(put, cache.keys, staging.keys)),
        tuple(map(put, cache.values, staging.values)),
        put(cache.segment_ids, staging.segment_ids),
        put(cache.positions, staging.positions),
        put(cache.index, staging.index[None]),
    )
    p = jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, slot, 1, axis=0), params)
    token = _sample(model.logits_from_hidden(hidden), p, jnp.zeros((1,), jnp.int32))
    started = p.max_new > 0
    n = started.astype(jnp.int32)
    active = started & (n < p.max_new) & ~_is_stop(token, p)
    out = jnp.zeros((1, pool.out.shape[1]), jnp.int32).at[:, 0].set(jnp.where(started, token, 0))
    return _Slots(
        cache,
        put(pool.token, token),
        put(pool.pos, next_pos[None]),
        put(pool.n, n),
        put(pool.active, active),
        put(pool.out, out),
    )


def _decode_slots(
    graphdef: nnx.GraphDef,
    max_pos: int,
    state: nnx.State,
    pool: _Slots,
    params: _Params,
    max_steps: jax.Array,
    refill: jax.Array,
) -> tuple[_Slots, jax.Array]:
    """Decodes every active slot for up to `max_steps` steps, on device; with `refill`, stops after the step in
    which a row finishes (a request waits for its slot). Inactive rows neither advance nor write output."""
    model = nnx.merge(graphdef, state)
    new_len = pool.out.shape[1]

    def cond(carry: tuple[_Slots, jax.Array, jax.Array]) -> jax.Array:
        s, i, finished = carry
        return (i < max_steps) & jnp.any(s.active) & ~(refill & finished)

    def body(carry: tuple[_Slots, jax.Array, jax.Array]) -> tuple[_Slots, jax.Array, jax.Array]:
        s, i, finished = carry
        active = s.active
        step = active.astype(jnp.int32)
        pos = jnp.minimum(s.pos, max_pos)[:, None]
        hidden, cache = model.hidden_states(s.token[:, None], pos, step[:, None], s.cache)
        token = _sample(model.logits_from_hidden(hidden[:, 0]), params, s.n)
        write = active[:, None] & (jnp.arange(new_len)[None, :] == s.n[:, None])
        out = jnp.where(write, token[:, None], s.out)
        n = s.n + step
        stops = active & ((n >= params.max_new) | _is_stop(token, params))
        # A finished row's index drops to 0: the cache is read only up to the longest live row.
        cache = dataclasses.replace(cache, index=jnp.where(active & ~stops, s.cache.index + step, 0))
        new = _Slots(cache, jnp.where(active, token, s.token), s.pos + step, n, active & ~stops, out)
        return new, i + 1, finished | jnp.any(stops)

    pool, steps, _ = jax.lax.while_loop(cond, body, (pool, jnp.zeros((), jnp.int32), jnp.zeros((), bool)))
    return pool, steps


# --- host side ---------------------------------------------------------------------------------


@dataclasses.dataclass
class _Slot:
    """Host view of one slot: its request and how much of its prompt is in the cache."""

    item: _Item | None = None
    prefilled: int = 0
    decoding: bool = False


class ContinuousGenerator(Generator):
    """KV-cache generation with continuous batching; `generate(requests)` -> generations (request order).

    Slots: `runtime.batch.generate_batch` (rounded to the batch shards and processes). Prefill chunk:
    `runtime.generate.prefill_chunk` (default 128 tokens).
    """

    def __init__(
        self,
        model: nnx.Module,
        mesh: jax.sharding.Mesh,
        rules: Any,
        runtime_cfg: Any,
        stats: Any,
        tokenizer: Any = None,
    ):
        super().__init__(model, mesh, rules, runtime_cfg, stats, tokenizer)
        chunk = int(_runtime_value(runtime_cfg, "generate.prefill_chunk", DEFAULT_PREFILL_CHUNK))
        if chunk < 1 or chunk & (chunk - 1):
            raise UserError(
                f"--config.runtime.generate.prefill_chunk={chunk} is not valid; use a power of two such as 128"
            )
        self.prefill_chunk = chunk
        self._cache_dtype = jnp.dtype(model.config.dtype)

    # -- shapes ----------------------------------------------------------------------------------

    def _shapes(self, items: Sequence[_Item]) -> tuple[int, int, int, int]:
        """(prefill chunk C, cache length L (a multiple of C), output length N, stop-id width) for a call."""
        longest_prompt = max(len(it.prompt) for it in items)
        chunk = min(self.prefill_chunk, 1 << max(4, (longest_prompt - 1).bit_length()))
        new_len = bucket(max(it.max_new for it in items), cap=self.max_len)
        total = bucket(max(len(it.prompt) + it.max_new for it in items), cap=self.max_len)
        cache_len = -(-total // chunk) * chunk
        most_stops = max(len(it.stop_ids) for it in items)
        stop_width = max(4, 1 << max(0, most_stops - 1).bit_length())
        return chunk, cache_len, new_len, stop_width

    def _pool_shardings(self, slots: int, cache_len: int, new_len: int) -> _Slots:
        num_kv_heads, dh = self._kv_shape
        keys = self._sharding(KEY_CACHE_AXES, (slots, num_kv_heads, dh, cache_len))
        values = self._sharding(KV_AXES, (slots, num_kv_heads, cache_len, dh))
        rows = self._sharding(("batch", "length"), (slots, cache_len))
        vec = self._sharding(("batch",), (slots,))
        cache = Cache((keys,) * self.num_layers, (values,) * self.num_layers, rows, rows, vec)
        out = self._sharding(("batch", "length"), (slots, new_len))
        return _Slots(cache, vec, vec, vec, vec, out)

    # -- requests --------------------------------------------------------------------------------

    def _host_params(self, slots: int, stop_width: int) -> _Params:
        return _Params(
            np.full((slots,), -1, np.int32),
            np.full((slots, stop_width), -1, np.int32),
            np.zeros((slots,), np.int32),
            np.zeros((slots,), np.float32),
            np.zeros((slots,), np.int32),
            np.ones((slots,), np.float32),
            np.zeros((slots,), np.uint32),
            np.zeros((slots,), np.uint32),
        )

    def _set_params(self, params: _Params, s: int, item: _Item) -> None:
        """Writes `item`'s decoding settings into row `s` of the host parameter arrays."""
        eos_id = getattr(self.tokenizer, "eos_id", None)
        req = item.request
        params.eos[s] = -1 if eos_id is None else eos_id
        params.stop_ids[s] = -1
        params.stop_ids[s, : len(item.stop_ids)] = item.stop_ids
        params.max_new[s] = item.max_new
        params.temperature[s], params.top_k[s], params.top_p[s] = req.temperature, req.top_k, req.top_p
        params.seed[s] = req.seed & 0xFFFFFFFF
        params.key_hash[s] = zlib.crc32(req.key.encode("utf-8"))

    def generate(self, requests: Sequence[Generate]) -> list[Generation]:
        """One generation per request, in request order (the same list on every process)."""
        items = [self._prepare(i, r) for i, r in enumerate(requests)]
        self.stats.truncated_count += sum(1 for it in items if it.truncated)
        if not items:
            return []
        with use_mesh(self.mesh, self.rules):
            return self._run(items)

    def _run(self, items: list[_Item]) -> list[Generation]:
        t0, compile0 = time.perf_counter(), self.stats.compile_s
        slots = self.batch_size
        chunk, cache_len, new_len, stop_width = self._shapes(items)
        shardings = self._pool_shardings(slots, cache_len, new_len)
        shape_key = (slots, cache_len, new_len, stop_width)
        state = self._state

        init = functools.partial(_init_slots, self._graphdef, slots, cache_len, new_len)
        pool = self._compiled(("slots_init", *shape_key), init, shardings, (state,))(state)
        stage = functools.partial(_stage_chunk, self._graphdef)
        insert = functools.partial(_insert, self._graphdef)
        replicated = NamedSharding(self.mesh, PartitionSpec())
        num_kv_heads, dh = self._kv_shape
        layers = range(self.num_layers)
        staging = Cache(
            tuple(
                self._replicated(np.zeros((1, num_kv_heads, dh, cache_len), self._cache_dtype))
                for _ in layers
            ),
            tuple(
                self._replicated(np.zeros((1, num_kv_heads, cache_len, dh), self._cache_dtype))
                for _ in layers
            ),
            self._replicated(np.zeros((1, cache_len), np.int32)),
            self._replicated(np.zeros((1, cache_len), np.int32)),
            self._replicated(np.zeros((), np.int32)),
        )
        stage_shardings = (jax.tree.map(lambda _: replicated, staging), replicated)
        staged: int | None = None  # the slot whose prompt the staging cache holds
        decode = functools.partial(_decode_slots, self._graphdef, self.max_len - 1)
        scalar = NamedSharding(self.mesh, PartitionSpec())

        host_params = self._host_params(slots, stop_width)
        params = None
        pending = collections.deque(items)
        table = [_Slot() for _ in range(slots)]
        results: list[Generation | None] = [None] * len(items)
        has_strings = any(it.stop_strings for it in items)
        padded = 0

        while pending or any(sl.item is not None for sl in table):
            for s, sl in enumerate(table):  # hand free slots the next requests
                if sl.item is None and pending:
                    table[s] = _Slot(pending.popleft())
                    self._set_params(host_params, s, table[s].item)
                    params = None
            if params is None:
                params = _Params(*(self._place(x) for x in host_params))

            # Prompts go through the one-row staging cache, a chunk per call, then into their slot. A round
            # prefills as many chunks as slots wait (at least one), so a long prompt does not stall decoding.
            budget = max(1, sum(1 for sl in table if sl.item is not None and not sl.decoding))
            while budget > 0:
                if staged is None:
                    staged = next(
                        (i for i, sl in enumerate(table) if sl.item is not None and not sl.decoding), None
                    )
                    if staged is None:
                        break
                sl = table[staged]
                prompt = sl.item.prompt
                lo, hi = sl.prefilled, min(len(prompt), sl.prefilled + chunk)
                tokens = np.zeros((1, chunk), np.int32)
                positions = np.full((1, chunk), hi - 1, np.int32)
                tokens[0, : hi - lo] = prompt[lo:hi]
                positions[0, : hi - lo] = np.arange(lo, hi)
                args = (
                    state,
                    staging,
                    self._replicated(tokens),
                    self._replicated(positions),
                    self._replicated(np.asarray(hi - lo, np.int32)),
                    self._replicated(np.asarray(lo == 0)),
                )
                key = ("slots_stage", chunk, *shape_key)
                staging, hidden = self._compiled(key, stage, stage_shardings, args, donate_argnums=(1,))(
                    *args
                )
                padded += chunk
                budget -= 1
                sl.prefilled = hi
                if hi == len(prompt):
                    args = (
                        state,
                        pool,
                        staging,
                        hidden,
                        params,
                        self._replicated(np.asarray(staged, np.int32)),
                        self._replicated(np.asarray(len(prompt), np.int32)),
                    )
                    key = ("slots_insert", *shape_key)
                    pool = self._compiled(key, insert, shardings, args, donate_argnums=(1,))(*args)
                    sl.decoding, staged = True, None
            prefilling = any(sl.item is not None and not sl.decoding for sl in table)

            waiting = bool(pending) or prefilling
            steps = INTERLEAVED_STEPS if prefilling else STOP_STRING_STEPS if has_strings else DECODE_STEPS
            args = (
                state,
                pool,
                params,
                self._replicated(np.asarray(steps, np.int32)),
                self._replicated(np.asarray(waiting)),
            )
            out_shardings = (shardings, scalar)
            pool, ran = self._compiled(
                ("slots_decode", *shape_key), decode, out_shardings, args, donate_argnums=(1,)
            )(*args)
            padded += slots * int(np.asarray(ran.addressable_data(0)))  # replicated: any local copy
            active, n, out = (self._to_host(x) for x in (pool.active, pool.n, pool.out))

            if has_strings:  # rows whose text now holds a stop string stop here
                hit = np.zeros_like(active)
                for s, sl in enumerate(table):
                    if sl.decoding and active[s] and sl.item.stop_strings:
                        text = self.tokenizer.decode(out[s, : n[s]].tolist())
                        hit[s] = _first_stop_string(text, sl.item.stop_strings) >= 0
                if hit.any():
                    active = active & ~hit
                    pool = pool._replace(active=self._place(active, ("batch",)))

            for s, sl in enumerate(table):  # finished rows leave their slots
                if sl.decoding and not active[s]:
                    item = sl.item
                    results[item.index] = self._finish(item, out[s, : n[s]])
                    self.stats.new_tokens += int(n[s])
                    self.stats.real_tokens += len(item.prompt) + int(n[s])
                    table[s] = _Slot()
                    host_params.max_new[s] = 0
                    params = None

        self.stats.padded_tokens += padded
        self.stats.device_s += time.perf_counter() - t0 - (self.stats.compile_s - compile0)
        return results  # type: ignore[return-value]
