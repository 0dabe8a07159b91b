"""Simulated learners for cross-dative generalization, made as the paper made them: a byte-level BPE tokenizer
trained on AO-CHILDES child-directed speech (lower-case, prefix space, 8,192 ids, <s> prepended), then one
OPT-style learner per seed (8 layers, width 256, 8 heads, FFN 1,024, ReLU, 128 positions) trained with
evalkit's probe trainer on 128-token blocks; held-out utterances give each learner's dev loss. Each learner is
exported to runs/dative-learners/seed_<S> (checkpoint + tokenizer), the folders configs/dative.py reads.

    evalkit run configs/dative_learner.py          # the paper's 10 seeds and 29,280 steps (a GPU job)
    evalkit run configs/dative_learner.py:cpu      # one smaller learner, within 10 minutes on 2 CPU cores
    evalkit run configs/dative_learner.py:test     # a tiny learner for the test suite

The generalization sentences (their real verbs put back) are removed from the training text first; how many
were found is in results.json (summary.generalization_sentences_in_corpus). Only about one seventh of
AO-CHILDES is available here (../shared/data/aochildes/SOURCE.md), so these learners see less text than the
paper's.
"""

from ml_collections import ConfigDict

# The CPU-sized learner: 2 layers, width 128, 4 heads, FFN 512, a 2,048-id tokenizer (small enough that training
# it and configs/dative_cpu.py's 270 exposures finish within 10 minutes on 2 cores; see docs/benchmarks.md).
CPU_MODEL = {"num_layers": 2, "d_model": 128, "num_heads": 4, "num_kv_heads": 4, "d_ff": 512}
CPU_TRAIN = {
    "steps": 1200,
    "warmup_steps": 100,
    "schedule": "cosine",
    "batch_size": 16,
    "checkpoint_every": 400,
}


def learner_task(arg: str | None) -> ConfigDict:
    """The dative_learner task section for ``arg`` (None: the paper; 'cpu'; 'test')."""
    if arg in (None, ""):
        return ConfigDict({"export_dir": "runs/dative-learners"})
    if arg == "cpu":
        probe = {"model": CPU_MODEL, "train": CPU_TRAIN, "seeds": (0,)}
        return ConfigDict(
            {"export_dir": "runs/dative-learners-cpu", "vocab_size": 2048, "dev_items": 1000, "probe": probe}
        )
    if arg == "test":
        model = {"num_layers": 1, "d_model": 32, "num_heads": 2, "num_kv_heads": 2, "d_ff": 64}
        train = {"steps": 8, "warmup_steps": 2, "batch_size": 4, "checkpoint_every": 8, "log_every": 4}
        probe = {"model": model, "train": train, "seeds": (0,)}
        return ConfigDict(
            {"export_dir": "runs/dative-learners-test", "vocab_size": 600, "dev_items": 16, "probe": probe}
        )
    raise ValueError(f"unknown argument {arg!r}; use configs/dative_learner.py, :cpu or :test")


def get_config(arg: str | None = None) -> ConfigDict:
    c = ConfigDict()
    suffix = f"-{arg}" if arg else ""
    c.name = f"dative-learner{suffix}"
    c.output_dir = f"runs/dative-learner{suffix}"
    c.model = ConfigDict({"name": "probe"})
    c.tasks = ConfigDict({"dative_learner": learner_task(arg)})
    return c
