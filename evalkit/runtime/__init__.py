"""Runtime: device mesh, sharding rules, sharded model creation, scoring and generation engines."""

import importlib

# Lazy exports: importing this package does not import jax until a name is used.
_EXPORTS = {
    "DEFAULT_RULES": "evalkit.runtime.mesh",
    "abstract_model": "evalkit.runtime.mesh",
    "create_model": "evalkit.runtime.mesh",
    "logical_to_mesh": "evalkit.runtime.mesh",
    "make_mesh": "evalkit.runtime.mesh",
    "maybe_init_distributed": "evalkit.runtime.mesh",
    "mesh_config": "evalkit.runtime.mesh",
    "param_count": "evalkit.runtime.mesh",
    "shard_activation": "evalkit.runtime.mesh",
    "shard_batch": "evalkit.runtime.mesh",
    "state_shardings": "evalkit.runtime.mesh",
    "use_mesh": "evalkit.runtime.mesh",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
