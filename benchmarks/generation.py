"""Greedy generation throughput: evalkit's jitted KV-cache decoding vs Hugging Face `model.generate` on CPU.

Both run the same ~21M-param Llama (`llama_20m`, float32; evalkit imports the PyTorch model's
Hugging Face folder written by `twin.llama_twin`) on the same prompts, in the same length-sorted, left-padded batches, with KV caches and no
early stop. Compilation is excluded from evalkit's timed run (reported separately); each side gets
a warm-up. The last line printed is one JSON object.

    python benchmarks/generation.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import jax
import numpy as np
import torch
from peer_options import add_keep_host_memory, apply_keep_host_memory
from twin import llama_twin

from evalkit.api.requests import Generate
from evalkit.config import runtime_defaults
from evalkit.models import llama_20m
from evalkit.models.hf_import import load_hf_model
from evalkit.runtime import make_mesh, mesh_config
from evalkit.runtime.generation import Generator
from evalkit.runtime.stats import RuntimeStats


def make_prompts(n: int, lo: int, hi: int, vocab: int) -> list[list[int]]:
    rng = np.random.default_rng(0)
    return [rng.integers(3, vocab, int(rng.integers(lo, hi + 1))).tolist() for _ in range(n)]


def run_evalkit(generator: Generator, prompts, new_tokens: int) -> tuple[list[list[int]], float]:
    requests = [Generate(tuple(p), max_new_tokens=new_tokens) for p in prompts]
    t0 = time.perf_counter()
    out = generator.generate(requests)
    return [list(g.tokens) for g in out], time.perf_counter() - t0


def run_torch(model, prompts, new_tokens: int, batch: int) -> tuple[list[list[int]], float]:
    """Length-sorted, left-padded batches through `model.generate` (greedy, KV cache)."""
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out: list[list[int] | None] = [None] * len(prompts)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            rows = [prompts[i] for i in order[start : start + batch]]
            width = max(len(r) for r in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, row in enumerate(rows):
                ids[r, width - len(row) :] = torch.tensor(row)
                mask[r, width - len(row) :] = 1
            gen = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=new_tokens,
                do_sample=False,
                use_cache=True,
            )
            for r, i in enumerate(order[start : start + batch]):
                out[i] = gen[r, width:].tolist()
    return out, time.perf_counter() - t0  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 prompts of 32-128 tokens, 32 new tokens")
    parser.add_argument("--batch", type=int, default=32, help="rows per batch, both frameworks")
    parser.add_argument("--repeats", type=int, default=0, help="timed runs per side (best kept)")
    add_keep_host_memory(parser)
    args = parser.parse_args()
    kept = apply_keep_host_memory(args)
    torch.set_num_threads(2)
    n, lo, hi, new = (16, 32, 128, 32) if args.quick else (64, 32, 256, 64)
    repeats = args.repeats or 3

    cfg = llama_20m()
    tmp = tempfile.TemporaryDirectory(prefix="evalkit-bench-")  # removed when the script exits
    folder = tmp.name
    hf = llama_twin(cfg, folder)
    prompts = make_prompts(n, lo, hi, cfg.vocab_size)
    mesh_cfg = mesh_config()
    mesh = make_mesh(mesh_cfg, devices=jax.devices()[:1])
    model = load_hf_model(folder, mesh, mesh_cfg.rules)[0]
    runtime = runtime_defaults()
    runtime.batch.generate_batch = args.batch
    stats = RuntimeStats()
    generator = Generator(model, mesh, mesh_cfg.rules, runtime, stats)

    t0 = time.perf_counter()
    run_evalkit(generator, prompts, new)  # warm-up: compiles every shape the timed runs use
    warm_s = time.perf_counter() - t0
    run_torch(hf, prompts[:2], 4, args.batch)  # warm-up
    jax_times, torch_times = [], []
    for _ in range(repeats):  # interleaved, best of each: the CPU is shared
        ours, seconds = run_evalkit(generator, prompts, new)
        jax_times.append(seconds)
        theirs, seconds = run_torch(hf, prompts, new, args.batch)
        torch_times.append(seconds)
        print(f"evalkit {jax_times[-1]:.2f}s  torch {torch_times[-1]:.2f}s", flush=True)

    agree = sum(a == b for a, b in zip(ours, theirs)) / n
    tokens_agree = np.mean([np.mean(np.asarray(a) == np.asarray(b)) for a, b in zip(ours, theirs)])
    total = n * new
    jax_tps, torch_tps = total / min(jax_times), total / min(torch_times)
    result = {
        "evalkit_new_tokens_per_s": round(jax_tps, 1),
        "torch_new_tokens_per_s": round(torch_tps, 1),
        "ratio": round(jax_tps / torch_tps, 2),
        "compiles": stats.compiles,
        "agreement": round(agree, 4),
        "token_agreement": round(float(tokens_agree), 4),
        "compile_s": round(stats.compile_s, 2),
        "evalkit_first_run_s": round(warm_s, 2),
        "prompts": n,
        "new_tokens": new,
        "batch": generator.batch_size,
        "quick": args.quick,
        "host_mmap_threshold": kept,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
