"""One evalkit task per CIF-Bench task: the task's instruction and input as a chat message, a generation
budget from its metric class, and the proxy metric of that class (never the paper's GPT-4 / BLEURT score).

Items are read from the task's file in the data directory (``manual_dir``, checked against the release's
MANIFEST.sha256); several instructions per item (the private split's format) give one request each, and
the item's scores are their mean.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from evalkit.api import Chat, Generate, Task, UserError
from evalkit_cif_bench.files import LAYOUT, default_data_dir, read_task, task_files, verify_manifest
from evalkit_cif_bench.metrics import CLASS_SCORES, score_item
from evalkit_cif_bench.normalize import NORMALIZATION_VERSION, normalize

LABEL = "CIF-Bench (evalkit proxy)"
# Stop strings per metric class: no label and no short answer of the public split spans a blank line, so a
# blank line ends those answers (explanations after it are not generated); generations run to their budget.
STOP = {"label": ("\n\n",), "short_answer": ("\n\n",)}
# The rubric a judge model answers for each output (docs/cif_bench.md); its hash is in every task's summary.
JUDGE_PROMPT = """You are grading the answer of an AI assistant to a Chinese instruction-following task.

Instruction: {instruction}
Input: {input}
Reference answer: {reference}
Assistant's answer: {answer}

Rate how well the assistant's answer follows the instruction and agrees with the reference answer, from 1
(wrong, unrelated or not following the instruction) to 10 (fully correct and following the instruction).
Reply with one line: "Rating: N"."""
JUDGE_PROMPT_SHA256 = hashlib.sha256(JUDGE_PROMPT.encode("utf-8")).hexdigest()
_RATING = re.compile(r"Rating\s*[:：]\s*\**\s*(10|[1-9])\b")


def parse_rating(text: str) -> float | None:
    """The last "Rating: N" (1-10) in a judge's answer, mapped to [0, 1]; None when there is none."""
    found = _RATING.findall(text or "")
    return None if not found else (int(found[-1]) - 1) / 9


@cache
def table() -> dict[str, Any]:
    """The versioned task table (class, categories, generation budget per task id; excluded ids)."""
    return json.loads(resources.files("evalkit_cif_bench").joinpath("data/tasks.json").read_text("utf-8"))


def scoring_identity() -> str:
    """The versions that decide a task's scores: normalisation, task table (classes), judge prompt."""
    return f"normalization {NORMALIZATION_VERSION}, table {table()['version']}, judge prompt {JUDGE_PROMPT_SHA256[:12]}"


