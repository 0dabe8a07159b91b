"""``evalkit new-plugin NAME``: writes a ready-to-install plugin package (the plugin authoring kit).

The package holds a ``pyproject.toml`` with the ``evalkit`` entry point, one task (string reversal, with
length groups and an ID / OOD split), one registered metric, a run config, tests that use
``evalkit.testing``, and a README. It is what docs/plugins.md describes, so ``pip install -e`` plus ``evalkit list tasks`` shows the
task at once and ``evalkit run`` runs it on the fake model.
"""

from __future__ import annotations

import argparse
import re
import string
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.results import write_text_atomic

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "evalkit-$dist"
version = "0.1.0"
description = "An evalkit plugin: reversal of lowercase strings, with a length-generalization split"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["evalkit"]

[project.optional-dependencies]
test = ["pytest>=8"]

[project.entry-points.evalkit]
$name = "evalkit_$name"

[tool.setuptools]
packages = ["evalkit_$name"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 110

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP"]
isort.known-first-party = ["evalkit_$name"]
"""

PACKAGE = '''\
"""evalkit plugin $name: one task and one metric, registered through evalkit's hooks."""

import numpy as np
from evalkit import UserError, hookimpl
from evalkit.api import Generate, Metric, Task
from evalkit.metrics import exact_match
from ml_collections import ConfigDict

EVALKIT_PLUGIN_API = 1  # the hook API version this plugin needs

TASK = "${name}_reverse"
METRIC = "${name}_trimmed_mean"


class Reverse(Task):
    """Reverse a random lowercase string; lengths not in ``id_lengths`` are out of distribution."""

    name = TASK
    version = "1"
    description = "reverse a random lowercase string (length groups, ID vs OOD split)"
    metrics = {"char_accuracy": METRIC}

    def default_config(self):
        return ConfigDict({"seed": 0, "num_items": 60, "lengths": (3, 5, 8, 12), "id_lengths": (3, 5)})

    def validate_config(self, config):
        if config.num_items < 1:
            raise UserError(f"tasks.{TASK}.num_items must be at least 1, got {config.num_items}")
        if not config.lengths or min(config.lengths) < 1:
            raise UserError(f"tasks.{TASK}.lengths must be positive string lengths, got {config.lengths}")

    def generate(self, config):
        rng = np.random.default_rng(config.seed)
        for i in range(config.num_items):
            n = int(config.lengths[i % len(config.lengths)])
            text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=n))
            split = "id" if n in tuple(config.id_lengths) else "ood"
            yield {"id": str(i), "text": text, "groups": {"length": str(n), "split": split}}

    def requests(self, example, config):
        return [Generate(f"Reverse the string.\\n{example['text']}\\n", until=("\\n",), max_new_tokens=32)]

    def score(self, example, responses, config):
        target, answer = example["text"][::-1], responses[0].text.strip()
        return {"exact_match": exact_match(answer, target), "char_accuracy": char_accuracy(answer, target)}

    def details(self, example, responses, config):
        return {"target": example["text"][::-1]}


def char_accuracy(answer: str, target: str) -> float:
    """Share of the target's characters the answer has at the same place (extra characters count as wrong)."""
    hits = sum(a == b for a, b in zip(answer, target, strict=False))
    return hits / max(len(target), len(answer), 1)


def trimmed_mean(scores: np.ndarray, cut: float = 0.1) -> float:
    """Mean of the scores without the lowest and highest ``cut`` share of them."""
    ordered = np.sort(np.asarray(scores, dtype=float))
    k = int(len(ordered) * cut)
    kept = ordered[k : len(ordered) - k] if len(ordered) > 2 * k else ordered
    return float(kept.mean())


@hookimpl
def evalkit_register_tasks(register):
    register(Reverse())


@hookimpl
def evalkit_register_metrics(register):
    register(Metric(METRIC, trimmed_mean, "mean without the lowest and highest 10% of item scores"))
'''

CONFTEST = """\
pytest_plugins = ["evalkit.testing"]  # evalkit's fixtures: evalkit_host, register_plugin, fake_model
"""

TESTS = '''\
"""The $name plugin: scoring by hand, and a whole run on evalkit's fake model."""

import pytest
from evalkit.api import Generation, UserError
from evalkit.testing import evaluate_task

import evalkit_$name

TASK = evalkit_$name.TASK


@pytest.fixture
def host(evalkit_host):
    """evalkit's plugin host with this plugin: loaded from its entry point once installed, else registered."""
    if TASK not in evalkit_host.registry("tasks"):
        evalkit_host.register(evalkit_$name, name="$name")
    return evalkit_host


