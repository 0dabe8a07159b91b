"""Shared fixtures for tests/runtime/test_generation.py, and a script that generates on sharded meshes.

    python generation_check.py [static|continuous]   # 8 fake devices: data=8, data=4 x tensor=2, explicit 2x2x2

prints one JSON line, {mesh name: [[tokens], ...]} for `REQUESTS` with that engine (default static);
`print_process_generations(engine)` does the same in each process of a `jax.distributed` group (4 devices
per process, data x tensor=2).
"""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":  # device count must be set before jax starts
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from evalkit.api.requests import Generate  # noqa: E402
from evalkit.config import runtime_defaults  # noqa: E402
from evalkit.models import Transformer, VocabTokenizer, transformer_config  # noqa: E402
from evalkit.runtime import make_mesh, mesh_config  # noqa: E402
from evalkit.runtime.engines import generator_class  # noqa: E402
from evalkit.runtime.generation import Generator  # noqa: E402
from evalkit.runtime.stats import RuntimeStats  # noqa: E402

# Multi-character tokens so a stop string can start inside a token; no BOS or EOS by default.
TOKENIZER = VocabTokenizer([*"abcdefghijklmnop", "ab", "cde", "fg", "xyz"], specials={"pad": "<pad>"})
MODEL = transformer_config(
    vocab_size=TOKENIZER.vocab_size,
    num_layers=2,
    d_model=32,
    num_heads=4,
    num_kv_heads=2,
    d_ff=64,
    max_len=32,
)
# Greedy, sampled (top-k / top-p), stop strings, stop ids, token form: 5 requests, two batches of 4.
REQUESTS = [
    Generate("abcdefg", max_new_tokens=16, key="greedy"),
    Generate("hello", until=("jk", "ml"), max_new_tokens=12, temperature=1.0, top_k=8, top_p=0.9, key="s1"),
    Generate((3, 4, 5), until=(7,), max_new_tokens=9, temperature=0.8, seed=3, key="s2"),
    Generate("xyzab", max_new_tokens=5, key="short"),
    Generate("pon", max_new_tokens=16, temperature=1.5, key="s3"),
]


def make_model(seed: int = 0) -> Transformer:
    """The test model with fixed numpy weights (std 0.3, so greedy choices are not near-ties); no compiles."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: Transformer(MODEL, rngs=nnx.Rngs(0))))
    rng = np.random.default_rng(seed)

    def init(path, leaf):
        if "scale" in jax.tree_util.keystr(path):
            return np.ones(leaf.shape, leaf.dtype)
        return (0.3 * rng.standard_normal(leaf.shape)).astype(leaf.dtype)

    return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(init, state))


def make_generator(
    shape: dict[str, int],
    devices=None,
    axis_types: str = "auto",
    tokenizer=TOKENIZER,
    stats: RuntimeStats | None = None,
    model: Transformer | None = None,
    engine: str = "static",
    prefill_chunk: int = 4,
    **runtime,
) -> Generator:
    """A generator (`engine`: static or continuous) over a data x fsdp x tensor mesh with 4-row batches or
    4 slots (`stats` holds compiled programs); continuous prefill in chunks of `prefill_chunk` tokens, so the
    test prompts take several chunks."""
    cfg = mesh_config()
    cfg.shape = {"data": 1, "fsdp": 1, "tensor": 1, **shape}
    cfg.axis_types = axis_types
    mesh = make_mesh(cfg, devices=devices)
    rt = runtime_defaults()
    rt.batch.generate_batch = 4
    rt.generate.engine = engine
    rt.generate.prefill_chunk = prefill_chunk
    for key, value in runtime.items():
        rt[key] = value
    model = make_model() if model is None else model
    return generator_class(rt)(model, mesh, cfg.rules, rt, stats or RuntimeStats(), tokenizer)


def tokens_of(generator: Generator) -> list[list[int]]:
    return [list(g.tokens) for g in generator.generate(REQUESTS)]


def print_process_generations(engine: str = "static") -> None:
    """In each process of a started `jax.distributed` group: every generation, as this process sees it."""
    generator = make_generator({"data": jax.device_count() // 2, "tensor": 2}, engine=engine)
    print(json.dumps({f"process{jax.process_index()}": tokens_of(generator)}), flush=True)


def main(engine: str = "static") -> None:
    out = {
        "data8": tokens_of(make_generator({"data": 8}, engine=engine)),
        "data4_tensor2": tokens_of(make_generator({"data": 4, "tensor": 2}, engine=engine)),
        "explicit_2x2x2": tokens_of(
            make_generator({"data": 2, "fsdp": 2, "tensor": 2}, axis_types="explicit", engine=engine)
        ),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:2])
