"""evalkit alone on whatever devices JAX sees (GPU, TPU or CPU): scoring, generation and training throughput
with model FLOPs utilisation. No PyTorch (GPU/TPU machines run Python 3.12, where torch stays out).

One call measures the three engines on one model:

    python3 benchmarks/accelerator.py                     # llama_20m, bfloat16 on accelerators
    python3 benchmarks/accelerator.py --model gpt2_small --width 1024 --layers 24   # ~350M params
    python3 benchmarks/accelerator.py --quick             # seconds on CPU (the test suite's smoke run)

Without an install it runs from a checkout (it puts the repository root on sys.path); evalkit needs
ml_collections, which the lent H200 image lacks: carry its wheel (docs/benchmarks.md). MFU uses
`evalkit.train.flops.peak_flops` (dense bf16 peak per chip) with N = the parameters that take part in a
matmul (`matmul_params`: no lookup tables): 2N per generated token, 6N per trained token, and for
scoring 2N per token minus the LM head on unscored slots (the scorer runs the head only where a
continuation is scored); attention is left out, as usual. Compilation is excluded: each engine runs
once to compile, then once timed. Each section prints a JSON line as soon as it is done and the last
line is the whole result. Record the figures and the card in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import jax  # noqa: E402
import numpy as np  # noqa: E402

from evalkit.api.requests import Generate, Loglikelihood  # noqa: E402
from evalkit.config import runtime_defaults  # noqa: E402
from evalkit.models import get_preset  # noqa: E402
from evalkit.models.sharded import param_count  # noqa: E402
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config  # noqa: E402
from evalkit.runtime.handle import flax_model_config, load_flax_model  # noqa: E402
from evalkit.runtime.host_memory import keep_freed_host_memory  # noqa: E402
from evalkit.train.config import train_config  # noqa: E402
from evalkit.train.flops import matmul_params, peak_flops  # noqa: E402
from evalkit.train.trainer import train  # noqa: E402


def model_fields(args: argparse.Namespace) -> dict:
    """The preset's transformer fields with the command line's overrides. A new width keeps the preset's
    head size and its d_ff / d_model and query / KV head ratios; weights are stored in the compute dtype."""
    base = get_preset(args.model)
    overrides = {"dtype": args.dtype, "param_dtype": args.dtype}
    width = 64 if args.quick else args.width
    if width:
        head = base.d_model // base.num_heads
        heads = max(1, width // head)
        group = base.num_heads // base.num_kv_heads
        overrides.update(
            d_model=heads * head,
            num_heads=heads,
            num_kv_heads=max(1, heads // group),
            d_ff=round(base.d_ff * heads * head / base.d_model),
        )
    if args.layers or args.quick:
        overrides["num_layers"] = 2 if args.quick else args.layers
    if args.quick:
        overrides.update(vocab_size=512, max_len=512)
    return dict(get_preset(args.model, **overrides).items())


def emit(name: str, value: dict) -> dict:
    """Prints one section as soon as it is measured, so partial results survive a time limit."""
    print(json.dumps({name: value}), flush=True)
    return value


def utilisation(flops_per_token: float, tokens_per_s: float) -> float | None:
    peaks = [peak_flops(d) for d in jax.devices()]
    if any(p is None for p in peaks):
        return None  # CPUs and unknown chips
    return round(flops_per_token * tokens_per_s / sum(peaks), 4)


def timed(fn, *args):
    """(seconds, result) of the second call; the first one compiles."""
    fn(*args)
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def bench_scoring(handle, n: int, vocab: int, max_len: int, flop_params: int, head_params: int) -> dict:
    rng = np.random.default_rng(0)
    lengths = np.exp(rng.uniform(math.log(16), math.log(max_len), n)).astype(int)
    reqs = []
    for length in lengths:
        ids = rng.integers(3, vocab, int(length)).tolist()
        cont = int(rng.integers(1, min(32, length - 1) + 1))
        reqs.append(Loglikelihood(tuple(ids[:-cont]), tuple(ids[-cont:])))
    tokens = int(sum(lengths)) - n
    scored = sum(len(r.continuation) for r in reqs)
    seconds, _ = timed(handle.loglikelihood, reqs)
    tps = tokens / seconds
    per_token = 2 * (flop_params - head_params) + 2 * head_params * scored / tokens
    return {"tokens": tokens, "tokens_per_s": round(tps, 1), "mfu": utilisation(per_token, tps)}


def bench_generation(handle, n: int, new: int, vocab: int, flop_params: int) -> dict:
    rng = np.random.default_rng(1)
    reqs = [
        Generate(tuple(rng.integers(3, vocab, int(rng.integers(32, 257))).tolist()), max_new_tokens=new)
        for _ in range(n)
    ]
    seconds, out = timed(handle.generate, reqs)
    produced = sum(len(g.tokens) for g in out)  # rows may stop at EOS; prompt tokens are not counted
    tps = produced / seconds
    return {
        "new_tokens": produced,
        "new_tokens_per_s": round(tps, 1),
        "mfu": utilisation(2 * flop_params, tps),
    }


def bench_training(fields: dict, steps: int, batch: int, context: int, vocab: int) -> dict:
    def document(rng: np.random.Generator):
        return rng.integers(3, vocab, context), np.ones(context, bool)

    mesh = make_mesh(mesh_config())  # every device on the data axis
    cfg = train_config(
        steps=steps, batch_size=batch, context_len=context, warmup_steps=0, schedule="constant",
        checkpoint_every=10**6, log_every=10**6, keep_checkpoints=1,
    )  # fmt: skip
    model_cfg = get_preset("tiny", **{**fields, "param_dtype": "float32"})  # float32 master weights
    with tempfile.TemporaryDirectory() as workdir:
        result = train(model_cfg, cfg, document, workdir, mesh, DEFAULT_RULES, progress=False)
    final = result.final or {}
    return {
        "tokens_per_s": round(result.tokens_per_s, 1),
        "mfu": final.get("mfu"),  # 6N with N = matmul_params
        "batch": batch,
        "context": context,
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="llama_20m", help="evalkit preset (tiny, llama_20m, gpt2_small, ...)"
    )
    parser.add_argument("--width", type=int, default=0, help="override d_model (heads and d_ff follow)")
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
    args.dtype = args.dtype or ("float32" if jax.default_backend() == "cpu" else "bfloat16")
    if args.quick:
        args.requests, args.prompts, args.new_tokens, args.train_steps, args.train_batch = 24, 8, 8, 3, 4
    kept = keep_freed_host_memory()  # as the `evalkit` command does (no PyTorch side here)

    import flax
    import orbax.checkpoint

    versions = {"jax": jax.__version__, "flax": flax.__version__, "numpy": np.__version__}
    versions["orbax"] = getattr(orbax.checkpoint, "__version__", "?")
    devices = [str(d) for d in jax.devices()]
    emit("setup", {"versions": versions, "devices": devices, "host_mmap_threshold": kept})

    fields = model_fields(args)
    model_cfg = flax_model_config()
    for key, value in fields.items():
        if key in model_cfg:
            setattr(model_cfg, key, value)
    handle = load_flax_model(model_cfg, runtime_defaults())
    params, flop_params = param_count(handle.model), matmul_params(handle.model)
    head_params = int(fields["d_model"]) * int(fields["vocab_size"])  # tied or not, the LM head's matmul
    vocab, max_len = int(fields["vocab_size"]), min(int(fields["max_len"]), 1024)
    result = {
        "device": jax.devices()[0].device_kind,
        "devices": jax.device_count(),
        "model": args.model,
        "params": params,
        "matmul_params": flop_params,
        "dtype": args.dtype,
    }
    emit("model", dict(result))
    result["scoring"] = emit(
        "scoring", bench_scoring(handle, args.requests, vocab, max_len, flop_params, head_params)
    )
    result["generation"] = emit(
        "generation", bench_generation(handle, args.prompts, args.new_tokens, vocab, flop_params)
    )
    context = min(512, max_len)
    result["training"] = emit(
        "training", bench_training(fields, args.train_steps, args.train_batch, context, vocab)
    )
    result["runtime"] = {k: handle.stats()[k] for k in ("compiles", "compile_s", "padding_fraction")}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
