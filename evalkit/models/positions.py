"""Positional encodings behind one small interface, chosen by name from a registry.

Every scheme reads explicit integer positions (never an arange), so packed rows and left-padded
generation work. A scheme may add an embedding to the token embeddings (`embed`), rotate queries
and keys (`rotate`), or add a per-head bias to attention scores (`attention_bias`); the defaults do
nothing. Add a scheme with `@register_position("name")` on a `PositionEncoding` subclass whose
constructor takes `(cfg, rngs)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

_REGISTRY: dict[str, Callable[[ml_collections.ConfigDict, nnx.Rngs], PositionEncoding]] = {}


def register_position(name: str) -> Callable[[type], type]:
    """Class decorator that makes a `PositionEncoding` selectable as `cfg.position = name`."""

    def decorate(cls: type) -> type:
        _REGISTRY[name] = cls
        return cls

    return decorate


def registered_positions() -> tuple[str, ...]:
    """Names accepted by `cfg.position`."""
    return tuple(_REGISTRY)


def make_position_encoding(cfg: ml_collections.ConfigDict, rngs: nnx.Rngs) -> PositionEncoding:
    """Builds the scheme named by `cfg.position`."""
    if cfg.position not in _REGISTRY:
        raise ValueError(f"Model config position={cfg.position!r} must be one of {', '.join(_REGISTRY)}.")
    return _REGISTRY[cfg.position](cfg, rngs)


class PositionEncoding(nnx.Module):
    """Base scheme: no embedding, no rotation, no bias (this is NoPE)."""

    def embed(self, positions: jax.Array) -> jax.Array | None:
        """[B, T] int positions -> [B, T, D] added to token embeddings, or None."""
        return None

    def rotate(self, x: jax.Array, positions: jax.Array) -> jax.Array:
        """Rotates queries or keys x [B, T, H, Dh] by their positions [B, T]."""
        return x

    def attention_bias(self, q_positions: jax.Array, k_positions: jax.Array) -> jax.Array | None:
        """Float32 [B, H, T, S] bias added to attention scores, or None."""
        return None


@register_position("nope")
class NoPE(PositionEncoding):
    """No positional signal; causal masking alone carries order."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        del cfg, rngs


@register_position("learned")
class LearnedPositions(PositionEncoding):
    """Absolute table `embedding [max_len + position_offset, d_model]`, looked up at positions + offset."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        self.offset = cfg.position_offset
        shape = (cfg.max_len + cfg.position_offset, cfg.d_model)
        value = cfg.init_std * jax.random.normal(rngs.params(), shape, jnp.dtype(cfg.param_dtype))
        self.embedding = nnx.Param(value, out_sharding=("norm", "embed"), eager_sharding=False)

    def embed(self, positions: jax.Array) -> jax.Array:
        return jnp.take(self.embedding[...], positions + self.offset, axis=0)


def rope_frequencies(head_dim: int, theta: float) -> jax.Array:
    """Inverse frequencies [head_dim // 2], as in Hugging Face Llama."""
    return 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))


def apply_rope(x: jax.Array, positions: jax.Array, theta: float) -> jax.Array:
    """Rotary embedding in the "rotate_half" layout: pairs (i, i + Dh/2), computed in float32."""
    inv_freq = rope_frequencies(x.shape[-1], theta)
    angles = positions.astype(jnp.float32)[..., None] * inv_freq  # [B, T, Dh/2]
    angles = jnp.concatenate([angles, angles], axis=-1)[:, :, None, :]  # [B, T, 1, Dh]
    x32 = x.astype(jnp.float32)
    x1, x2 = jnp.split(x32, 2, axis=-1)
    rotated = jnp.concatenate([-x2, x1], axis=-1)
    return (x32 * jnp.cos(angles) + rotated * jnp.sin(angles)).astype(x.dtype)


@register_position("rope")
class RoPE(PositionEncoding):
    """Rotary position embedding on q and k (Hugging Face Llama convention, so checkpoints load as-is)."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        del rngs
        self.theta = float(cfg.rope_theta)

    def rotate(self, x: jax.Array, positions: jax.Array) -> jax.Array:
        return apply_rope(x, positions, self.theta)


def alibi_slopes(num_heads: int) -> list[float]:
    """Standard ALiBi head slopes (Press et al.), including the interleaving for non-powers of two."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    if math.log2(num_heads).is_integer():
        return power_of_two(num_heads)
    closest = 2 ** math.floor(math.log2(num_heads))
    return power_of_two(closest) + alibi_slopes(2 * closest)[0::2][: num_heads - closest]


@register_position("alibi")
class ALiBi(PositionEncoding):
    """Linear bias `-slope_h * (q_pos - k_pos)` on attention scores."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        del rngs
        self.slopes = tuple(alibi_slopes(cfg.num_heads))

    def attention_bias(self, q_positions: jax.Array, k_positions: jax.Array) -> jax.Array:
        slopes = jnp.asarray(self.slopes, jnp.float32)[None, :, None, None]
        distance = (q_positions[:, :, None] - k_positions[:, None, :]).astype(jnp.float32)
        return -slopes * distance[:, None, :, :]