class CifTask(Task):
    """A CIF-Bench task scored with the proxy metric of its class."""

    version = "1"
    needs_manual_dir = True
    manual_instructions = f"the directory holding {LAYOUT}"

    def __init__(self, task_id: int):
        self.task_id = task_id
        entry = table()["tasks"][str(task_id)]
        self.info = entry
        self.name = f"cif_bench_{task_id:03d}"
        self.description = f"CIF-Bench {task_id} {entry['name']} ({entry['class']}; {LABEL})"
        scores = ("score", *CLASS_SCORES[entry["class"]], "judge", "judge_parsed")
        self.metrics = {key: "mean" for key in scores}

    def default_config(self) -> ConfigDict:
        return ConfigDict(
            {
                "manual_dir": default_data_dir(),
                "verify": "strict",  # against MANIFEST.sha256 when present: strict | warn | off
                "max_items": 0,  # the first N items only (0: all 50); for smoke runs
                "max_new_tokens": int(self.info["max_new_tokens"]),
                # what decides the scores beyond the task: in the config hash, so a resumed run never mixes
                # records scored under other rules (set by the plugin; not to be overridden)
                "scoring": scoring_identity(),
            }
        )

    def validate_config(self, config: ConfigDict) -> None:
        if config.scoring != scoring_identity():
            raise UserError(
                f"tasks.{self.name}.scoring is set by the plugin ({scoring_identity()!r}); remove the override"
            )
        if config.max_items < 0 or config.max_new_tokens < 1:
            raise UserError(f"tasks.{self.name}: max_items must be >= 0 and max_new_tokens >= 1")

    def read_manual(self, config: ConfigDict, manual_dir: str) -> Iterator[dict[str, Any]]:
        verify_manifest(manual_dir, config.verify)
        files = task_files(manual_dir)
        if self.task_id not in files:
            raise UserError(
                f"{manual_dir} has no file for CIF-Bench task {self.task_id}; it must hold {LAYOUT}"
            )
        items = read_task(self.task_id, files[self.task_id])
        labels = sorted({normalize(item.output) for item in items})  # the task's label set (label classes)
        for item in items[: config.max_items or None]:
            yield {
                "id": f"{item.line:02d}",
                "groups": {"class": self.info["class"]},
                "instructions": list(item.instructions),
                "input": item.input,
                "output": item.output,
                "labels": labels,
                "file": Path(files[self.task_id]).name,
            }

    def requests(self, example, config):
        return [
            Generate(
                Chat([("user", f"{instruction}\n{example['input']}")]),
                until=STOP.get(self.info["class"], ()),
                max_new_tokens=config.max_new_tokens,
            )
            for instruction in example["instructions"]
        ]

    def judge_requests(self, example, responses, config):
        """One rubric prompt per output (JUDGE_PROMPT), greedy, a short answer."""
        return [
            Generate(
                Chat(
                    [
                        (
                            "user",
                            JUDGE_PROMPT.format(
                                instruction=instruction,
                                input=example["input"],
                                reference=example["output"],
                                answer=r.text or "",
                            ),
                        )
                    ]
                ),
                max_new_tokens=16,
            )  # fmt: skip
            for instruction, r in zip(example["instructions"], responses, strict=True)
        ]

    def judge_score(self, example, responses, judgements, config):
        """``judge``: the mean rating in [0, 1] over the item's instructions (None if no rating parsed);
        ``judge_parsed``: the share of the judge's answers that held a rating."""
        ratings = [parse_rating(j.text or "") for j in judgements]
        parsed = [r for r in ratings if r is not None]
        return {
            "judge": float(np.mean(parsed)) if parsed else None,
            "judge_parsed": len(parsed) / len(ratings),
        }

    def _scores(self, example, responses) -> list[dict[str, float]]:
        labels = example["labels"] if self.info["class"] == "label" else None
        return [score_item(self.info["class"], r.text or "", example["output"], labels) for r in responses]

    def score(self, example, responses, config):
        per_instruction = self._scores(example, responses)
        return {key: float(np.mean([s[key] for s in per_instruction])) for key in per_instruction[0]}

    def details(self, example, responses, config):
        out = {"reference": example["output"], "outputs": [r.text for r in responses]}
        if len(responses) > 1:
            out["scores_per_instruction"] = [s["score"] for s in self._scores(example, responses)]
        return out

    def summarize(self, records, config):
        """The proxy's label and versions; with several instructions, the spread of the task score across
        them (the paper's point: the score varies with the instruction's wording)."""
        out = {
            "benchmark": LABEL,
            "normalization_version": NORMALIZATION_VERSION,
            "table_version": table()["version"],
            "class": self.info["class"],
            "categories": self.info["categories"],
            "judge_prompt_sha256": JUDGE_PROMPT_SHA256,
        }
        spreads = [
            r["details"]["scores_per_instruction"]
            for r in records
            if "scores_per_instruction" in r.get("details", {})
        ]
        if spreads:
            by_instruction = np.mean(np.array(spreads), axis=0)
            out["per_instruction"] = [float(v) for v in by_instruction]
            out["instruction_std"] = float(by_instruction.std())
        return out


def all_tasks() -> list[CifTask]:
    return [CifTask(int(task_id)) for task_id in sorted(table()["tasks"], key=int)]
