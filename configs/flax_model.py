"""A Flax model for `evalkit score` (and a template for run configs that evaluate a model of your own).

Llama-style with a byte tokenizer and random weights, so it runs anywhere in seconds; point
`model.checkpoint` at an orbax checkpoint or a local Hugging Face folder to score a real model (its
shape and tokenizer then come from the checkpoint):

    evalkit score --model configs/flax_model.py --requests requests.jsonl --out scores.jsonl
    evalkit score --model configs/flax_model.py --requests requests.jsonl --out scores.jsonl \\
        --config.model.checkpoint=path/to/hf_or_orbax_folder

For `evalkit run`, copy this file and add a `tasks` section (see configs/quickstart.py).
"""

from ml_collections import ConfigDict


def get_config(arg: str | None = None) -> ConfigDict:
    if arg:
        raise ValueError(f"configs/flax_model.py takes no argument, got {arg!r}")
    c = ConfigDict()
    c.model = ConfigDict(
        {
            "name": "flax",
            "tokenizer": "bytes",
            "vocab_size": 512,  # room for the byte tokenizer's 259 ids
            "num_layers": 2,
            "d_model": 128,
            "num_heads": 4,
            "num_kv_heads": 2,
            "d_ff": 384,
            "max_len": 512,
            "checkpoint": "",  # '' = random weights (init_seed); else an orbax or Hugging Face folder
        }
    )
    return c
