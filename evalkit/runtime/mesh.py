"""The device mesh and multi-host start-up: meshes from run configs, host data placed on the mesh.

Logical-axis rules and sharding hints live in :mod:`evalkit.sharding` (below the models); models are created
in their sharded layout by :mod:`evalkit.models.sharded`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import ml_collections
import numpy as np
from jax.sharding import AxisType, NamedSharding

from evalkit.sharding import Rules, logical_to_mesh

_AXIS_TYPES = {"auto": AxisType.Auto, "explicit": AxisType.Explicit}


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
