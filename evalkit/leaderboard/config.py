"""Leaderboard configs (``configs/leaderboards/*.py``): entries, the tasks they run, headline columns, ranking.

A leaderboard config is a ``get_config()`` file like a run config (docs/leaderboards.md)::

    title        str
    tasks        {label: task keys}: what every entry runs (a run config's ``tasks``)
    entries      ({name, model, overrides, description}, ...): ``model`` as a run config's ``model``;
                 ``overrides`` ("dotted.key=value", ...) applied to the entry's run config as on the
                 command line (e.g. ``"tasks.rasp_count.probe.model.position=alibi"``)
    columns      ({title, score, tasks | suite, group, higher_is_better}, ...): a headline column is the mean
                 over its tasks of ``score``; ``suite`` names a suite of the run instead of listing tasks;
                 ``group`` ("key=value", e.g. "split=ood") keeps only the items of that group;
                 ``higher_is_better`` (default True) False for losses, errors, lengths
    rank_by      "mean" (the mean of the columns, which must share a direction) or a column title
    judge        optional: the judge model of every entry (a run config's ``judge``), so all are rated alike
    seed, bootstrap_resamples   for the confidence intervals and the neighbour tests
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from ml_collections import ConfigDict

from evalkit.config import load_config_file
from evalkit.errors import UserError

ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
KEYS = {"title", "tasks", "entries", "columns", "rank_by", "judge", "seed", "bootstrap_resamples"}
RESERVED_TITLES = {"rank", "entry", "mean", "vs next"}  # headers of the table's own columns


@dataclasses.dataclass(frozen=True)
class Entry:
    """One row: a model (and overrides of the run config) whose results live in ``<results>/<name>/``."""

    name: str
    model: dict[str, Any]
    overrides: dict[str, str]
    description: str = ""


@dataclasses.dataclass(frozen=True)
class Column:
    """A headline column: the mean over ``tasks`` (or a ``suite``'s members) of ``score``."""

    title: str
    score: str
    tasks: tuple[str, ...] = ()
    suite: str = ""
    group: tuple[str, str] | None = None  # (group key, value): only those items
    higher_is_better: bool = True


@dataclasses.dataclass(frozen=True)
class Leaderboard:
    """A validated leaderboard config."""

    title: str
    tasks: dict[str, Any]
    entries: tuple[Entry, ...]
    columns: tuple[Column, ...]
    rank_by: str
    seed: int
    bootstrap_resamples: int
    source: str
    judge: dict[str, Any] | None = None

    @property
    def ranked_columns(self) -> tuple[Column, ...]:
        """The columns the ranking figure averages: all of them, or the one ``rank_by`` names."""
        return (
            self.columns
            if self.rank_by == "mean"
            else tuple(c for c in self.columns if c.title == self.rank_by)
        )

    @property
    def higher_is_better(self) -> bool:
        """The direction of the ranking figure (the ranked columns share it; load_leaderboard checks)."""
        return self.ranked_columns[0].higher_is_better

    def run_config(self, entry: Entry, results_dir: str) -> ConfigDict:
        """The run config of ``entry``: the board's tasks, the entry's model, output in ``results_dir/name``."""
        cfg = ConfigDict()
        cfg.output_dir = f"{results_dir}/{entry.name}"
        cfg.seed = self.seed
        cfg.model = ConfigDict(entry.model)
        cfg.tasks = ConfigDict(self.tasks)
        if self.judge:
            cfg.judge = ConfigDict(self.judge)
        cfg.reporters = ("console",)
        return cfg


def load_leaderboard(spec: str) -> Leaderboard:
    """Load and check a leaderboard config file (``path.py[:arg]``); every problem is one UserError."""
    cfg = load_config_file(spec)
    path = spec.partition(":")[0]
    unknown = sorted(set(cfg.keys()) - KEYS)
    if unknown:
        raise UserError(
            f"leaderboard {path}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(KEYS))}"
        )
    for key in ("title", "tasks", "entries", "columns"):
        if key not in cfg:
            raise UserError(f"leaderboard {path} has no {key!r}; add it (docs/leaderboards.md)")
    if not isinstance(cfg.title, str) or not cfg.title.strip():
        raise UserError(f"leaderboard {path}: title must be a non-empty string")
    for key in ("entries", "columns"):
        if not isinstance(cfg[key], (tuple, list)):
            raise UserError(
                f"leaderboard {path}: {key} must be a tuple of dicts, got {type(cfg[key]).__name__}"
            )
    seed, resamples = cfg.get("seed", 0), cfg.get("bootstrap_resamples", 2000)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"leaderboard {path}: seed must be a non-negative int, got {seed!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 100:
        raise UserError(
            f"leaderboard {path}: bootstrap_resamples must be an int of at least 100, got {resamples!r}"
        )
    entries = tuple(_entry(path, i, e) for i, e in enumerate(cfg.entries))
    if not entries:
        raise UserError(f"leaderboard {path} has no entries; add at least one model to `entries`")
    seen: dict[str, int] = {}
    for i, e in enumerate(entries):
        first = seen.get(e.name.casefold())
        if first is not None and entries[first].name == e.name:
            raise UserError(
                f"leaderboard {path}: entries {first} and {i} are both named {e.name!r}; give each entry "
                "its own name (it names its results directory)"
            )
        if first is not None:
            raise UserError(
                f"leaderboard {path}: entries {entries[first].name!r} and {e.name!r} differ only in case, so they "
                "would share a results directory on a case-insensitive file system (macOS, Windows); rename one"
            )
        seen[e.name.casefold()] = i
    tasks = _plain(cfg.tasks)
    if not isinstance(tasks, dict) or not tasks:
        raise UserError(
            f"leaderboard {path}: `tasks` must map task labels to their keys, e.g. {{'rasp_count': {{}}}}"
        )
    columns = tuple(_column(path, i, c, tasks) for i, c in enumerate(cfg.columns))
    if not columns:
        raise UserError(f"leaderboard {path} has no columns; add at least one headline column")
    titles = [c.title for c in columns]
    if len(set(titles)) != len(titles):
        raise UserError(f"leaderboard {path}: two columns share a title; give each column its own title")
    clash = sorted(set(titles) & RESERVED_TITLES)
    if clash:
        raise UserError(
            f"leaderboard {path}: a column may not be titled {clash[0]!r} (the table has its own)"
        )
    rank_by = str(cfg.get("rank_by", "mean"))
    if rank_by != "mean" and rank_by not in titles:
        raise UserError(
            f"leaderboard {path}: rank_by={rank_by!r} is neither 'mean' nor a column title ({', '.join(titles)})"
        )
    if rank_by == "mean" and len({c.higher_is_better for c in columns}) > 1:
        up = next(c.title for c in columns if c.higher_is_better)
        down = next(c.title for c in columns if not c.higher_is_better)
        raise UserError(
            f"leaderboard {path}: rank_by='mean' averages the columns, but {up!r} is higher-is-better and {down!r} "
            f"lower-is-better; rank by one column (rank_by={up!r}) or give the columns one direction"
        )
    judge = _plain(cfg.get("judge")) or None
    if isinstance(judge, dict) and judge.get("name") == "":
        judge = None  # as in a run config: name '' means no judge
    if judge is not None and (not isinstance(judge, dict) or not judge.get("name")):
        raise UserError(
            f"leaderboard {path}: judge must be a model section with a `name` (as a run config's judge), or left out"
        )
    return Leaderboard(
        title=str(cfg.title),
        tasks=tasks,
        entries=entries,
        columns=columns,
        rank_by=rank_by,
        seed=seed,
        bootstrap_resamples=resamples,
        source=path,
        judge=judge,
    )


def _plain(value: Any) -> Any:
    """ConfigDicts and mappings as plain dicts (recursively), sequences as lists."""
    if isinstance(value, ConfigDict):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _entry(path: str, i: int, raw: Any) -> Entry:
    data = _plain(raw)
    if not isinstance(data, dict) or "name" not in data or "model" not in data:
        raise UserError(f"leaderboard {path}: entry {i} needs a `name` and a `model` (as in a run config)")
    name = str(data["name"])
    if not ENTRY_NAME.fullmatch(name):
        raise UserError(
            f"leaderboard {path}: entry name {name!r} must be letters, digits, '_', '-' or '.' (it names a directory)"
        )
    extra = sorted(set(data) - {"name", "model", "overrides", "description"})
    if extra:
        raise UserError(
            f"leaderboard {path}: entry {name!r} has unknown key {extra[0]!r}; use name, model, overrides, description"
        )
    model = data["model"]
    if not isinstance(model, dict) or "name" not in model:
        raise UserError(f"leaderboard {path}: entry {name!r} needs model.name (a registered model kind)")
    overrides = {}
    raw_overrides = data.get("overrides") or ()
    for item in [raw_overrides] if isinstance(raw_overrides, str) else raw_overrides:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise UserError(
                f"leaderboard {path}: entry {name!r} override {item!r} must read 'dotted.key=value', as on the "
                "command line without --config."
            )
        overrides[key.strip()] = value
    return Entry(name, model, overrides, str(data.get("description", "")))


def _column(path: str, i: int, raw: Any, tasks: dict[str, Any]) -> Column:
    data = _plain(raw)
    if isinstance(data, dict):  # a misspelt key is named before the keys it was meant to be are missed
        extra = sorted(set(data) - {"title", "score", "tasks", "suite", "group", "higher_is_better"})
        if extra:
            raise UserError(
                f"leaderboard {path}: column {i} has unknown key {extra[0]!r}; use title, score, tasks, suite, group, "
                "higher_is_better"
            )
    if (
        not isinstance(data, dict)
        or "score" not in data
        or (data.get("tasks") is None) == (data.get("suite") is None)
    ):
        raise UserError(
            f"leaderboard {path}: column {i} needs a `score` and either `tasks` (labels) or `suite` (a suite label)"
        )
    listed = data.get("tasks") or []
    listed = [listed] if isinstance(listed, str) else listed
    if data.get("tasks") is not None and (
        not isinstance(listed, list) or not listed or not all(isinstance(t, str) for t in listed)
    ):
        raise UserError(
            f"leaderboard {path}: column {i} tasks must be a task label or a non-empty tuple of labels"
        )
    for label in listed:
        if label not in tasks:
            raise UserError(
                f"leaderboard {path}: column {i} names task {label!r}, which is not in `tasks` "
                f"({', '.join(tasks)}); add it there or fix the label"
            )
    suite = str(data.get("suite", ""))
    if suite and suite not in tasks:
        raise UserError(
            f"leaderboard {path}: column {i} names suite {suite!r}, which is not in `tasks`; add the suite there"
        )
    group = None
    if data.get("group"):
        key, sep, value = str(data["group"]).partition("=")
        if not sep or not key or not value:
            raise UserError(
                f"leaderboard {path}: column {i} group {data['group']!r} must read 'key=value', e.g. 'split=ood'"
            )
        group = (key, value)
    higher = data.get("higher_is_better", True)
    if not isinstance(higher, bool):
        raise UserError(
            f"leaderboard {path}: column {i} higher_is_better must be True or False, got {higher!r}"
        )
    title = data.get("title") or (suite or "+".join(listed)) + f" {data['score']}"
    if not isinstance(title, str) or not isinstance(data["score"], str):
        raise UserError(f"leaderboard {path}: column {i} title and score must be strings")
    return Column(title, str(data["score"]), tuple(listed), suite, group, higher)
