"""evalkit alone on whatever devices JAX sees (GPU, TPU or CPU): scoring, generation and training throughput
with model FLOPs utilisation. No PyTorch (GPU/TPU machines run Python 3.12, where torch stays out).

One call measures the three engines on one model and prints one JSON object on its last line:

    python benchmarks/accelerator.py                      # llama_20m, bfloat16 on accelerators
    python benchmarks/accelerator.py --model gpt2_small --width 1024 --layers 24   # a bigger model
    python benchmarks/accelerator.py --quick              # seconds on CPU (the test suite's smoke run)

MFU uses `evalkit.train.flops.peak_flops` (dense bf16 peak per chip): 2N FLOPs per scored or generated
token, 6N per trained token, attention left out (as usual). Compilation is excluded from every rate:
each engine runs once to compile, then once timed. Record the figures and the card in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time

import jax
import numpy as np

from evalkit.api.requests import Generate, Loglikelihood
from evalkit.config import runtime_defaults
from evalkit.models import get_preset
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config
from evalkit.runtime.handle import flax_model_config, load_flax_model
from evalkit.runtime.mesh import param_count
from evalkit.train.config import train_config
from evalkit.train.flops import peak_flops
from evalkit.train.trainer import train


def model_fields(args: argparse.Namespace) -> dict:
    """The preset's transformer fields with the command line's overrides."""
    overrides = {"dtype": args.dtype}
    if args.width:
        overrides.update(
            d_model=args.width, d_ff=4 * args.width if args.model != "llama_20m" else 3 * args.width
        )
    if args.layers:
        overrides["num_layers"] = args.layers
    if args.quick:
        overrides.update(num_layers=2, d_model=64, d_ff=192, vocab_size=512, max_len=512)
    cfg = get_preset(args.model, **overrides)
    return {k: v for k, v in cfg.items()}


def utilisation(flops_per_token: float, tokens_per_s: float) -> float | None:
    peaks = [peak_flops(d) for d in jax.devices()]
    if any(p is None for p in peaks):
        return None  # CPUs and unknown chips
    return round(flops_per_token * tokens_per_s / sum(peaks), 4)


def timed(fn, *args):
    """Seconds of the second call (the first one compiles)."""
    fn(*args)
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def bench_scoring(handle, n: int, vocab: int, max_len: int, params: int) -> dict:
    rng = np.random.default_rng(0)
    lengths = np.exp(rng.uniform(math.log(16), math.log(max_len), n)).astype(int)
    reqs = []
    for length in lengths:
        ids = rng.integers(3, vocab, int(length)).tolist()
        cont = int(rng.integers(1, min(32, length - 1) + 1))
        reqs.append(Loglikelihood(tuple(ids[:-cont]), tuple(ids[-cont:])))
    tokens = int(sum(lengths)) - n
    seconds = timed(handle.loglikelihood, reqs)
    tps = tokens / seconds
    return {"tokens": tokens, "tokens_per_s": round(tps, 1), "mfu_2n": utilisation(2 * params, tps)}


def bench_generation(handle, n: int, new: int, vocab: int, params: int) -> dict:
    rng = np.random.default_rng(1)
    reqs = [
        Generate(tuple(rng.integers(3, vocab, int(rng.integers(32, 257))).tolist()), max_new_tokens=new)
        for _ in range(n)
    ]
    seconds = timed(handle.generate, reqs)
    tps = n * new / seconds
    return {"new_tokens": n * new, "new_tokens_per_s": round(tps, 1), "mfu_2n": utilisation(2 * params, tps)}


def bench_training(fields: dict, steps: int, batch: int, context: int, vocab: int) -> dict:
    def document(rng: np.random.Generator):
        return rng.integers(3, vocab, context), np.ones(context, bool)

    mesh = make_mesh(mesh_config())  # every device on the data axis
    cfg = train_config(
        steps=steps, batch_size=batch, context_len=context, warmup_steps=0, schedule="constant",
        checkpoint_every=10**6, log_every=10**6, keep_checkpoints=1,
    )  # fmt: skip
    model_cfg = get_preset("tiny", **{k: v for k, v in fields.items() if k != "name"})
    model_cfg.param_dtype = "float32"  # master weights; compute in fields["dtype"]
    with tempfile.TemporaryDirectory() as workdir:
        result = train(model_cfg, cfg, document, workdir, mesh, DEFAULT_RULES, progress=False)
    final = result.final or {}
    return {
        "tokens_per_s": round(result.tokens_per_s, 1),
        "mfu_6n": final.get("mfu"),
        "batch": batch,
        "context": context,
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="llama_20m", help="evalkit preset (tiny, llama_20m, gpt2_small, ...)"
    )
    parser.add_argument("--width", type=int, default=0, help="override d_model (d_ff follows)")
    parser.add_argument("--layers", type=int, default=0, help="override num_layers")
    parser.add_argument(
        "--dtype", default="", help="compute dtype (default: bfloat16 on GPU/TPU, float32 on CPU)"
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--train-batch", type=int, default=64)
    parser.add_argument(
        "--quick", action="store_true", help="a tiny model and a few requests (CPU smoke run)"
    )
    args = parser.parse_args()
    on_cpu = jax.devices()[0].platform == "cpu"
    args.dtype = args.dtype or ("float32" if on_cpu else "bfloat16")
    if args.quick:
        args.requests, args.prompts, args.new_tokens, args.train_steps, args.train_batch = 24, 8, 8, 3, 4

    fields = model_fields(args)
    model_cfg = flax_model_config()
    for key, value in fields.items():
        if key in model_cfg:
            setattr(model_cfg, key, value)
    model_cfg.tokenizer = "bytes"
    runtime = runtime_defaults()
    handle = load_flax_model(model_cfg, runtime)
    params = param_count(handle.model)
    vocab, max_len = int(fields["vocab_size"]), min(int(fields["max_len"]), 1024)
    result = {
        "device": jax.devices()[0].device_kind,
        "devices": jax.device_count(),
        "model": args.model,
        "params": params,
        "dtype": args.dtype,
        "scoring": bench_scoring(handle, args.requests, vocab, max_len, params),
        "generation": bench_generation(handle, args.prompts, args.new_tokens, vocab, params),
        "training": bench_training(fields, args.train_steps, args.train_batch, min(512, max_len), vocab),
        "runtime": {k: handle.stats()[k] for k in ("compiles", "compile_s", "padding_fraction")},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
