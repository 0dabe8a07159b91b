"""One evalkit Task per RASP-L format: probe models trained on short inputs, tested on longer ones.

Each test example's answer is checked at build time against the direct Python oracle and, where the
task has one, the RASP-L program run autoregressively. Scoring is exact match of the whole generated
answer including its end token; results are grouped by length and training seed, and summarised as
the longest length up to which exact match stays >= the threshold, per seed and over seeds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from evalkit.api import Generate, Generation, Task, UserError
from evalkit_rasp.rasp.tasks import TASK_FACTORIES, TaskSpec, make_task, rasp_generate

# Vocabulary size knobs each task family accepts (see evalkit_rasp.rasp.tasks).
_PARAMS = {
    "count": ("max_value",),
    "mode": ("max_value",),
    "copy_unique": ("max_value",),
    "sort_unique": ("max_value",),
    "copy_repeat": ("max_value",),
    "add_hints_forward": ("max_hint",),
    "add_hints_reverse": ("max_hint",),
    "parity_scratchpad": ("max_hint",),
    "add_plain": (),
    "parity_plain": (),
}
# Default train range and test lengths per task (evalkit's choices, not the paper's; see docs).
_LENGTHS = {
    "count": ((1, 20), (10, 20, 25, 30, 40)),
    "mode": ((1, 20), (10, 20, 25, 30, 40)),
    "copy_unique": ((1, 20), (10, 20, 25, 30, 40)),
    "sort_unique": ((1, 20), (10, 20, 25, 30, 40)),
    "copy_repeat": ((1, 20), (10, 20, 25, 30, 40)),
    "add_hints_forward": ((1, 10), (5, 10, 12, 15, 20)),
    "add_hints_reverse": ((1, 10), (5, 10, 12, 15, 20)),
    "add_plain": ((1, 10), (5, 10, 12, 15, 20)),
    "parity_scratchpad": ((1, 20), (10, 20, 25, 30, 40)),
    "parity_plain": ((1, 20), (10, 20, 25, 30, 40)),
}


def probe_defaults() -> ConfigDict:
    """The probe models a RASP task trains: a small transformer, its training budget and seeds."""
    from evalkit.train.config import probe_config

    model = {  # vocab_size is replaced by the task's vocabulary (probe_model_config)
        "num_layers": 2,
        "d_model": 64,
        "num_heads": 4,
        "num_kv_heads": 4,
        "d_ff": 256,
        "mlp": "gelu",
        "norm": "layernorm",
        "position": "learned",
        "max_len": 256,
        "tied_embeddings": True,
    }
    train = {"steps": 1000, "batch_size": 32, "context_len": 256, "lr": 1e-3, "warmup_steps": 100}
    return probe_config(model, train | {"packing": "concat"})


class RaspTask(Task):
    """A RASP-L format as an evalkit task (one instance per format)."""

    version = "1"
    metrics = {"exact_match": "mean", "stopped": "mean"}
    gap_scores = ("exact_match",)  # ID = the training lengths, OOD = longer ones (the host's gap figures)
    trains_probes = True

    def __init__(self, format_name: str):
        self.format_name = format_name
        self.name = f"rasp_{format_name}"
        spec = make_task(format_name)
        program = "with" if spec.program is not None else "no"
        self.description = f"RASP-L {format_name} ({program} RASP-L program; length = {spec.length_doc})"

    # --- config ------------------------------------------------------------------------------------

    def default_config(self) -> ConfigDict:
        train_lengths, test_lengths = _LENGTHS[self.format_name]
        spec = make_task(self.format_name)
        return ConfigDict(
            {
                "seed": 1234,  # data seed of the test set
                "train_lengths": train_lengths,  # inclusive range of lengths in training documents
                "test_lengths": test_lengths,
                "examples_per_length": 50,
                "em_threshold": 0.95,
                "max_new_slack": 4,  # generation budget beyond the answer length, to see failures to stop
                # hinted formats: number training hints from a random start (so every hint a test example
                # uses is trained); test examples keep the reference numbering (hint 0 first)
                "hint_window": False,
                "params": ConfigDict(
                    {k: int(v) for k, v in spec.params.items() if k in _PARAMS[self.format_name]}
                ),
                "probe": probe_defaults(),
            }
        )

    def spec(self, config: ConfigDict) -> TaskSpec:
        return make_task(self.format_name, **dict(config.params))

    def validate_config(self, config: ConfigDict) -> None:
        lo, hi = config.train_lengths
        where = f"tasks.{self.name}"
        if not 1 <= lo <= hi:
            raise UserError(
                f"{where}.train_lengths must be (min, max) with 1 <= min <= max, got {tuple(config.train_lengths)}"
            )
        if not config.test_lengths or min(config.test_lengths) < 1:
            raise UserError(
                f"{where}.test_lengths must be positive lengths, got {tuple(config.test_lengths)}"
            )
        if max(config.test_lengths) <= hi:
            raise UserError(
                f"{where}.test_lengths {tuple(config.test_lengths)} never go beyond the training lengths "
                f"(max {hi}); add test lengths longer than {hi} to measure length generalization"
            )
        try:
            spec = self.spec(config)
        except (TypeError, ValueError) as exc:
            raise UserError(f"{where}.params are invalid ({exc})") from exc
        longest = max(hi, *config.test_lengths)
        if longest > spec.max_length:
            raise UserError(
                f"{where}: length {longest} exceeds what the vocabulary allows ({spec.max_length}); "
                f"raise {where}.params"
            )
        rng = np.random.default_rng(0)
        need = max(sum(map(len, spec.make_example(rng, longest))) for _ in range(64)) + config.max_new_slack
        model = config.probe.model
        if model.max_len < need:
            raise UserError(
                f"{where}.probe.model.max_len={model.max_len} is shorter than the longest test example "
                f"({need} tokens at length {longest}); raise it to at least {need}"
            )
        if config.probe.train.context_len > model.max_len:
            raise UserError(
                f"{where}.probe.train.context_len must be <= probe.model.max_len ({model.max_len})"
            )
        train_need = max(sum(map(len, spec.make_example(rng, hi))) for _ in range(64))  # lengths vary
        if config.probe.train.context_len < train_need:
            raise UserError(
                f"{where}.probe.train.context_len={config.probe.train.context_len} is shorter than the longest "
                f"training example ({train_need} tokens at length {hi}); raise it to at least {train_need}"
            )
        if config.hint_window and spec.hints_used is None:
            raise UserError(
                f"{where}.hint_window only applies to formats with index hints "
                "(add_hints_forward, add_hints_reverse, parity_scratchpad); set it to False"
            )
        if not config.probe.seeds:
            raise UserError(f"{where}.probe.seeds must list at least one training seed")
        placeholder = probe_defaults()  # vocab_size is replaced by the task: an override would be lost
        if model.vocab_size not in (placeholder.model.vocab_size, spec.vocab.vocab_size):
            raise UserError(
                f"{where}.probe.model.vocab_size is set by the task from its vocabulary "
                f"({spec.vocab.vocab_size} ids); remove the override"
            )

    def training_identity(self, config: ConfigDict) -> dict[str, Any]:
        identity = {"train_lengths": tuple(config.train_lengths), "params": config.params.to_dict()}
        if config.hint_window:  # only when set, so probes trained before the option keep their hashes
            identity["hint_window"] = True
        return identity

    def probe_model_config(self, config: ConfigDict) -> ConfigDict:
        """The probe's transformer config with the vocabulary size filled in from the task."""
        model = ConfigDict(config.probe.model.to_dict())
        model.vocab_size = self.spec(config).vocab.vocab_size
        return model

    # --- data --------------------------------------------------------------------------------------

    def generate(self, config: ConfigDict) -> Iterator[dict[str, Any]]:
        spec = self.spec(config)
        lo, hi = config.train_lengths
        for length in config.test_lengths:
            rng = np.random.default_rng([config.seed, length])
            for i in range(config.examples_per_length):
                prompt, answer = spec.make_example(rng, int(length))
                _check_answer(spec, prompt, answer)
                yield {
                    "id": f"len{length}/{i}",
                    "prompt": spec.vocab.encode(prompt),
                    "answer": spec.vocab.encode(answer),
                    "groups": {"length": str(length), "split": "id" if lo <= length <= hi else "ood"},
                }

    def training_document(self, config: ConfigDict, rng: np.random.Generator):
        spec = self.spec(config)
        lo, hi = config.train_lengths
        length = int(rng.integers(lo, hi + 1))
        if config.hint_window:  # the extra draw only happens here, so other data streams are unchanged
            first = int(rng.integers(0, spec.max_first_hint(length) + 1))
            prompt, answer = spec.make_example(rng, length, first_hint=first)
        else:
            prompt, answer = spec.make_example(rng, length)
        ids = spec.vocab.encode(prompt) + spec.vocab.encode(answer)
        return ids, [False] * len(prompt) + [True] * len(answer)

    # --- evaluation --------------------------------------------------------------------------------

    def requests(self, example: Mapping[str, Any], config: ConfigDict) -> Sequence[Generate]:
        eos = self.spec(config).eos_id
        budget = len(example["answer"]) + config.max_new_slack
        return [Generate(tuple(example["prompt"]), until=(eos,), max_new_tokens=budget)]

    def score(self, example, responses: Sequence[Generation], config: ConfigDict) -> dict[str, float]:
        gen = responses[0]
        produced = _produced(gen, self.spec(config).eos_id)
        return {"exact_match": float(produced == list(example["answer"])), "stopped": float(_stopped(gen))}

    def details(self, example, responses: Sequence[Generation], config: ConfigDict) -> dict[str, str]:
        """Prompt, target and the probe's output (up to its first end token) as readable token lines."""
        vocab = self.spec(config).vocab
        return {
            "prompt": vocab.render(example["prompt"]),
            "target": vocab.render(example["answer"]),
            "output": vocab.render(_produced(responses[0], vocab.eos_id)),
        }

    def summarize(self, records, config: ConfigDict) -> dict[str, Any]:
        return length_generalization_summary(
            records, config.em_threshold, max(config.train_lengths), self.spec(config)
        )


