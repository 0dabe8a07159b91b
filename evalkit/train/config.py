"""Training config for probe models: defaults, and validation with one clear error per bad field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ml_collections

from evalkit.errors import UserError

PACKINGS = ("concat", "segments")
SCHEDULES = ("cosine", "linear", "constant")
#: Fields that change how a run is observed or stored, never its parameters (left out of run hashes).
RUNTIME_FIELDS = ("eval_every", "checkpoint_every", "log_every", "keep_checkpoints")


def train_config(**overrides: Any) -> ml_collections.ConfigDict:
    """A validated training config: small-probe defaults with `overrides` applied."""
    cfg = ml_collections.ConfigDict()
    cfg.steps = 2000
    cfg.batch_size = 64  # rows per step
    cfg.context_len = 128
    # 'concat': documents back to back, positions 0..context_len-1 across the row, no segment masking
    # (nanoGPT style: every position embedding is trained). 'segments': one masked segment per document.
    cfg.packing = "concat"
    # 0: positions 0, 1, 2, ...; N >= context_len: a sorted random subset of range(N) per row ('concat')
    # or document ('segments'), so distances beyond the training lengths are seen (Ruoss et al. 2023).
    cfg.position_range = 0
    cfg.lr = 1e-3
    cfg.warmup_steps = 100
    cfg.schedule = "cosine"
    cfg.min_lr_ratio = 0.1  # final lr = lr * min_lr_ratio (cosine and linear)
    cfg.weight_decay = 0.1  # applied to matrices (ndim >= 2) only
    cfg.b1 = 0.9
    cfg.b2 = 0.99
    cfg.clip_norm = 1.0  # global-norm clipping; 0 disables it
    cfg.eval_every = 0  # 0: evaluate only at the end
    cfg.checkpoint_every = 500
    cfg.log_every = 50
    cfg.keep_checkpoints = 2
    cfg.seed = 0
    for key, value in overrides.items():
        if key not in cfg:
            raise UserError(f"unknown train config field {key!r}; known fields: {', '.join(sorted(cfg))}")
        setattr(cfg, key, value)
    validate_train_config(cfg)
    return cfg


def probe_config(
    model: Mapping[str, Any], train: Mapping[str, Any], seeds: tuple[int, ...] = (0,)
) -> ml_collections.ConfigDict:
    """A probe task's ``probe`` section (``Task.trains_probes``): ``transformer_config(**model)``,
    ``train_config(**train)`` and the seeds, one probe trained per seed."""
    from evalkit.models.config import transformer_config

    return ml_collections.ConfigDict(
        {"model": transformer_config(**model), "train": train_config(**train), "seeds": tuple(seeds)}
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_train_config(cfg: ml_collections.ConfigDict) -> None:
    """Raises UserError naming the first unusable field; returns None when the config is usable."""
    for field in ("steps", "batch_size", "context_len", "log_every", "checkpoint_every", "keep_checkpoints"):
        if not _is_int(cfg[field]) or cfg[field] < 1:
            raise UserError(f"train config {field}={cfg[field]!r} must be a positive integer")
    for field in ("warmup_steps", "eval_every", "seed"):
        if not _is_int(cfg[field]) or cfg[field] < 0:
            raise UserError(f"train config {field}={cfg[field]!r} must be a non-negative integer")
    if cfg.packing not in PACKINGS:
        raise UserError(f"train config packing={cfg.packing!r} must be one of {', '.join(PACKINGS)}")
    position_range = cfg.get("position_range", 0)
    if not _is_int(position_range) or position_range < 0:
        raise UserError(f"train config position_range={position_range!r} must be a non-negative integer")
    if position_range and position_range < cfg.context_len:
        raise UserError(
            f"train config position_range={position_range} must be 0 (off) or >= context_len={cfg.context_len}"
        )
    if cfg.schedule not in SCHEDULES:
        raise UserError(f"train config schedule={cfg.schedule!r} must be one of {', '.join(SCHEDULES)}")
    if cfg.warmup_steps > cfg.steps:
        raise UserError(f"train config warmup_steps={cfg.warmup_steps} must not exceed steps={cfg.steps}")
    if not isinstance(cfg.lr, int | float) or cfg.lr <= 0:
        raise UserError(f"train config lr={cfg.lr!r} must be a positive number")
    if not 0 <= cfg.min_lr_ratio <= 1:
        raise UserError(f"train config min_lr_ratio={cfg.min_lr_ratio!r} must be between 0 and 1")
    if cfg.weight_decay < 0 or cfg.clip_norm < 0:
        raise UserError(
            "train config weight_decay and clip_norm must be >= 0 (clip_norm=0 disables clipping)"
        )
    for field in ("b1", "b2"):
        if not 0 <= cfg[field] < 1:
            raise UserError(f"train config {field}={cfg[field]!r} must be in [0, 1)")


def check_fits(model_cfg: ml_collections.ConfigDict, train_cfg: ml_collections.ConfigDict) -> None:
    """Raises UserError when `train_cfg` is unusable or asks for more positions than the model has."""
    validate_train_config(train_cfg)
    if train_cfg.context_len > model_cfg.max_len:
        raise UserError(
            f"train context_len={train_cfg.context_len} exceeds the model's max_len={model_cfg.max_len}; "
            "lower context_len or raise max_len"
        )
    if train_cfg.get("position_range", 0) > model_cfg.max_len:
        raise UserError(
            f"train position_range={train_cfg.position_range} exceeds the model's max_len={model_cfg.max_len}; "
            "lower position_range or raise max_len"
        )


def identity_view(cfg: ml_collections.ConfigDict) -> dict[str, Any]:
    """The fields that determine the trained parameters (runtime-only fields removed; position_range
    only when set, so runs from before the option keep their hashes)."""
    data = cfg.to_dict()
    for field in RUNTIME_FIELDS:
        data.pop(field, None)
    if not data.get("position_range"):
        data.pop("position_range", None)
    return data
