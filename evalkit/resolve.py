"""Resolve a run: config file + plugin defaults + overrides -> a locked config, its tasks and model."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib.metadata
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ml_collections import ConfigDict

from evalkit.api import ModelSpec, Suite, Task
from evalkit.config import (
    RUN_KEYS,
    TOO_LONG,
    _unknown_key_message,
    apply_overrides,
    config_hash,
    hashable_view,
    merge_into,
    run_defaults,
)
from evalkit.errors import PluginError, UserError
from evalkit.plugins import PluginHost
from evalkit.results.schema import stable_hash


@dataclasses.dataclass
class TaskEntry:
    """One task of a run: its label in the config, the registered task, its resolved config and hashes."""

    label: str
    task: Task
    plugin: str
    config: ConfigDict
    config_hash: str  # identifies this task's per-item records (task, version, config, model, seed)
    data_hash: str  # identifies its dataset (task, version, config)


@dataclasses.dataclass
class SuiteEntry:
    """A suite named in the run's config: its label, the registered suite, and its members' task labels."""

    label: str
    suite: Suite
    plugin: str
    members: tuple[str, ...]


@dataclasses.dataclass
class JudgeEntry:
    """The run's judge model: its registered kind, plugin, config hash and identity facts."""

    spec: ModelSpec
    plugin: str
    config_hash: str
    identity: dict[str, Any]


@dataclasses.dataclass
class ResolvedRun:
    config: ConfigDict
    run_hash: str
    model: ModelSpec
    model_plugin: str
    tasks: list[TaskEntry]
    model_hash: str
    model_identity: dict[str, Any] = dataclasses.field(default_factory=dict)
    suites: list[SuiteEntry] = dataclasses.field(default_factory=list)
    judge: JudgeEntry | None = None


def resolve_run(user: ConfigDict, overrides: Mapping[str, str], host: PluginHost) -> ResolvedRun:
    """Merge defaults under the user's config, apply overrides, validate, lock and hash."""
    if "entries" in user and "columns" in user:
        raise UserError(
            "this is a leaderboard config (it has entries and columns); run it with `evalkit leaderboard run CONFIG "
            "--results DIR`"
        )
    for key in user:
        if key not in RUN_KEYS:
            raise UserError(_unknown_key_message(key, list(RUN_KEYS)))
    user_dict = user.to_dict()
    # Overrides that choose a model or a task come first, so the right defaults are merged.
    for dotted, raw in overrides.items():
        parts = dotted.split(".")
        if parts in (["model", "name"], ["judge", "name"]):
            user_dict.setdefault(parts[0], {})["name"] = raw
        elif len(parts) == 3 and parts[0] == "tasks" and parts[2] == "task":
            user_dict.setdefault("tasks", {}).setdefault(parts[1], {})["task"] = raw

    sections = ("model", "judge", "tasks")
    cfg = merge_into(run_defaults(), {k: v for k, v in user_dict.items() if k not in sections}, "")
    _check_required_plugins(cfg.required_plugins, host)

    models = host.registry("models")
    model_user = dict(user_dict.get("model", {}))
    model_name = model_user.get("name", cfg.model.name)
    model_spec: ModelSpec = models.get(model_name)
    model_defaults = default_config_of(model_spec, "model")
    model_defaults.name = model_name
    cfg.model = merge_into(model_defaults, model_user, "model")
    judge_user = dict(user_dict.get("judge", {}))
    judge_spec: ModelSpec | None = models.get(judge_user["name"]) if judge_user.get("name") else None
    if judge_spec is not None:
        judge_defaults = default_config_of(judge_spec, "judge")
        judge_defaults.name = judge_user["name"]
        cfg.judge = merge_into(judge_defaults, judge_user, "judge")
    else:
        cfg.judge = merge_into(cfg.judge, judge_user, "judge")

    tasks = host.registry("tasks")
    user_tasks, suites, overrides = expand_suites(user_dict.get("tasks") or {}, overrides, host)
    task_cfgs = ConfigDict()
    task_objs: dict[str, Task] = {}
    for label, task_user in user_tasks.items():
        task_user = dict(task_user or {})
        task_name = task_user.get("task", label)
        task: Task = tasks.get(task_name)
        for score, metric_name in task.metrics.items():
            if metric_name not in host.registry("metrics"):
                raise UserError(
                    f"task {task.name!r} aggregates its score {score!r} with metric {metric_name!r}, which no "
                    "installed plugin registers; install the plugin that provides it (`evalkit list metrics`)"
                )
        defaults = default_config_of(task, "task")
        defaults.task = task_name
        task_cfgs[label] = merge_into(defaults, task_user, f"tasks.{label}")
        task_objs[label] = task
    if not task_objs:
        raise UserError("the config lists no tasks; add some under config.tasks (see `evalkit list tasks`)")
    cfg.tasks = task_cfgs

    apply_overrides(cfg, {k: v for k, v in overrides.items()})
    _check_required_plugins(cfg.required_plugins, host)  # again: an override may have added some
    _check_run_settings(cfg)
    for label, task in task_objs.items():
        try:
            task.validate_config(cfg.tasks[label])
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin bug, reported as such
            raise PluginError(
                f"task {task.name!r} failed to validate its config ({type(exc).__name__}: "
                f"{exc}); report this to the plugin's authors"
            ) from exc
        if task.trains_probes:
            _check_probe_config(label, task, cfg.tasks[label])
    cfg.lock()

    model_view, identity = _model_view(model_spec, cfg, "model")
    judge_view, judge_identity = _model_view(judge_spec, cfg, "judge") if judge_spec else ({}, {})
    entries = []
    for label, task in task_objs.items():
        tcfg = cfg.tasks[label]
        data_key = {"task": task.name, "version": task.version, "config": tcfg.to_dict()}
        entries.append(
            TaskEntry(
                label=label,
                task=task,
                plugin=tasks.plugin_of(task.name),
                config=tcfg,
                config_hash=stable_hash(
                    {**data_key, "model": model_view, "seed": cfg.seed}
                    | ({"judge": judge_view} if judge_view and task.judged else {})
                ),
                data_hash=stable_hash(data_key),
            )
        )
    run_view = {**hashable_view(cfg), "model": model_view, "judge": judge_view}
    if not judge_view:
        run_view.pop("judge")  # runs without a judge keep the hashes they had before judges existed
    return ResolvedRun(
        cfg,
        config_hash(run_view),
        model_spec,
        models.plugin_of(model_name),
        entries,
        stable_hash(model_view),
        identity,
        suites,
        JudgeEntry(judge_spec, models.plugin_of(judge_spec.name), stable_hash(judge_view), judge_identity)
        if judge_spec
        else None,
    )


