"""Benchmark: evalkit packed scoring vs lm-eval-style PyTorch `transformers` scoring, same weights.

Request set: N requests (default 5,000; ``--quick``: 128) of 10-1,000 tokens, lengths drawn
log-uniform, random token ids; each continuation is the last 1..``--max-continuation`` tokens
(multiple-choice style), the rest is context.

* evalkit: ``llama_20m`` (float32) via ``load_flax_model`` and ``FlaxModelHandle.loglikelihood``
  (defaults here: runtime.batch.num_buckets=6, max_tokens=8192): packed rows in a few fixed shapes,
  the LM head applied only at scored positions, per-segment reduction on device. Its time includes
  compilation (run on a background thread, overlapping execution).
* PyTorch: ``transformers.LlamaForCausalLM`` (float32, SDPA attention, ``torch.set_num_threads(2)``),
  scored the way lm-evaluation-harness's HF backend does: sort by descending length, fixed batch size,
  right padding, ``log_softmax`` over the full ``[B, T, V]`` logits, then gather each continuation's
  positions.

Both hold the same weights: ``twin.llama_twin`` saves the PyTorch model as a Hugging Face folder and
evalkit loads that folder (``model.checkpoint``), as a user importing a checkpoint would.

``--workload multiple-choice``: questions with 4 choices of 1-20 tokens sharing one context of 20-400
tokens (log-uniform), scored by evalkit twice in one run, with ``runtime.batch.share_prefixes`` on (each
context fed once per question) and off (once per choice). It reports the tokens fed to the model, tokens/s
of the requests' input tokens (the same numerator for both, so the ratio is the time ratio) and the largest
log-likelihood difference between the two (absolute, and relative to the log-likelihood: the sums of
20 float32 log-probs near -10 each are only accurate to about 1e-7 of their size).

Both engines score the same input tokens; tokens/s is input tokens over wall time (``ratio`` = evalkit /
torch). Because the machine may be shared, tokens per CPU-second of each process is reported too. The
last line printed is one JSON object: evalkit_tokens_per_s, torch_tokens_per_s, ratio, padding_fraction
(evalkit), compiles, max_abs_logprob_diff, and more; ``mfu`` (2N FLOPs/token) when on a GPU.

    python benchmarks/scoring.py --quick
    python benchmarks/scoring.py --workload multiple-choice --quick
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
from peer_options import add_keep_host_memory, apply_keep_host_memory

# Peak dense float32 (TF32 tensor-core) FLOP/s by device kind, for MFU on a GPU.
PEAK_FLOPS = {"H100": 494.7e12, "H200": 494.7e12, "A100": 156e12, "L4": 60e12}


def make_requests(n: int, vocab: int, lo: int, hi: int, max_cont: int, seed: int) -> list[tuple[list, list]]:
    """(context, continuation) token lists; total lengths log-uniform in [lo, hi]."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(math.log(lo), math.log(hi + 1), n)).astype(int).clip(lo, hi)
    out = []
    for length in lengths:
        ids = rng.integers(0, vocab, int(length)).tolist()
        cont = int(rng.integers(1, min(max_cont, length - 1) + 1))
        out.append((ids[:-cont], ids[-cont:]))
    return out


def make_choice_requests(
    questions: int, vocab: int, lo: int, hi: int, choices: int, max_cont: int, seed: int
) -> list[tuple[list, list]]:
    """``choices`` (context, continuation) pairs per question, sharing a context of log-uniform [lo, hi]
    tokens; continuations of 1..max_cont tokens."""
    rng = np.random.default_rng(seed)
    lengths = np.exp(rng.uniform(math.log(lo), math.log(hi + 1), questions)).astype(int).clip(lo, hi)
    out = []
    for length in lengths:
        context = rng.integers(0, vocab, int(length)).tolist()
        for _ in range(choices):
            out.append((context, rng.integers(0, vocab, int(rng.integers(1, max_cont + 1))).tolist()))
    return out


def run_evalkit(requests, checkpoint: str, max_tokens: int, num_buckets: int, share: bool = True):
    from evalkit.api.requests import Loglikelihood
    from evalkit.config import runtime_defaults
    from evalkit.runtime.handle import flax_model_config, load_flax_model

    cfg = flax_model_config()
    cfg.checkpoint = checkpoint
    runtime = runtime_defaults()
    runtime.batch.max_tokens = max_tokens
    runtime.batch.num_buckets = num_buckets
    runtime.batch.share_prefixes = share
    handle = load_flax_model(cfg, runtime)
    reqs = [Loglikelihood(tuple(c), tuple(x)) for c, x in requests]
    t0, c0 = time.perf_counter(), time.process_time()
    results = handle.loglikelihood(reqs)
    return handle, results, time.perf_counter() - t0, time.process_time() - c0


