"""A small CPU leaderboard: probe transformers with two positional encodings (ALiBi vs RoPE) on three
RASP-L length-generalization tasks and one Scylla probe task, ranked by the mean of the headline columns.

    evalkit leaderboard run configs/leaderboards/quickstart.py --results runs/leaderboard
    evalkit leaderboard build configs/leaderboards/quickstart.py --results runs/leaderboard \
        --out runs/leaderboard/site        # then open site/index.html
    configs/leaderboards/quickstart.py:test           # a seconds-long reduced form (the test suite's)

Every entry trains its own probes (one seed per task; `evalkit leaderboard run` resumes a killed run).
Every column is out of distribution: the RASP-L columns score exact match on test lengths beyond the
training range (24 and 32 after training on 1-16), the Scylla column accuracy on values outside the
training range. The task pages show the in-distribution figures and every length.
"""

from ml_collections import ConfigDict

RASP = {  # task format -> (train lengths, test lengths, training steps)
    "count": ((1, 16), (8, 16, 24, 32), 800),
    "copy_unique": ((1, 16), (8, 16, 24, 32), 1200),
    "parity_plain": ((1, 16), (8, 16, 24, 32), 1200),
}
POSITIONS = ("alibi", "rope")


def get_config(arg: str | None = None) -> ConfigDict:
    if arg not in (None, "", "test"):
        raise ValueError(f"unknown argument {arg!r}; use configs/leaderboards/quickstart.py[:test]")
    test = arg == "test"
    c = ConfigDict()
    c.title = "Quickstart: ALiBi vs RoPE probe transformers on length and value generalization"
    c.tasks = ConfigDict()
    for name, (train, tests, steps) in RASP.items():
        c.tasks[f"rasp_{name}"] = ConfigDict(
            {
                "train_lengths": train,
                "test_lengths": (16, 24) if test else tests,
                "examples_per_length": 4 if test else 40,
                "params": ConfigDict({"max_value": 40} if name != "parity_plain" else {}),
                "probe": ConfigDict(
                    {
                        "model": ConfigDict(
                            {"num_layers": 2, "d_model": 32 if test else 64, "num_heads": 4, "num_kv_heads": 4,
                             "d_ff": 64 if test else 256, "max_len": 96}
                        ),
                        "train": ConfigDict(
                            {"steps": 10 if test else steps, "batch_size": 16, "context_len": 96, "lr": 3e-3,
                             "packing": "segments", "warmup_steps": 2 if test else 50, "eval_every": 0}
                        ),
                        "seeds": (0,),
                    }
                ),
            }
        )  # fmt: skip
    c.tasks.scylla_probe_find_maximum = ConfigDict(
        {
            "num_id": 8 if test else 128,
            "num_ood": 8 if test else 128,
            "probe": ConfigDict(
                {
                    "model": ConfigDict(
                        {"max_len": 256, **({"num_layers": 1, "d_model": 32, "d_ff": 64} if test else {})}
                    ),
                    "train": ConfigDict(
                        {"steps": 10 if test else 800, "warmup_steps": 2 if test else 100, "context_len": 128,
                         "packing": "segments"}
                    ),
                    "seeds": (0,),
                }
            ),
        }
    )  # fmt: skip
    c.entries = tuple(
        ConfigDict(
            {
                "name": position,
                "model": ConfigDict({"name": "probe"}),
                "description": f"2-layer probe transformers with {position} positions, one seed per task",
                "overrides": tuple(f"tasks.{label}.probe.model.position={position}" for label in c.tasks),
            }
        )
        for position in POSITIONS
    )
    c.columns = (
        *(
            ConfigDict(
                {
                    "title": f"{name.replace('_', ' ')} (OOD)",
                    "tasks": f"rasp_{name}",
                    "score": "exact_match",
                    "group": "split=ood",
                }
            )  # fmt: skip
            for name in RASP
        ),
        ConfigDict(
            {
                "title": "Scylla find max (OOD)",
                "tasks": "scylla_probe_find_maximum",
                "score": "accuracy",
                "group": "split=ood",
            }
        ),  # fmt: skip
    )
    c.rank_by = "mean"
    return c