def _model_view(spec: ModelSpec, cfg: ConfigDict, section: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hashed view of a model section (runtime keys left out, identity facts added) and the identity."""
    view = {k: v for k, v in hashable_view(cfg)[section].items() if k not in spec.runtime_keys}
    identity = model_identity(spec, cfg[section])
    if identity:
        view["identity"] = identity
    return view, identity


def expand_suites(
    user_tasks: Mapping[str, Any], overrides: Mapping[str, str], host: PluginHost
) -> tuple[dict[str, Any], list[SuiteEntry], dict[str, str]]:
    """Replace every suite named in the tasks section by its member tasks (labelled by task name), each
    given the suite's settings; a member also listed on its own keeps its own settings over the suite's.
    ``--config.tasks.<suite label>.KEY`` overrides apply to every member."""
    tasks, suites = host.registry("tasks"), host.registry("suites")
    own: dict[str, Any] = {}
    from_suite: dict[str, tuple[str, dict[str, Any]]] = {}
    entries: list[SuiteEntry] = []
    overrides = dict(overrides)
    left_out: set[str] = set()  # members a suite's `groups` did not pick
    for label, task_user in user_tasks.items():
        if not _LABEL.fullmatch(label):  # labels name the task's files and folders
            raise UserError(
                f"task label {label!r} cannot name files; use letters, digits, '_', '-' and '.' "
                "(and choose the registered task with tasks.<label>.task)"
            )
        task_user = dict(task_user or {})
        name = task_user.get("task", label)
        if name in tasks or name not in suites:
            if name not in tasks:
                _unknown_task(name, tasks, suites)
            own[label] = task_user
            continue
        suite: Suite = suites.get(name)
        settings = {k: v for k, v in task_user.items() if k not in ("task", SUITE_GROUPS_KEY)}
        raw_groups = overrides.pop(f"tasks.{label}.{SUITE_GROUPS_KEY}", None)
        chosen = task_user.get(SUITE_GROUPS_KEY) if raw_groups is None else _labels(raw_groups)
        members = suite_members(label, suite, chosen)
        left_out.update(set(suite.tasks) - set(members))
        for member in members:
            if member in from_suite:
                raise UserError(
                    f"task {member!r} belongs to suites {from_suite[member][0]!r} and {label!r}; list one of "
                    "them, or run them as two runs"
                )
            from_suite[member] = (label, {**settings, "task": member})
        entries.append(SuiteEntry(label, suite, suites.plugin_of(name), members))
        prefix = f"tasks.{label}."
        for key in [k for k in overrides if k.startswith(prefix)]:
            raw = overrides.pop(key)
            for member in members:
                overrides.setdefault(f"tasks.{member}.{key[len(prefix) :]}", raw)
    out = {member: settings for member, (_, settings) in from_suite.items()}
    for label, task_user in own.items():
        if label in left_out and label not in out:  # its own settings for a member the groups left out
            print(f"evalkit: tasks.{label} is not run: the suite's groups do not pick it", file=sys.stderr)
            continue
        out[label] = _deep_merge(out.get(label, {}), task_user)
    return out, entries, overrides


def _labels(raw: str) -> tuple[str, ...]:
    """``--config.tasks.SUITE.groups=`` as a tuple literal, or one bare label (e.g. ``O(N)``)."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return (raw,)
    return tuple(str(v) for v in value) if isinstance(value, tuple | list) else (str(raw),)


SUITE_GROUPS_KEY = "groups"  # a suite's entry may pick the groups (e.g. levels) whose tasks run


def suite_members(label: str, suite: Suite, chosen: Any) -> tuple[str, ...]:
    """The suite's tasks, or those with a group label or a tag among ``chosen`` (``tasks.<label>.groups``)."""
    if chosen is None:
        return suite.tasks
    chosen = (chosen,) if isinstance(chosen, str) else tuple(chosen)
    labels = list(dict.fromkeys(suite.group_order + tuple(suite.groups.values())))
    tags = list(dict.fromkeys(tag for t in suite.tasks for tag in suite.tags.get(t, ())))
    unknown = [g for g in chosen if g not in labels and g not in tags]
    where, kind = f"tasks.{label}.{SUITE_GROUPS_KEY}", suite.group_key
    known = f"its {kind} labels are {', '.join(map(repr, labels))}" + (
        f"; its {suite.tag_key} labels are {', '.join(map(repr, tags))}" if tags else ""
    )
    if not chosen:
        raise UserError(f"{where} is empty; name some of suite {suite.name!r}'s labels: {known}")
    if unknown:
        raise UserError(f"{where} names {unknown[0]!r}, which suite {suite.name!r} does not have; {known}")
    return tuple(
        t for t in suite.tasks if suite.groups.get(t) in chosen or set(suite.tags.get(t, ())) & set(chosen)
    )


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping | ConfigDict) and isinstance(out.get(key), Mapping | ConfigDict):
            out[key] = _deep_merge(dict(out[key]), dict(value))
        else:
            out[key] = value
    return out


