"""`evalkit score --model MODEL --requests FILE.jsonl --out OUT.jsonl`: log-likelihoods of a JSONL file.

MODEL is a config file (``path.py[:arg]`` whose ``model`` section is a ``flax`` model; its ``runtime``
section is used too) or a checkpoint directory (orbax or Hugging Face). Each input line is
``{"id", "context", "continuation"}`` (strings, or lists of token ids; ids unique, at least one line);
each output line is ``{"id", "loglik", "is_greedy", "num_tokens"}``, in input order, written atomically.
``--config.*`` overrides apply to ``model.*`` and ``runtime.*``. Imports jax lazily so ``evalkit --help``
stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ml_collections import ConfigDict

from evalkit.api.textfiles import jsonl_records
from evalkit.errors import UserError
from evalkit.results import writable_dir

FIELDS = ("id", "context", "continuation")
LINE = "_line"  # where read_requests keeps each row's line number (for later messages)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers the `score` subcommand; its `func` is `run`."""
    p = subparsers.add_parser(
        "score",
        help="score the continuations of a JSONL file with a model",
        description=(
            "Write log P(continuation | context) for every line of a JSONL requests file. MODEL is a config "
            "file (path.py[:arg]) with a flax model section, or a checkpoint directory."
        ),
    )
    p.add_argument("--model", required=True, help="config file path.py[:arg] or checkpoint directory")
    p.add_argument("--requests", required=True, help='JSONL file of {"id", "context", "continuation"}')
    p.add_argument(
        "--out", required=True, help='JSONL file to write {"id", "loglik", "is_greedy", "num_tokens"} to'
    )
    p.add_argument(
        "--batch-tokens", type=int, default=None, help="tokens per device batch (runtime.batch.max_tokens)"
    )
    p.set_defaults(func=run)
    return p


def read_requests(path: str | Path) -> list[dict[str, Any]]:
    """Parse and check the requests file (UTF-8, at least one request, unique ids); a UserError names the
    file, line and fix. Each row keeps its line number under ``LINE``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(
            f"requests file {str(path)!r} does not exist; pass a JSONL file with one "
            '{"id", "context", "continuation"} object per line'
        )
    rows = []
    line_of_id: dict[str, int] = {}  # each id, as JSON, -> the line that first has it
    for n, row in jsonl_records(path):
        if not isinstance(row, dict):
            raise UserError(
                f"{path} line {n} is not a JSON object; write one "
                '{"id", "context", "continuation"} object per line'
            )
        for field in FIELDS:
            if field not in row:
                raise UserError(
                    f"{path} line {n} has no {field!r} field; every line needs id, context and continuation"
                )
        for field in FIELDS[1:]:
            value = row[field]
            ok = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
            )
            if not ok:
                raise UserError(f"{path} line {n}: {field} must be a string or a list of token ids")
        key = json.dumps(row["id"], sort_keys=True, ensure_ascii=False)
        if key in line_of_id:
            raise UserError(
                f"{path} lines {line_of_id[key]} and {n} both have id {key}; give every request its own id"
            )
        line_of_id[key] = n
        rows.append({**row, LINE: n})
    if not rows:
        raise UserError(
            f"{path} has no requests (it is empty or only blank lines), so nothing was scored; write one "
            '{"id", "context", "continuation"} object per line'
        )
    return rows


def model_and_runtime(
    spec: str, overrides: dict[str, str], batch_tokens: int | None
) -> tuple[ConfigDict, ConfigDict]:
    """The flax model config and runtime config for MODEL (config file or checkpoint directory)."""
    from evalkit.config import apply_overrides, load_config_file, merge_into, runtime_defaults
    from evalkit.runtime.handle import flax_model_config

    defaults = flax_model_config()
    defaults.name = "flax"
    if not Path(spec).is_dir() and not Path(spec.partition(":")[0]).is_file():
        raise UserError(
            f"--model {spec!r} is neither a checkpoint folder nor a config file; pass an orbax or Hugging "
            "Face folder, or a Python config with get_config() (e.g. configs/flax_model.py)"
        )
    if Path(spec).is_dir():
        model = ConfigDict(defaults.to_dict())
        model.checkpoint = str(spec)
        runtime = runtime_defaults()
    else:
        cfg = load_config_file(spec)
        user_model = cfg.get("model", ConfigDict()).to_dict() if "model" in cfg else {}
        kind = user_model.get("name", "flax")
        if kind != "flax":
            raise UserError(
                f"config {spec!r} has model.name={kind!r}; `evalkit score` needs a flax model "
                "(set model.name='flax' or pass a checkpoint directory)"
            )
        model = merge_into(defaults, user_model, "model")
        user_runtime = cfg.runtime.to_dict() if "runtime" in cfg else {}
        runtime = merge_into(runtime_defaults(), user_runtime, "runtime")
    both = ConfigDict({"model": model, "runtime": runtime})
    bad = [k for k in overrides if not k.startswith(("model.", "runtime."))]
    if bad:
        raise UserError(f"--config.{bad[0]} does not apply to `evalkit score`; only model.* and runtime.* do")
    apply_overrides(both, overrides)
    if batch_tokens is not None:
        if batch_tokens < 1:
            raise UserError(f"--batch-tokens={batch_tokens} must be a positive number of tokens")
        both.runtime.batch.max_tokens = batch_tokens
    return both.model, both.runtime


def run(args: argparse.Namespace, overrides: dict[str, str] | None = None) -> int:
    """Score every request of ``args.requests`` and write ``args.out``; returns the exit status."""
    rows = read_requests(args.requests)
    writable_dir(Path(args.out).parent, "the folder of --out")
    model_cfg, runtime = model_and_runtime(args.model, dict(overrides or {}), args.batch_tokens)

    import jax

    from evalkit.api.requests import Loglikelihood
    from evalkit.models.tokenizers import checked_ids
    from evalkit.results import write_text_atomic
    from evalkit.runtime.handle import load_flax_model

    handle = load_flax_model(model_cfg, runtime)
    vocab_size = int(handle.model.config.vocab_size)
    for r in rows:
        for field in FIELDS[1:]:
            if not isinstance(r[field], str):
                try:
                    checked_ids(r[field], vocab_size, field)
                except UserError as exc:
                    raise UserError(f"{args.requests} line {r[LINE]}: {exc}") from exc
    results = handle.loglikelihood([Loglikelihood(r["context"], r["continuation"]) for r in rows])
    lines = [
        json.dumps(
            {"id": r["id"], "loglik": res.logprob, "is_greedy": res.is_greedy, "num_tokens": res.num_tokens}
        )
        for r, res in zip(rows, results)
    ]
    if jax.process_index() == 0:
        write_text_atomic(args.out, "".join(line + "\n" for line in lines))
        truncated = sum(1 for res in results if res.truncated)
        note = f" ({truncated} left-truncated to fit the context)" if truncated else ""
        plural = "" if len(rows) == 1 else "s"
        print(f"scored {len(rows)} request{plural}{note} -> {args.out}", file=sys.stderr)
    return 0
