"""Training throughput (tokens/s) on CPU: evalkit's `train()` vs a plain PyTorch loop on the same model.

Both train the same Llama-style decoder (4 layers, d_model 256, 8 heads, SwiGLU d_ff 768, RoPE,
RMSNorm, untied head, vocab 4096; float32) on the same packed batches (`make_batch`, 16 rows x 256
tokens) with AdamW, global-norm clipping and masked mean cross-entropy. PyTorch runs eagerly on 2
threads with `scaled_dot_product_attention`, either a minimal hand-written decoder (default) or
`transformers.LlamaForCausalLM` (`--torch-impl hf`). Warm-up steps (and evalkit's compilation) are
excluded; the sides alternate short rounds and `ratio` compares their best rounds (`median_ratio`
the medians), which damps noise
from other work on a shared machine. The last line printed is one JSON object.

    python benchmarks/training.py [--quick] [--torch-impl minimal|hf] [--size default|probe]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time

import jax
import numpy as np
import torch
import torch.nn.functional as F
from peer_options import add_keep_host_memory, apply_keep_host_memory
from torch import nn

from evalkit.models import transformer_config
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config
from evalkit.train.config import train_config
from evalkit.train.data import make_batch
from evalkit.train.trainer import train

# --size: the default 5.5M-parameter model, or the quickstart's probe dimensions (2 layers, d_model 64;
# with RoPE / SwiGLU / RMSNorm like the default, as the PyTorch twin implements those).
SIZES = {
    "default": (dict(
        vocab_size=4096, num_layers=4, d_model=256, num_heads=8, num_kv_heads=8, d_ff=768, max_len=256,
        mlp="swiglu", norm="rmsnorm", position="rope",
    ), 256, 4),
    "probe": (dict(
        vocab_size=64, num_layers=2, d_model=64, num_heads=4, num_kv_heads=4, d_ff=256, max_len=96,
        mlp="swiglu", norm="rmsnorm", position="rope",
    ), 96, 50),
}  # fmt: skip
MODEL, CONTEXT, _ = SIZES["default"]  # (model, context length, timed steps per round); main() may switch
BATCH = 16
OPT = dict(lr=1e-3, b1=0.9, b2=0.99, weight_decay=0.1, clip_norm=1.0)


def random_document(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A full-row document of random tokens, loss everywhere."""
    return rng.integers(1, MODEL["vocab_size"], CONTEXT), np.ones(CONTEXT, bool)


# --- PyTorch ------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.scale, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.scale


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE on [B, H, T, Dh] (the evalkit / Hugging Face Llama convention)."""
    a, b = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-b, a), dim=-1) * sin


class Block(nn.Module):
    def __init__(self, d: int, h: int, f: int):
        super().__init__()
        self.h = h
        self.attn_norm, self.mlp_norm = RMSNorm(d), RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)  # q, k, v fused: same parameter count as three
        self.o = nn.Linear(d, d, bias=False)
        self.gate_up = nn.Linear(d, 2 * f, bias=False)
        self.down = nn.Linear(f, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(rope(q, cos, sin), rope(k, cos, sin), v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, d))
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up)


class Decoder(nn.Module):
    """Minimal Llama-style decoder with evalkit's architecture and parameter count."""

    def __init__(self, cfg: dict):
        super().__init__()
        d, h, f, v = cfg["d_model"], cfg["num_heads"], cfg["d_ff"], cfg["vocab_size"]
        self.embed = nn.Embedding(v, d)
        self.layers = nn.ModuleList(Block(d, h, f) for _ in range(cfg["num_layers"]))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, v, bias=False)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)
        dh = d // h
        inv = 1.0 / (10_000.0 ** (torch.arange(0, dh, 2).float() / dh))
        angles = torch.arange(cfg["max_len"]).float()[:, None] * inv[None]
        self.register_buffer("cos", torch.cat((angles, angles), -1).cos(), persistent=False)
        self.register_buffer("sin", torch.cat((angles, angles), -1).sin(), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        cos, sin = self.cos[:t], self.sin[:t]
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.head(self.norm(x))


def hf_decoder(cfg: dict) -> nn.Module:
    """`transformers.LlamaForCausalLM` with the same shapes, returning logits."""
    from transformers import LlamaConfig, LlamaForCausalLM

    hf = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=cfg["vocab_size"], hidden_size=cfg["d_model"], intermediate_size=cfg["d_ff"],
            num_hidden_layers=cfg["num_layers"], num_attention_heads=cfg["num_heads"],
            num_key_value_heads=cfg["num_kv_heads"], max_position_embeddings=cfg["max_len"],
            tie_word_embeddings=False, attn_implementation="sdpa",
        )
    )  # fmt: skip

    class Logits(nn.Module):
        def __init__(self):
            super().__init__()
            self.hf = hf

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.hf(input_ids=tokens, use_cache=False).logits

    return Logits()