def _unknown_task(name: str, tasks, suites) -> None:
    close = difflib.get_close_matches(name, [*tasks.names(), *suites.names()], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UserError(
        f"unknown task or suite {name!r}; {hint}run `evalkit list tasks` and `evalkit list suites` to see "
        "what is installed, or install the plugin that provides it"
    )


def model_identity(spec: ModelSpec, config: ConfigDict) -> dict[str, Any]:
    """The model kind's identity facts (ModelSpec.identity) without None values; a plugin bug is named."""
    if spec.identity is None:
        return {}
    try:
        facts = dict(spec.identity(config))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin bug, reported as such
        raise PluginError(
            f"model {spec.name!r}: identity() raised {type(exc).__name__}: {exc}; report this to the plugin's "
            "authors"
        ) from exc
    return {str(k): v for k, v in facts.items() if v is not None}


def default_config_of(obj: Task | ModelSpec, kind: str) -> ConfigDict:
    """A fresh copy of a registered task's or model's default config; a PluginError if it is not a ConfigDict."""
    cfg = obj.default_config()
    if not isinstance(cfg, ConfigDict):
        raise PluginError(
            f"{kind} {obj.name!r}: default_config() returned a {type(cfg).__name__}; it must return an "
            "ml_collections.ConfigDict (report this to the plugin's authors)"
        )
    return cfg


def _check_run_settings(cfg: ConfigDict) -> None:
    """Settings that would otherwise fail only once work has started."""
    if not str(cfg.output_dir).strip():
        raise UserError("output_dir is empty; set --config.output_dir to the folder results should go to")
    cfg.output_dir = str(Path(str(cfg.output_dir).strip()).expanduser())  # one folder for every writer
    if cfg.runtime.too_long not in TOO_LONG:
        raise UserError(
            f"runtime.too_long={cfg.runtime.too_long!r} must be one of {', '.join(map(repr, TOO_LONG))}"
        )


_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _check_probe_config(label: str, task: Task, tcfg: ConfigDict) -> None:
    """Every probe's training config is checked before any probe trains (one bad task stops the run)."""
    from evalkit.models.config import validate_model_config
    from evalkit.train.config import check_fits  # no jax import: resolving stays quick

    default_seed = default_config_of(task, "task").probe.train.get("seed", 0)
    if tcfg.probe.train.get("seed", 0) != default_seed:  # the host trains one probe per probe.seeds entry
        raise UserError(
            f"tasks.{label}.probe.train.seed is replaced by each of probe.seeds; set probe.seeds instead"
        )
    try:
        model_cfg = task.probe_model_config(tcfg)
        try:
            validate_model_config(model_cfg)
        except ValueError as exc:
            raise UserError(f"model: {exc}") from exc
        check_fits(model_cfg, tcfg.probe.train)
    except UserError as exc:
        raise UserError(f"tasks.{label}.probe: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a probe section the task built wrongly
        raise PluginError(
            f"task {task.name!r} has an unusable probe config ({type(exc).__name__}: {exc}); "
            "report this to the plugin's authors"
        ) from exc


def _check_required_plugins(required, host: PluginHost) -> None:
    if not required:
        return
    host.load()
    have = {name for name, _ in host.pm.list_name_plugin()}
    have |= {d.metadata["Name"] for d in importlib.metadata.distributions()}
    missing = [r for r in required if r not in have]
    if missing:
        raise UserError(f"missing required plugins: {', '.join(missing)}; install them with pip")
