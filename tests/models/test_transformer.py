"""Transformer: shapes, parameter counts, packing, padding and KV-cache decoding agree with a full forward."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from evalkit.models import (
    Transformer,
    alibi_slopes,
    apply_rope,
    gpt2_small,
    llama_7b,
    transformer_config,
)
from evalkit.runtime import param_count

SMALL = dict(vocab_size=97, num_layers=2, d_model=32, num_heads=4, num_kv_heads=4, d_ff=64, max_len=64)


STYLES = {
    "gpt2": dict(
        mlp="gelu_tanh",
        norm="layernorm",
        position="learned",
        attn_bias=True,
        mlp_bias=True,
        tied_embeddings=True,
    ),
    "opt": dict(
        mlp="relu",
        norm="layernorm",
        position="learned",
        position_offset=2,
        attn_bias=True,
        mlp_bias=True,
        tied_embeddings=True,
    ),
    "llama_gqa": dict(mlp="swiglu", norm="rmsnorm", position="rope", num_kv_heads=2),
    "qwen2": dict(mlp="swiglu", norm="rmsnorm", position="rope", num_kv_heads=1, qkv_bias=True),
    "alibi_gelu": dict(mlp="gelu", norm="layernorm", position="alibi", num_kv_heads=1, final_norm=False),
    "nope_relu": dict(mlp="relu", norm="rmsnorm", position="nope", head_dim=12),
}


def small(**overrides):
    return transformer_config(**{**SMALL, **overrides})


def make(cfg, seed: int = 0) -> Transformer:
    return Transformer(cfg, rngs=nnx.Rngs(seed))


@functools.cache
def styled(style: str) -> Transformer:
    """One model per style, shared by tests (init compiles are the slow part on CPU)."""
    return make(small(**STYLES[style]))


@jax.jit
def _forward(graphdef, state, tokens, positions, segments, cache):
    return nnx.merge(graphdef, state)(tokens, positions, segments, cache)


def run(model, tokens, positions, segments=None, cache=None):
    """Jitted forward: one compile per shape instead of one per eager op."""
    return _forward(*nnx.split(model), tokens, positions, segments, cache)


def arange_positions(batch: int, length: int) -> jnp.ndarray:
    return jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))


def test_llama_7b_param_count_without_allocating():
    abstract = nnx.eval_shape(lambda: Transformer(llama_7b(), rngs=nnx.Rngs(0)))
    leaves = jax.tree.leaves(nnx.state(abstract))
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
    assert param_count(abstract) == 6_738_415_616
    assert param_count(nnx.eval_shape(lambda: Transformer(gpt2_small(), rngs=nnx.Rngs(0)))) == 124_439_808


@jax.jit
def _forward_both_ways(graphdef, state, tokens, positions):
    model = nnx.merge(graphdef, state)
    logits, cache = model(tokens, positions)
    hidden, _ = model.hidden_states(tokens, positions)
    return logits, cache, hidden, model.logits_from_hidden(hidden[:, -1])


@pytest.mark.parametrize("style", sorted(STYLES))
def test_forward_shapes_and_finite(style):
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, 97, (2, 7)), jnp.int32)
    logits, cache, hidden, last = _forward_both_ways(
        *nnx.split(styled(style)), tokens, arange_positions(2, 7)
    )
    assert logits.shape == (2, 7, 97) and logits.dtype == jnp.float32
    assert cache is None
    assert bool(jnp.all(jnp.isfinite(logits)))
    assert hidden.shape == (2, 7, 32)
    np.testing.assert_allclose(last, logits[:, -1], atol=1e-5)


def test_param_layout_and_tied_vs_untied_count():
    opt = STYLES["opt"]
    untied = nnx.eval_shape(lambda: make(small(**{**opt, "tied_embeddings": False})))
    tied = nnx.eval_shape(lambda: make(small(**opt)))
    assert param_count(untied) - param_count(tied) == 32 * 97
    assert not hasattr(tied, "lm_head") or tied.lm_head is None
    shapes = {".".join(map(str, p)): v.get_value().shape for p, v in nnx.to_flat_state(nnx.state(untied))}
    assert shapes["embed.embedding"] == (97, 32)
    assert shapes["pos_embed.embedding"] == (66, 32)
    assert shapes["layers.0.attn.q.kernel"] == (32, 4, 8)
    assert shapes["layers.0.attn.q.bias"] == (4, 8)
    assert shapes["layers.1.attn.o.kernel"] == (4, 8, 32)
    assert shapes["layers.1.attn.o.bias"] == (32,)
    assert shapes["layers.0.attn_norm.bias"] == (32,)
    assert shapes["lm_head.kernel"] == (32, 97)
    qwen = nnx.eval_shape(lambda: make(small(**STYLES["qwen2"])))
    gqa = {".".join(map(str, p)) for p, _ in nnx.to_flat_state(nnx.state(qwen))}
    assert {"layers.0.attn.k.bias", "layers.0.mlp.gate.kernel"} <= gqa
    assert "layers.0.attn.o.bias" not in gqa
    assert untied.layers[0].attn.q.kernel.get_metadata()["out_sharding"] == ("embed", "heads", "head_dim")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (dict(num_heads=4, num_kv_heads=3), "num_kv_heads"),
        (dict(mlp="geglu"), "mlp"),
        (dict(position="xpos"), "position"),
        (dict(norm="batchnorm"), "norm"),
        (dict(d_model=30), "d_model"),
        (dict(vocabsize=3), "vocabsize"),
    ],
)
def test_validation_names_the_bad_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        small(**overrides)


@pytest.mark.parametrize("style", ["llama_gqa", "alibi_gelu", "opt", "nope_relu"])
def test_packed_row_matches_documents_run_alone(style):
    """Row 0 packs two documents; rows 1-2 hold each alone (then padding); row 3 is all padding."""
    rng = np.random.default_rng(1)
    doc_a, doc_b = rng.integers(0, 97, 5), rng.integers(0, 97, 4)
    tokens = np.zeros((4, 12), np.int32)
    positions = np.zeros((4, 12), np.int32)
    segments = np.zeros((4, 12), np.int32)
    tokens[0, :9], positions[0, :9], segments[0, :9] = (
        np.concatenate([doc_a, doc_b]),
        [*range(5), *range(4)],
        [1] * 5 + [2] * 4,
    )
    tokens[1, :5], positions[1, :5], segments[1, :5] = doc_a, range(5), 1
    tokens[2, :4], positions[2, :4], segments[2, :4] = doc_b, range(4), 7
    logits, _ = run(styled(style), jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(segments))
    np.testing.assert_allclose(logits[0, :5], logits[1, :5], atol=1e-5)
    np.testing.assert_allclose(logits[0, 5:9], logits[2, :4], atol=1e-5)
    assert bool(jnp.all(jnp.isfinite(logits)))


@pytest.mark.parametrize(
    "style,tile_bytes,length",
    [("llama_gqa", None, 512), ("alibi_gelu", None, 512), ("llama_gqa", 1, 512), ("alibi_gelu", 1, 544)],
)
def test_blocked_attention_matches_dense(style, tile_bytes, length, monkeypatch):
    """Long rows take the block-causal path (tile_bytes=1: one row per scan step; 544 = 17 x 32: uneven
    blocks); it equals the dense path."""
    from evalkit.models import attention as attention_module

    if tile_bytes is not None:
        monkeypatch.setattr(attention_module, "TILE_BYTES", tile_bytes)
    assert length >= attention_module.BLOCKED_MIN_LENGTH and length % attention_module.MIN_QUERY_BLOCK == 0
    graphdef, state = nnx.split(
        make(small(**{**STYLES[style], "d_model": 16, "d_ff": 32, "max_len": length}))
    )
    rng = np.random.default_rng(3)
    tokens = jnp.asarray(rng.integers(1, 97, (2, length)), jnp.int32)
    # Row 0: three documents crossing block boundaries, then padding; row 1: pads, two documents, pads.
    seg_rows = [[1] * 100 + [2] * 200 + [3] * 140, [0] * 20 + [4] * 300 + [5] * 120]
    segments = np.zeros((2, length), np.int32)
    positions = np.zeros((2, length), np.int32)
    for row, segs in enumerate(seg_rows):
        segments[row, : len(segs)] = segs
        for seg in set(segs) - {0}:
            where = np.flatnonzero(segments[row] == seg)
            positions[row, where] = np.arange(len(where))

    def forward():
        fn = jax.jit(lambda s, *a: nnx.merge(graphdef, s)(*a)[0])  # fresh jit: traces anew
        return fn(state, tokens, jnp.asarray(positions), jnp.asarray(segments))

    blocked = forward()
    monkeypatch.setattr(attention_module, "BLOCKED_MIN_LENGTH", length + 1)
    dense = forward()
    np.testing.assert_allclose(np.asarray(blocked), np.asarray(dense), atol=1e-5, rtol=0)
    assert bool(jnp.all(jnp.isfinite(blocked)))


@pytest.mark.parametrize(
    "style,cache_block",
    [("llama_gqa", None), ("alibi_gelu", None), ("opt", None), ("llama_gqa", 4), ("alibi_gelu", 4)],
)
def test_kv_cache_decoding_matches_full_forward(style, cache_block, monkeypatch):
    """cache_block=4: the 12-slot cache is read in 3 blocks, only those below the filled length."""
    from evalkit.models import attention as attention_module

    if cache_block is not None:
        monkeypatch.setattr(attention_module, "CACHE_BLOCK", cache_block)
    model = styled(style)
    graphdef, state = nnx.split(model)
    rng = np.random.default_rng(2)
    pad, length, prefill = 2, 9, 4
    tokens = jnp.asarray(rng.integers(1, 97, (2, length)), jnp.int32)
    # Row 0 is left-padded: pads get segment 0, real tokens count positions from 0.
    segments = jnp.asarray([[0] * pad + [1] * (length - pad), [1] * length], jnp.int32)
    positions = jnp.asarray([[0] * pad + list(range(length - pad)), list(range(length))], jnp.int32)
    full, _ = _forward(graphdef, state, tokens, positions, segments, None)

    cache = model.init_cache(2, 12)
    step_logits, cache = _forward(
        graphdef, state, tokens[:, :prefill], positions[:, :prefill], segments[:, :prefill], cache
    )
    outputs = [step_logits]
    for t in range(prefill, length):
        step_logits, cache = _forward(
            graphdef, state, tokens[:, t : t + 1], positions[:, t : t + 1], segments[:, t : t + 1], cache
        )
        outputs.append(step_logits)
    decoded = jnp.concatenate(outputs, axis=1)
    assert int(cache.index) == length
    real = np.asarray(segments) != 0
    np.testing.assert_allclose(np.asarray(decoded)[real], np.asarray(full)[real], atol=1e-5)
    assert bool(jnp.all(jnp.isfinite(decoded)))


def test_cache_blocks_past_the_filled_length_change_nothing(monkeypatch):
    """Reading more (fully masked) cache blocks gives bitwise the same output; a query that sees no key
    gets 0; the blocked result equals dense attention."""
    from evalkit.models import attention as attention_module

    monkeypatch.setattr(attention_module, "CACHE_BLOCK", 8)
    rng = np.random.default_rng(0)
    b, kh, g, t, dh, s = 3, 2, 2, 1, 4, 32
    q = jnp.asarray(rng.normal(size=(b, kh, g, t, dh)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(b, kh, dh, s)), jnp.float32)
    v = jnp.asarray(rng.normal(size=(b, kh, s, dh)), jnp.float32)
    lengths = np.array([5, 19, 0])  # row 2 sees nothing
    mask = jnp.asarray(np.arange(s)[None, None, :] < lengths[:, None, None])
    bias = jnp.asarray(rng.normal(size=(b, kh, g, t, s)), jnp.float32)
    fn = jax.jit(attention_module.attend_cached)
    few, more = fn(q, k, v, mask, bias, jnp.int32(19)), fn(q, k, v, mask, bias, jnp.int32(32))
    np.testing.assert_array_equal(np.asarray(few), np.asarray(more))
    every = jnp.ones_like(mask)  # a count past the cache never reads its last block twice
    np.testing.assert_array_equal(
        np.asarray(fn(q, k, v, every, bias, jnp.int32(45))),
        np.asarray(fn(q, k, v, every, bias, jnp.int32(32))),
    )
    assert [attention_module.cache_block(n) for n in (8, 24, 32, 12)] == [None, 8, 8, None]
    dense = attention_module.attend_cached(q, k, v, mask, bias)
    np.testing.assert_allclose(np.asarray(few), np.asarray(dense), atol=1e-6)
    assert not np.asarray(few[2]).any()


def test_alibi_slopes():
    np.testing.assert_allclose(alibi_slopes(8), [1 / 2**i for i in range(1, 9)])
    np.testing.assert_allclose(alibi_slopes(6), [1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8])


def test_rope_matches_rotate_half_reference():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 3, 2, 8)).astype(np.float32)
    pos = np.array([[0, 5, 11]])
    inv = 1.0 / (10000.0 ** (np.arange(0, 8, 2) / 8))
    ang = np.concatenate([pos[..., None] * inv] * 2, axis=-1)[:, :, None, :]
    rot = np.concatenate([-x[..., 4:], x[..., :4]], axis=-1)
    expected = x * np.cos(ang) + rot * np.sin(ang)
    np.testing.assert_allclose(apply_rope(jnp.asarray(x), jnp.asarray(pos), 10000.0), expected, atol=1e-5)


def test_bfloat16_compute_is_finite():
    model = make(small(**STYLES["llama_gqa"], dtype="bfloat16"))  # bfloat16 compute, float32 params
    tokens = jnp.ones((1, 5), jnp.int32)
    logits, _ = run(model, tokens, arange_positions(1, 5))
    assert logits.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(logits)))


@pytest.mark.parametrize("with_bias", [False, True])
def test_attention_gradient_matches_autodiff(with_bias):
    """The written-out attention VJP equals autodiff of a plain softmax attention (padding rows included)."""
    from evalkit.models.attention import attend

    rng = np.random.default_rng(5)
    b, k, g, t, d = 2, 2, 3, 16, 8
    q = jnp.asarray(rng.standard_normal((b, k, g, t, d)), jnp.float32)
    keys = jnp.asarray(rng.standard_normal((b, k, t, d)), jnp.float32)
    values = jnp.asarray(rng.standard_normal((b, k, t, d)), jnp.float32)
    segments = jnp.asarray([[1] * 6 + [2] * 10, [0] * 3 + [1] * 13])
    mask = (jnp.arange(t)[None, :] <= jnp.arange(t)[:, None])[None] & (
        segments[:, :, None] == segments[:, None, :]
    )
    mask = mask & (segments[:, None, :] != 0)
    bias = jnp.asarray(rng.standard_normal((b, k, g, t, t)), jnp.float32) if with_bias else None
    weights = jnp.asarray(rng.standard_normal((b, k, g, t, d)), jnp.float32)

    def reference(q, keys, values, bias):
        scores = jnp.einsum("bkgtd,bksd->bkgts", q, keys) + (0.0 if bias is None else bias)
        probs = jax.nn.softmax(jnp.where(mask[:, None, None], scores, -1e30), axis=-1)
        probs = probs * jnp.any(mask, axis=-1)[:, None, None, :, None]  # no visible key: attends to nothing
        return jnp.sum(jnp.einsum("bkgts,bksd->bkgtd", probs, values) * weights)

    def ours(q, keys, values, bias):
        return jnp.sum(attend(q, keys, values, mask, bias) * weights)

    argnums = (0, 1, 2, 3) if with_bias else (0, 1, 2)
    expected = jax.grad(reference, argnums)(q, keys, values, bias)
    got = jax.jit(jax.grad(ours, argnums))(q, keys, values, bias)
    for e, o in zip(expected, got):
        np.testing.assert_allclose(np.asarray(o), np.asarray(e), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("style", ["llama_gqa", "alibi_gelu"])
def test_scanned_layers_match_the_layer_loop(style, monkeypatch):
    """hidden_states(scan_layers=True) equals the per-layer loop; above the size cap it falls back to it."""
    from evalkit.models import transformer as transformer_module

    model = make(small(**{**STYLES[style], "num_layers": 3, "max_len": 128}))
    rng = np.random.default_rng(4)
    tokens = jnp.asarray(rng.integers(1, 97, (2, 128)), jnp.int32)
    positions = jnp.broadcast_to(jnp.arange(128), (2, 128))
    segments = jnp.asarray(np.repeat([[1, 2]], 64, axis=1), jnp.int32)
    looped, _ = model.hidden_states(tokens, positions, segments)
    scanned, _ = jax.jit(lambda m: m.hidden_states(tokens, positions, segments, scan_layers=True))(model)
    np.testing.assert_allclose(np.asarray(scanned), np.asarray(looped), atol=1e-5, rtol=1e-5)
    assert model._scannable()
    monkeypatch.setattr(transformer_module, "SCAN_LAYERS_MAX_BYTES", 0)
    assert not model._scannable()


@pytest.mark.parametrize("style", ["opt", "llama_gqa"])
def test_embedding_level_methods_reproduce_the_token_forward(style):
    """embed_tokens -> hidden_states_from_embeddings -> logits_from_hidden is the token forward, and a row
    spliced into the embeddings acts exactly as that row placed in the table (tied: also as output row)."""
    model = styled(style)
    tokens = jax.random.randint(jax.random.key(3), (2, 9), 0, SMALL["vocab_size"])
    positions = arange_positions(2, 9)
    expected, _ = run(model, tokens, positions)

    @jax.jit
    def from_embeddings(graphdef, state, embeddings):
        m = nnx.merge(graphdef, state)
        return m.logits_from_hidden(m.hidden_states_from_embeddings(embeddings, positions)[0])

    graphdef, state = nnx.split(model)
    embeddings = model.embed_tokens(tokens)
    np.testing.assert_allclose(from_embeddings(graphdef, state, embeddings), expected, atol=1e-5)

    row = jax.random.normal(jax.random.key(4), (SMALL["d_model"],)) * 0.02
    edited = model.embed_tokens(tokens).at[0, 4].set(row)
    table = nnx.state(model)["embed"]["embedding"][...]
    moved = nnx.clone(model)
    moved.embed.embedding[...] = table.at[int(tokens[0, 4])].set(row)
    hidden = jax.jit(lambda g, s: nnx.merge(g, s).hidden_states_from_embeddings(edited, positions)[0])(
        graphdef, state
    )
    moved_hidden = jax.jit(
        lambda g, s: nnx.merge(g, s).hidden_states(tokens.at[1].set(tokens[0]), positions)[0]
    )(*nnx.split(moved))
    np.testing.assert_allclose(hidden[0], moved_hidden[0], atol=1e-5)
    out = model.output_embedding()
    if model.config.tied_embeddings:
        np.testing.assert_array_equal(out, table)
    else:
        np.testing.assert_array_equal(out, nnx.state(model)["lm_head"]["kernel"][...].T)
    assert out.shape == (SMALL["vocab_size"], SMALL["d_model"])
