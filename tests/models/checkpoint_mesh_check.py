"""Run with 8 fake CPU devices: save on an 8-way data mesh, restore on data=4 x tensor=2; import HF there too.

The saved params are sharded over `data` (embed -> data), so the restore really reshards.

Prints one JSON line. Used by tests/models/test_checkpoint.py.
"""

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from evalkit.models.checkpoint import load_model, save_model  # noqa: E402
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config, use_mesh  # noqa: E402


def mesh_of(**shape: int) -> jax.sharding.Mesh:
    cfg = mesh_config()
    cfg.shape = {"data": 1, "fsdp": 1, "tensor": 1, **shape}
    return make_mesh(cfg, devices=jax.devices()[: int(np.prod(list(shape.values())))])


def logits(model, mesh) -> np.ndarray:
    tokens = jnp.asarray(np.random.default_rng(0).integers(3, 100, (4, 8)), jnp.int32)
    positions = jnp.broadcast_to(jnp.arange(8, dtype=jnp.int32), tokens.shape)
    with use_mesh(mesh, DEFAULT_RULES):
        out = jax.jit(lambda g, s: nnx.merge(g, s)(tokens, positions)[0])(*nnx.split(model))
    return np.asarray(out)


def main(root: Path, hf_dir: Path) -> None:
    data8, grid = mesh_of(data=8), mesh_of(data=4, tensor=2)
    save_rules = tuple((name, "data" if name == "embed" else axes) for name, axes in DEFAULT_RULES)
    model, _, cfg = load_model(hf_dir, data8, save_rules)
    save_model(root / "ck", model, cfg, step=7, tokenizer_spec="bytes")
    restored, tokenizer, cfg2 = load_model(root / "ck", grid, DEFAULT_RULES)
    before, after = nnx.state(model), nnx.state(restored)
    identical = all(
        np.array_equal(np.asarray(a), np.asarray(b)) and a.dtype == b.dtype
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
    )
    q = restored.layers[0].attn.q.kernel[...]
    hf_model, _, _ = load_model(hf_dir, grid, DEFAULT_RULES)  # HF folder: delegated to hf_import.
    hf_q = hf_model.layers[0].attn.q.kernel[...]
    single, _, _ = load_model(hf_dir, mesh_of(data=1), DEFAULT_RULES)
    print(
        json.dumps(
            {
                "identical": identical,
                "same_config": cfg2 == cfg,
                "saved_spec": str(model.embed.embedding[...].sharding.spec),
                "tokenizer": tokenizer.name,
                "q_mesh": dict(q.sharding.mesh.shape),
                "q_spec": str(q.sharding.spec),
                "hf_q_spec": str(hf_q.sharding.spec),
                "hf_devices": len(hf_q.sharding.device_set),
                "hf_grid_vs_single": float(
                    np.abs(logits(hf_model, grid) - logits(single, mesh_of(data=1))).max()
                ),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
