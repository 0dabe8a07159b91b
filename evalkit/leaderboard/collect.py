"""Join the entries' ``results.json`` files into one leaderboard table: column values with CIs, the rank,
a paired-bootstrap test between neighbouring rows, and the provenance of every number.

Results of different task versions or task settings are never mixed: a task whose version or config
(its ``probe`` section aside: that is the model an entry trains) differs between two entries is refused
with one sentence naming both.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.errors import UserError
from evalkit.leaderboard.config import Column, Leaderboard
from evalkit.metrics import resample_statistic, weighted_paired_bootstrap
from evalkit.metrics.items import item_of
from evalkit.results.schema import READABLE_VERSIONS, load_results
from evalkit.results.store import RecordStore

SIGNIFICANCE = 0.05  # two-sided level of the neighbour test


@dataclasses.dataclass
class Cell:
    """One column of one row: the value with its 95% CI and the item count behind it."""

    value: float
    ci_low: float
    ci_high: float
    n: int


@dataclasses.dataclass
class Row:
    """One entry: its cells (by column title), rank value, neighbour test and provenance."""

    entry: str
    description: str
    cells: dict[str, Cell]
    rank_value: float
    rank: int = 0
    vs_next: dict[str, float] | None = None  # paired test against the next row (None for the last)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # label -> results.json entry


def _read(results_dir: Path, name: str) -> tuple[Path, dict[str, Any]]:
    run_dir = results_dir / name
    file = run_dir / "results.json"
    if not file.is_file():
        raise UserError(
            f"entry {name!r} has no results at {file}; run `evalkit leaderboard run` first or fix --results"
        )
    try:
        data = load_results(file)
    except ValueError as exc:
        versions = ", ".join(map(str, READABLE_VERSIONS))
        raise UserError(
            f"{file} is not a results file this evalkit reads (schema {versions}): {exc}"
        ) from exc
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{file} cannot be read ({exc}); rerun the entry to rewrite it") from exc
    if not isinstance(data.get("tasks"), dict):
        raise UserError(f"{file} has no 'tasks'; it is not a results.json written by `evalkit run`")
    return run_dir, data


def _column_tasks(column: Column, data: dict[str, Any], name: str) -> tuple[str, ...]:
    if not column.suite:
        return column.tasks
    suite = (data.get("suites") or {}).get(column.suite)
    if not suite:
        raise UserError(f"entry {name!r} has no results for suite {column.suite!r}; rerun it with the suite")
    return tuple(suite["tasks"])


def _item_scores(
    run_dir: Path, label: str, entry: dict[str, Any], column: Column
) -> dict[str, tuple[float, str]]:
    """record id -> (score, test item) from the task's samples.jsonl (this config's records only, and only
    the column's group when it names one)."""
    samples = run_dir / label / "samples.jsonl"
    if not samples.is_file():
        raise UserError(
            f"{samples} is missing; the leaderboard needs the per-item records `evalkit run` writes"
        )
    out = {}
    for rec in RecordStore(samples, entry.get("config_hash", "")).records():
        if column.group and (rec.get("groups") or {}).get(column.group[0]) != column.group[1]:
            continue
        value = (rec.get("scores") or {}).get(column.score)
        if isinstance(value, (int, float)) and math.isfinite(float(value)):
            out[str(rec["id"])] = (float(value), item_of(rec))
    return out


