"""Join the entries' ``results.json`` files into one leaderboard table: column values with CIs, the rank,
a paired-bootstrap test between neighbouring rows, and the provenance of every number.

Every figure is computed here from the per-item records (``samples.jsonl``, read without changing it):
a test item's score is the mean of its records (one per probe seed), a task's figure the mean over its
test items, a column's value the mean over its tasks, the ranking figure the mean over the columns (or
one column). Confidence intervals resample test items; the neighbour test resamples the items of each
task once per resample, shared by every column that uses the task, so columns over the same items are
not counted as independent evidence.

Results of different task versions, task settings, test items or judges are never mixed: they are refused
with one sentence naming both entries.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.errors import UserError
from evalkit.leaderboard.config import Column, Leaderboard
from evalkit.metrics.bootstrap import resample_statistic
from evalkit.metrics.items import item_of
from evalkit.results.schema import load_results
from evalkit.results.store import RecordStore

SIGNIFICANCE = 0.05  # two-sided level of the neighbour test


@dataclasses.dataclass
class Cell:
    """One column of one row: the value with its 95% CI and the number of test items behind it."""

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
    vs_next: dict[str, Any] | None = None  # paired test against the next row (None for the last)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # label -> results.json entry
    column_tasks: dict[str, tuple] = dataclasses.field(default_factory=dict)  # column title -> task labels
    # suite label -> results.json entry
    suites: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # suite column title -> {the suite's group label (e.g. a complexity level): the column over its members}
    suite_cells: dict[str, dict[str, Cell]] = dataclasses.field(default_factory=dict)


# (entry, column title, task label) -> {test item: its score}
ItemScores = dict[tuple[str, str, str], dict[str, float]]


def build_table(board: Leaderboard, results_dir: str | Path) -> list[Row]:
    """Rows in rank order (best first), each with cells, provenance and the test against the next row."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        what = "is not a directory" if results_dir.exists() else "does not exist"
        raise UserError(f"results directory {results_dir} {what}; pass the --results of `leaderboard run`")
    _records.cache_clear()  # files may have changed since an earlier build in this process
    loaded = {e.name: _read(results_dir, e.name) for e in board.entries}
    _check_same_tasks(loaded)
    _check_board_config(board, loaded)
    _check_same_judge(loaded, board.judge)
    members = _column_members(board, loaded)
    scores: ItemScores = {}
    rows = []
    for entry in board.entries:
        run_dir, data = loaded[entry.name]
        used = {}
        try:
            for column in board.columns:
                for label in members[column.title]:
                    task = data["tasks"].get(label)
                    if not isinstance(task, dict) or task.get("status") != "ok":
                        raise UserError(
                            f"entry {entry.name!r} has no finished results for task {label!r}; rerun the entry"
                        )
                    used[label] = task
                    scores[(entry.name, column.title, label)] = _item_scores(
                        run_dir, label, task, column, entry.name
                    )
            provenance = _provenance(data, used)
            suites = {c.suite: data["suites"][c.suite] for c in board.columns if c.suite}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise UserError(
                f"the results of entry {entry.name!r} are malformed ({type(exc).__name__}: {exc}); rerun the entry"
            ) from exc
        rows.append(
            Row(
                entry.name,
                entry.description,
                {},
                math.nan,
                provenance=provenance,
                tasks=used,
                column_tasks=members,
                suites=suites,
            )
        )
    _check_same_items(board, members, scores)
    for row in rows:
        for k, column in enumerate(board.columns):
            row.cells[column.title] = _cell(board, k, column, members[column.title], row.entry, scores)
            if column.suite:
                row.suite_cells[column.title] = {
                    group: _cell(board, k, column, labels, row.entry, scores)
                    for group, labels in suite_groups(row.suites[column.suite], members[column.title]).items()
                }
        row.rank_value = _figure(board, members, scores, row.entry)
    sign = -1.0 if board.higher_is_better else 1.0
    rows.sort(key=lambda r: (sign * r.rank_value, r.entry))
    for i, row in enumerate(rows):
        row.rank = i + 1
        if i + 1 < len(rows):
            row.vs_next = _neighbour_test(board, members, scores, row.entry, rows[i + 1].entry)
    return rows


# --- reading ---------------------------------------------------------------------------------------


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
        raise UserError(f"{exc}; rerun the entry with this evalkit to rewrite it") from exc
    except (OSError, UnicodeDecodeError, AttributeError, TypeError) as exc:
        raise UserError(f"{file} cannot be read as evalkit results ({exc}); rerun the entry") from exc
    if not isinstance(data.get("tasks"), dict):
        raise UserError(f"{file} has no 'tasks'; it is not a results.json written by `evalkit run`")
    return run_dir, data


