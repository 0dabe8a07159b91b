"""Generation on a chain-of-thought-like workload: continuous batching vs static batches vs `transformers`.

Real answers stop when the model says so, at lengths nobody knows in advance, long-tailed from a few tokens
to about a thousand. A random model has no such habit, so the workload plants it: every request asks for up
to 1,024 new tokens (greedy) and stops at a per-request stop token id, chosen from a first, untimed greedy
pass so that its first occurrence falls at a target length drawn from a log-normal distribution (median
``--median`` tokens, clipped to 10–1,000, the longest request set to 1,000). No engine sees the target
lengths; a request whose greedy output has no fresh token near its target keeps ``max_new_tokens`` = target
(counted in ``known_lengths``).

Timed, in one process on the same ~21M-parameter Llama (`llama_20m`, float32; evalkit loads the Hugging Face
folder `twin.llama_twin` writes):

* evalkit's continuous engine (``runtime.generate.engine='continuous'``, ``--slots`` slots);
* evalkit's static engine (batches of ``--slots`` rows, decoded until the batch's last row stops);
* ``transformers`` ``generate`` in static batches of ``--slots`` sorted by prompt length, with per-row stop
  ids (a stopping criterion; finished rows are padded until the batch ends), as lm-evaluation-harness's HF
  backend runs generation.

Generated tokens count every token up to and including the stop id. evalkit's compilation time (measured by
its runtime stats) is subtracted from its wall time and reported. The last line printed is one JSON object.

    python benchmarks/generation_mixed.py [--requests 256] [--slots 32] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import jax
import numpy as np
import torch
from machine import cpu_name
from twin import llama_twin

from evalkit.api.requests import Generate
from evalkit.config import runtime_defaults
from evalkit.models import llama_20m
from evalkit.models.hf_import import load_hf_model
from evalkit.runtime import make_mesh, mesh_config
from evalkit.runtime.engines import generator_class
from evalkit.runtime.stats import RuntimeStats

MAX_NEW = 1024
SLACK = 48  # extra greedy tokens the planning pass looks at past a target for a fresh stop id


def target_lengths(n: int, median: float, rng: np.random.Generator) -> list[int]:
    lengths = np.clip(np.round(rng.lognormal(np.log(median), 1.0, n)), 10, 1000).astype(int)
    lengths[int(np.argmax(lengths))] = 1000  # the long tail reaches the cap
    return lengths.tolist()


def make_engine(engine: str, model, mesh, rules, slots: int, stats: RuntimeStats):
    runtime = runtime_defaults()
    runtime.batch.generate_batch = slots
    runtime.generate.engine = engine
    return generator_class(runtime)(model, mesh, rules, runtime, stats)


def plan_stops(engine, prompts: list[list[int]], targets: list[int]) -> list[Generate]:
    """Requests that stop at a stop id first generated at (or soon after) each target length."""
    draft = engine.generate(
        [Generate(tuple(p), max_new_tokens=min(MAX_NEW, t + SLACK)) for p, t in zip(prompts, targets)]
    )
    requests = []
    for i, (p, t, g) in enumerate(zip(prompts, targets, draft)):
        tokens = list(g.tokens)
        stop = next((tokens[j] for j in range(t - 1, len(tokens)) if tokens[j] not in tokens[:j]), None)
        if stop is None:
            requests.append(Generate(tuple(p), max_new_tokens=t, key=f"r{i}"))
        else:
            requests.append(Generate(tuple(p), until=(stop,), max_new_tokens=MAX_NEW, key=f"r{i}"))
    return requests


def generated(requests: list[Generate], outputs: list[list[int]]) -> int:
    """New tokens produced, the stop id included where a request stopped at it."""
    return sum(
        len(o) + (1 if r.until and len(o) < r.max_new_tokens else 0) for r, o in zip(requests, outputs)
    )


def run_evalkit(engine, requests: list[Generate]) -> tuple[list[list[int]], float, float]:
    compile0 = engine.stats.compile_s
    t0 = time.perf_counter()
    out = engine.generate(requests)
    wall = time.perf_counter() - t0
    return [list(g.tokens) for g in out], wall, engine.stats.compile_s - compile0


class RowStops:
    """A `transformers` stopping criterion: row r stops when it generates its own stop id."""

    def __init__(self, stop_ids: list[int]):
        self.stop_ids = torch.tensor(stop_ids)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        return input_ids[:, -1] == self.stop_ids


def run_torch(model, requests: list[Generate], batch: int) -> tuple[list[list[int]], float]:
    from transformers import StoppingCriteriaList

    order = sorted(range(len(requests)), key=lambda i: -len(requests[i].context))
    out: list[list[int] | None] = [None] * len(requests)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            rows = [requests[i] for i in order[start : start + batch]]
            width = max(len(r.context) for r in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, req in enumerate(rows):
                ids[r, width - len(req.context) :] = torch.tensor(req.context)
                mask[r, width - len(req.context) :] = 1
            stops = [req.until[0] if req.until else -1 for req in rows]
            gen = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max(req.max_new_tokens for req in rows),
                do_sample=False,
                use_cache=True,
                pad_token_id=0,
                stopping_criteria=StoppingCriteriaList([RowStops(stops)]),
            )
            for r, i in enumerate(order[start : start + batch]):
                tokens = gen[r, width:].tolist()[: requests[i].max_new_tokens]
                if stops[r] in tokens:
                    tokens = tokens[: tokens.index(stops[r])]
                out[i] = tokens
    return out, time.perf_counter() - t0  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument(
        "--slots", type=int, default=32, help="continuous slots = static and torch batch rows"
    )
    parser.add_argument("--median", type=float, default=64.0, help="median target output length")
    parser.add_argument("--prompt-min", type=int, default=20)
    parser.add_argument("--prompt-max", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="64 requests, median 32 (a smoke run)")
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.median = 64, 32.0
    torch.set_num_threads(os.cpu_count() or 1)

    cfg = llama_20m()
    rng = np.random.default_rng(0)
    prompts = [
        rng.integers(3, cfg.vocab_size, int(rng.integers(args.prompt_min, args.prompt_max + 1))).tolist()
        for _ in range(args.requests)
    ]
    targets = target_lengths(args.requests, args.median, rng)
    tmp = tempfile.TemporaryDirectory(prefix="evalkit-bench-")
    hf = llama_twin(cfg, tmp.name)
    mesh_cfg = mesh_config()
    mesh = make_mesh(mesh_cfg, devices=jax.devices()[:1])
    model = load_hf_model(tmp.name, mesh, mesh_cfg.rules)[0]

    continuous_stats, static_stats = RuntimeStats(), RuntimeStats()
    continuous = make_engine("continuous", model, mesh, mesh_cfg.rules, args.slots, continuous_stats)
    static = make_engine("static", model, mesh, mesh_cfg.rules, args.slots, static_stats)
    t0 = time.perf_counter()
    requests = plan_stops(continuous, prompts, targets)
    plan_s = time.perf_counter() - t0
    planned_compiles = continuous_stats.compiles

    ours, c_wall, c_compile = run_evalkit(continuous, requests)
    print(f"continuous: {c_wall:.1f}s (compile {c_compile:.1f}s)", flush=True)
    theirs, s_wall, s_compile = run_evalkit(static, requests)
    print(f"static: {s_wall:.1f}s (compile {s_compile:.1f}s)", flush=True)
    tokens = generated(requests, ours)
    result = {
        "benchmark": "generation_mixed",
        "cpu": cpu_name(),
        "jax_device": jax.devices()[0].device_kind,
        "requests": args.requests,
        "slots": args.slots,
        "generated_tokens": tokens,
        "mean_output_tokens": round(tokens / args.requests, 1),
        "max_output_tokens": max(len(o) for o in ours),
        "known_lengths": sum(1 for r in requests if not r.until),
        "continuous_tokens_per_s": round(tokens / (c_wall - c_compile), 1),
        "static_tokens_per_s": round(tokens / (s_wall - s_compile), 1),
        "continuous_wall_s": round(c_wall, 2),
        "continuous_compile_s": round(c_compile, 2),
        "static_wall_s": round(s_wall, 2),
        "static_compile_s": round(s_compile, 2),
        "identical_greedy": ours == theirs,
        "compiles": continuous_stats.compiles,  # the whole run, planning pass included
        "continuous_compiles_timed_run": continuous_stats.compiles - planned_compiles,
        "static_compiles": static_stats.compiles,
        "continuous_padding": continuous_stats.as_dict()["padding_fraction"],
        "planning_s": round(plan_s, 1),
    }
    if not args.skip_torch:
        run_torch(hf, requests[:2], args.slots)  # warm-up
        torch_out, t_wall = run_torch(hf, requests, args.slots)
        print(f"torch: {t_wall:.1f}s", flush=True)
        result["torch_tokens_per_s"] = round(generated(requests, torch_out) / t_wall, 1)
        result["torch_wall_s"] = round(t_wall, 2)
        result["torch_threads"] = torch.get_num_threads()
        result["torch_identical_outputs"] = round(
            float(np.mean([a == b for a, b in zip(ours, torch_out)])), 4
        )
        result["ratio_vs_torch"] = round(result["continuous_tokens_per_s"] / result["torch_tokens_per_s"], 2)
    result["ratio_vs_static"] = round(result["continuous_tokens_per_s"] / result["static_tokens_per_s"], 2)
    result["jax"], result["torch"] = jax.__version__, torch.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
