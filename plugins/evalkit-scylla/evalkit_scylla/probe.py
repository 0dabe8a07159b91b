"""Scylla tasks for probe models: small transformers trained from scratch on ID instances in a token format
(no chain of thought), then tested on the same ID and OOD items as the prompted tasks.

A document is ``BOS input ANS answer EOS``: numbers as digit tokens, list elements separated by ``SEP``,
input fields (list, k / a, b / second list) by ``FIELD`` and matrix rows by ``ROW``; the loss covers the
answer and EOS. Training instances are fresh ID draws, never one of the task's test inputs. The answer is
decoded from the generated tokens and checked like a prompted answer (verifier in fixed mode).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from evalkit.api import Generate, Generation, Task, UserError
from evalkit_scylla.core.generate import make_instances
from evalkit_scylla.core.solve import paper_correct, verify
from evalkit_scylla.core.spec import TASKS as SPECS
from evalkit_scylla.core.spec import TaskSpec
from evalkit_scylla.task import check_data_config, data_config, make_examples

PAD, BOS, EOS = 0, 1, 2
DIGIT0 = 3  # digits 0..9 are ids 3..12
SEP, FIELD, ROW, ANS = 13, 14, 15, 16
VOCAB_SIZE = 17
MAX_TRAINING_DRAWS = 1000  # fresh ID draws that may hit a test input before training gives up
_NAMES = {PAD: "PAD", BOS: "BOS", EOS: "EOS", SEP: ",", FIELD: "|", ROW: ";", ANS: "="}


def encode_number(value: int) -> list[int]:
    if value < 0:
        raise ValueError(f"Scylla values are non-negative, got {value}")
    return [DIGIT0 + int(d) for d in str(int(value))]


def encode_list(values: Sequence[int]) -> list[int]:
    out: list[int] = []
    for i, v in enumerate(values):
        out += ([SEP] if i else []) + encode_number(v)
    return out


def encode_input(spec: TaskSpec, data: Mapping[str, Any]) -> list[int]:
    """The input fields in the task's fixed order (TSP: the matrix rows; n is their count)."""
    kind = spec.input_kind
    if kind == "list":
        return encode_list(data["l"])
    if kind == "list_k":
        return encode_list(data["l"]) + [FIELD] + encode_number(data["k"])
    if kind == "list_range":
        return encode_list(data["l"]) + [FIELD] + encode_list([data["a"], data["b"]])
    if kind == "list_pair":
        return encode_list(data["l1"]) + [FIELD] + encode_list(data["l2"])
    rows: list[int] = []
    for i, row in enumerate(data["D"]):
        rows += ([ROW] if i else []) + encode_list(row)
    return rows


def encode_answer(spec: TaskSpec, answer: Any) -> list[int]:
    return encode_number(answer) if spec.answer_kind == "number" else encode_list(answer)


def decode_answer(spec: TaskSpec, tokens: Sequence[int]) -> Any:
    """The number or list the tokens spell, or None when they spell neither."""
    numbers, digits = [], ""
    for t in [*tokens, SEP]:
        if DIGIT0 <= t < DIGIT0 + 10:
            digits += str(t - DIGIT0)
        elif t == SEP and digits:
            numbers.append(int(digits))
            digits = ""
        else:
            return None
    if spec.answer_kind == "number":
        return numbers[0] if len(numbers) == 1 else None
    return numbers or None


def render(tokens: Sequence[int]) -> str:
    """Tokens as a readable line for samples.jsonl (digits joined, separators as , | ; =)."""
    return "".join(str(t - DIGIT0) if DIGIT0 <= t < DIGIT0 + 10 else f" {_NAMES[t]} " for t in tokens).strip()


def probe_defaults() -> ConfigDict:
    """The probe models a Scylla task trains: a small RoPE transformer, its budget and seeds."""
    from evalkit.train.config import probe_config

    model = {
        "vocab_size": VOCAB_SIZE,
        "num_layers": 2,
        "d_model": 64,
        "num_heads": 4,
        "num_kv_heads": 4,
        "d_ff": 256,
        "mlp": "gelu",
        "norm": "layernorm",
        "position": "rope",
        "max_len": 512,
        "tied_embeddings": True,
    }
    train = {"steps": 1000, "batch_size": 32, "context_len": 256, "lr": 3e-3, "warmup_steps": 100}
    return probe_config(model, train | {"packing": "concat"})


def tsp_probe_defaults() -> ConfigDict:
    """TSP's documents hold a whole distance matrix: a longer training context."""
    cfg = probe_defaults()
    cfg.train.context_len = 512
    return cfg


