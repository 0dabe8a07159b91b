"""Probe models for tasks that train them: one model per training seed, trained or reused, then evaluated.

A probe task's examples are evaluated once per seed; records get ids ``seed<S>/<item id>`` and a
``seed`` group, so per-seed and pooled metrics both come out of the normal aggregation and a killed run
resumes per (seed, item). Finished training runs are reused when their config hash matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ml_collections import ConfigDict

from evalkit.api import Example, ModelHandle, UserError
from evalkit.metrics.items import SEED_GROUP, seed_item_id
from evalkit.resolve import TaskEntry


def probe_root(cfg: ConfigDict, entry: TaskEntry) -> Path:
    return Path(cfg.output_dir) / "probes" / entry.label


def seed_examples(examples: list[Example], seed: int) -> list[Example]:
    """The task's examples as evaluated by the probe of ``seed``."""
    return [
        {**ex, "id": seed_item_id(seed, ex["id"]), "groups": {**ex.get("groups", {}), SEED_GROUP: str(seed)}}
        for ex in examples
    ]


def train_task_probe(entry: TaskEntry, seed: int, cfg: ConfigDict) -> Any:
    """Train (or reuse) the probe of ``entry`` for ``seed``; returns the TrainResult."""
    from evalkit.runtime.handle import runtime_mesh, runtime_rules, start_distributed
    from evalkit.train.probes import train_probe

    start_distributed(cfg.runtime)
    mesh = runtime_mesh(cfg.runtime)
    task, tcfg = entry.task, entry.config
    model_cfg = task.probe_model_config(tcfg)
    identity = {"name": task.name, "version": task.version, "data": task.training_identity(tcfg)}
    try:
        return train_probe(
            model_cfg,
            tcfg.probe.train,
            lambda rng: task.training_document(tcfg, rng),
            probe_root(cfg, entry),
            int(seed),
            mesh,
            runtime_rules(cfg.runtime),
            task=identity,
            progress=bool(cfg.runtime.progress),
        )
    except ValueError as exc:  # config problems found by the trainer
        raise UserError(f"probe training for task {entry.label!r} cannot start: {exc}") from exc


def probe_handle(result: Any, cfg: ConfigDict, entry: TaskEntry, seed: int) -> ModelHandle:
    """A Flax model handle around a trained probe (token-id requests only: no tokenizer)."""
    from evalkit.runtime.handle import FlaxModelHandle, runtime_mesh, runtime_rules

    return FlaxModelHandle(
        f"{entry.label}-probe-seed{seed}",
        result.model,
        None,
        runtime_mesh(cfg.runtime),
        runtime_rules(cfg.runtime),
        entry.task.probe_model_config(entry.config),
        cfg.runtime,
    )


def iter_probe_seeds(entry: TaskEntry) -> Iterator[int]:
    seeds = tuple(entry.config.probe.seeds)
    if not seeds:
        raise UserError(f"tasks.{entry.label}.probe.seeds must list at least one seed")
    yield from (int(s) for s in seeds)


def training_summary(result: Any) -> dict[str, Any]:
    """What results.json records about one probe's training."""
    last = result.history[-1] if result.history else {}
    loss, tokens_per_s = last.get("loss"), getattr(result, "tokens_per_s", None)
    return {
        "steps": int(result.step),
        "reused": bool(getattr(result, "reused", False)),
        "final_loss": None if loss is None else round(float(loss), 6),
        "tokens_per_s": None if tokens_per_s is None else round(float(tokens_per_s), 1),
    }