def run_torch(model, requests, batch_size: int, max_len: int):
    """lm-eval HF `_loglikelihood_tokens`: sorted by -length, right-padded fixed batches, full log_softmax."""
    import torch
    import torch.nn.functional as F

    order = sorted(range(len(requests)), key=lambda i: (-len(requests[i][0]) - len(requests[i][1]), i))
    out = [None] * len(requests)
    real = padded = 0
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            inps, meta = [], []
            for i in idx:
                ctx, cont = requests[i]
                whole = (ctx + cont)[-(max_len + 1) :]
                inps.append(torch.tensor(whole[:-1], dtype=torch.long))
                meta.append((i, len(whole) - 1, torch.tensor(cont, dtype=torch.long)))
            pad_len = max(len(x) for x in inps)
            batch = torch.stack([F.pad(x, (0, pad_len - len(x))) for x in inps])
            real += sum(len(x) for x in inps)
            padded += batch.numel()
            logprobs = F.log_softmax(model(batch).logits, dim=-1)
            for (i, inplen, cont), lp in zip(meta, logprobs):
                lp = lp[inplen - len(cont) : inplen]
                greedy = bool((lp.argmax(dim=-1) == cont).all())
                out[i] = (float(lp.gather(-1, cont[:, None]).sum()), greedy)
    return out, time.perf_counter() - t0, time.process_time() - c0, 1.0 - real / padded