class ScyllaProbeTask(Task):
    """A Scylla task answered by probe transformers trained on its ID distribution."""

    version = "1"
    metrics = {"accuracy": "mean", "parsed": "mean"}
    gap_scores = ("accuracy",)
    trains_probes = True

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.name = f"scylla_probe_{spec.slug}"
        self.description = f"Scylla {spec.name} ({spec.level}) with probe transformers (token format)"

    def default_config(self) -> ConfigDict:
        cfg = data_config(self.spec)
        cfg.answer_slack = 4  # generation budget beyond the longest possible answer, to see failures to stop
        cfg.probe = tsp_probe_defaults() if self.spec.slug == "tsp" else probe_defaults()
        return cfg

    def validate_config(self, config: ConfigDict) -> None:
        check_data_config(self.name, config)
        where = f"tasks.{self.name}.probe"
        if config.probe.model.vocab_size != VOCAB_SIZE:
            raise UserError(
                f"{where}.model.vocab_size is the task's token count ({VOCAB_SIZE}); remove the override"
            )
        top = max(config.id_range[1], config.ood_range[1])
        need = sum(self.token_bounds(config, top)) + self.token_bounds(config, top)[1] + config.answer_slack
        if config.probe.model.max_len < need:
            raise UserError(
                f"{where}.model.max_len={config.probe.model.max_len} may not hold the longest test item "
                f"(up to {need} tokens with the answer budget); raise it to at least {need}"
            )
        train_need = sum(self.token_bounds(config, config.id_range[1]))
        if config.probe.train.context_len < train_need:
            raise UserError(
                f"{where}.train.context_len={config.probe.train.context_len} may not hold the longest training "
                f"document (up to {train_need} tokens); raise it to at least {train_need}"
            )

    def token_bounds(self, config: ConfigDict, top: int) -> tuple[int, int]:
        """Upper bounds on (prompt, answer + EOS) tokens when no list value exceeds ``top``."""
        cost = len(str(top)) + 1  # a number's digits and its separator
        big = len(str(16 * top)) + 1  # a target sum or range end (k, a, b)
        if self.spec.input_kind == "matrix":  # up to 10 cities; the tour returns to city 0
            return 2 + 10 * 10 * cost, 11 * 2 + 1
        n = int(config.lengths[1])
        fields = {"list": n * cost, "list_k": n * cost + big, "list_range": n * cost + 2 * big}
        prompt = 2 + fields.get(self.spec.input_kind, 2 * n * cost)  # list_pair: two lists
        return prompt, (cost if self.spec.answer_kind == "number" else n * cost) + 1

    def training_identity(self, config: ConfigDict) -> dict[str, Any]:
        keys = (
            "mode",
            "id_range",
            "lengths",
            "seed",
            "num_id",
        )  # training avoids the test items of this seed
        return {key: config[key] for key in keys}

    def generate(self, config: ConfigDict) -> Iterator[dict[str, Any]]:
        for ex in make_examples(self.spec, config):
            ex["prompt"] = [BOS, *encode_input(self.spec, ex["data"]), ANS]
            ex["target"] = encode_answer(self.spec, ex["answer"]) + [EOS]
            yield ex

    def _test_inputs(self, config: ConfigDict) -> set[str]:
        key = (
            int(config.seed),
            int(config.num_id),
            str(config.mode),
            tuple(config.id_range),
            tuple(config.lengths),
        )
        if getattr(self, "_test_key", None) != key:
            self._test_key = key
            ids = make_instances(
                self.spec.slug,
                "id",
                int(config.num_id),
                seed=int(config.seed),
                mode=config.mode,
                id_range=tuple(config.id_range),
                lengths=tuple(config.lengths),
            )
            self._test_set = {inst.input_str for inst in ids}
        return self._test_set

    def training_document(self, config: ConfigDict, rng: np.random.Generator) -> tuple[list[int], list[bool]]:
        test = self._test_inputs(config)
        for _ in range(MAX_TRAINING_DRAWS):
            (inst,) = make_instances(
                self.spec.slug,
                "id",
                1,
                seed=int(rng.integers(2**31)),
                mode=config.mode,
                id_range=tuple(config.id_range),
                lengths=tuple(config.lengths),
            )
            if inst.input_str not in test:
                break
        else:
            raise UserError(
                f"tasks.{self.name}: {MAX_TRAINING_DRAWS} training draws in a row were test items; the ID space "
                "is too small to train on unseen inputs: widen id_range or lengths, or lower num_id"
            )
        prompt = [BOS, *encode_input(self.spec, inst.data), ANS]
        answer = encode_answer(self.spec, inst.answer) + [EOS]
        return prompt + answer, [False] * len(prompt) + [True] * len(answer)

    def requests(self, example, config):
        budget = len(encode_answer(self.spec, example["answer"])) * 2 + config.answer_slack
        return [Generate(tuple(example["prompt"]), until=(EOS,), max_new_tokens=budget)]

    def _answer(self, response: Generation) -> Any:
        tokens = list(response.tokens)
        tokens = tokens[: tokens.index(EOS)] if EOS in tokens else tokens
        return decode_answer(self.spec, tokens) if response.finish_reason != "length" else None

    def score(self, example, responses, config):
        answer = self._answer(responses[0])
        if answer is None:
            right = False
        elif config.mode == "fixed":
            right = verify(self.spec.slug, example["data"], answer)
        else:
            right = paper_correct(self.spec.slug, example["answer"], answer)
        return {"accuracy": float(right), "parsed": float(answer is not None)}

    def details(self, example, responses, config):
        return {
            "input": example["input_str"],
            "gold": example["answer"],
            "output": render(responses[0].tokens),
            "answer": self._answer(responses[0]),
        }


PROBE_TASKS = [ScyllaProbeTask(spec) for spec in SPECS.values()]
