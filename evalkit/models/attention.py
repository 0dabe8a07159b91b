"""Masked softmax attention kernels of the transformer, in the `[B, K, G, T, Dh]` query layout.

`attend` (dense, with a written-out gradient), `causal_attention` (uncached rows, in query blocks) and
`attend_cached` (over a KV cache whose keys are stored `[B, K, Dh, S]`, reading only its filled blocks). Queries arrive pre-scaled;
masks are `[B, T, S]` booleans; an optional additive bias is `[B, K, G, T, S]`. A query with no visible
key (a padding slot) attends to nothing: its output is 0 and no gradient flows through it.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from evalkit.sharding import batch_shards

MASK_VALUE = -1e30  # Finite, so masked scores never make inf - inf = NaN.
# Without a cache, rows of at least BLOCKED_MIN_LENGTH slots that are a multiple of MIN_QUERY_BLOCK
# attend in query blocks that read only the keys up to their own end (the masked upper triangle is
# never computed), at most MAX_QUERY_BLOCKS of them per row (blocks grow with the length), and on CPU in
# chunks of rows scanned one after another so that each score tile (rows x heads x block x keys,
# float32) stays within TILE_BYTES, i.e. in cache: XLA on CPU materialises every intermediate, so
# tile size decides the speed. Shorter rows, and lengths that are not a multiple, stay dense.
MIN_QUERY_BLOCK = 32
MAX_QUERY_BLOCKS = 16
BLOCKED_MIN_LENGTH = 128
TILE_BYTES = 2 << 20
# A KV cache read in blocks (decode with `filled`) skips the blocks no row has reached: blocks of
# CACHE_BLOCK slots, or of the largest power of two dividing the cache length, at least MIN_CACHE_BLOCK.
CACHE_BLOCK = 128
MIN_CACHE_BLOCK = 32


def _softmax_weights(
    q: jax.Array, k: jax.Array, mask: jax.Array, bias: jax.Array | None, keys: str
) -> tuple[jax.Array, jax.Array]:
    """Unnormalised float32 softmax weights [B,K,G,T,S] and their row sums [B,K,G,T,1]; `keys` is the
    layout of k: "bksd" ([B,K,S,Dh]) or "bkds" (the key cache's [B,K,Dh,S])."""
    scores = jnp.einsum(f"bkgtd,{keys}->bkgts", q, k, preferred_element_type=jnp.float32)
    if bias is not None:
        scores = scores + bias
    scores = jnp.where(mask[:, None, None], scores, MASK_VALUE)
    # A fully masked (padding) query has max MASK_VALUE: shifting by half of it zeroes all its weights,
    # so it attends to nothing (output 0, no gradient) instead of averaging masked keys.
    shift = jnp.maximum(jnp.max(scores, axis=-1, keepdims=True), MASK_VALUE / 2)
    weights = jnp.exp(scores - shift)
    total = jnp.sum(weights, axis=-1, keepdims=True)
    return weights, jnp.where(total > 0, total, 1.0)


def _softmax_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, bias: jax.Array | None, keys: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The attention output [B,K,G,T,Dh] with the softmax weights and row sums it was made from."""
    weights, total = _softmax_weights(q, k, mask, bias, keys)
    out = jnp.einsum("bkgts,bksd->bkgtd", weights.astype(v.dtype), v, preferred_element_type=jnp.float32)
    return (out / total).astype(v.dtype), weights, total


def attend_cached(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    mask: jax.Array,
    bias: jax.Array | None,
    filled: jax.Array | None = None,
) -> jax.Array:
    """:func:`attend` over a KV cache: keys [B,K,Dh,S] (the cache layout), values [B,K,S,Dh].

    With `filled` (a traced count: no row sees a key at or past that slot) and a cache of several blocks
    (:func:`cache_block`), only the blocks holding slots below `filled` are read
    (:func:`_attend_cache_blocks`), so a decode step costs what the longest row needs, not the whole cache.
    """
    block = cache_block(k.shape[-1])
    if filled is None or block is None:
        return _softmax_attention(q, k, v, mask, bias, keys="bkds")[0]
    return _attend_cache_blocks(q, k, v, mask, bias, filled, block)


def cache_block(length: int) -> int | None:
    """The block size for reading a cache of `length` slots in blocks, or None to read it whole (a cache
    of one block, or a length with no power-of-two divisor of at least MIN_CACHE_BLOCK)."""
    block = math.gcd(length, CACHE_BLOCK)
    return block if min(MIN_CACHE_BLOCK, CACHE_BLOCK) <= block < length else None


def _attend_cache_blocks(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    mask: jax.Array,
    bias: jax.Array | None,
    filled: jax.Array,
    block: int,
) -> jax.Array:
    """Online-softmax attention over the cache blocks below `filled`, one `while_loop` step per block.

    A block no query sees leaves the running max, sum and output unchanged (its weights are exactly 0 and
    the rescale factor exactly 1), so the result does not depend on how many blocks are read.
    """
    b, kh, g, t, dh = q.shape
    # Never past the cache: dynamic_slice would clamp a later start and read the last block twice.
    blocks = jnp.minimum((filled + block - 1) // block, k.shape[-1] // block)

    def body(j: jax.Array, carry: tuple[jax.Array, jax.Array, jax.Array]) -> tuple:
        top, total, out = carry
        start = j * block
        k_j = jax.lax.dynamic_slice_in_dim(k, start, block, axis=3)
        v_j = jax.lax.dynamic_slice_in_dim(v, start, block, axis=2)
        scores = jnp.einsum("bkgtd,bkds->bkgts", q, k_j, preferred_element_type=jnp.float32)
        if bias is not None:
            scores = scores + jax.lax.dynamic_slice_in_dim(bias, start, block, axis=4)
        visible = jax.lax.dynamic_slice_in_dim(mask, start, block, axis=2)
        scores = jnp.where(visible[:, None, None], scores, MASK_VALUE)
        new_top = jnp.maximum(top, jnp.max(scores, axis=-1, keepdims=True))
        rescale = jnp.exp(top - new_top)
        weights = jnp.exp(scores - new_top)
        total = total * rescale + jnp.sum(weights, axis=-1, keepdims=True)
        update = jnp.einsum(
            "bkgts,bksd->bkgtd", weights.astype(v.dtype), v_j, preferred_element_type=jnp.float32
        )
        return new_top, total, out * rescale + update

    init = (
        jnp.full(
            (b, kh, g, t, 1), MASK_VALUE / 2, jnp.float32
        ),  # as in _softmax_weights: masked keys weigh 0
        jnp.zeros((b, kh, g, t, 1), jnp.float32),
        jnp.zeros((b, kh, g, t, dh), jnp.float32),
    )
    _, total, out = jax.lax.fori_loop(0, blocks, body, init)
    return (out / jnp.where(total > 0, total, 1.0)).astype(v.dtype)


def attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, bias: jax.Array | None) -> jax.Array:
    """Masked softmax attention: q [B,K,G,T,Dh] (pre-scaled), k/v [B,K,S,Dh], mask [B,T,S], bias [B,K,G,T,S]
    -> [B,K,G,T,Dh]. Float32 scores; the softmax is normalised after the value matmul (T x Dh divisions
    instead of T x S). Its gradient is written out (:func:`_attend_bwd`)."""
    return _attend_core(bias is not None, q, k, v, mask, bias)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _attend_core(has_bias: bool, q, k, v, mask, bias):
    return _attend_fwd(has_bias, q, k, v, mask, bias)[0]


def _attend_fwd(has_bias: bool, q, k, v, mask, bias):  # custom_vjp rule
    out, weights, total = _softmax_attention(q, k, v, mask, bias, keys="bksd")
    return out, (q, k, v, weights, total, out)


def _attend_bwd(has_bias: bool, res, d_out):  # custom_vjp rule
    """The softmax-attention gradient as four batched matmuls and one elementwise pass (as in
    FlashAttention's backward); on CPU 1.2x faster than differentiating the forward ops."""
    q, k, v, weights, total, out = res
    probs = weights / total
    dv = jnp.einsum("bkgts,bkgtd->bksd", probs.astype(v.dtype), d_out, preferred_element_type=jnp.float32)
    dp = jnp.einsum("bkgtd,bksd->bkgts", d_out, v, preferred_element_type=jnp.float32)
    delta = jnp.sum(d_out.astype(jnp.float32) * out.astype(jnp.float32), axis=-1, keepdims=True)
    ds = probs * (dp - delta)  # gradient of the scores; 0 where masked (probs = 0)
    dq = jnp.einsum("bkgts,bksd->bkgtd", ds.astype(q.dtype), k, preferred_element_type=jnp.float32)
    dk = jnp.einsum("bkgts,bkgtd->bksd", ds.astype(q.dtype), q, preferred_element_type=jnp.float32)
    return dq.astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype), None, ds if has_bias else None


_attend_core.defvjp(_attend_fwd, _attend_bwd)


def causal_attention(
    q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array, bias: jax.Array | None
) -> jax.Array:
    """:func:`attend` for uncached rows (key slot = query slot), in query blocks when the row allows.

    Each query block attends to the keys up to its own end (skipping the masked upper triangle); rows
    go in chunks, one `scan` step each, sized so a block's score tile fits TILE_BYTES. With a
    batch-sharded mesh every shard scans its own rows. Same result as the dense path.
    """
    batch, kv_heads, group, t, _ = q.shape
    if t < BLOCKED_MIN_LENGTH or t % MIN_QUERY_BLOCK:
        return attend(q, k, v, mask, bias)
    bounds = _query_bounds(t)
    block = max(b - a for a, b in zip(bounds, bounds[1:]))

    def triangle(q, k, v, mask, bias):
        outs = []
        for start, end in zip(bounds, bounds[1:]):
            bias_block = None if bias is None else bias[..., start:end, :end]
            outs.append(
                attend(
                    q[:, :, :, start:end], k[:, :, :end], v[:, :, :end], mask[:, start:end, :end], bias_block
                )
            )
        return jnp.concatenate(outs, axis=3)

    shards = batch_shards(batch)
    local = batch // shards
    # Row chunks only pay on CPU (cache-sized tiles); on GPU / TPU the scan would only serialise.
    if jax.default_backend() != "cpu" or local <= 1:
        return triangle(q, k, v, mask, bias)
    rows = _row_chunk(local, kv_heads * group * block * t * 4)
    steps = local // rows
    if steps == 1:
        return triangle(q, k, v, mask, bias)

    def split(x: jax.Array | None) -> jax.Array | None:
        # [B, ...] -> [steps, B / steps, ...]: step i takes rows i*rows ... of every shard's block.
        if x is None:
            return None
        x = x.reshape(shards, steps, rows, *x.shape[1:])
        return jnp.swapaxes(x, 0, 1).reshape(steps, shards * rows, *x.shape[3:])

    _, out = jax.lax.scan(lambda c, xs: (c, triangle(*xs)), None, tuple(map(split, (q, k, v, mask, bias))))
    out = jnp.swapaxes(out.reshape(steps, shards, rows, *out.shape[2:]), 0, 1)
    return out.reshape(q.shape)


def _query_bounds(t: int) -> list[int]:
    """Block boundaries 0 < ... < t on multiples of MIN_QUERY_BLOCK: blocks of MIN_QUERY_BLOCK, or at most
    MAX_QUERY_BLOCKS blocks as even as the grid allows (e.g. 544 = 17 x 32: fifteen of 32, one of 64)."""
    units = t // MIN_QUERY_BLOCK
    n = min(MAX_QUERY_BLOCKS, units)
    return [MIN_QUERY_BLOCK * ((i * units) // n) for i in range(n + 1)]


def _row_chunk(rows: int, bytes_per_row: int) -> int:
    """The largest divisor of `rows` whose score tile fits TILE_BYTES (at least 1)."""
    return max(d for d in range(1, rows + 1) if rows % d == 0 and (d == 1 or d * bytes_per_row <= TILE_BYTES))
