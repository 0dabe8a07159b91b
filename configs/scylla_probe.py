"""Scylla with probe models: for one task per complexity level (find max, sort, 3-sum and 4-sum multiple of
ten, subset sum), train a small transformer from scratch on ID instances in a token format (no chain of
thought), then test it on 256 ID and 256 OOD items. Real work on a CPU, no downloaded weights.

    evalkit run configs/scylla_probe.py          # within 10 minutes on 2 CPU cores (docs/benchmarks.md)
    evalkit run configs/scylla_probe.py:test     # a reduced form for the test suite

Each probe: 2 layers, width 64, RoPE, trained with lr 3e-3 on 32 rows of 128 tokens a step, one document per
attention segment; steps per task below. ID values are 0-99 in lists of 4-16; OOD items keep each ID item's shape with values 1000-9999, digits a
probe never saw in training: the gap measures how much of the task a probe learned as digit patterns of the
training range. Results: per task and per level ID / OOD accuracy, gap, S, critical complexity, the
generalization-valley plot.
"""

from ml_collections import ConfigDict

# task -> training steps of 32 rows x 128 tokens (about 4,100 tokens a step, ~12 steps/s on 2 cores)
STEPS = {
    "find_maximum": 1000,
    "sort_numbers": 1200,
    "three_sum_multiple_ten": 800,
    "four_sum_multiple_ten": 800,
    "subset_sum": 800,
}


def get_config(arg: str | None = None) -> ConfigDict:
    if arg not in (None, "", "test"):
        raise ValueError(
            f"unknown argument {arg!r}; use configs/scylla_probe.py or configs/scylla_probe.py:test"
        )
    test = arg == "test"
    c = ConfigDict()
    c.name = "scylla-probe-test" if test else "scylla-probe"
    c.output_dir = "runs/scylla-probe-test" if test else "runs/scylla-probe"
    c.model = ConfigDict({"name": "probe"})
    n = 16 if test else 256
    # every member: one training document per attention segment, rows of 128 tokens (an ID document
    # has at most 99), a context of 256 for the longest OOD prompt and answer budget
    model = {"max_len": 256, **({"num_layers": 1, "d_model": 32, "d_ff": 64} if test else {})}
    probe = {
        "model": ConfigDict(model),
        "train": ConfigDict({"context_len": 128, "packing": "segments", "checkpoint_every": 400}),
    }
    c.tasks = ConfigDict(
        {"scylla_probe_cpu": ConfigDict({"num_id": n, "num_ood": n, "probe": ConfigDict(probe)})}
    )
    for slug, steps in STEPS.items():  # a member listed on its own keeps its settings over the suite's
        train = {"steps": 20 if test else steps, "warmup_steps": 5 if test else 100}
        c.tasks[f"scylla_probe_{slug}"] = ConfigDict({"probe": ConfigDict({"train": ConfigDict(train)})})
    c.runtime = ConfigDict({"chunk_size": 512})
    return c
