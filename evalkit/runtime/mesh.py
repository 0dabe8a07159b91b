"""Device mesh, logical-axis sharding rules, and models created directly in their sharded layout.

Model code names array dimensions with logical axes only (`batch, length, vocab, embed, heads,
kv_heads, head_dim, mlp, norm`); ONE rules table (MaxText style) maps them to mesh axes. A mesh
axis is used at most once per array (earlier dimensions win), and an axis is dropped for a
dimension it does not divide, so odd vocabularies (GPT-2's 50257) still shard cleanly elsewhere.

Run model code under `use_mesh(mesh, rules)`: it sets `jax.set_mesh` and Flax's
`nnx.logical_axis_rules`, which is where `shard_activation` reads them from.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx
from flax.core import spmd as flax_spmd
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from evalkit.config import DEFAULT_RULES as _CONFIG_RULES

Rules = tuple[tuple[str, str | tuple[str, ...] | None], ...]

# The one rules table lives with the run config defaults (jax-free); see evalkit/config.py.
DEFAULT_RULES: Rules = _CONFIG_RULES

_AXIS_TYPES = {"auto": AxisType.Auto, "explicit": AxisType.Explicit}
# Metadata keys that have held logical axis names across Flax versions (newest first).
_SHARDING_KEYS = ("out_sharding", "sharding_names", "sharding")


def mesh_config() -> ml_collections.ConfigDict:
    """Default mesh settings: a run config's `runtime.mesh` section, plus `distributed` (multi-host)."""
    from evalkit.config import runtime_defaults

    runtime = runtime_defaults()
    cfg = ml_collections.ConfigDict(runtime.mesh.to_dict())
    cfg.distributed = ml_collections.ConfigDict(runtime.distributed.to_dict())
    return cfg


def resolve_mesh_shape(shape: dict[str, int], axis_order: Sequence[str], num_devices: int) -> tuple[int, ...]:
    """Axis sizes in `axis_order`, with one -1 replaced by the devices left over."""
    if set(shape) != set(axis_order):
        raise ValueError(
            f"Mesh axis_order {tuple(axis_order)} must name exactly the axes of shape {dict(shape)}."
        )
    sizes = [int(shape[name]) for name in axis_order]
    if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise ValueError(f"Mesh shape {dict(shape)} must hold positive sizes and at most one -1.")
    fixed = math.prod(s for s in sizes if s != -1)
    if -1 in sizes:
        if num_devices % fixed:
            raise ValueError(
                f"Mesh shape {dict(shape)} (product {fixed}) does not divide {num_devices} devices."
            )
        sizes[sizes.index(-1)] = num_devices // fixed
    elif fixed != num_devices:
        raise ValueError(f"Mesh shape {dict(shape)} has {fixed} devices but {num_devices} are available.")
    return tuple(sizes)


def make_mesh(
    cfg: ml_collections.ConfigDict, devices: Sequence[jax.Device] | None = None
) -> jax.sharding.Mesh:
    """Builds the mesh from `mesh_config()`-style settings, always with explicit axis types."""
    if cfg.axis_types not in _AXIS_TYPES:
        raise ValueError(f"Mesh axis_types={cfg.axis_types!r} must be one of {', '.join(_AXIS_TYPES)}.")
    devices = list(devices) if devices is not None else jax.devices()
    sizes = resolve_mesh_shape(dict(cfg.shape), cfg.axis_order, len(devices))
    names = tuple(cfg.axis_order)
    axis_types = (_AXIS_TYPES[cfg.axis_types],) * len(names)
    return jax.make_mesh(sizes, names, axis_types=axis_types, devices=devices)


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


def _model_factory(model_cfg: ml_collections.ConfigDict, seed: int):
    # Imported here: the transformer itself imports `shard_activation` from this module.
    from evalkit.models.transformer import Transformer

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


def shard_batch(
    x: np.ndarray,
    mesh: jax.sharding.Mesh,
    rules: Rules,
    logical: Sequence[str | None] = ("batch", "length"),
) -> jax.Array:
    """Places host data on the mesh; with several processes `x` is this process's slice of the batch."""
    names = tuple(logical)[: x.ndim] + (None,) * max(0, x.ndim - len(logical))
    if jax.process_count() > 1:
        global_shape = (x.shape[0] * jax.process_count(), *x.shape[1:])
        sharding = NamedSharding(mesh, logical_to_mesh(names, rules, mesh, global_shape))
        return jax.make_array_from_process_local_data(sharding, x, global_shape)
    sharding = NamedSharding(mesh, logical_to_mesh(names, rules, mesh, x.shape))
    return jax.device_put(x, sharding)


_DISTRIBUTED_STARTED = False


def maybe_init_distributed(cfg: ml_collections.ConfigDict) -> bool:
    """Calls `jax.distributed.initialize` once when `cfg.distributed.enabled`; True if initialised.

    Unset coordinator/num_processes/process_id are left for JAX to auto-detect (TPU, Slurm, k8s).
    Must run before anything touches devices.
    """
    global _DISTRIBUTED_STARTED
    dist = cfg.distributed
    if not dist.enabled:
        return False
    if _DISTRIBUTED_STARTED or jax.distributed.is_initialized():
        _DISTRIBUTED_STARTED = True
        return True
    jax.distributed.initialize(
        coordinator_address=dist.coordinator_address,
        num_processes=dist.num_processes,
        process_id=dist.process_id,
    )
    _DISTRIBUTED_STARTED = True
    return True
