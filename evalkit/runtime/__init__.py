"""Runtime: device mesh, scoring and generation engines; re-exports the sharding helpers and sharded model
creation (defined below the runtime, in :mod:`evalkit.sharding` and :mod:`evalkit.models.sharded`)."""

from evalkit.lazy import lazy_exports

# Lazy exports: importing this package does not import jax until a name is used.
_EXPORTS = {
    "DEFAULT_RULES": "evalkit.sharding",
    "abstract_model": "evalkit.models.sharded",
    "create_model": "evalkit.models.sharded",
    "logical_to_mesh": "evalkit.sharding",
    "make_mesh": "evalkit.runtime.mesh",
    "maybe_init_distributed": "evalkit.runtime.mesh",
    "mesh_config": "evalkit.runtime.mesh",
    "param_count": "evalkit.models.sharded",
    "shard_activation": "evalkit.sharding",
    "shard_batch": "evalkit.runtime.mesh",
    "state_shardings": "evalkit.sharding",
    "use_mesh": "evalkit.sharding",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
