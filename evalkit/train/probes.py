"""Probe models: one training run per (model config, train config, task, seed), reused once finished."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import ml_collections
from flax import nnx

from evalkit.sharding import Rules
from evalkit.train.data import DocumentFn
from evalkit.train.trainer import EvalFn, TrainResult, load_trained, run_hash, train


def probe_workdir(
    root_dir: str | Path,
    model_cfg: ml_collections.ConfigDict,
    train_cfg: ml_collections.ConfigDict,
    task: Mapping[str, Any],
    seed: int,
) -> Path:
    """`root_dir/<hash of (model config, train config with this seed, task identity)>`."""
    return Path(root_dir) / run_hash(model_cfg, _with_seed(train_cfg, seed), _identity(task))


def _identity(task: Mapping[str, Any]) -> dict[str, Any]:
    return {"task": dict(task)}


def _with_seed(train_cfg: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
    cfg = ml_collections.ConfigDict(train_cfg.to_dict())
    cfg.seed = int(seed)
    return cfg


def train_probe(
    model_cfg: ml_collections.ConfigDict,
    train_cfg: ml_collections.ConfigDict,
    document_fn: DocumentFn,
    root_dir: str | Path,
    seed: int,
    mesh: jax.sharding.Mesh,
    rules: Rules,
    eval_fn: EvalFn | None = None,
    *,
    task: Mapping[str, Any],
    progress: bool = True,
) -> TrainResult:
    """Trains the probe for `seed` (model init and data), or reuses the finished run with the same hash.

    `task` identifies the training data (e.g. `{"name": ..., "version": ..., "config": ...}`); it must
    change whenever `document_fn` would produce different documents. `train_cfg.seed` is replaced by `seed`.
    `result.reused` tells whether the run was loaded instead of trained.
    """
    cfg = _with_seed(train_cfg, seed)
    workdir = probe_workdir(root_dir, model_cfg, cfg, task, seed)
    return train(
        model_cfg, cfg, document_fn, workdir, mesh, rules, eval_fn, progress, identity=_identity(task)
    )


def load_probe(
    model_cfg: ml_collections.ConfigDict,
    train_cfg: ml_collections.ConfigDict,
    root_dir: str | Path,
    seed: int,
    mesh: jax.sharding.Mesh,
    rules: Rules,
    *,
    task: Mapping[str, Any],
) -> nnx.Module | None:
    """The finished probe for these arguments (as :func:`train_probe` would return it), or None."""
    cfg = _with_seed(train_cfg, seed)
    workdir = probe_workdir(root_dir, model_cfg, cfg, task, seed)
    return load_trained(workdir, mesh, rules, model_cfg, cfg, _identity(task))
