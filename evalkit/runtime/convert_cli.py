"""`evalkit convert HF_DIR OUT_DIR`: a Hugging Face folder to an evalkit orbax checkpoint.

The output is what `evalkit run --config.model.checkpoint=OUT_DIR` loads. Imports jax lazily so
`evalkit --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers the `convert` subcommand; its `func` is `run`."""
    p = subparsers.add_parser(
        "convert",
        help="convert a Hugging Face model folder to an evalkit checkpoint",
        description=(
            "Convert HF_DIR (config.json, safetensors weights, tokenizer.json; Llama, Mistral, Qwen2, "
            "GPT-2 or OPT) to an orbax checkpoint in OUT_DIR for --config.model.checkpoint=OUT_DIR."
        ),
    )
    p.add_argument("hf_dir", help="local Hugging Face model folder")
    p.add_argument("out_dir", help="directory to write the evalkit checkpoint to")
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default=None,
        help="parameter dtype (default: the dtype of the weights)",
    )
    p.add_argument("--step", type=int, default=0, help="checkpoint step number (default 0)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, overrides: dict[str, str] | None = None) -> int:
    """Loads HF_DIR sharded over all local devices (fsdp) and saves it; returns the exit status."""
    del overrides  # convert takes no --config.* overrides.
    from evalkit.models.checkpoint import save_model
    from evalkit.models.hf_import import load_hf_model
    from evalkit.models.sharded import param_count
    from evalkit.runtime.mesh import make_mesh, mesh_config
    from evalkit.sharding import DEFAULT_RULES

    mesh_cfg = mesh_config()
    mesh_cfg.shape = {"data": 1, "fsdp": -1, "tensor": 1}  # Spread params so big models fit.
    mesh = make_mesh(mesh_cfg)
    model, _, cfg = load_hf_model(args.hf_dir, mesh, DEFAULT_RULES, dtype=args.dtype)
    step_dir = save_model(
        args.out_dir, model, cfg, step=args.step, tokenizer_spec=str(Path(args.hf_dir) / "tokenizer.json")
    )
    summary = {
        "checkpoint": str(args.out_dir),
        "step_dir": str(step_dir),
        "params": param_count(model),
        "dtype": cfg.param_dtype,
    }
    print(json.dumps(summary))
    return 0