def _column_members(board: Leaderboard, loaded: dict[str, tuple[Path, dict[str, Any]]]) -> dict[str, tuple]:
    """Column title -> its task labels (a suite column: the suite's members, the same in every entry)."""
    members = {}
    for column in board.columns:
        if not column.suite:
            members[column.title] = column.tasks
            continue
        seen: dict[tuple, str] = {}
        labelled: dict[str, str] = {}
        for name, (_, data) in loaded.items():
            suite = (data.get("suites") or {}).get(column.suite)
            if column.suite in data["tasks"] and suite is None:
                raise UserError(
                    f"column {column.title!r} names {column.suite!r} as a suite, but it is a task; use "
                    f"tasks=({column.suite!r},) in the column"
                )
            if not isinstance(suite, dict) or not isinstance(suite.get("tasks"), list) or not suite["tasks"]:
                raise UserError(
                    f"entry {name!r} has no results for suite {column.suite!r}; rerun it with the suite"
                )
            seen.setdefault(tuple(map(str, suite["tasks"])), name)
            groups = json.dumps(suite.get("groups"), sort_keys=True)
            labelled.setdefault(groups, name)
        if len(seen) > 1:
            (a, first), (b, second) = list(seen.items())[:2]
            raise UserError(
                f"suite {column.suite!r} has members {', '.join(a)} in entry {first!r} but {', '.join(b)} in "
                f"entry {second!r}; rerun them with the same suite"
            )
        if len(labelled) > 1:
            first, second = list(labelled.values())[:2]
            raise UserError(
                f"suite {column.suite!r} labels its members differently in entries {first!r} and {second!r} "
                "(another plugin version?); rerun them with the same suite"
            )
        members[column.title] = next(iter(seen))
    return members


@functools.lru_cache(maxsize=64)
def _records(samples: Path, config_hash: str) -> list[dict[str, Any]]:
    """A task's records, read once per build however many columns use the task (read only)."""
    try:
        return RecordStore(samples, config_hash, read_only=True).records()
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError) as exc:
        raise UserError(f"{samples} has a malformed line ({exc}); rerun the entry to rewrite it") from exc


def _item_scores(
    run_dir: Path, label: str, task: dict[str, Any], column: Column, name: str
) -> dict[str, float]:
    """Test item -> mean of its records' ``column.score`` (one record per probe seed), for this task
    config's records of the column's group; read only (a torn last line is skipped, not cut)."""
    samples = run_dir / label / "samples.jsonl"
    if not samples.is_file():
        raise UserError(
            f"{samples} is missing; the leaderboard needs the per-item records `evalkit run` writes"
        )
    records = _records(samples, task.get("config_hash", ""))
    sums: dict[str, list[float]] = {}
    for rec in records:
        if column.group and str((rec.get("groups") or {}).get(column.group[0])) != column.group[1]:
            continue
        value = (rec.get("scores") or {}).get(column.score)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(
                f"entry {name!r}: task {label!r} item {rec.get('id')!r} has score {column.score}={value!r}; "
                "a leaderboard column needs a finite number for every item"
            )
        sums.setdefault(item_of(rec), []).append(float(value))
    if not sums:
        where = f" in group {'='.join(column.group)}" if column.group else ""
        scores = sorted({s for rec in records for s in (rec.get("scores") or {})})
        known = f"its scores: {', '.join(scores) or 'none'}"
        if column.group:
            values = sorted(
                {
                    str(v)
                    for rec in records
                    if (v := (rec.get("groups") or {}).get(column.group[0])) is not None
                }
            )
            known += f"; its {column.group[0]} groups: {', '.join(values) or 'none'}"
        raise UserError(
            f"entry {name!r}: task {label!r} has no items with score {column.score!r}{where} ({known}); fix "
            f"column {column.title!r}"
        )
    return {item: float(np.mean(v)) for item, v in sums.items()}


def suite_groups(suite: dict[str, Any], members: tuple) -> dict[str, tuple]:
    """The suite's group label (e.g. Scylla's complexity level) -> its member tasks, in the suite's order;
    members without a label are left out."""
    labels = suite.get("groups") if isinstance(suite.get("groups"), dict) else {}
    declared = suite.get("group_order") if isinstance(suite.get("group_order"), list) else []
    order = [str(g) for g in declared] + [str(labels[t]) for t in members if t in labels]
    groups: dict[str, tuple] = {}
    for group in dict.fromkeys(order):
        tasks = tuple(t for t in members if str(labels.get(t)) == group)
        if tasks:
            groups[group] = tasks
    return groups


# --- checks ----------------------------------------------------------------------------------------


