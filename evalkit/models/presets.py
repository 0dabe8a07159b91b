"""Named model shapes: tiny ones for tests and benchmarks, and real ones for checkpoint import."""

from __future__ import annotations

from collections.abc import Callable

import ml_collections

from evalkit.models.config import transformer_config


def tiny(**overrides) -> ml_collections.ConfigDict:
    """A 2-layer Llama-style model with GQA (139,584 params) for tests; vocab fits the byte tokenizer."""
    base = dict(vocab_size=512, num_layers=2, d_model=64, num_heads=4, num_kv_heads=2, d_ff=128, max_len=512)
    return transformer_config(**{**base, **overrides})


def gpt2_small(**overrides) -> ml_collections.ConfigDict:
    """GPT-2 small (124,439,808 params): layernorm, gelu_tanh, learned positions, biases, tied."""
    base = dict(
        vocab_size=50257,
        num_layers=12,
        d_model=768,
        num_heads=12,
        num_kv_heads=12,
        d_ff=3072,
        mlp="gelu_tanh",
        norm="layernorm",
        norm_eps=1e-5,
        tied_embeddings=True,
        attn_bias=True,
        mlp_bias=True,
        position="learned",
        max_len=1024,
    )
    return transformer_config(**{**base, **overrides})


def llama_7b(**overrides) -> ml_collections.ConfigDict:
    """Llama-2-7B (6,738,415,616 params): rmsnorm, swiglu, rope, untied, no biases."""
    base = dict(
        vocab_size=32000,
        num_layers=32,
        d_model=4096,
        num_heads=32,
        num_kv_heads=32,
        d_ff=11008,
        mlp="swiglu",
        norm="rmsnorm",
        norm_eps=1e-5,
        position="rope",
        rope_theta=10_000.0,
        max_len=4096,
    )
    return transformer_config(**{**base, **overrides})


def llama_20m(**overrides) -> ml_collections.ConfigDict:
    """A ~21M-param Llama-style model (Llama vocab, 6 layers of width 256, GQA) for benchmarks."""
    base = dict(
        vocab_size=32000,
        num_layers=6,
        d_model=256,
        num_heads=8,
        num_kv_heads=4,
        d_ff=768,
        mlp="swiglu",
        norm="rmsnorm",
        position="rope",
        max_len=2048,
    )
    return transformer_config(**{**base, **overrides})


PRESETS: dict[str, Callable[..., ml_collections.ConfigDict]] = {
    "tiny": tiny,
    "gpt2_small": gpt2_small,
    "llama_7b": llama_7b,
    "llama_20m": llama_20m,
}


def get_preset(name: str, **overrides) -> ml_collections.ConfigDict:
    """The preset called `name`, with field overrides."""
    if name not in PRESETS:
        raise ValueError(f"Unknown model preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return PRESETS[name](**overrides)