def test_scores_right_and_wrong_answers():
    task = evalkit_$name.Reverse()
    example = {"id": "0", "text": "abcd"}
    right = task.score(example, [Generation("dcba", (), "stop")], task.default_config())
    wrong = task.score(example, [Generation("dcxx", (), "stop")], task.default_config())
    assert right == {"exact_match": 1.0, "char_accuracy": 1.0}
    assert wrong == {"exact_match": 0.0, "char_accuracy": 0.5}


def test_trimmed_mean_drops_the_extremes():
    assert evalkit_$name.trimmed_mean([0.0] + [0.5] * 8 + [1.0]) == 0.5


def test_bad_config_is_one_sentence(host, tmp_path):
    with pytest.raises(UserError, match="num_items"):
        evaluate_task(TASK, tmp_path, {"num_items": 0})


def test_runs_on_the_fake_model(host, tmp_path):
    # The fake model answers with the last line of the prompt reversed: every item is right.
    results = evaluate_task(TASK, tmp_path, {"num_items": 16})
    metrics = results["tasks"][TASK]["metrics"]
    assert metrics["exact_match"]["value"] == 1.0
    assert metrics["char_accuracy"]["value"] == 1.0
'''

README = """\
# evalkit-$dist

An evalkit plugin made with `evalkit new-plugin $name`. Its task `${name}_reverse`
asks a model to reverse a lowercase string; items are grouped by length, lengths in `id_lengths` are in
distribution and longer ones out of it, so results report the generalization gap. The score
`char_accuracy` is aggregated by the plugin's own metric `${name}_trimmed_mean`.

```bash
pip install -e .               # registers the entry point: `evalkit list tasks` shows ${name}_reverse
evalkit run configs/${name}.py      # the task on evalkit's fake model; results in runs/${name}/
evalkit run configs/${name}.py --config.tasks.${name}_reverse.num_items=20   # override any key
pytest                         # the plugin's tests (evalkit.testing fixtures, the fake model)
```

Edit `evalkit_$name/__init__.py` to make it your task: `generate` yields the items, `requests` says what to
ask the model, `score` scores one item. docs/plugins.md in evalkit describes every hook and the task API.
"""

CONFIG = '''\
"""${name}_reverse on evalkit's fake model: `evalkit run configs/${name}.py` (set `model` to test yours)."""

from ml_collections import ConfigDict


def get_config(arg=None):
    c = ConfigDict()
    c.output_dir = "runs/${name}"
    c.model = ConfigDict({"name": "fake"})
    c.tasks = ConfigDict({"${name}_reverse": ConfigDict({"num_items": 60})})
    c.required_plugins = ("evalkit-$dist",)
    return c
'''

FILES = {
    "pyproject.toml": PYPROJECT,
    "README.md": README,
    "evalkit_$name/__init__.py": PACKAGE,
    "configs/$name.py": CONFIG,
    "tests/conftest.py": CONFTEST,
    "tests/test_$name.py": TESTS,
}


def check_name(name: str) -> str:
    """``name`` if it can name a plugin (module ``evalkit_<name>``, tasks ``<name>_...``); else UserError."""
    if not NAME_PATTERN.fullmatch(name):
        raise UserError(
            f"plugin name {name!r} is not valid; use lowercase letters, digits and underscores, starting with "
            "a letter (at most 40), e.g. `evalkit new-plugin my_task`"
        )
    return name


def write_plugin(name: str, parent: str | Path = ".") -> Path:
    """Write the package ``evalkit-<name>`` under ``parent``; returns its directory. Refuses to overwrite."""
    name = check_name(name)
    dist = name.replace("_", "-")
    target = Path(parent) / f"evalkit-{dist}"
    if target.exists():
        raise UserError(f"{target} already exists; choose another name or remove it first")
    if not Path(parent).is_dir():
        raise UserError(f"{parent} is not a directory; create it or pass another --dir")
    fields = {"name": name, "dist": dist}
    for relative, text in FILES.items():
        path = target / string.Template(relative).substitute(fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, string.Template(text).substitute(fields))
    return target


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers the `new-plugin` subcommand; its `func` is `run`."""
    p = subparsers.add_parser(
        "new-plugin",
        help="write a new plugin package (task, metric, config, tests) to start from",
        description=(
            "Write the package evalkit-NAME: pyproject.toml with the evalkit entry point, a task, a metric, "
            "a run config, tests using evalkit.testing and a README. Then `pip install -e evalkit-NAME`."
        ),
    )
    p.add_argument("name", help="plugin name: lowercase letters, digits and _ (module evalkit_NAME)")
    p.add_argument("--dir", default=".", help="where to create the package (default: here)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, overrides: dict[str, str]) -> int:
    target = write_plugin(args.name, args.dir)
    dist = target.name
    print(f"wrote {target}/")
    print(
        f"next: pip install -e {target} && evalkit list tasks && evalkit run {target}/configs/{args.name}.py"
    )
    print(f"      cd {target} && pytest   # the plugin's own tests ({dist})")
    return 0