def _check_board_config(board: Leaderboard, loaded: dict[str, tuple[Path, dict[str, Any]]]) -> None:
    """The results are of this leaderboard's config: every task key, model key and the seed the board sets
    (the entry's overrides aside, which the run applied on top) have the stored values. A `--config` override
    at run time or a config edited since is refused with a sentence naming the key; keys the board leaves to
    the defaults are not compared (another plugin version may add them)."""
    for entry in board.entries:
        _, data = loaded[entry.name]
        stored = data.get("config") if isinstance(data.get("config"), dict) else {}
        tasks = stored.get("tasks") if isinstance(stored.get("tasks"), dict) else {}
        suites = data.get("suites") if isinstance(data.get("suites"), dict) else {}
        overridden = set(entry.overrides)
        wanted: list[tuple[str, Any, Any]] = [("seed", board.seed, stored.get("seed"))]
        stored_model = _flat(stored.get("model") or {})
        for key, value in _flat(entry.model).items():
            wanted.append((f"model.{key}", value, stored_model.get(key, _MISSING)))
        for label, keys in board.tasks.items():
            if label in tasks:
                targets = {label: label}
            elif isinstance(
                suites.get(label), dict
            ):  # a suite: its keys went to the members not listed alone
                members = [t for t in suites[label].get("tasks") or [] if t not in board.tasks]
                targets = {t: label for t in members}
                keys = {k: v for k, v in keys.items() if k not in ("groups", "suite")}
            else:
                continue  # no results for it at all: the column checks say so
            for member, source in targets.items():
                have = _flat(tasks.get(member) or {})
                for key, value in _flat(keys).items():
                    wanted.append((f"tasks.{source}.{key}", value, have.get(key, _MISSING)))
        for key, value, got in wanted:
            if key in overridden or got is _MISSING or _json(value) == _json(got):
                continue
            raise UserError(
                f"entry {entry.name!r} was run with {key}={_json(got)!r} but the leaderboard sets {_json(value)!r} "
                "(a --config override at `leaderboard run`, or a config edited since?); rerun the entry with "
                "`evalkit leaderboard run`"
            )


_MISSING = object()


def _json(value: Any) -> Any:
    """A value as results.json holds it (tuples as lists), for comparing a config with stored results."""
    return json.loads(json.dumps(value, default=str))


def _check_same_judge(loaded: dict[str, tuple[Path, dict[str, Any]]], wanted: dict[str, Any] | None) -> None:
    """Entries rated by different judges (or one with a judge and one without) are not compared, and when
    the board names a judge the results must have been rated by it."""
    first: tuple[str, Any] | None = None
    for name, (_, data) in loaded.items():
        judge = data.get("judge") if isinstance(data.get("judge"), dict) else None
        key = None if judge is None else (judge.get("name"), judge.get("config_hash"))
        if first is None:
            first = (name, key)
        elif key != first[1]:

            def said(k: Any) -> str:
                return "no judge" if k is None else f"judge {k[0]!r} (config {k[1]})"

            raise UserError(
                f"entry {first[0]!r} was rated by {said(first[1])} but entry {name!r} by {said(key)}; rerun them "
                "with the leaderboard's `judge` so every entry is rated alike"
            )
        if wanted and (key is None or key[0] != wanted.get("name")):
            raise UserError(
                f"the leaderboard's judge is {wanted.get('name')!r} but entry {name!r} was rated by "
                f"{'no judge' if key is None else repr(key[0])}; rerun it with `evalkit leaderboard run`"
            )


def _check_same_tasks(loaded: dict[str, tuple[Path, dict[str, Any]]]) -> None:
    """Refuse to rank results of different task versions or task configs (one sentence naming both entries).

    A probe task's ``probe`` section configures the model each entry trains, not the test items, so it
    may differ; every other key of the task config must be equal.
    """
    first: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for name, (_, data) in loaded.items():
        for label, task in data["tasks"].items():
            if not isinstance(task, dict):
                raise UserError(
                    f"the results of entry {name!r} are malformed (task {label!r}); rerun the entry"
                )
            version = str(task.get("version"))
            config = task.get("config") if isinstance(task.get("config"), dict) else {}
            config = _flat({k: v for k, v in config.items() if k != "probe"})
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


def _check_same_items(board: Leaderboard, members: dict[str, tuple], scores: ItemScores) -> None:
    """Every entry scored the same test items of every column's task (so rows compare like with like)."""
    for column in board.columns:
        for label in members[column.title]:
            first = board.entries[0].name
            want = set(scores[(first, column.title, label)])
            for entry in board.entries[1:]:
                got = set(scores[(entry.name, column.title, label)])
                if got != want:
                    raise UserError(
                        f"entries {first!r} and {entry.name!r} scored different items of task {label!r} "
                        f"({len(want)} vs {len(got)}, {len(want ^ got)} not in both); rerun them with the "
                        "same task config"
                    )


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value of a nested dict (lists kept whole)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