def main_multiple_choice(args: argparse.Namespace, kept: object) -> None:
    """Shared vs unshared contexts on the multiple-choice workload, one process, same weights."""
    import tempfile

    import jax
    from twin import llama_twin

    from evalkit.models import llama_20m

    questions = 64 if args.quick else args.questions
    model_cfg = llama_20m()
    requests = make_choice_requests(
        questions, model_cfg.vocab_size, 20, 400, 4, args.max_choice_tokens, args.seed
    )
    tokens = sum(len(c) + len(x) - 1 for c, x in requests)
    print(
        f"{questions} questions x 4 choices, {tokens} input tokens, "
        f"device {jax.devices()[0].device_kind} x{jax.device_count()}"
    )
    tmp = tempfile.TemporaryDirectory(prefix="evalkit-bench-")
    llama_twin(model_cfg, tmp.name)
    runs = {}
    for share in (True, False):
        handle, results, wall, _ = run_evalkit(requests, tmp.name, args.max_tokens, args.num_buckets, share)
        stats = handle.stats()
        runs[share] = (results, wall, stats)
        name = "shared" if share else "unshared"
        print(
            f"{name:9s} {wall:6.2f}s ({stats['compile_s']:.1f}s compiling, partly overlapped): "
            f"{stats['real_tokens']} tokens fed, {tokens / wall:.0f} tokens/s "
            f"({tokens / max(1e-9, stats['device_s']):.0f} without waiting for compilation), "
            f"padding {stats['padding_fraction']:.3f}, {stats['compiles']} compiles"
        )
    (shared, s_wall, s_stats), (alone, u_wall, u_stats) = runs[True], runs[False]
    diff = max(abs(a.logprob - b.logprob) for a, b in zip(shared, alone, strict=True))
    rel = max(abs(a.logprob - b.logprob) / max(1.0, abs(b.logprob)) for a, b in zip(shared, alone))
    same_greedy = all(a.is_greedy == b.is_greedy for a, b in zip(shared, alone, strict=True))
    summary = {
        "workload": "multiple-choice",
        "questions": questions,
        "requests": len(requests),
        "tokens": tokens,
        "shared_fed_tokens": s_stats["real_tokens"],
        "unshared_fed_tokens": u_stats["real_tokens"],
        "shared_tokens_per_s": round(tokens / s_wall, 1),
        "unshared_tokens_per_s": round(tokens / u_wall, 1),
        "speedup": round(u_wall / s_wall, 3),
        "speedup_excl_compile": round(u_stats["device_s"] / max(1e-9, s_stats["device_s"]), 3),
        "max_abs_logprob_diff": float(f"{diff:.3e}"),
        "max_rel_logprob_diff": float(f"{rel:.3e}"),
        "identical_greedy": same_greedy,
        "compiles": {"shared": s_stats["compiles"], "unshared": u_stats["compiles"]},
        "host_mmap_threshold": kept,
    }
    print(
        f"speedup {summary['speedup']:.2f}x, max |logprob diff| {diff:.2e} ({rel:.1e} relative), "
        f"identical greedy {same_greedy}"
    )
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", choices=("mixed", "multiple-choice"), default="mixed")
    parser.add_argument("--questions", type=int, default=1000, help="multiple-choice questions (4 choices)")
    parser.add_argument("--max-choice-tokens", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="128 requests instead of 5,000")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--min-len", type=int, default=10)
    parser.add_argument("--max-len", type=int, default=1000)
    parser.add_argument("--max-continuation", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=8192, help="evalkit runtime.batch.max_tokens")
    parser.add_argument("--num-buckets", type=int, default=6, help="evalkit runtime.batch.num_buckets")
    parser.add_argument("--torch-batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-torch", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    add_keep_host_memory(parser)
    args = parser.parse_args()
    kept = apply_keep_host_memory(args)
    if args.workload == "multiple-choice":
        return main_multiple_choice(args, kept)
    n = 128 if args.quick else args.requests

    import tempfile

    import jax
    import torch
    from twin import llama_twin

    from evalkit.models import llama_20m
    from evalkit.models.sharded import param_count

    torch.set_num_threads(args.threads)
    model_cfg = llama_20m()
    requests = make_requests(
        n, model_cfg.vocab_size, args.min_len, args.max_len, args.max_continuation, args.seed
    )
    tokens = sum(len(c) + len(x) - 1 for c, x in requests)
    print(f"{n} requests, {tokens} input tokens, device {jax.devices()[0].device_kind} x{jax.device_count()}")

    tmp = tempfile.TemporaryDirectory(prefix="evalkit-bench-")  # removed when the script exits
    folder = tmp.name
    tmodel = llama_twin(model_cfg, folder)
    handle, results, ek_wall, ek_cpu = run_evalkit(requests, folder, args.max_tokens, args.num_buckets)
    stats = handle.stats()
    ek_tps = tokens / ek_wall
    # device_s: the engine's wall time minus time spent waiting for compilation (which overlaps execution).
    ek_tps_warm = tokens / max(1e-9, stats["device_s"])
    params = param_count(handle.model)
    print(
        f"evalkit: {ek_wall:.2f}s ({stats['compile_s']:.2f}s compiling, partly overlapped), {ek_tps:.0f} "
        f"tokens/s ({ek_tps_warm:.0f} without waiting for compilation), padding {stats['padding_fraction']:.3f}, "
        f"{stats['compiles']} compiles, {params / 1e6:.1f}M params"
    )
    summary = {
        "requests": n,
        "tokens": tokens,
        "evalkit_tokens_per_s": round(ek_tps, 1),
        "evalkit_tokens_per_s_excl_compile": round(ek_tps_warm, 1),
        "padding_fraction": stats["padding_fraction"],
        "compiles": stats["compiles"],
        "compile_s": stats["compile_s"],
        "evalkit_tokens_per_cpu_s": round(tokens / ek_cpu, 1),
    }
    platform = jax.devices()[0].platform
    if platform == "gpu":
        kind = jax.devices()[0].device_kind
        peak = next((v for k, v in PEAK_FLOPS.items() if k in kind), None)
        if peak:
            # Scoring is forward-only (2N FLOPs/token); 6N (training convention) reported alongside.
            summary["mfu"] = round(2 * params * ek_tps_warm / (peak * jax.device_count()), 4)
            summary["mfu_6n"] = round(6 * params * ek_tps_warm / (peak * jax.device_count()), 4)
            print(f"MFU (2N, excl. compile): {summary['mfu']:.2%}")
    if not args.skip_torch:
        ref, th_wall, th_cpu, th_pad = run_torch(tmodel, requests, args.torch_batch, model_cfg.max_len)
        th_tps = tokens / th_wall
        diff = max(abs(r.logprob - lp) for r, (lp, _) in zip(results, ref))
        greedy_agree = float(np.mean([r.is_greedy == g for r, (_, g) in zip(results, ref)]))
        print(
            f"torch:   {th_wall:.2f}s, {th_tps:.0f} tokens/s, padding {th_pad:.3f}, batch {args.torch_batch}"
        )
        print(
            f"ratio {ek_tps / th_tps:.2f}x, max |logprob diff| {diff:.2e}, greedy agreement {greedy_agree:.3f}"
        )
        summary.update(
            torch_tokens_per_s=round(th_tps, 1),
            torch_padding_fraction=round(th_pad, 4),
            ratio=round(ek_tps / th_tps, 3),
            torch_tokens_per_cpu_s=round(tokens / th_cpu, 1),
            cpu_time_ratio=round(th_cpu / ek_cpu, 3),
            max_abs_logprob_diff=float(f"{diff:.3e}"),
            greedy_agreement=greedy_agree,
        )
    summary["torch_threads"] = args.threads
    summary["host_mmap_threshold"] = kept
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