def build_table(board: Leaderboard, results_dir: str | Path) -> list[Row]:
    """Rows in rank order (highest first), each with cells, provenance and the test against the next row."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(
            f"results directory {results_dir} does not exist; pass the --results of `leaderboard run`"
        )
    loaded = {e.name: _read(results_dir, e.name) for e in board.entries}
    _check_same_tasks(board, loaded)
    per_item: dict[tuple[str, str, str], dict[str, tuple[float, str]]] = {}
    rows = []
    for entry in board.entries:
        run_dir, data = loaded[entry.name]
        cells, used = {}, {}
        for column in board.columns:
            labels = _column_tasks(column, data, entry.name)
            for label in labels:
                task = data["tasks"].get(label)
                if task is None or task.get("status") != "ok":
                    raise UserError(
                        f"entry {entry.name!r} has no finished results for task {label!r}; rerun the entry"
                    )
                used[label] = task
                per_item[(entry.name, label, column.title)] = _item_scores(run_dir, label, task, column)
            cells[column.title] = _cell(board, column, entry.name, labels, data, per_item)
        rank_value = (
            float(np.mean([c.value for c in cells.values()]))
            if board.rank_by == "mean"
            else cells[board.rank_by].value
        )
        rows.append(
            Row(
                entry.name,
                entry.description,
                cells,
                rank_value,
                provenance=_provenance(data, used),
                tasks=used,
            )
        )
    rows.sort(key=lambda r: (-r.rank_value if math.isfinite(r.rank_value) else math.inf, r.entry))
    for i, row in enumerate(rows):
        row.rank = i + 1
        if i + 1 < len(rows):
            row.vs_next = _neighbour_test(board, row, rows[i + 1], loaded, per_item)
    return rows


def _cell(
    board: Leaderboard,
    column: Column,
    name: str,
    labels: tuple[str, ...],
    data: dict[str, Any],
    per_item: dict,
) -> Cell:
    """One task: its results.json metric (the task's own aggregation). Several: the mean of the tasks' mean
    scores, with a bootstrap CI that resamples every task's items."""
    if len(labels) == 1:
        task = data["tasks"][labels[0]]
        metrics = task.get("metrics") or {}
        if column.group:
            metrics = ((task.get("groups") or {}).get(column.group[0]) or {}).get(column.group[1]) or {}
        metric = metrics.get(column.score)
        if metric is None:
            where = f" in group {'='.join(column.group)}" if column.group else ""
            raise UserError(
                f"entry {name!r}: task {labels[0]!r} has no score {column.score!r}{where}; fix the column's "
                "score or group"
            )
        return Cell(metric["value"], metric["ci_low"], metric["ci_high"], int(metric["n"]))
    draws, point, n = np.zeros(board.bootstrap_resamples), 0.0, 0
    for k, label in enumerate(labels):
        scores = per_item[(name, label, column.title)]
        if not scores:
            raise UserError(
                f"entry {name!r}: task {label!r} has no score {column.score!r}; fix the column's score"
            )
        values = np.array([v for v, _ in scores.values()])
        clusters = [item for _, item in scores.values()]
        point += float(values.mean()) / len(labels)
        n += len(values)
        rng = np.random.default_rng([board.seed, k])
        draws += resample_statistic(values, np.mean, clusters, rng, board.bootstrap_resamples) / len(labels)
    low, high = np.quantile(draws, [0.025, 0.975])
    return Cell(point, float(low), float(high), n)


def _neighbour_test(
    board: Leaderboard, upper: Row, lower: Row, loaded: dict, per_item: dict
) -> dict[str, float]:
    """Paired bootstrap of the rank statistic, upper minus lower, over the items both rows scored."""
    ranked = (
        board.columns if board.rank_by == "mean" else [c for c in board.columns if c.title == board.rank_by]
    )
    strata = []
    for column in ranked:
        labels = _column_tasks(column, loaded[upper.entry][1], upper.entry)
        for label in labels:
            a = per_item[(upper.entry, label, column.title)]
            b = per_item[(lower.entry, label, column.title)]
            ids = sorted(set(a) & set(b))
            if not ids:
                continue
            weight = 1.0 / len(ranked) / len(labels)
            strata.append(
                (
                    np.array([a[i][0] for i in ids]),
                    np.array([b[i][0] for i in ids]),
                    [a[i][1] for i in ids],
                    weight,
                )
            )
    if not strata:
        return {"p_value": float("nan"), "significant": False, "mean_diff": float("nan")}
    test = weighted_paired_bootstrap(strata, resamples=board.bootstrap_resamples, seed=board.seed)
    return {**test, "significant": bool(test["p_value"] < SIGNIFICANCE)}


def _check_same_tasks(board: Leaderboard, loaded: dict[str, tuple[Path, dict[str, Any]]]) -> None:
    """Refuse to rank results of different task versions or task configs (one sentence naming both entries).

    A probe task's ``probe`` section configures the model each entry trains, not the test items, so it
    may differ; every other key of the task config must be equal.
    """
    first: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for name, (_, data) in loaded.items():
        for label, task in data["tasks"].items():
            version = str(task.get("version"))
            config = _flat({k: v for k, v in (task.get("config") or {}).items() if k != "probe"})
            if label not in first:
                first[label] = (name, version, config)
                continue
            other, other_version, other_config = first[label]
            if version != other_version:
                raise UserError(
                    f"task {label!r} has version {other_version} in entry {other!r} but {version} in entry "
                    f"{name!r}; rerun one of them so both use the same task version"
                )
            differ = sorted(
                k for k in set(config) | set(other_config) if config.get(k) != other_config.get(k)
            )
            if differ:
                raise UserError(
                    f"task {label!r} was run with different settings in entries {other!r} and {name!r} "
                    f"({', '.join(differ[:3])}); rerun them with the leaderboard's task config"
                )


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value of a nested dict (lists kept whole)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _provenance(data: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where a row's numbers come from: versions, hashes, date and hardware."""
    runtime = data.get("runtime") or {}
    model = data.get("model") or {}
    return {
        "evalkit_version": data.get("evalkit_version"),
        "created": data.get("created"),
        "run_hash": data.get("run_hash"),
        "model": {k: model.get(k) for k in ("name", "plugin", "plugin_version", "config_hash")},
        "tasks": {
            label: {
                k: t.get(k)
                for k in ("task", "version", "plugin", "plugin_version", "config_hash", "data_hash")
            }
            for label, t in tasks.items()
        },
        "hardware": {k: runtime.get(k) for k in ("device_kind", "devices", "processes")},
    }