def torch_decay_groups(model: nn.Module) -> list[dict]:
    """Weight decay on matrices only, as evalkit does."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": OPT["weight_decay"]},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


class TorchRun:
    """A PyTorch training loop over the same batches evalkit trains on."""

    def __init__(self, impl: str):
        torch.manual_seed(0)
        self.model = (Decoder(MODEL) if impl == "minimal" else hf_decoder(MODEL)).train()
        self.opt = torch.optim.AdamW(
            torch_decay_groups(self.model), lr=OPT["lr"], betas=(OPT["b1"], OPT["b2"]), foreach=True
        )
        self.params = sum(p.numel() for p in self.model.parameters())

    def steps(self, first: int, n: int) -> float:
        """Runs steps [first, first + n); returns the wall time."""
        t0 = time.perf_counter()
        for step in range(first, first + n):
            batch = make_batch(random_document, step, 0, BATCH, CONTEXT, "concat")
            tokens = torch.from_numpy(batch["tokens"]).long()
            targets = torch.from_numpy(batch["targets"]).long()
            mask = torch.from_numpy(batch["loss_mask"]).float()
            logits = self.model(tokens)
            ce = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), reduction="none")
            loss = (ce * mask.view(-1)).sum() / mask.sum().clamp(min=1.0)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), OPT["clip_norm"], foreach=True)
            self.opt.step()
        return time.perf_counter() - t0


# --- evalkit ------------------------------------------------------------------------------------------


def evalkit_round(steps: int, mesh: jax.sharding.Mesh) -> tuple[float, dict]:
    """One `train()` call; its tokens/s excludes the first (compiling) step and checkpointing."""
    cfg = train_config(
        steps=steps, batch_size=BATCH, context_len=CONTEXT, warmup_steps=0, schedule="constant",
        checkpoint_every=10**6, log_every=10**6, keep_checkpoints=1, **OPT,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:
        result = train(
            transformer_config(**MODEL), cfg, random_document, workdir, mesh, DEFAULT_RULES, progress=False
        )
    return result.tokens_per_s, result.final


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 rounds of 2 timed steps (default: 5 rounds of 4, probe size 50)",
    )
    parser.add_argument("--torch-impl", choices=("minimal", "hf"), default="minimal")
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--size", choices=tuple(SIZES), default="default", help="model size (see SIZES)")
    add_keep_host_memory(parser)
    args = parser.parse_args()
    global MODEL, CONTEXT
    MODEL, CONTEXT, full_steps = SIZES[args.size]
    kept = apply_keep_host_memory(args)
    steps = 2 if args.quick else full_steps
    rounds = args.rounds or (3 if args.quick else 5)
    torch.set_num_threads(2)
    mesh = make_mesh(mesh_config(), devices=jax.devices()[:1])

    run = TorchRun(args.torch_impl)
    run.steps(0, 2)  # warm-up
    ours, theirs, params = [], [], 0
    cpu_ours, cpu_theirs = [], []  # process CPU seconds per step: less sensitive to other load
    for r in range(rounds):
        # +1 step: train() leaves its first step (compilation in round 0) out of its timing.
        cpu = _cpu_s()
        tps, final = evalkit_round(steps + 1, mesh)
        if r:  # round 0 compiles; later rounds' CPU time still includes train()'s checkpoint writes
            cpu_ours.append((_cpu_s() - cpu) / (steps + 1))
        params = final["params"]
        assert run.params == params, f"parameter counts differ: torch {run.params}, evalkit {params}"
        ours.append(tps)
        cpu = _cpu_s()
        theirs.append(steps * BATCH * CONTEXT / run.steps(100 * (r + 1), steps))
        cpu_theirs.append((_cpu_s() - cpu) / steps)
        print(f"round {r}: evalkit {ours[-1]:,.0f} tok/s, torch ({args.torch_impl}) {theirs[-1]:,.0f} tok/s")
    best_ours, best_theirs = max(ours), max(theirs)
    result = {
        "evalkit_tokens_per_s": round(best_ours, 1),
        "torch_tokens_per_s": round(best_theirs, 1),
        "ratio": round(best_ours / best_theirs, 3),
        "median_ratio": round(float(np.median(ours) / np.median(theirs)), 3),
        "evalkit_cpu_s_per_step": round(float(np.median(cpu_ours)), 3) if cpu_ours else None,
        "torch_cpu_s_per_step": round(float(np.median(cpu_theirs)), 3),
        "params": params,
        "torch_impl": args.torch_impl,
        "size": args.size,
        "train_flops_per_step": 6 * params * BATCH * CONTEXT,
        "steps_per_round": steps,
        "rounds": rounds,
        "quick": args.quick,
        "host_mmap_threshold": kept,
        "note": "best (and median) of alternating rounds; float32; 2 CPU threads",
    }
    assert math.isfinite(result["ratio"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
