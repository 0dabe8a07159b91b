"""RASP-L length generalization at the paper's scale (GPU/TPU sized; hours on one accelerator).

    evalkit run configs/rasp_paper.py                          # learned positions, hinted addition
    evalkit run configs/rasp_paper.py:pe=rope,hints=false      # RoPE, and plain addition instead of hints

Switches (comma-separated key=value in the argument):
    pe       learned | rope | nope | alibi positional encoding of the probe models (default learned)
    hints    true | false                  addition with index hints (true) or the plain format (false)
    seeds    number of training seeds      (default 5; the literature reports seed sensitivity)
    hintwin  true | false                  number training hints from a random start (default true: with
                                           the reference numbering, hints past the training length are
                                           never trained and hinted tasks cannot extend; docs/rasp.md)
    packing  concat | segments             documents back to back (default) or one masked segment each
    randpos  0 | N >= 512                  N: train on sorted random positions from range(N) (Ruoss et
                                           al. 2023; the model's max_len grows to N); 0: 0, 1, 2, ...

Model size follows the one row of the paper's Table 1 that is public (6 layers, width 512, 8 heads);
learning rate, batch and steps are evalkit's choices (the paper's are not public): see docs/rasp.md.
Count's train/test lengths follow Fig. 1b (train up to 60, test up to 150); the others test at +10 and
beyond as in Fig. 1a.
"""

from ml_collections import ConfigDict


def parse_arg(arg: str | None) -> dict[str, str]:
    out = {
        "pe": "learned",
        "hints": "true",
        "seeds": "5",
        "packing": "concat",
        "randpos": "0",
        "hintwin": "true",
    }
    for item in (arg or "").split(","):
        if item.strip():
            key, _, value = item.partition("=")
            if key.strip() not in out:
                raise ValueError(f"unknown switch {key!r}; use one of {', '.join(k + '=' for k in out)}")
            out[key.strip()] = value.strip()
    return out


def _params(task: str, test_lengths: tuple[int, ...]) -> dict[str, int]:
    """Vocabulary params: count up to 255, binary copy with repeats; hinted formats get exactly the hints
    the longest test uses, so a hint window (hintwin) spends its training on hints the tests need."""
    if task == "count":
        return {"max_value": 255}
    if task == "copy_repeat":
        return {"max_value": 1}  # binary: repeats everywhere (evalkit's choice, docs/rasp.md)
    if task in ("add_hints_forward", "add_hints_reverse"):
        return {"max_hint": max(test_lengths)}  # n digits use hints 0..n
    if task == "parity_scratchpad":
        return {"max_hint": max(test_lengths) - 1}  # n bits use hints 0..n-1
    return {}


def get_config(arg: str | None = None) -> ConfigDict:
    a = parse_arg(arg)
    hints = a["hints"].lower() in ("1", "true", "yes")
    hint_window = a["hintwin"].lower() in ("1", "true", "yes")
    addition = ["add_hints_forward", "add_hints_reverse"] if hints else ["add_plain"]
    tasks = {
        "count": ((1, 60), (50, 60, 70, 80, 100, 120, 150)),
        "mode": ((1, 40), (30, 40, 50, 60, 80)),
        "copy_unique": ((1, 40), (30, 40, 50, 60, 80)),
        "copy_repeat": ((1, 40), (30, 40, 50, 60, 80)),
        "sort_unique": ((1, 40), (30, 40, 50, 60, 80)),
        "parity_scratchpad": ((1, 30), (20, 30, 40, 50, 60)),
        "parity_plain": ((1, 30), (20, 30, 40, 50, 60)),
        **{name: ((1, 20), (10, 20, 25, 30, 40)) for name in addition},
    }
    c = ConfigDict()
    defaults = parse_arg(None)
    changed = "".join(f"_{k}{a[k]}" for k in ("packing", "randpos", "hintwin") if a[k] != defaults[k])
    c.name = f"rasp_paper_{a['pe']}_{'hints' if hints else 'plain'}{changed}"
    c.output_dir = f"runs/{c.name}"
    c.model = ConfigDict({"name": "probe"})
    c.tasks = ConfigDict()
    for name, (train, test) in tasks.items():
        c.tasks[f"rasp_{name}"] = ConfigDict(
            {
                "train_lengths": train,
                "test_lengths": test,
                "examples_per_length": 200,
                "hint_window": hint_window
                and name in ("add_hints_forward", "add_hints_reverse", "parity_scratchpad"),
                "params": ConfigDict(_params(name, test)),
                "probe": ConfigDict(
                    {
                        "model": ConfigDict(
                            {
                                "num_layers": 6,
                                "d_model": 512,
                                "num_heads": 8,
                                "num_kv_heads": 8,
                                "d_ff": 2048,
                                "max_len": max(512, int(a["randpos"])),
                                "position": a["pe"],
                            }
                        ),
                        "train": ConfigDict(
                            {
                                "steps": 20000,
                                "batch_size": 64,
                                "context_len": 512,
                                "lr": 3e-4,
                                "warmup_steps": 1000,
                                "checkpoint_every": 2000,
                                "packing": a["packing"],
                                "position_range": int(a["randpos"]),
                            }
                        ),
                        "seeds": tuple(range(int(a["seeds"]))),
                    }
                ),
            }
        )
    c.runtime = ConfigDict({"chunk_size": 512, "batch": ConfigDict({"generate_batch": 128})})
    return c
