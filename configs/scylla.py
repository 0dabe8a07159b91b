"""Scylla, prompted: the 20 tasks (256 ID + 256 OOD items each) on an instruction model, zero-shot chain of
thought with the paper's prompt, then the second pass ("Therefore, the answer is").

    evalkit run configs/scylla.py --config.model.checkpoint=path/to/hf_instruct_model
    evalkit run configs/scylla.py:tiny --config.model.checkpoint=path/to/hf_instruct_model   # 4 + 4 items a task

The model's chat template renders the prompt (`model.chat_template`: 'auto' uses the folder's; 'none' sends
the paper's raw text "You are a helpful AI assistant.\\n\\n" + prompt, the paper's setting for open models). Without a
checkpoint the model is a random byte-level Llama shape: it checks the pipeline, it does not answer.
Data: evalkit's deterministic variant of the paper's ID / OOD sets ('fixed' mode: verifiers accept every
valid answer; --config.tasks.scylla.mode=paper reproduces the upstream generator and gold comparison).
--config.tasks.scylla.id_source=probing builds the ID values from the model's own proposals first (the
paper's distribution probing; docs/scylla.md).
Results: per task ID / OOD accuracy (strict and paper-compatible), per level the means, gap, S and the
critical complexity with how sure it is, and the generalization-valley plot (docs/scylla.md).
"""

from ml_collections import ConfigDict


def get_config(arg: str | None = None) -> ConfigDict:
    if arg not in (None, "", "tiny"):
        raise ValueError(f"unknown argument {arg!r}; use configs/scylla.py or configs/scylla.py:tiny")
    tiny = arg == "tiny"
    c = ConfigDict()
    c.name = "scylla-tiny" if tiny else "scylla"
    c.output_dir = "runs/scylla-tiny" if tiny else "runs/scylla"
    c.model = ConfigDict(
        {
            "name": "flax",
            "checkpoint": "",  # an orbax checkpoint or a local Hugging Face folder (shape and tokenizer from it)
            "chat_template": "auto",
            "tokenizer": "bytes",  # used only without a checkpoint
            "vocab_size": 512,
            "num_layers": 2,
            "d_model": 64,
            "num_heads": 4,
            "num_kv_heads": 2,
            "d_ff": 128,
            "max_len": 4096,
        }
    )
    task = {"num_id": 4, "num_ood": 4, "max_new_tokens": 48, "second_max_new_tokens": 16} if tiny else {}
    c.tasks = ConfigDict({"scylla": ConfigDict(task)})
    # a model whose context cannot hold a prompt plus max_new_tokens stops the run with one sentence
    c.runtime = ConfigDict({"too_long": "error"})
    return c
