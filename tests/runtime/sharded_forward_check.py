"""Run as a script with 8 fake CPU devices: shards a tiny model on an Auto 4x1x2 and an Explicit
2x2x2 (data x fsdp x tensor) mesh and prints JSON comparing its logits (full forward, KV-cache
decoding on the Auto mesh, and 128-token rows through the row-chunked blocked attention) with the
same parameters run on one device."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import json  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from evalkit.models import attention, tiny  # noqa: E402
from evalkit.runtime import create_model, make_mesh, mesh_config, shard_batch, use_mesh  # noqa: E402

MESHES = {"auto": {"data": 4, "fsdp": 1, "tensor": 2}, "explicit": {"data": 2, "fsdp": 2, "tensor": 2}}


@jax.jit
def forward(graphdef, state, tokens, positions, cache):
    return nnx.merge(graphdef, state)(tokens, positions, None, cache)


def decode(model, tokens, positions):
    """Logits of a prefill of 6 tokens and then two single-token steps."""
    graphdef, state = nnx.split(model)
    cache = jax.jit(lambda m: m.init_cache(tokens.shape[0], 8))(model)
    steps = []
    for lo, hi in ((0, 6), (6, 7), (7, 8)):
        out, cache = forward(graphdef, state, tokens[:, lo:hi], positions[:, lo:hi], cache)
        steps.append(out)
    return np.asarray(jnp.concatenate(steps, axis=1))


def main() -> dict:
    model_cfg = tiny(num_layers=1)  # Init compiles dominate on CPU; one layer keeps this quick.
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, model_cfg.vocab_size, (8, 8)).astype(np.int32)
    positions = np.tile(np.arange(8, dtype=np.int32), (8, 1))
    long_tokens = rng.integers(0, model_cfg.vocab_size, (8, 128)).astype(np.int32)
    long_positions = np.tile(np.arange(128, dtype=np.int32), (8, 1))
    attention.TILE_BYTES = 1  # one row per scan step: every shard scans its own rows

    results, expected = {}, None
    for mode, shape in MESHES.items():
        cfg = mesh_config()
        cfg.shape = shape
        cfg.axis_types = mode
        mesh = make_mesh(cfg)
        model = create_model(model_cfg, mesh, cfg.rules, seed=0)
        graphdef, state = nnx.split(model)
        if expected is None:  # The same parameters, gathered to one device and run without a mesh.
            host_state = jax.device_put(jax.device_get(state), jax.devices()[0])
            expected = np.asarray(
                forward(graphdef, host_state, jnp.asarray(tokens), jnp.asarray(positions), None)[0]
            )
            expected_long = np.asarray(
                forward(graphdef, host_state, jnp.asarray(long_tokens), jnp.asarray(long_positions), None)[0]
            )
        with use_mesh(mesh, cfg.rules):
            sharded_tokens = shard_batch(tokens, mesh, cfg.rules)
            sharded_positions = shard_batch(positions, mesh, cfg.rules)
            full = np.asarray(forward(graphdef, state, sharded_tokens, sharded_positions, None)[0])
            decoded = decode(model, sharded_tokens, sharded_positions) if mode == "auto" else full
            args = (shard_batch(long_tokens, mesh, cfg.rules), shard_batch(long_positions, mesh, cfg.rules))
            long = np.asarray(forward(graphdef, state, *args, None)[0])
        kernel = model.layers[0].attn.q.kernel[...]
        results[mode] = {
            "q_spec": str(kernel.sharding.spec),
            "num_devices": len(kernel.sharding.device_set),
            "full_vs_single_device": float(np.abs(full - expected).max()),
            "decode_vs_single_device": float(np.abs(decoded - expected).max()),
            "blocked_vs_single_device": float(np.abs(long - expected_long).max()),
        }
    return results


if __name__ == "__main__":
    print(json.dumps(main()))
