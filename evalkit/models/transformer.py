"""Decoder-only, pre-norm transformer in Flax NNX that can express GPT-2, OPT, Llama/Mistral and Qwen2.

Call: `model(tokens [B,T] int32, positions [B,T] int32, segment_ids [B,T] | None, cache | None)`
-> `(logits float32 [B,T,V], cache | None)`. Attention sees a key when it is at or before the
query's slot, in the same segment, and its segment is not 0 (0 = padding). Packed rows use
segments 1, 2, ... with positions restarting at 0; left-padded rows give pads segment 0. A segment may
also continue an earlier segment of its row, a prefix shared by several (`prefix_segments`).
Without a KV cache, long rows attend block-causally, skipping the fully masked upper triangle (see
`evalkit.models.attention`). A query with no visible key (a padding slot) attends to nothing: its
attention output is 0.

Parameter paths (`nnx.state(model)`), shapes and logical axes; H = num_heads, K = num_kv_heads,
Dh = head_dim, D = d_model, F = d_ff, V = vocab_size. Kernels are stored input-first, so a
Hugging Face `nn.Linear.weight [out, in]` maps to `weight.T` reshaped; GPT-2 `Conv1D` weights
are already [in, out].
  embed.embedding                      [V, D]            (vocab, embed)
  pos_embed.embedding                  [max_len + position_offset, D]   (norm, embed)   learned only
  layers.{i}.attn_norm.scale / .bias   [D]               (norm)          bias: layernorm only
  layers.{i}.attn.q.kernel             [D, H, Dh]        (embed, heads, head_dim)
  layers.{i}.attn.k.kernel / v.kernel  [D, K, Dh]        (embed, kv_heads, head_dim)
  layers.{i}.attn.{q,k,v}.bias         [H|K, Dh]         attn_bias or qkv_bias
  layers.{i}.attn.o.kernel             [H, Dh, D]        (heads, head_dim, embed)
  layers.{i}.attn.o.bias               [D]               attn_bias only
  layers.{i}.mlp_norm.scale / .bias    [D]
  layers.{i}.mlp.gate.kernel           [D, F]            (embed, mlp)    swiglu only: down(silu(gate x) * up x)
  layers.{i}.mlp.up.kernel             [D, F]            (embed, mlp)
  layers.{i}.mlp.down.kernel           [F, D]            (mlp, embed)
  layers.{i}.mlp.{gate,up}.bias [F], mlp.down.bias [D]   mlp_bias only
  final_norm.scale / .bias             [D]               final_norm only
  lm_head.kernel                       [D, V]            (embed, vocab)  untied only; tied uses embed.embedding.T
Head h of q uses kv head h // (H // K), as Hugging Face `repeat_kv` does.

For callers that work below the token level (e.g. teaching a model a new word by training one embedding
row, as the cross-dative plugin does): `embed_tokens` gives the input embeddings, `hidden_states_from_embeddings`
runs the stack on (possibly edited) embeddings, `output_embedding` is the output projection as [V, D] rows
and `logits_from_hidden` turns hidden states into logits.

KV cache (`init_cache`): per layer keys [B, K, Dh, S] (batch, kv_heads, head_dim, length; stored
after RoPE) and values [B, K, S, Dh], i.e. the layouts the two attention matmuls read directly, so a
decode step writes its new slot with `dynamic_update_slice` and never transposes the whole cache
(reading keys as [B, K, S, Dh] made the score matmul 3x slower on CPU). New keys and values are
computed as [B, T, K, Dh] and transposed (only the T new tokens) before use.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx
from flax.core import spmd as flax_spmd
from jax.sharding import PartitionSpec as P

from evalkit.models.attention import attend_cached, causal_attention
from evalkit.models.cache import KEY_CACHE_AXES, KV_AXES, Cache, cache_axes, write_slots
from evalkit.models.config import head_dim, validate_model_config
from evalkit.models.positions import PositionEncoding, make_position_encoding
from evalkit.sharding import logical_to_mesh, shard_activation

Axes = tuple[str | None, ...]
# `hidden_states(..., scan_layers=True)` stacks the layer weights (one copy per call) only up to this size.
SCAN_LAYERS_MAX_BYTES = 1 << 30
_ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
}


def _param(value: jax.Array, axes: Axes) -> nnx.Param:
    # Logical names go in `out_sharding`; create_model turns them into shardings, so creation
    # without a mesh stays valid (eager sharding off).
    return nnx.Param(value, out_sharding=axes, eager_sharding=False)


class Dense(nnx.Module):
    """`einsum(spec, x, kernel) + bias` with named kernel axes; bias spans the last `bias_ndim` axes.

    `spec` has the form `<lead><in>,<in><out>-> <lead><out>` (e.g. "btd,dhk->bthk"). It is computed as
    one 2-D matmul over flattened leading and kernel dims: on CPU, XLA's gradient of the 3-D einsum
    took 2.3x as long as that of the same 2-D matmul.
    """

    def __init__(
        self,
        spec: str,
        shape: tuple[int, ...],
        axes: Axes,
        cfg: ml_collections.ConfigDict,
        rngs: nnx.Rngs,
        *,
        bias_ndim: int = 0,
    ):
        inputs, out = spec.split("->")
        x_axes, k_axes = inputs.split(",")
        self.in_ndim = len(set(x_axes) & set(k_axes))
        lead = x_axes[: len(x_axes) - self.in_ndim]
        if x_axes[len(lead) :] != k_axes[: self.in_ndim] or out != lead + k_axes[self.in_ndim :]:
            raise ValueError(f"Dense spec {spec!r} is not of the form '<lead><in>,<in><out>-><lead><out>'")
        self.spec = spec
        self.dtype = jnp.dtype(cfg.dtype)
        param_dtype = jnp.dtype(cfg.param_dtype)
        self.kernel = _param(cfg.init_std * jax.random.normal(rngs.params(), shape, param_dtype), axes)
        self.bias = (
            _param(jnp.zeros(shape[-bias_ndim:], param_dtype), axes[-bias_ndim:]) if bias_ndim else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.kernel[...].astype(self.dtype)
        in_shape, out_shape = kernel.shape[: self.in_ndim], kernel.shape[self.in_ndim :]
        lead = x.shape[: x.ndim - self.in_ndim]
        flat_in, flat_out = math.prod(in_shape), math.prod(out_shape)
        y = jnp.dot(x.astype(self.dtype).reshape(-1, flat_in), kernel.reshape(flat_in, flat_out))
        y = y.reshape(*lead, *out_shape)
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y


class Norm(nnx.Module):
    """LayerNorm (scale, bias) or RMSNorm (scale), computed in float32."""

    def __init__(self, cfg: ml_collections.ConfigDict):
        self.kind = cfg.norm
        self.eps = float(cfg.norm_eps)
        self.dtype = jnp.dtype(cfg.dtype)
        param_dtype = jnp.dtype(cfg.param_dtype)
        self.scale = _param(jnp.ones((cfg.d_model,), param_dtype), ("norm",))
        self.bias = (
            _param(jnp.zeros((cfg.d_model,), param_dtype), ("norm",)) if cfg.norm == "layernorm" else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(jnp.float32)
        if self.kind == "layernorm":
            x = x - jnp.mean(x, axis=-1, keepdims=True)
        y = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + self.eps)
        y = y * self.scale[...].astype(jnp.float32)
        if self.bias is not None:
            y = y + self.bias[...].astype(jnp.float32)
        return y.astype(self.dtype)


class Attention(nnx.Module):
    """Multi-head attention with grouped KV heads, float32 softmax and an optional KV cache."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        d, h, k, dh = cfg.d_model, cfg.num_heads, cfg.num_kv_heads, head_dim(cfg)
        qkv_bias = 2 if (cfg.attn_bias or cfg.qkv_bias) else 0
        self.q = Dense(
            "btd,dhk->bthk", (d, h, dh), ("embed", "heads", "head_dim"), cfg, rngs, bias_ndim=qkv_bias
        )
        kv_axes = ("embed", "kv_heads", "head_dim")
        self.k = Dense("btd,dhk->bthk", (d, k, dh), kv_axes, cfg, rngs, bias_ndim=qkv_bias)
        self.v = Dense("btd,dhk->bthk", (d, k, dh), kv_axes, cfg, rngs, bias_ndim=qkv_bias)
        o_bias = 1 if cfg.attn_bias else 0
        self.o = Dense(
            "bthk,hkd->btd", (h, dh, d), ("heads", "head_dim", "embed"), cfg, rngs, bias_ndim=o_bias
        )
        self.num_kv_heads = k

    def __call__(
        self,
        x: jax.Array,
        positions: jax.Array,
        mask: jax.Array,
        bias: jax.Array | None,
        pos: PositionEncoding,
        kv: tuple[jax.Array, jax.Array] | None,
        index: jax.Array | None,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        q = shard_activation(pos.rotate(self.q(x), positions), ("batch", "length", "heads", "head_dim"))
        # Keys [B, K, T, Dh] / [B, K, Dh, S] in the cache, values [B, K, T, Dh]: only the T new tokens
        # are transposed.
        k = pos.rotate(self.k(x), positions)
        v = shard_activation(jnp.swapaxes(self.v(x), 1, 2), KV_AXES)
        # A cache of exactly this call's T slots is filled from empty (a prefill): it attends like an
        # uncached call (block-causal, over the new keys) and only stores them.
        prefill = kv is not None and kv[0].shape[-1] == k.shape[1]
        if kv is not None:
            k_cache = shard_activation(jnp.transpose(k, (0, 2, 3, 1)), KEY_CACHE_AXES).astype(kv[0].dtype)
            kv = (write_slots(kv[0], k_cache, index, 3), write_slots(kv[1], v.astype(kv[1].dtype), index, 2))
        b, t, h, dh = q.shape
        kh = self.num_kv_heads
        # [B, K, G, T, Dh] with the softmax scale folded in: batch and kv head lead, so both attention
        # matmuls are plain batched matmuls (3x faster on CPU than contracting a [B, T, K, G, Dh] layout).
        q = jnp.transpose(q.reshape(b, t, kh, h // kh, dh), (0, 2, 3, 1, 4)) * jnp.asarray(dh**-0.5, q.dtype)
        if bias is not None:
            bias = bias.reshape(b, kh, h // kh, *bias.shape[-2:])
        if kv is None or prefill:
            out = causal_attention(q, shard_activation(jnp.swapaxes(k, 1, 2), KV_AXES), v, mask, bias)
        else:
            # No row has a key at or past max(index) + t: later cache blocks are not read.
            out = attend_cached(q, kv[0], kv[1], mask, bias, filled=jnp.max(index) + t)
        out = jnp.transpose(out, (0, 3, 1, 2, 4)).reshape(b, t, h, dh)
        out = shard_activation(out, ("batch", "length", "heads", "head_dim"))
        return self.o(out), kv


class MLP(nnx.Module):
    """Feed-forward block: `down(act(up x))`, or SwiGLU `down(silu(gate x) * up x)`."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        d, f = cfg.d_model, cfg.d_ff
        bias = 1 if cfg.mlp_bias else 0
        self.kind = cfg.mlp
        self.gate = (
            Dense("btd,df->btf", (d, f), ("embed", "mlp"), cfg, rngs, bias_ndim=bias)
            if cfg.mlp == "swiglu"
            else None
        )
        self.up = Dense("btd,df->btf", (d, f), ("embed", "mlp"), cfg, rngs, bias_ndim=bias)
        self.down = Dense("btf,fd->btd", (f, d), ("mlp", "embed"), cfg, rngs, bias_ndim=bias)

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.gate is not None:
            hidden = jax.nn.silu(self.gate(x)) * self.up(x)
        else:
            hidden = _ACTIVATIONS[self.kind](self.up(x))
        return self.down(shard_activation(hidden, ("batch", "length", "mlp")))


class Block(nnx.Module):
    """Pre-norm residual block: x + attn(norm x), then x + mlp(norm x)."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        self.attn_norm = Norm(cfg)
        self.attn = Attention(cfg, rngs)
        self.mlp_norm = Norm(cfg)
        self.mlp = MLP(cfg, rngs)

    def __call__(
        self,
        x: jax.Array,
        positions: jax.Array,
        mask: jax.Array,
        bias: jax.Array | None,
        pos: PositionEncoding,
        kv: tuple[jax.Array, jax.Array] | None,
        index: jax.Array | None,
    ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        h, kv = self.attn(self.attn_norm(x), positions, mask, bias, pos, kv, index)
        x = shard_activation(x + h, ("batch", "length", "embed"))
        x = shard_activation(x + self.mlp(self.mlp_norm(x)), ("batch", "length", "embed"))
        return x, kv


class Embed(nnx.Module):
    """Token embedding table `embedding [V, D]`."""

    def __init__(self, cfg: ml_collections.ConfigDict, rngs: nnx.Rngs):
        shape = (cfg.vocab_size, cfg.d_model)
        value = cfg.init_std * jax.random.normal(rngs.params(), shape, jnp.dtype(cfg.param_dtype))
        self.embedding = _param(value, ("vocab", "embed"))

    def __call__(self, tokens: jax.Array) -> jax.Array:
        # Gather the FSDP-sharded width first (as for any FSDP weight), so the lookup result
        # can be batch-sharded without a full rematerialization.
        table = shard_activation(self.embedding[...], ("vocab", None))
        return jnp.take(table, tokens, axis=0)


_HIDDEN_AXES = ("batch", "length", "embed")
_LOGIT_AXES = ("batch", "length", "vocab")


def _explicit_mesh() -> bool:
    mesh = jax.sharding.get_abstract_mesh()
    return not mesh.empty and mesh.are_all_axes_explicit


class Transformer(nnx.Module):
    """Decoder-only language model; see the module docstring for the call and parameter layout."""

    def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
        validate_model_config(cfg)
        self.config = ml_collections.FrozenConfigDict(cfg)
        self.dtype = jnp.dtype(cfg.dtype)
        self.embed = Embed(cfg, rngs)
        self.pos_embed = make_position_encoding(cfg, rngs)
        self.layers = nnx.List([Block(cfg, rngs) for _ in range(cfg.num_layers)])
        self.final_norm = Norm(cfg) if cfg.final_norm else None
        if cfg.tied_embeddings:
            self.lm_head = None
        else:
            self.lm_head = Dense(
                "...d,dv->...v", (cfg.d_model, cfg.vocab_size), ("embed", "vocab"), cfg, rngs
            )

    def init_cache(self, batch: int, max_len: int, per_row_index: bool = False) -> Cache:
        """An empty cache of `max_len` slots per row (with one write index per row if `per_row_index`)."""
        cfg = self.config
        k, dh, n = cfg.num_kv_heads, head_dim(cfg), cfg.num_layers
        keys = tuple(
            shard_activation(jnp.zeros((batch, k, dh, max_len), self.dtype), KEY_CACHE_AXES) for _ in range(n)
        )
        values = tuple(
            shard_activation(jnp.zeros((batch, k, max_len, dh), self.dtype), KV_AXES) for _ in range(n)
        )
        return Cache(
            keys=keys,
            values=values,
            segment_ids=jnp.zeros((batch, max_len), jnp.int32),
            positions=jnp.zeros((batch, max_len), jnp.int32),
            index=jnp.zeros((batch,) if per_row_index else (), jnp.int32),
        )

    def _in_auto_axes(self, method: str, out_logical: object, out_like: object, *args: object) -> object:
        # On an Explicit mesh every ambiguous op would need an out_sharding; instead run the
        # body with the mesh axes switched to Auto and reshard the result to `out_logical`.
        mesh = jax.sharding.get_abstract_mesh()
        rules = flax_spmd.get_logical_axis_rules()
        graphdef, state = nnx.split(self)

        def body(state, *args):
            return getattr(nnx.merge(graphdef, state), method)(*args)

        out_sharding = jax.tree.map(
            lambda names, x: logical_to_mesh(names, rules, mesh, x.shape) if rules else P(),
            out_logical,
            out_like,
            is_leaf=lambda x: isinstance(x, tuple) and all(n is None or isinstance(n, str) for n in x),
        )
        return jax.sharding.auto_axes(body, out_sharding=out_sharding)(state, *args)

    def embed_tokens(self, tokens: jax.Array) -> jax.Array:
        """Input embeddings [B, T, D] of `tokens` in the compute dtype (positions not yet added): what
        :meth:`hidden_states_from_embeddings` takes, so callers can splice in rows the table lacks (a new word)."""
        if _explicit_mesh():
            like = jax.ShapeDtypeStruct((*tokens.shape, self.config.d_model), self.dtype)
            return self._in_auto_axes("_embed_tokens", _HIDDEN_AXES, like, tokens)
        return self._embed_tokens(tokens)

    def _embed_tokens(self, tokens: jax.Array) -> jax.Array:
        return shard_activation(self.embed(tokens).astype(self.dtype), _HIDDEN_AXES)

    def output_embedding(self) -> jax.Array:
        """The output projection as one row per vocabulary id, [V, D]: logits = hidden @ rows.T. With tied
        embeddings this is the input table itself (so a row trained there moves both the input and output)."""
        if self.lm_head is None:
            return self.embed.embedding[...]
        return self.lm_head.kernel[...].T

    def hidden_states(
        self,
        tokens: jax.Array,
        positions: jax.Array,
        segment_ids: jax.Array | None = None,
        cache: Cache | None = None,
        *,
        scan_layers: bool = False,
        prefix_segments: jax.Array | None = None,
    ) -> tuple[jax.Array, Cache | None]:
        """Final-norm output [B, T, D] and the updated cache (None without one).

        `prefix_segments` [B, T] (shared-prefix scoring): for each token, a segment of its row laid out
        before it whose keys it also sees, as if that segment were its own context; 0 = none. Several
        segments can so continue one prefix that is computed once.

        `scan_layers` (forward-only callers without a cache, such as packed scoring): run the layers as
        one `scan` over their stacked weights when those total at most SCAN_LAYERS_MAX_BYTES. XLA then
        compiles one layer instead of num_layers, and on CPU the forward ran 5-8% faster; the price is
        a stacked copy of the layer weights per call, and under autodiff it was slower, so training
        leaves it off.
        """
        return self._dispatch_hidden(
            tokens, positions, segment_ids, prefix_segments, cache, scan_layers, from_tokens=True
        )

    def hidden_states_from_embeddings(
        self,
        embeddings: jax.Array,
        positions: jax.Array,
        segment_ids: jax.Array | None = None,
        cache: Cache | None = None,
    ) -> tuple[jax.Array, Cache | None]:
        """As :meth:`hidden_states`, from input embeddings [B, T, D] (e.g. :meth:`embed_tokens` with some
        rows replaced) instead of token ids; position embeddings are added here, as for tokens."""
        return self._dispatch_hidden(
            embeddings, positions, segment_ids, None, cache, False, from_tokens=False
        )

    def _dispatch_hidden(
        self,
        inputs: jax.Array,
        positions: jax.Array,
        segment_ids: jax.Array | None,
        prefix_segments: jax.Array | None,
        cache: Cache | None,
        scan_layers: bool,
        *,
        from_tokens: bool,
    ) -> tuple[jax.Array, Cache | None]:
        scan = scan_layers and cache is None and self._scannable()
        lead = inputs.shape[:2]
        if _explicit_mesh():
            hidden_like = jax.ShapeDtypeStruct((*lead, self.config.d_model), self.dtype)
            if scan:
                return self._in_auto_axes(
                    "_scanned_hidden_states",
                    (_HIDDEN_AXES, None),
                    (hidden_like, None),
                    inputs,
                    positions,
                    segment_ids,
                    prefix_segments,
                )
            return self._in_auto_axes(
                "_hidden_states" if from_tokens else "_hidden_from_embeddings",
                (_HIDDEN_AXES, cache_axes(cache)),
                (hidden_like, cache),
                inputs,
                positions,
                segment_ids,
                cache,
                prefix_segments,
            )
        if scan:
            return self._scanned_hidden_states(inputs, positions, segment_ids, prefix_segments)
        if from_tokens:
            return self._hidden_states(inputs, positions, segment_ids, cache, prefix_segments)
        return self._hidden_from_embeddings(inputs, positions, segment_ids, cache, prefix_segments)

    def _scannable(self) -> bool:
        leaves = jax.tree.leaves(nnx.state(self.layers, nnx.Param))
        return (
            len(self.layers) > 1 and sum(x.size * x.dtype.itemsize for x in leaves) <= SCAN_LAYERS_MAX_BYTES
        )

    def _scanned_hidden_states(
        self,
        tokens: jax.Array,
        positions: jax.Array,
        segment_ids: jax.Array | None,
        prefix_segments: jax.Array | None,
    ) -> tuple[jax.Array, None]:
        return self._hidden_states(tokens, positions, segment_ids, None, prefix_segments, scan_layers=True)

    def _hidden_states(
        self,
        tokens: jax.Array,
        positions: jax.Array,
        segment_ids: jax.Array | None,
        cache: Cache | None,
        prefix_segments: jax.Array | None = None,
        scan_layers: bool = False,
    ) -> tuple[jax.Array, Cache | None]:
        x = self.embed(tokens).astype(self.dtype)
        return self._hidden_from_embeddings(x, positions, segment_ids, cache, prefix_segments, scan_layers)

    def _hidden_from_embeddings(
        self,
        x: jax.Array,
        positions: jax.Array,
        segment_ids: jax.Array | None,
        cache: Cache | None,
        prefix_segments: jax.Array | None = None,
        scan_layers: bool = False,
    ) -> tuple[jax.Array, Cache | None]:
        if segment_ids is None:
            segment_ids = jnp.ones(x.shape[:2], jnp.int32)
        segment_ids = segment_ids.astype(jnp.int32)
        positions = positions.astype(jnp.int32)
        x = x.astype(self.dtype)
        pos_emb = self.pos_embed.embed(positions)
        if pos_emb is not None:
            x = x + pos_emb.astype(self.dtype)
        x = shard_activation(x, ("batch", "length", "embed"))

        t = x.shape[1]
        if cache is None:
            index = None
            k_segments, k_positions = segment_ids, positions
            q_slots, k_slots = jnp.arange(t), jnp.arange(t)
        else:
            index = cache.index
            k_segments = write_slots(cache.segment_ids, segment_ids, index, 1)
            k_positions = write_slots(cache.positions, positions, index, 1)
            # [T], or [B, T] when each row has its own index
            q_slots, k_slots = index[..., None] + jnp.arange(t), jnp.arange(k_segments.shape[1])
        same_segment = segment_ids[:, :, None] == k_segments[:, None, :]
        if prefix_segments is not None:
            prefix_segments = prefix_segments.astype(jnp.int32)
            same_segment |= (prefix_segments[:, :, None] == k_segments[:, None, :]) & (
                prefix_segments[:, :, None] != 0
            )
        mask = (
            (k_slots[None, None, :] <= q_slots[..., :, None]) & same_segment & (k_segments[:, None, :] != 0)
        )
        bias = self.pos_embed.attention_bias(positions, k_positions)

        new_keys, new_values = [], []
        if scan_layers:
            x = self._scan_layers(x, positions, mask, bias)
        else:
            for i, layer in enumerate(self.layers):
                kv = None if cache is None else (cache.keys[i], cache.values[i])
                x, kv = layer(x, positions, mask, bias, self.pos_embed, kv, index)
                if kv is not None:
                    new_keys.append(kv[0])
                    new_values.append(kv[1])
        if self.final_norm is not None:
            x = self.final_norm(x)
        if cache is None:
            return x, None
        return x, Cache(tuple(new_keys), tuple(new_values), k_segments, k_positions, index + t)

    def _scan_layers(
        self, x: jax.Array, positions: jax.Array, mask: jax.Array, bias: jax.Array | None
    ) -> jax.Array:
        """The uncached layer stack as one `scan` over the layers' stacked weights."""
        graphdef = nnx.graphdef(self.layers[0])
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *[nnx.state(layer) for layer in self.layers])

        def body(x: jax.Array, state: nnx.State) -> tuple[jax.Array, None]:
            return nnx.merge(graphdef, state)(x, positions, mask, bias, self.pos_embed, None, None)[0], None

        return jax.lax.scan(body, x, stacked)[0]

    def logits_from_hidden(self, h: jax.Array) -> jax.Array:
        """Float32 logits [..., V] from hidden states [..., D]."""
        if _explicit_mesh():
            logits_like = jax.ShapeDtypeStruct((*h.shape[:-1], self.config.vocab_size), jnp.float32)
            axes = _LOGIT_AXES if h.ndim == 3 else (None,) * (h.ndim - 1) + ("vocab",)
            return self._in_auto_axes("_logits", axes, logits_like, h)
        return self._logits(h)

    def _logits(self, h: jax.Array) -> jax.Array:
        if self.lm_head is None:
            table = self.embed.embedding[...].astype(self.dtype)
            logits = jnp.einsum(
                "...d,vd->...v", h.astype(self.dtype), table, preferred_element_type=jnp.float32
            )
        else:
            logits = self.lm_head(h).astype(jnp.float32)
        logits = logits.astype(jnp.float32)
        if logits.ndim == 3:
            logits = shard_activation(logits, ("batch", "length", "vocab"))
        return logits

    def __call__(
        self,
        tokens: jax.Array,
        positions: jax.Array,
        segment_ids: jax.Array | None = None,
        cache: Cache | None = None,
    ) -> tuple[jax.Array, Cache | None]:
        """Float32 logits [B, T, V] and the updated cache (None without one)."""
        h, cache = self.hidden_states(tokens, positions, segment_ids, cache)
        return self.logits_from_hidden(h), cache
