"""The KV cache of generation: per layer keys [B, K, Dh, S] (batch, kv_heads, head_dim, length; stored
after RoPE) and values [B, K, S, Dh], the layouts the two attention matmuls read directly, so a decode
step writes its new slot with `dynamic_update_slice` and never transposes the whole cache (reading keys
as [B, K, S, Dh] made the score matmul 3x slower on CPU); plus per-slot segment ids and positions and
the write index (one for the batch, or one per row)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

KV_AXES = ("batch", "kv_heads", "length", "head_dim")  # logical axes of cached values (and uncached keys)
KEY_CACHE_AXES = ("batch", "kv_heads", "head_dim", "length")  # logical axes of cached keys


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Cache:
    """KV cache for generation. Slots [0, index) are filled; segment id 0 marks an empty slot.

    ``index`` is one scalar for the whole batch (rows filled in lockstep), or one entry per row ([B], e.g. the
    slots of a continuous-batching engine, each at its own length); a call writes its T new slots at each
    row's index and returns index + T (callers may move a row's index back to drop slots)."""

    keys: tuple[jax.Array, ...]  # per layer [B, K, Dh, S] (KEY_CACHE_AXES), stored after RoPE
    values: tuple[jax.Array, ...]  # per layer [B, K, S, Dh] (KV_AXES)
    segment_ids: jax.Array  # [B, S] int32
    positions: jax.Array  # [B, S] int32
    index: jax.Array  # int32, scalar or [B]: the next slot to write

    def pad_to(self, length: int) -> Cache:
        """The same cache with empty (segment 0) slots appended up to `length` slots."""
        extra = length - self.segment_ids.shape[1]

        def keys(x: jax.Array) -> jax.Array:
            return jnp.pad(x, [(0, 0), (0, 0), (0, 0), (0, extra)])

        def values(x: jax.Array) -> jax.Array:
            return jnp.pad(x, [(0, 0), (0, 0), (0, extra), (0, 0)])

        def rows(x: jax.Array) -> jax.Array:
            return jnp.pad(x, [(0, 0), (0, extra)])

        return Cache(
            tuple(map(keys, self.keys)),
            tuple(map(values, self.values)),
            rows(self.segment_ids),
            rows(self.positions),
            self.index,
        )


def cache_axes(cache: Cache | None) -> Cache | None:
    """Logical axes of every cache field (same pytree shape as the cache)."""
    if cache is None:
        return None
    n = len(cache.keys)
    index_axes = ("batch",) if cache.index.ndim else ()
    return Cache((KEY_CACHE_AXES,) * n, (KV_AXES,) * n, ("batch", "length"), ("batch", "length"), index_axes)


def write_slots(buffer: jax.Array, new: jax.Array, index: jax.Array, axis: int) -> jax.Array:
    """``buffer`` with ``new`` written along ``axis`` from slot ``index`` (scalar, or per row [B] with the batch
    as axis 0 of both arrays). The caller keeps ``index + new.shape[axis]`` within the buffer (a start past it
    is clamped, as by ``dynamic_update_slice``)."""
    if index.ndim == 0:
        return jax.lax.dynamic_update_slice(
            buffer, new, tuple(index if a == axis else 0 for a in range(buffer.ndim))
        )

    def one(row: jax.Array, update: jax.Array, start: jax.Array) -> jax.Array:
        return jax.lax.dynamic_update_slice(
            row, update, tuple(start if a == axis - 1 else 0 for a in range(row.ndim))
        )

    return jax.vmap(one)(buffer, new.astype(buffer.dtype), index)
