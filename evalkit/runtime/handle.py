"""The ``flax`` model kind: a Flax NNX transformer on a device mesh behind the ModelHandle protocol.

Scoring goes to :class:`evalkit.runtime.scoring.Scorer`, generation to
:class:`evalkit.runtime.generation.Generator`; both share one :class:`RuntimeStats`, reported by ``stats()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import ml_collections
from flax import nnx
from ml_collections import ConfigDict

from evalkit.api.model import ModelSpec
from evalkit.api.requests import (
    Generate,
    Generation,
    Loglikelihood,
    LoglikelihoodResult,
    LoglikelihoodRolling,
    RollingResult,
)
from evalkit.errors import UserError
from evalkit.models.chat_template import ChatTemplate, model_chat_template, render_chats
from evalkit.models.config import transformer_config
from evalkit.models.sharded import create_model
from evalkit.models.tokenizers import load_tokenizer
from evalkit.runtime.mesh import make_mesh, maybe_init_distributed, mesh_config
from evalkit.runtime.scoring import Scorer
from evalkit.runtime.stats import RuntimeStats
from evalkit.sharding import Rules

_EXTRA_KEYS = ("tokenizer", "checkpoint", "init_seed", "name", "chat_template")


class FlaxModelHandle:
    """A :class:`evalkit.api.ModelHandle` for an NNX model on ``mesh``; engines are built on first use."""

    def __init__(
        self,
        name: str,
        model: nnx.Module,
        tokenizer: Any,
        mesh: jax.sharding.Mesh,
        rules: Rules,
        config: ConfigDict,
        runtime: ConfigDict,
        chat_template: ChatTemplate | None = None,
    ):
        self.name = name
        self.chat_template = chat_template
        self.model = model
        self.tokenizer = tokenizer
        self.mesh = mesh
        self.rules = tuple(tuple(r) for r in rules)
        self.config = config
        self.runtime = runtime
        self.runtime_stats = RuntimeStats()
        self._scorer: Scorer | None = None
        self._generator: Any = None

    @property
    def scorer(self) -> Scorer:
        if self._scorer is None:
            self._scorer = Scorer(
                self.model, self.mesh, self.rules, self.runtime, self.runtime_stats, self.tokenizer
            )
        return self._scorer

    def loglikelihood(self, requests: Sequence[Loglikelihood]) -> list[LoglikelihoodResult]:
        return self.scorer.loglikelihood(render_chats(requests, self.chat_template))

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling]) -> list[RollingResult]:
        return self.scorer.loglikelihood_rolling(requests)

    def generate(self, requests: Sequence[Generate]) -> list[Generation]:
        if self._generator is None:
            from evalkit.runtime.engines import generator_class  # loaded on demand

            engine = generator_class(self.runtime)
            self._generator = engine(
                self.model, self.mesh, self.rules, self.runtime, self.runtime_stats, self.tokenizer
            )
        return self._generator.generate(render_chats(requests, self.chat_template))

    def stats(self) -> dict[str, Any]:
        """Runtime counters plus the devices and processes the model ran on."""
        return {
            **self.runtime_stats.as_dict(),
            "device_kind": jax.devices()[0].device_kind,
            "devices": jax.device_count(),
            "processes": jax.process_count(),
        }


def flax_model_config() -> ConfigDict:
    """Model fields of :func:`evalkit.models.transformer_config` plus tokenizer, checkpoint and init_seed."""
    cfg = transformer_config(vocab_size=512)  # room for the byte tokenizer's 259 ids
    cfg.tokenizer = "bytes"  # spec for evalkit.models.load_tokenizer
    cfg.checkpoint = ""  # '' = random init; else an orbax or Hugging Face directory
    cfg.init_seed = 0
    cfg.chat_template = "auto"  # 'auto' (the checkpoint's, if any) | 'none' | path to a template file
    return cfg


def runtime_mesh(runtime: ConfigDict) -> jax.sharding.Mesh:
    """The mesh described by ``runtime.mesh`` (missing axis order: data, fsdp, tensor, then the rest)."""
    section = runtime.get("mesh", ConfigDict())
    cfg = mesh_config()
    if "shape" in section:
        cfg.shape = dict(section.shape)
    if "axis_types" in section:
        cfg.axis_types = section.axis_types
    order = tuple(section.get("axis_order", ()) or ())
    if not order:
        default = ("data", "fsdp", "tensor")
        order = tuple(a for a in default if a in cfg.shape) + tuple(sorted(set(cfg.shape) - set(default)))
    cfg.axis_order = order
    try:
        return make_mesh(cfg)
    except ValueError as exc:
        key = (
            "axis_types"
            if "axis_types" in str(exc)
            else "axis_order"
            if "axis_order" in str(exc)
            else "shape"
        )
        raise UserError(f"{exc} Fix --config.runtime.mesh.{key} ({jax.device_count()} devices).") from exc


def runtime_rules(runtime: ConfigDict) -> Rules:
    """The logical-axis rules of ``runtime.mesh.rules`` (the default table when unset)."""
    rules = runtime.get("mesh", ConfigDict()).get("rules", None) or mesh_config().rules
    return tuple((name, tuple(t) if isinstance(t, list) else t) for name, t in rules)


def start_distributed(runtime: ConfigDict) -> bool:
    """``jax.distributed.initialize`` when ``runtime.distributed.enabled`` ('' / 0 / -1 = auto-detect)."""
    dist = runtime.get("distributed", None)
    if dist is None or not dist.get("enabled", False):
        return False
    shim = ml_collections.ConfigDict()
    shim.distributed = ml_collections.ConfigDict(
        {
            "enabled": True,
            "coordinator_address": dist.get("coordinator_address") or None,
            "num_processes": dist.get("num_processes") or None,
            "process_id": None if dist.get("process_id", -1) in (None, -1) else int(dist.process_id),
        }
    )
    return maybe_init_distributed(shim)


def load_flax_model(config: ConfigDict, runtime: ConfigDict) -> FlaxModelHandle:
    """Build the model (random init or ``config.checkpoint``) sharded on the runtime mesh."""
    start_distributed(runtime)
    mesh, rules = runtime_mesh(runtime), runtime_rules(runtime)
    tokenizer = None
    if config.get("checkpoint", ""):
        from evalkit.models.checkpoint import load_model  # written alongside; loaded on demand

        model, tokenizer, model_cfg = load_model(config.checkpoint, mesh, rules)
    else:
        fields = {k: v for k, v in config.items() if k not in _EXTRA_KEYS}
        try:
            model_cfg = transformer_config(**fields)
        except ValueError as exc:
            raise UserError(f"{exc} Fix the model section of the config.") from exc
        tokenizer = _tokenizer(config.get("tokenizer", "bytes"), model_cfg.vocab_size)
        model = create_model(model_cfg, mesh, rules, seed=int(config.get("init_seed", 0)))
    if tokenizer is None:
        tokenizer = _tokenizer(config.get("tokenizer", "bytes"), None)
    name = config.get("name", "flax") or "flax"
    return FlaxModelHandle(name, model, tokenizer, mesh, rules, config, runtime, model_chat_template(config))


def _tokenizer(spec: str, vocab_size: int | None) -> Any:
    try:
        tokenizer = load_tokenizer(spec)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"model.tokenizer={spec!r} cannot be loaded ({exc}); use 'bytes', 'vocab:a,b' or a path"
        ) from exc
    if vocab_size is not None and tokenizer.vocab_size > vocab_size:
        raise UserError(
            f"tokenizer {tokenizer.name!r} has {tokenizer.vocab_size} ids but the model vocab_size is "
            f"{vocab_size}; raise --config.model.vocab_size or pick another tokenizer"
        )
    return tokenizer


FLAX_MODEL_SPEC = ModelSpec(
    "flax",
    load_flax_model,
    flax_model_config,
    "Flax NNX decoder-only transformer (random init or an orbax / Hugging Face checkpoint) on a device mesh",
    runtime_keys=(),
)