# --- figures and tests -----------------------------------------------------------------------------


def _cell(board: Leaderboard, k: int, column: Column, labels: tuple, name: str, scores: ItemScores) -> Cell:
    """Mean over the column's tasks of their mean item score; the CI resamples every task's items."""
    rng = np.random.default_rng([board.seed, k])
    point, draws, n = 0.0, np.zeros(board.bootstrap_resamples), 0
    for label in labels:
        values = np.array(list(scores[(name, column.title, label)].values()))
        point += float(values.mean()) / len(labels)
        draws += resample_statistic(values, np.mean, None, rng, board.bootstrap_resamples) / len(labels)
        n += len(values)
    low, high = np.quantile(draws, [0.025, 0.975])
    return Cell(point, float(low), float(high), n)


def _figure(board: Leaderboard, members: dict[str, tuple], scores: ItemScores, name: str) -> float:
    """The ranking figure of an entry: the mean over the ranked columns of their values."""
    ranked = board.ranked_columns
    return float(
        sum(
            np.mean([np.mean(list(scores[(name, c.title, t)].values())) for t in members[c.title]])
            for c in ranked
        )
        / len(ranked)
    )


def _neighbour_test(
    board: Leaderboard, members: dict[str, tuple], scores: ItemScores, upper: str, lower: str
) -> dict[str, Any]:
    """Paired bootstrap of the ranking figure, upper minus lower: each resample draws every task's test items
    once (shared by all columns using the task) and recomputes every column on the drawn items. Significant
    when p < 0.05 and the upper row is the better one (above for higher-is-better, below otherwise)."""
    ranked = board.ranked_columns
    resamples = board.bootstrap_resamples
    tasks = sorted({t for c in ranked for t in members[c.title]})
    counts = {}
    for k, label in enumerate(tasks):  # one draw of each task's items per resample
        items = sorted(
            {i for c in ranked if label in members[c.title] for i in scores[(upper, c.title, label)]}
        )
        draw = np.random.default_rng([board.seed, 1_000 + k]).integers(
            0, len(items), size=(resamples, len(items))
        )
        offsets = draw + len(items) * np.arange(resamples)[:, None]  # per-resample counts of each item
        counts[label] = (
            items,
            np.bincount(offsets.ravel(), minlength=resamples * len(items)).reshape(resamples, -1),
        )
    point, draws = 0.0, np.zeros(resamples)
    for column in ranked:
        labels = members[column.title]
        for label in labels:
            items, count = counts[label]
            a, b = scores[(upper, column.title, label)], scores[(lower, column.title, label)]
            mask = np.array([i in a for i in items], dtype=np.float64)
            diff = np.array([a[i] - b[i] if i in a else 0.0 for i in items])
            weight = 1.0 / len(ranked) / len(labels)
            point += weight * float(diff.sum() / mask.sum())
            den = count @ mask
            draws += weight * np.divide(count @ diff, den, out=np.zeros(resamples), where=den > 0)
    low, high = np.quantile(draws, [0.025, 0.975])
    p = float(min(1.0, 2 * min((draws <= 0).mean(), (draws >= 0).mean())))
    return {
        "mean_diff": point,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": p,
        "p_floor": 1.0 / resamples,
        "significant": bool(p < SIGNIFICANCE and (point > 0 if board.higher_is_better else point < 0)),
    }


def _provenance(data: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Where a row's numbers come from: versions, hashes, date and hardware (from the tasks' runtime)."""
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    runtimes = [t.get("runtime") for t in tasks.values() if isinstance(t.get("runtime"), dict)]
    hardware = {
        key: sorted({str(r[key]) for r in runtimes if r.get(key) is not None})
        for key in ("device_kind", "devices", "processes")
    }
    judge = data.get("judge") if isinstance(data.get("judge"), dict) else None
    return {
        "evalkit_version": data.get("evalkit_version"),
        "created": data.get("created"),
        "run_hash": data.get("run_hash"),
        "model": {k: model.get(k) for k in ("name", "plugin", "plugin_version", "config_hash")},
        "judge": judge and {k: judge.get(k) for k in ("name", "plugin", "plugin_version", "config_hash")},
        "tasks": {
            label: {
                k: t.get(k)
                for k in ("task", "version", "plugin", "plugin_version", "config_hash", "data_hash")
            }
            for label, t in tasks.items()
        },
        "hardware": {k: ", ".join(v) or None for k, v in hardware.items()},
    }
