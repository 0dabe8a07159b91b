"""Logical-axis sharding: ONE rules table (MaxText style) maps the names model code gives array dimensions
(`batch, length, vocab, embed, heads, kv_heads, head_dim, mlp, norm`) to mesh axes.

This module sits below both the models and the runtime: model code names dimensions and asks for sharding
hints here; the runtime builds meshes and places data. A mesh axis is used at most once per array (earlier
dimensions win), and an axis is dropped for a dimension it does not divide, so odd vocabularies (GPT-2's
50257) still shard cleanly elsewhere. Run model code under `use_mesh(mesh, rules)`: it sets `jax.set_mesh`
and Flax's `nnx.logical_axis_rules`, which is where `shard_activation` reads them from.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import jax
from flax import nnx
from flax.core import spmd as flax_spmd
from jax.sharding import NamedSharding, PartitionSpec

from evalkit.config import DEFAULT_RULES as _CONFIG_RULES

Rules = tuple[tuple[str, str | tuple[str, ...] | None], ...]

# The one rules table lives with the run config defaults (jax-free); see evalkit/config.py.
DEFAULT_RULES: Rules = _CONFIG_RULES

# Metadata keys that have held logical axis names across Flax versions (newest first).
_SHARDING_KEYS = ("out_sharding", "sharding_names", "sharding")


def logical_to_mesh(
    names: Sequence[str | None],
    rules: Rules,
    mesh: jax.sharding.Mesh | jax.sharding.AbstractMesh | None = None,
    shape: Sequence[int] | None = None,
) -> PartitionSpec:
    """Maps logical dimension names to a PartitionSpec.

    With `mesh`, size-1 axes are skipped and (with `shape`) axes that do not divide a dimension.
    """
    table = dict(rules)
    used: set[str] = set()
    spec: list[str | tuple[str, ...] | None] = []
    for dim, name in enumerate(names):
        if name is None:
            spec.append(None)
            continue
        if name not in table:
            raise ValueError(f"Logical axis {name!r} has no sharding rule; rules cover {', '.join(table)}.")
        target = table[name]
        axes = (target,) if isinstance(target, str) else tuple(target or ())
        kept: list[str] = []
        for axis in axes:
            if axis in used:
                continue
            if mesh is not None:
                size = mesh.shape[axis]
                if size == 1:
                    continue
                if shape is not None and shape[dim] % (size * math.prod(mesh.shape[a] for a in kept)):
                    continue
            kept.append(axis)
        used.update(kept)
        spec.append(None if not kept else kept[0] if len(kept) == 1 else tuple(kept))
    return PartitionSpec(*spec)


@contextlib.contextmanager
def use_mesh(mesh: jax.sharding.Mesh, rules: Rules) -> Iterator[None]:
    """Activates `mesh` (jax.set_mesh) and the logical rules that model code reads."""
    with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
        yield


def shard_activation(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
    """Sharding hint for an activation by logical names; a no-op without an active mesh and rules."""
    mesh = jax.sharding.get_abstract_mesh()
    rules = flax_spmd.get_logical_axis_rules()
    if mesh.empty or not rules:
        return x
    spec = logical_to_mesh(names, rules, mesh, x.shape)
    if mesh.are_all_axes_auto:
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))
    if mesh.are_all_axes_explicit:
        return jax.sharding.reshard(x, spec)
    return x


def batch_shards(batch: int) -> int:
    """How many ways the active mesh and rules split a `batch`-row activation (1 without a mesh)."""
    mesh = jax.sharding.get_abstract_mesh()
    rules = flax_spmd.get_logical_axis_rules()
    if mesh.empty or not rules:
        return 1
    spec = logical_to_mesh(("batch",), rules, mesh, (batch,))[0]
    axes = () if spec is None else (spec,) if isinstance(spec, str) else tuple(spec)
    return math.prod(mesh.shape[a] for a in axes)


def _logical_names(var: nnx.Variable) -> tuple[str | None, ...] | None:
    metadata = var.get_metadata()
    for key in _SHARDING_KEYS:
        if metadata.get(key):
            return tuple(metadata[key])
    return None


def state_shardings(state: Any, mesh: jax.sharding.Mesh, rules: Rules) -> Any:
    """NamedSharding for every variable of an NNX state, from its logical-name metadata."""

    def sharding_of(var: Any) -> Any:
        names = _logical_names(var) if isinstance(var, nnx.Variable) else None
        shape = var.get_value().shape if isinstance(var, nnx.Variable) else var.shape
        spec = logical_to_mesh(names, rules, mesh, shape) if names else PartitionSpec()
        sharding = NamedSharding(mesh, spec)
        return var.replace(sharding) if isinstance(var, nnx.Variable) else sharding

    return jax.tree.map(sharding_of, state, is_leaf=lambda x: isinstance(x, nnx.Variable))