def _check_answer(spec: TaskSpec, prompt: list[int], answer: list[int]) -> None:
    """Every generated answer must equal the oracle and, where one exists, the RASP-L program."""
    if spec.oracle(prompt) != answer:
        raise AssertionError(f"{spec.name}: generator and oracle disagree on {prompt}")
    if spec.program is not None and rasp_generate(spec.program, prompt, len(answer) + 1) != answer:
        raise AssertionError(f"{spec.name}: RASP-L program and oracle disagree on {prompt}")


def length_generalization_summary(
    records, threshold: float, max_train: int, spec: TaskSpec
) -> dict[str, Any]:
    """Exact match per (seed, length), the longest length up to which EM stays >= threshold, over seeds."""
    table: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        table[rec["groups"].get("seed", "0")][int(rec["groups"]["length"])].append(
            rec["scores"]["exact_match"]
        )
    per_seed = {}
    for seed, by_len in sorted(table.items()):
        em = {length: float(np.mean(v)) for length, v in sorted(by_len.items())}
        longest = 0
        for length, value in em.items():
            if value < threshold:
                break
            longest = length
        per_seed[seed] = {"em_by_length": {str(k): v for k, v in em.items()}, "longest_length": longest}
    longest = np.array([s["longest_length"] for s in per_seed.values()], dtype=float)
    return {
        "rasp_program_size": spec.program.size if spec.program is not None else None,
        "max_train_length": max_train,
        "em_threshold": threshold,
        "longest_length_median": float(np.median(longest)) if longest.size else 0.0,
        "longest_length_min": float(longest.min()) if longest.size else 0.0,
        "longest_length_max": float(longest.max()) if longest.size else 0.0,
        "extension_ratio_median": float(np.median(longest) / max_train) if longest.size else 0.0,
        "per_seed": per_seed,
    }


TASKS = [RaspTask(name) for name in TASK_FACTORIES]


def _stopped(gen: Generation) -> bool:
    return gen.finish_reason in ("stop", "eos")


def _produced(gen: Generation, eos_id: int) -> list[int]:
    """The generated answer ids, with the end token the engine cut off put back when it stopped on it."""
    return list(gen.tokens) + ([eos_id] if _stopped(gen) else [])
