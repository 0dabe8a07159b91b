"""The compiled parts of training: optimizer, loss, and the jitted init and step, cached per config.

`programs(model_cfg, train_cfg, mesh, rules)` builds (once per config, mesh and rules) a jitted
`init(seed)` that creates the model and its `nnx.Optimizer` with every array born in its sharded layout,
and a jitted `step(state, batch)` over the split (model, optimizer) state that donates its input. Runs
that differ only in seed (e.g. several probe seeds) reuse the compiled programs.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from evalkit.models.transformer import Transformer
from evalkit.sharding import Rules, state_shardings, use_mesh
from evalkit.train.config import identity_view

# --- optimisation ------------------------------------------------------------------------------------


def lr_schedule(train_cfg: ml_collections.ConfigDict) -> optax.Schedule:
    """Linear warmup from 0 to `lr`, then cosine, linear or no decay to `lr * min_lr_ratio`."""
    lr, warmup, steps = float(train_cfg.lr), train_cfg.warmup_steps, train_cfg.steps
    end = lr * float(train_cfg.min_lr_ratio)
    decay_steps = max(steps - warmup, 1)
    if train_cfg.schedule == "cosine":
        decay = optax.cosine_decay_schedule(lr, decay_steps, alpha=train_cfg.min_lr_ratio)
    elif train_cfg.schedule == "linear":
        decay = optax.linear_schedule(lr, end, decay_steps)
    else:
        decay = optax.constant_schedule(lr)
    if warmup == 0:
        return decay
    warm = optax.linear_schedule(lr / warmup, lr, warmup - 1)  # lr * (step + 1) / warmup, as in nanoGPT
    return optax.join_schedules([warm, decay], [warmup])


def _decay_mask(params: Any) -> Any:
    return jax.tree.map(lambda x: x.ndim >= 2, params)


def make_optimizer(train_cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Global-norm clipping followed by AdamW (weight decay on matrices only) on :func:`lr_schedule`."""
    adamw = optax.adamw(
        lr_schedule(train_cfg),
        b1=train_cfg.b1,
        b2=train_cfg.b2,
        weight_decay=train_cfg.weight_decay,
        mask=_decay_mask,
    )
    if train_cfg.clip_norm > 0:
        return optax.chain(optax.clip_by_global_norm(train_cfg.clip_norm), adamw)
    return adamw


def masked_cross_entropy(logits: jax.Array, targets: jax.Array, loss_mask: jax.Array) -> jax.Array:
    """Mean cross-entropy over the tokens where `loss_mask` is true (0 when none are).

    When explicit sharding splits the vocabulary over devices, a gather of the target logits cannot be
    placed; the target's logit is then picked with a comparison and a sum (the same values, though XLA
    rounds the gradient slightly differently). Otherwise optax's gather, so trained probes stay
    bit-for-bit reproducible across evalkit versions.
    """
    logits = logits.astype(jnp.float32)
    if not _vocab_split(logits):
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    else:
        vocab = jnp.arange(logits.shape[-1], dtype=targets.dtype)
        target_logit = jnp.sum(jnp.where(vocab == targets[..., None], logits, 0.0), axis=-1)
        ce = jax.nn.logsumexp(logits, axis=-1) - target_logit
    mask = loss_mask.astype(jnp.float32)
    return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _vocab_split(logits: jax.Array) -> bool:
    """Whether the traced logits carry an explicit sharding of their last (vocabulary) axis."""
    spec = getattr(getattr(jax.typeof(logits), "sharding", None), "spec", None)
    return bool(spec) and len(spec) == logits.ndim and spec[-1] is not None


def _global_norm(tree: Any) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))


def _train_step(
    graphdef: nnx.GraphDef, schedule: optax.Schedule, state: nnx.State, batch: dict[str, jax.Array]
) -> tuple[nnx.State, dict[str, jax.Array]]:
    model, optimizer = nnx.merge(graphdef, state)

    def loss_fn(model: nnx.Module) -> jax.Array:
        logits, _ = model(batch["tokens"], batch["positions"], batch["segment_ids"])
        return masked_cross_entropy(logits, batch["targets"], batch["loss_mask"])

    loss, grads = nnx.value_and_grad(loss_fn)(model)
    lr = schedule(optimizer.step[...])
    optimizer.update(model, grads)
    metrics = {"loss": loss, "grad_norm": _global_norm(grads), "lr": lr}
    return nnx.state((model, optimizer)), metrics


@dataclasses.dataclass(frozen=True)
class Programs:
    """Compiled training programs of one (model config, train config, mesh, rules)."""

    graphdef: nnx.GraphDef  # of the (model, optimizer) pair
    shardings: Any  # NamedSharding tree of the split state
    init: Callable[[jax.Array], nnx.State]  # seed -> sharded (model, optimizer) state
    step: Callable[[nnx.State, dict[str, jax.Array]], tuple[nnx.State, dict[str, jax.Array]]]

    def model(self, state: nnx.State) -> nnx.Module:
        """The model of a split state (sharing its arrays)."""
        return nnx.merge(self.graphdef, state)[0]


def _freeze_rules(rules: Rules) -> Rules:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in rules)


def programs(
    model_cfg: ml_collections.ConfigDict,
    train_cfg: ml_collections.ConfigDict,
    mesh: jax.sharding.Mesh,
    rules: Rules,
) -> Programs:
    """The (cached) compiled init and step for this config; the seed is an argument of `init`."""
    # Seed, packing and position_range only change the inputs, not the programs.
    inputs_only = ("seed", "packing", "position_range")
    train = {k: v for k, v in identity_view(train_cfg).items() if k not in inputs_only}
    key = json.dumps([model_cfg.to_dict(), train], sort_keys=True, default=str)
    return _programs(key, mesh, _freeze_rules(rules))


@functools.lru_cache(maxsize=4)
def _programs(key: str, mesh: jax.sharding.Mesh, rules: Rules) -> Programs:
    model_dict, train_dict = json.loads(key)
    model_cfg = ml_collections.ConfigDict(model_dict)
    train_cfg = ml_collections.ConfigDict(train_dict)
    tx = make_optimizer(train_cfg)

    def create(seed: jax.Array) -> tuple[nnx.Module, nnx.Optimizer]:
        model = Transformer(model_cfg, rngs=nnx.Rngs(jax.random.key(seed)))
        return model, nnx.Optimizer(model, tx, wrt=nnx.Param)

    graphdef, abstract = nnx.split(nnx.eval_shape(create, jnp.zeros((), jnp.uint32)))
    shardings = state_shardings(abstract, mesh, rules)
    init = jax.jit(lambda seed: nnx.state(create(seed)), out_shardings=shardings)
    step = jax.jit(
        functools.partial(_train_step, graphdef, lr_schedule(train_cfg)),
        donate_argnums=(0,),
        out_shardings=(shardings, None),
    )

    def init_under_mesh(seed: jax.Array) -> nnx.State:
        with use_mesh(mesh, rules):
            return init(jnp.asarray(seed, jnp.uint32))

    return Programs(graphdef, shardings, init_under_mesh, step)
