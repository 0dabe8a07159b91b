"""The transformer created or described directly in its sharded layout (no full copy on one device)."""

from __future__ import annotations

import math

import jax
import ml_collections
from flax import nnx

from evalkit.models.transformer import Transformer
from evalkit.sharding import Rules, state_shardings, use_mesh


def _model_factory(model_cfg: ml_collections.ConfigDict, seed: int):
    return lambda: Transformer(model_cfg, rngs=nnx.Rngs(seed))


def abstract_model(model_cfg: ml_collections.ConfigDict, mesh: jax.sharding.Mesh, rules: Rules) -> nnx.Module:
    """The model with `jax.ShapeDtypeStruct` values carrying target shardings; allocates nothing."""
    abstract = nnx.eval_shape(_model_factory(model_cfg, 0))
    graphdef, state = nnx.split(abstract)
    shardings = state_shardings(state, mesh, rules)
    state = jax.tree.map(lambda v, s: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=s), state, shardings)
    return nnx.merge(graphdef, state)


def create_model(
    model_cfg: ml_collections.ConfigDict, mesh: jax.sharding.Mesh, rules: Rules, seed: int = 0
) -> nnx.Module:
    """Initialises the model with every parameter born in its sharded layout (jit with out_shardings)."""
    factory = _model_factory(model_cfg, seed)
    graphdef, abstract_state = nnx.split(nnx.eval_shape(factory))
    shardings = state_shardings(abstract_state, mesh, rules)
    with use_mesh(mesh, rules):
        state = jax.jit(lambda: nnx.state(factory()), out_shardings=shardings)()
    return nnx.merge(graphdef, state)


def param_count(model: nnx.Module) -> int:
    """Number of parameter scalars; works on real and abstract (eval_shape) models."""
    params = nnx.state(model, nnx.Param)
    return sum(math.prod(x.shape) for x in jax.tree.leaves(params))
