"""Toy tasks for evalkit's tests: string reversal (generation) and a two-way choice (log-likelihood)."""

import numpy as np
from ml_collections import ConfigDict

from evalkit import hookimpl
from evalkit.api import Generate, Loglikelihood, Reporter, Suite, Task
from evalkit.errors import UserError
from evalkit.metrics import choice_accuracy, exact_match

EVALKIT_PLUGIN_API = 1


class Reverse(Task):
    name = "toy_reverse"
    version = "1"
    description = "reverse a random lowercase string"

    def default_config(self):
        return ConfigDict(
            {"seed": 0, "num_items": 40, "lengths": (3, 5, 8), "fail": False, "user_error": False}
        )

    def validate_config(self, config):
        if config.num_items < 0:
            raise UserError(f"tasks.toy_reverse.num_items must be >= 0, got {config.num_items}")

    def generate(self, config):
        rng = np.random.default_rng(config.seed)
        for i in range(config.num_items):
            n = int(config.lengths[i % len(config.lengths)])
            text = "".join(rng.choice(list("abcdefghij"), size=n))
            yield {"id": f"{i}", "text": text, "groups": {"length": str(n)}}

    def requests(self, example, config):
        if config.fail:
            raise RuntimeError("toy failure on purpose")
        if config.get("user_error"):  # a config problem that only shows once the task runs
            raise UserError("tasks.toy_reverse.user_error is set; set it to False")
        return [Generate(f"reverse:\n{example['text']}\n", until=("\n",), max_new_tokens=32)]

    def score(self, example, responses, config):
        return {"exact_match": exact_match(responses[0].text, example["text"][::-1])}

    def details(self, example, responses, config):
        return {"target": example["text"][::-1]}

    def summarize(self, records, config):
        return {"num_records": len(records)}


class Choice(Task):
    name = "toy_choice"
    description = "pick the more likely of two continuations"

    def default_config(self):
        return ConfigDict({"seed": 1, "num_items": 30})

    def generate(self, config):
        rng = np.random.default_rng(config.seed)
        for i in range(config.num_items):
            yield {
                "id": f"c{i}",
                "context": f"item {i}:",
                "choices": [" yes", " no"],
                "gold": int(rng.integers(2)),
            }

    def requests(self, example, config):
        return [Loglikelihood(example["context"], c) for c in example["choices"]]

    def score(self, example, responses, config):
        return {
            "acc": choice_accuracy(responses, example["gold"]),
            "logprob_gold": responses[example["gold"]].logprob,
        }


class Files(Reverse):
    """Reversal of the lines of ``*.txt`` files in a manual directory (a file-based dataset)."""

    name = "toy_files"
    needs_manual_dir = True
    manual_instructions = "put one or more .txt files there, one string per line"

    def default_config(self):
        return ConfigDict({"manual_dir": "", "fail": False})

    def validate_config(self, config):
        pass

    def read_manual(self, config, manual_dir):
        from pathlib import Path

        for path in sorted(Path(manual_dir).glob("*.txt")):
            for i, line in enumerate(path.read_text().splitlines()):
                yield {"id": f"{path.stem}/{i}", "text": line.strip(), "groups": {"file": path.stem}}


class ReverseLong(Reverse):
    """Longer strings: the second member of the toy suite."""

    name = "toy_reverse_long"
    description = "reverse a longer random lowercase string"

    def default_config(self):
        return ConfigDict(
            {"seed": 3, "num_items": 20, "lengths": (10, 12), "fail": False, "user_error": False}
        )


@hookimpl
def evalkit_register_suites(register):
    register(
        Suite(
            "toy_sizes",
            ("toy_reverse", "toy_reverse_long"),
            groups={"toy_reverse": "short", "toy_reverse_long": "long"},
            group_key="size",
            group_order=("long", "short"),  # not the members' order: the suite's own order must win
            description="the two reversal tasks, grouped by string size",
        )
    )


@hookimpl
def evalkit_register_tasks(register):
    register(Reverse())
    register(Choice())
    register(Files())
    register(ReverseLong())


def _broken_report(results, run_dir):
    raise OSError("toy reporter failure on purpose")


@hookimpl
def evalkit_register_reporters(register):
    register(Reporter("toy_broken", _broken_report, "always fails (tests)"))
