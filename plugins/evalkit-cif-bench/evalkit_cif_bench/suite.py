"""The CIF-Bench suites: per task, per metric class, per category and overall, macro over tasks (the paper's
aggregation), each with a bootstrap CI over items; labelled as evalkit's proxy, never the paper's score.

Tasks may sit in several categories (the paper's task -> category table is not public; evalkit's is its own
assignment from task names and instructions, data/tasks.json), so category figures come from this summary,
not from the host's one-label suite groups (which carry the metric class).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evalkit import UserError
from evalkit.api import Record, Suite
from evalkit_cif_bench.files import read_leaderboard
from evalkit_cif_bench.task import JUDGE_PROMPT_SHA256, LABEL, table

RESAMPLES = 1000


def _draws(
    records: Sequence[Record], rng: np.random.Generator, key: str = "score"
) -> tuple[float, np.ndarray] | None:
    """A task's mean of one score and its bootstrap draws (items resampled within the task); None when no
    item has the score."""
    values = np.array([r["scores"][key] for r in records if r["scores"].get(key) is not None])
    if not values.size:
        return None
    index = rng.integers(0, values.size, size=(RESAMPLES, values.size))
    return float(values.mean()), values[index].mean(axis=1)


def _macro(points: list[float], draws: list[np.ndarray], tasks: list[str]) -> dict[str, Any]:
    low, high = np.quantile(np.mean(draws, axis=0), [0.025, 0.975])
    return {
        "value": float(np.mean(points)),
        "ci_low": float(low),
        "ci_high": float(high),
        "tasks": len(tasks),
    }


def summarize(records: Mapping[str, Sequence[Record]], configs: Mapping[str, Any]) -> dict[str, Any]:
    info = table()
    per_task, judged, parsed = {}, {}, {}
    for name, recs in records.items():
        seed = [0, zlib.crc32(name.encode())]
        if (drawn := _draws(recs, np.random.default_rng(seed))) is not None:
            per_task[name] = drawn
        if (drawn := _draws(recs, np.random.default_rng(seed), "judge")) is not None:
            judged[name] = drawn
        if (drawn := _draws(recs, np.random.default_rng(seed), "judge_parsed")) is not None:
            parsed[name] = drawn
    tasks_of = lambda pick: [t for t in per_task if pick(info["tasks"][str(int(t.rsplit("_", 1)[1]))])]  # noqa: E731

    def figure(names: list[str]) -> dict[str, Any]:
        return _macro([per_task[t][0] for t in names], [per_task[t][1] for t in names], names)

    classes = {c: figure(ts) for c in info["classes"] if (ts := tasks_of(lambda e, c=c: e["class"] == c))}
    categories = {
        c: figure(ts) for c in info["categories"] if (ts := tasks_of(lambda e, c=c: c in e["categories"]))
    }
    overall = figure(list(per_task))
    out = {
        "benchmark": LABEL,
        "score": "per task: the primary score of its class (docs/cif_bench.md); overall: macro over tasks",
        "overall": overall,
        "classes": classes,
        "categories": categories,
        "categories_are": "evalkit's assignment from task names and instructions (the paper's is not public)",
        "excluded": {k: v for k, v in info["excluded"].items() if f"cif_bench_{int(k):03d}" not in records},
        "table_version": info["version"],
    }
    if parsed:  # a judge model rated the outputs: its mean rating, macro over the tasks it rated
        names = list(judged)
        if names:
            out["judge_overall"] = _macro([judged[t][0] for t in names], [judged[t][1] for t in names], names)
        names = list(parsed)  # how often the judge's answer held a rating (a judge that never does shows 0)
        out["judge_parsed"] = _macro([parsed[t][0] for t in names], [parsed[t][1] for t in names], names)
        out["judge_prompt_sha256"] = JUDGE_PROMPT_SHA256
    out["tables"] = _tables(overall, classes, categories, configs)
    out["bars"] = [
        {
            "title": f"{LABEL} per category (evalkit's assignment), macro over tasks, 95% CI",
            "labels": list(categories),
            "values": [f["value"] for f in categories.values()],
            "ci_low": [f["ci_low"] for f in categories.values()],
            "ci_high": [f["ci_high"] for f in categories.values()],
            "ylabel": "primary score",
        }
    ]
    for key, name in (
        ("judge_overall", "judge rating (separate score)"),
        ("judge_parsed", "judge answers with a rating"),
    ):
        if key in out:
            out["tables"][0]["rows"].append(_row(name, out[key]))
    return out


def _row(name: str, fig: Mapping[str, Any]) -> list[Any]:
    return [name, fig["tasks"], f"{fig['value']:.3f} [{fig['ci_low']:.3f}, {fig['ci_high']:.3f}]"]


def _tables(overall, classes, categories, configs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the reports show: overall and per class, per category, and the paper's leaderboard beside them,
    labelled as a different metric on a different split."""
    header = ["", "tasks", "score [95% CI]"]
    tables = [
        {
            "title": f"{LABEL}, macro over tasks: overall and per metric class",
            "header": header,
            "rows": [_row("overall", overall)] + [_row(c, f) for c, f in classes.items()],
        },
        {
            "title": f"{LABEL} per category (evalkit's task -> category assignment, not the paper's)",
            "header": header,
            "rows": [_row(c, f) for c, f in categories.items()],
        },
    ]
    manual_dirs = {str(c.manual_dir) for c in configs.values() if "manual_dir" in c}
    if len(manual_dirs) == 1:
        try:
            board = read_leaderboard(manual_dirs.pop())
        except UserError:
            board = []
        if board:
            columns = list(board[0])
            tables.append(
                {
                    "title": "The paper's leaderboard (private split, GPT-4 judge and BLEURT): a different metric on a "
                    "different split, NOT comparable with the evalkit proxy above",
                    "header": columns,
                    "rows": [[row[c] for c in columns] for row in board],
                }
            )
    return tables


def _suite(name: str, with_excluded: bool, description: str) -> Suite:
    info = table()
    ids = sorted((int(k) for k in info["tasks"]), key=int)
    ids = [i for i in ids if with_excluded or str(i) not in info["excluded"]]
    names = tuple(f"cif_bench_{i:03d}" for i in ids)
    return Suite(
        name,
        names,
        groups={n: info["tasks"][str(i)]["class"] for n, i in zip(names, ids)},
        group_key="class",
        group_order=tuple(info["classes"]),
        tags={n: tuple(info["tasks"][str(i)]["categories"]) for n, i in zip(names, ids)},
        tag_key="category",
        summarize=summarize,
        description=description,
    )


def suites() -> list[Suite]:
    return [
        _suite(
            "cif_bench",
            False,
            f"CIF-Bench public split, 149 tasks (task 1 excluded: broken upstream); {LABEL}",
        ),
        _suite("cif_bench_all", True, f"CIF-Bench public split, all 150 tasks (with broken task 1); {LABEL}"),
    ]
