"""Decoder-only transformer configuration: defaults, and validation with one clear error per bad field."""

from __future__ import annotations

import ml_collections

from evalkit.models.positions import registered_positions

MLPS = ("gelu", "gelu_tanh", "relu", "swiglu")
NORMS = ("layernorm", "rmsnorm")
DTYPES = ("float32", "bfloat16")


def transformer_config(**overrides) -> ml_collections.ConfigDict:
    """Returns a validated model config: a small Llama-style default with `overrides` applied."""
    cfg = ml_collections.ConfigDict()
    cfg.vocab_size = 256
    cfg.num_layers = 2
    cfg.d_model = 64
    cfg.num_heads = 4
    cfg.num_kv_heads = 4  # < num_heads gives grouped-query attention.
    cfg.head_dim = ml_collections.config_dict.placeholder(int)  # None => d_model // num_heads.
    cfg.d_ff = 256
    cfg.mlp = "swiglu"
    cfg.norm = "rmsnorm"
    cfg.norm_eps = 1e-5
    cfg.tied_embeddings = False
    cfg.attn_bias = False  # Biases on q, k, v and o (GPT-2, OPT).
    cfg.qkv_bias = False  # Biases on q, k, v only (Qwen2).
    cfg.mlp_bias = False
    cfg.position = "rope"
    cfg.max_len = 2048
    cfg.rope_theta = 10_000.0
    cfg.position_offset = 0  # Added to positions before the learned table lookup (OPT uses 2).
    cfg.final_norm = True
    cfg.dtype = "float32"  # Compute dtype; softmax, norms and logits are always float32.
    cfg.param_dtype = "float32"
    cfg.init_std = 0.02
    for key, value in overrides.items():
        if key not in cfg:
            raise ValueError(f"Unknown model config field {key!r}; known fields: {', '.join(sorted(cfg))}.")
        setattr(cfg, key, value)
    validate_model_config(cfg)
    return cfg


def head_dim(cfg: ml_collections.ConfigDict) -> int:
    """The per-head width: `cfg.head_dim`, or `d_model // num_heads` when unset."""
    return cfg.head_dim if cfg.head_dim is not None else cfg.d_model // cfg.num_heads


def _check_choice(cfg: ml_collections.ConfigDict, field: str, allowed: tuple[str, ...]) -> None:
    if cfg[field] not in allowed:
        raise ValueError(f"Model config field {field}={cfg[field]!r} must be one of {', '.join(allowed)}.")


def validate_model_config(cfg: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the first inconsistent field; returns None when the config is usable."""
    for field in ("vocab_size", "num_layers", "d_model", "num_heads", "num_kv_heads", "d_ff", "max_len"):
        if not isinstance(cfg[field], int) or cfg[field] < 1:
            raise ValueError(f"Model config field {field}={cfg[field]!r} must be a positive integer.")
    _check_choice(cfg, "mlp", MLPS)
    _check_choice(cfg, "norm", NORMS)
    _check_choice(cfg, "position", registered_positions())
    _check_choice(cfg, "dtype", DTYPES)
    _check_choice(cfg, "param_dtype", DTYPES)
    if cfg.num_heads % cfg.num_kv_heads:
        raise ValueError(
            f"Model config num_heads={cfg.num_heads} must be divisible by num_kv_heads={cfg.num_kv_heads}."
        )
    if cfg.head_dim is None and cfg.d_model % cfg.num_heads:
        raise ValueError(
            f"Model config d_model={cfg.d_model} must be divisible by num_heads={cfg.num_heads} "
            "when head_dim is None."
        )
    if cfg.head_dim is not None and (not isinstance(cfg.head_dim, int) or cfg.head_dim < 1):
        raise ValueError(f"Model config field head_dim={cfg.head_dim!r} must be a positive integer or None.")
    if cfg.position == "rope" and head_dim(cfg) % 2:
        raise ValueError(f"Model config head_dim={head_dim(cfg)} must be even for position='rope'.")
    if not isinstance(cfg.position_offset, int) or cfg.position_offset < 0:
        raise ValueError(
            f"Model config field position_offset={cfg.position_offset!r} must be a non-negative integer."
        )
    if cfg.norm_eps <= 0 or cfg.rope_theta <= 0 or cfg.init_std < 0:
        raise ValueError("Model config fields norm_eps and rope_theta must be > 0 and init_std >= 0.")
