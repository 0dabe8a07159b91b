"""CIF-Bench (public split) on a model, scored with evalkit's offline proxy metrics ("CIF-Bench (evalkit
proxy)": label accuracy, set F1, exact match / character F1, chrF; never the paper's GPT-4 / BLEURT score).

    evalkit run configs/cif_bench.py --config.model.checkpoint=path/to/hf_instruct_model
    evalkit run configs/cif_bench.py:smoke      # 2 items of every task on a tiny random byte-level model
                                                # (also configs/cif_bench_smoke.py)

The data is read from ../shared/data/cif-bench (or $EVALKIT_CIF_BENCH_DIR, or
--config.tasks.cif_bench.manual_dir=DIR) and checked against its MANIFEST.sha256. Task 1 is broken
upstream and excluded (suite cif_bench_all includes it). The prompt is the task's instruction, a newline and
the input, through the model's chat template when it has one. Results: per task, per metric class, per
category (evalkit's own task -> category assignment) and overall, macro over tasks with bootstrap CIs.
"""

from ml_collections import ConfigDict


def get_config(arg: str | None = None) -> ConfigDict:
    if arg not in (None, "", "smoke"):
        raise ValueError(f"unknown argument {arg!r}; use configs/cif_bench.py or configs/cif_bench.py:smoke")
    smoke = arg == "smoke"
    c = ConfigDict()
    c.name = "cif-bench-smoke" if smoke else "cif-bench"
    c.output_dir = "runs/cif-bench-smoke" if smoke else "runs/cif-bench"
    c.model = ConfigDict(
        {
            "name": "flax",
            "checkpoint": "",  # a local Hugging Face folder or orbax checkpoint (shape and tokenizer from it)
            "chat_template": "auto",
            "tokenizer": "bytes",  # used only without a checkpoint: a random byte-level model
            "vocab_size": 512,
            "num_layers": 2,
            "d_model": 64,
            "num_heads": 4,
            "num_kv_heads": 2,
            "d_ff": 128,
            "max_len": 4096,
        }
    )
    c.tasks = ConfigDict({"cif_bench": ConfigDict({"max_items": 2, "max_new_tokens": 32} if smoke else {})})
    # a prompt plus its task's max_new_tokens longer than the model's context is cut from the left (the
    # instruction comes first, so it goes first): use a model with a context of 4k tokens or more for the
    # long-generation tasks (budgets up to 2,048), or set "error" to be told instead
    c.runtime = ConfigDict({"too_long": "truncate"})
    return c
