"""Cross-dative generalization, the paper's full grid (Misra & Kim 2024): 135 feature configurations × 5
instances × DO / PO = 1,350 exposures per learner, learning rates 0.1 and 0.01 (the better by verbhood
validation is kept per exposure), 70 steps, scored on the 255 generalization sentences. Learners: the ten
exported by configs/dative_learner.py (runs/dative-learners/seed_<S>), or any tied-embedding causal LM folders:

    evalkit run configs/dative.py
    evalkit run configs/dative.py --config.tasks.cross_dative.learners="('path/to/opt-a', 'path/to/opt-b')"

A GPU job (27,000 simulations for ten learners); see docs/cross_dative.md for the CPU-sized run.
"""

from ml_collections import ConfigDict

SEEDS = (6, 28, 221, 394, 496, 1024, 1102, 1729, 2309, 8128)


def get_config(arg: str | None = None) -> ConfigDict:
    if arg not in (None, ""):
        raise ValueError(f"unknown argument {arg!r}; use configs/dative.py")
    c = ConfigDict()
    c.name = "dative"
    c.output_dir = "runs/dative"
    c.model = ConfigDict({"name": "probe"})
    learners = tuple(f"runs/dative-learners/seed_{s}" for s in SEEDS)
    c.tasks = ConfigDict({"cross_dative": ConfigDict({"learners": learners, "sims_per_batch": 64})})
    return c
