"""Cross-dative generalization on a CPU: the CPU-sized learner of configs/dative_learner.py:cpu (trained first
when runs/dative-learners-cpu/seed_0 is missing), taught the novel verb from one instance of each of the 135
feature configurations in both datives (270 exposures), one learning rate (0.1), the paper's 70 steps with the
full verbhood validation set after each, and the 255 generalization sentences at the initial, final and best
states. Writes runs/dative-cpu/dative_run/table.csv (+ .jsonl) and analysis/ (CDG scores, first-argument
effects with bootstrap CIs, mixed models, effects.png).

    evalkit run configs/dative_cpu.py        # within 10 minutes on 2 CPU cores (docs/benchmarks.md)
"""

import importlib.util
from pathlib import Path

from ml_collections import ConfigDict


def _learner_task() -> ConfigDict:
    spec = importlib.util.spec_from_file_location(
        "dative_learner", Path(__file__).with_name("dative_learner.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.learner_task("cpu")


def get_config(arg: str | None = None) -> ConfigDict:
    if arg not in (None, ""):
        raise ValueError(f"unknown argument {arg!r}; use configs/dative_cpu.py")
    learner = _learner_task()
    c = ConfigDict()
    c.name = "dative-cpu"
    c.output_dir = "runs/dative-cpu"
    c.model = ConfigDict({"name": "probe"})
    c.tasks = ConfigDict(
        {
            # tasks run in label order: the learner is trained and exported (when missing) before it is used
            "dative_learner": learner,
            "dative_run": ConfigDict(
                {
                    "task": "cross_dative",
                    "learners": (f"{learner.export_dir}/seed_0",),
                    "instances": 1,
                    "lrs": (0.1,),
                    "sims_per_batch": 18,
                }
            ),
        }
    )
    return c
