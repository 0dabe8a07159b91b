"""Orbax checkpoints of a training run: parameters, optimizer state and a small JSON record per step.

The one module that talks to Orbax (V0 `CheckpointManager` with `args=`), so a later switch to the V1
API touches only this file. Trees are saved as pure dicts of arrays; restore targets carry shardings,
so a run can resume (or a finished model load) on another mesh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx


def checkpoint_manager(directory: str | Path, keep: int) -> ocp.CheckpointManager:
    """A manager over `directory` that keeps the latest `keep` steps."""
    options = ocp.CheckpointManagerOptions(
        preservation_policy=ocp.checkpoint_managers.LatestN(keep),
        create=True,
        enable_async_checkpointing=True,
    )
    return ocp.CheckpointManager(Path(directory).resolve(), options=options)


def save(
    manager: ocp.CheckpointManager, step: int, params: nnx.State, opt_state: nnx.State, meta: dict[str, Any]
) -> None:
    """Starts saving `step` (asynchronously; arrays are copied off the device before this returns)."""
    if manager.latest_step() == step:
        return
    manager.save(
        step,
        args=ocp.args.Composite(
            params=ocp.args.StandardSave(nnx.to_pure_dict(params)),
            opt_state=ocp.args.StandardSave(nnx.to_pure_dict(opt_state)),
            meta=ocp.args.JsonSave(meta),
        ),
    )


def _target(state: nnx.State) -> dict[str, Any]:
    """Pure-dict restore target of ShapeDtypeStructs with the shardings of `state`'s arrays."""

    def abstract(x: Any) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)

    return jax.tree.map(abstract, nnx.to_pure_dict(state))


def restore(
    manager: ocp.CheckpointManager, step: int, params: nnx.State, opt_state: nnx.State | None = None
) -> tuple[nnx.State, nnx.State | None, dict[str, Any]]:
    """Restores `step` into copies of `params` (and `opt_state`); their arrays give shapes and shardings."""
    items: dict[str, Any] = {
        "params": ocp.args.StandardRestore(_target(params)),
        "meta": ocp.args.JsonRestore(),
    }
    if opt_state is not None:
        items["opt_state"] = ocp.args.StandardRestore(_target(opt_state))
    restored = manager.restore(step, args=ocp.args.Composite(**items))
    nnx.replace_by_pure_dict(params, restored["params"])
    if opt_state is not None:
        nnx.replace_by_pure_dict(opt_state, restored["opt_state"])
    return params, opt_state, dict(restored["meta"])
