"""The 20 Scylla tasks as prompted evalkit tasks: the paper's zero-shot chain-of-thought prompt, a second pass
("Therefore, the answer is"), and scoring with the paper's parser and evalkit's strict one.

Data are the deterministic variant of the paper's ID / OOD sets (docs/scylla.md): ID values in ``id_range``,
and OOD item i has the shape of ID item i with values from ``ood_range``. In ``mode="fixed"`` a verifier
accepts every valid answer; ``mode="paper"`` reproduces the upstream generator and compares with its single
stored gold answer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from evalkit.api import Chat, Generate, Generation, Task, UserError
from evalkit_scylla.core.generate import make_instances
from evalkit_scylla.core.parse import parse_paper, parse_strict
from evalkit_scylla.core.prompts import SECOND_PASS_TRIGGER, SYSTEM_PROMPT, eval_prompt, probing_prompt
from evalkit_scylla.core.solve import paper_correct, verify
from evalkit_scylla.core.spec import TASKS as SPECS
from evalkit_scylla.core.spec import TaskSpec

MODES = ("fixed", "paper")
ID_SOURCES = ("deterministic", "probing")
MIN_PROPOSED_LISTS = 8
_LIST = re.compile(r"\[\s*(\d+(?:\s*,\s*\d+)*)\s*,?\s*\]")
SPLITS = ("id", "ood")
# The code's OOD ranges (the paper says "like [0, 9999]"; quirk Q6), kept in both modes and recorded.
OOD_RANGE, TSP_OOD_RANGE = (1000, 9999), (100, 999)


def data_config(spec: TaskSpec) -> ConfigDict:
    """The data settings every Scylla task shares (prompted and probe)."""
    return ConfigDict(
        {
            "seed": 0,
            "mode": "fixed",
            "num_id": 256,
            "num_ood": 256,
            "id_range": (0, 99),
            "ood_range": TSP_OOD_RANGE if spec.slug == "tsp" else OOD_RANGE,
            "lengths": (4, 16),
        }
    )


def check_data_config(label: str, config: ConfigDict) -> None:
    """One sentence per unusable data setting, before any work."""
    if config.mode not in MODES:
        raise UserError(f"tasks.{label}.mode={config.mode!r} must be 'fixed' or 'paper'")
    for key in ("num_id", "num_ood"):
        if int(config[key]) < 1:
            raise UserError(f"tasks.{label}.{key} must be >= 1, got {config[key]}")
    for key in ("id_range", "ood_range", "lengths"):
        pair = tuple(config[key])
        if len(pair) != 2 or not all(isinstance(v, int) for v in pair) or not 0 <= pair[0] <= pair[1]:
            raise UserError(f"tasks.{label}.{key} must be two ints 0 <= low <= high, got {pair!r}")


def make_examples(
    spec: TaskSpec, config: ConfigDict, id_values: Sequence[int] | None = None, lengths: Sequence[int] = ()
) -> Iterator[dict[str, Any]]:
    """The task's ID then OOD examples (ID values from ``id_range``, or ``id_values`` with ``lengths`` when
    the model proposed them); a request for more unique instances than exist is a UserError."""
    for split in SPLITS:
        try:
            instances = make_instances(
                spec.slug,
                split,
                int(config[f"num_{split}"]),
                seed=int(config.seed),
                mode=config.mode,
                id_range=tuple(config.id_range),
                ood_range=tuple(config.ood_range),
                tsp_ood_range=tuple(config.ood_range),
                lengths=tuple(lengths or config.lengths),
                id_values=id_values,
            )
        except ValueError as exc:
            raise UserError(f"scylla_{spec.slug}: {exc}") from exc
        for inst in instances:
            yield {
                "id": f"{split}-{inst.index:04d}",
                "groups": {"split": split},
                "data": inst.data,
                "input_str": inst.input_str,
                "answer": inst.answer,
            }


def proposed_lists(text: str) -> list[list[int]]:
    """Every bracketed list of non-negative integers in a probing generation (nested lists of LCS pairs
    and TSP matrices give their inner lists)."""
    return [[int(v) for v in m.group(1).split(",")] for m in _LIST.finditer(text)]


def judge(spec: TaskSpec, mode: str, example: Mapping[str, Any], text: str) -> dict[str, Any]:
    """Both parses of a model's text and whether each is right (verifier in fixed mode, the paper's
    comparison with the stored gold in paper mode)."""

    def right(answer: Any) -> bool:
        if mode == "fixed":
            return verify(spec.slug, example["data"], answer)
        return paper_correct(spec.slug, example["answer"], answer)

    paper, strict = parse_paper(spec.answer_kind, text), parse_strict(spec.answer_kind, text)
    return {
        "paper": paper,
        "strict": strict,
        "paper_correct": None if paper is None else right(paper),
        "strict_correct": strict is not None and right(strict),
    }


class ScyllaTask(Task):
    """One Scylla task prompted as in the paper (zero-shot chain of thought, optional second pass)."""

    version = "1"
    metrics = {
        "accuracy": "mean",
        "accuracy_paper": "mean",
        "parsed": "mean",
        "second_accuracy": "mean",
        "second_accuracy_paper": "mean",
    }
    gap_scores = ("accuracy", "accuracy_paper")

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.name = f"scylla_{spec.slug}"
        level = spec.level if spec.level != "probe" else "probe task"
        self.description = f"Scylla {spec.name} ({level}): {spec.description[:60]}…"

    def default_config(self) -> ConfigDict:
        cfg = data_config(self.spec)
        cfg.system_prompt = SYSTEM_PROMPT  # '' sends the user message alone
        cfg.max_new_tokens = 2048
        cfg.second_pass = True
        cfg.second_max_new_tokens = 256
        # 'probing': the paper's distribution probing, the model proposes its own ID inputs (docs/scylla.md)
        cfg.id_source = "deterministic"
        cfg.probing = ConfigDict(
            {"num_generations": 128, "temperature": 0.9, "top_p": 0.95, "top_k": 60, "max_new_tokens": 1024}
        )
        return cfg

    def validate_config(self, config: ConfigDict) -> None:
        check_data_config(self.name, config)
        if config.id_source not in ID_SOURCES:
            raise UserError(f"tasks.{self.name}.id_source={config.id_source!r} must be one of {ID_SOURCES}")
        if config.id_source == "probing" and int(config.probing.num_generations) < 1:
            raise UserError(f"tasks.{self.name}.probing.num_generations must be >= 1")
        for key in ("max_new_tokens", "second_max_new_tokens"):
            if int(config[key]) < 1:
                raise UserError(f"tasks.{self.name}.{key} must be >= 1, got {config[key]}")

    def generate(self, config: ConfigDict) -> Iterator[dict[str, Any]]:
        yield from make_examples(self.spec, config)

    def model_data_requests(self, config: ConfigDict) -> list[Generate]:
        if config.id_source != "probing":
            return []
        p = config.probing
        user = ("user", probing_prompt(self.spec))
        chat = Chat([("system", config.system_prompt), user] if config.system_prompt else [user])
        sampling = {"temperature": float(p.temperature), "top_p": float(p.top_p), "top_k": int(p.top_k)}
        return [
            Generate(chat, max_new_tokens=int(p.max_new_tokens), **sampling) for _ in range(p.num_generations)
        ]

    def model_data(self, config: ConfigDict, responses: Sequence[Generation]) -> Iterator[dict[str, Any]]:
        """ID values: every number in any list the model proposed; ID lengths: the middle 90% of its lists'
        lengths; OOD: the same shapes with values from ``ood_range`` minus the ID values."""
        lists = [x for r in responses for x in proposed_lists(r.text or "")]
        if len(lists) < MIN_PROPOSED_LISTS:
            raise RuntimeError(
                f"the model proposed {len(lists)} number lists in {len(responses)} probing generations "
                f"(at least {MIN_PROPOSED_LISTS} needed); raise probing.num_generations or use id_source="
                "'deterministic'"
            )
        values = sorted({v for lst in lists for v in lst})
        lo, hi = (int(round(q)) for q in np.percentile([len(lst) for lst in lists], [5, 95]))
        probing = {
            "generations": len(responses),
            "lists": len(lists),
            "id_values": len(values),
            "lengths": [lo, hi],
        }
        try:
            examples = list(make_examples(self.spec, config, values, (lo, hi)))
        except UserError as exc:  # the model's proposals, not a setting, do not fit: this task fails alone
            raise RuntimeError(f"the model's proposals ({probing}) cannot make the items: {exc}") from None
        for example in examples:
            yield example | {"probing": probing}

    def _chat(self, example: Mapping[str, Any], config: ConfigDict, prefix: str = "") -> Chat:
        user = ("user", eval_prompt(self.spec, example["input_str"]))
        messages = [("system", config.system_prompt), user] if config.system_prompt else [user]
        return Chat(messages, assistant_prefix=prefix)

    def requests(self, example, config):
        return [Generate(self._chat(example, config), max_new_tokens=int(config.max_new_tokens))]

    def follow_up(self, example, responses, config):
        if config.second_pass and len(responses) == 1:
            prefix = (responses[0].text or "") + SECOND_PASS_TRIGGER  # the paper's concatenation
            chat = self._chat(example, config, prefix)
            return [Generate(chat, max_new_tokens=int(config.second_max_new_tokens))]
        return ()

    def _judged(self, example, responses: Sequence[Generation], config) -> list[dict[str, Any]]:
        texts = [responses[0].text or ""]
        if len(responses) > 1:
            texts.append(SECOND_PASS_TRIGGER + (responses[1].text or ""))
        return [judge(self.spec, config.mode, example, text) for text in texts]

    def score(self, example, responses, config):
        first, *second = self._judged(example, responses, config)
        scores = {
            "accuracy": float(first["strict_correct"]),
            "accuracy_paper": _maybe(first["paper_correct"]),
            "parsed": float(first["strict"] is not None),
        }
        if second:
            scores["second_accuracy"] = float(second[0]["strict_correct"])
            scores["second_accuracy_paper"] = _maybe(second[0]["paper_correct"])
        return scores

    def details(self, example, responses, config):
        judged = self._judged(example, responses, config)
        out = {"probing": example["probing"]} if "probing" in example else {}
        out |= {
            "input": example["input_str"],
            "gold": example["answer"],
            "prompt_sha256": hashlib.sha256(
                eval_prompt(self.spec, example["input_str"]).encode()
            ).hexdigest(),
            "output": responses[0].text,
            "answer_paper": judged[0]["paper"],
            "answer_strict": judged[0]["strict"],
        }
        if len(judged) > 1:
            out |= {"second_output": SECOND_PASS_TRIGGER + (responses[1].text or "")}
            out |= {"second_answer_paper": judged[1]["paper"], "second_answer_strict": judged[1]["strict"]}
        return out


def _maybe(flag: bool | None) -> float | None:
    return None if flag is None else float(flag)


TASKS = [ScyllaTask(spec) for spec in SPECS.values()]
