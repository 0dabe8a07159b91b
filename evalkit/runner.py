"""Orchestrate a run: data -> model -> per-task request/score loop -> store -> aggregate -> results.json."""

from __future__ import annotations

import dataclasses
import datetime
import json
import sys
import time
import traceback
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

import evalkit
from evalkit import probes
from evalkit.api import Example, Generate, ModelHandle, PluginError, Record, Request, Task, UserError
from evalkit.api.handle_stats import add_stats, stats_since
from evalkit.api.requests import response_from_json, to_json
from evalkit.data import load_examples
from evalkit.metrics import (
    summarize_generalization,
    summarize_groups,
    summarize_over_seeds,
    summarize_scores,
    summarize_suite_generalization,
)
from evalkit.metrics.generalization import split_draws
from evalkit.plugins import PluginHost
from evalkit.resolve import ResolvedRun, TaskEntry
from evalkit.results import SCHEMA_VERSION, RecordStore, write_json_atomic


def process_index() -> int:
    """This process's index in a multi-host run (0 when jax is not in use)."""
    if "jax" not in sys.modules:
        return 0
    import jax

    return jax.process_index()


def prepare_data(run: ResolvedRun) -> dict[str, list[Example]]:
    """Build or read every task's examples first, so data problems stop the run before any work (tasks
    whose data depends on the model build theirs when they run: :func:`model_examples`)."""
    return {
        e.label: []
        if e.task.model_data_requests(e.config)
        else load_examples(e.task, e.config, run.config.data_dir, e.plugin, e.data_hash)
        for e in run.tasks
    }


MODEL_DATA_FILE = "model_data.json"


def model_examples(entry: TaskEntry, handle: ModelHandle, run_dir: Path, writer: bool) -> list[Example]:
    """A task's examples built from the model's answers to its data requests; the answers are kept in
    ``<label>/model_data.json`` (with the task's config hash), so a resumed run rebuilds the same items."""
    task, path = entry.task, run_dir / entry.label / MODEL_DATA_FILE
    requests = [
        _keyed(task, {"id": "model-data"}, i, r) for i, r in enumerate(task.model_data_requests(entry.config))
    ]
    saved = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if saved.get("config_hash") == entry.config_hash and len(saved.get("responses", ())) == len(requests):
        responses = [response_from_json(r) for r in saved["responses"]]
    else:
        responses = _answer(handle, {0: requests})[0]
        if writer:
            record = {"config_hash": entry.config_hash, "requests": [to_json(r) for r in requests]}
            write_json_atomic(path, record | {"responses": [to_json(r) for r in responses]})
    examples = list(task.model_data(entry.config, responses))
    ids = [ex["id"] for ex in examples]
    if len(set(ids)) != len(ids):
        raise PluginError(f"task {task.name!r} built examples with duplicate ids from the model's answers")
    return examples


def execute(
    run: ResolvedRun,
    host: PluginHost,
    examples: dict[str, list[Example]],
    handle: ModelHandle,
    judge: ModelHandle | None = None,
) -> dict:
    """Evaluate every task (a failing task is recorded and the rest go on); write results.json."""
    cfg = run.config
    run_dir = Path(cfg.output_dir)
    writer = process_index() == 0
    start = time.perf_counter()
    host.pm.hook.evalkit_run_start(run_dir=str(run_dir), config=cfg.to_dict())
    metrics = host.registry("metrics")
    task_results = {}
    task_records: dict[str, list[Record]] = {}
    for entry in run.tasks:
        try:
            summary, task_records[entry.label] = run_task(
                entry, examples[entry.label], handle, run_dir, cfg, metrics, writer, host, judge
            )
        except Exception as exc:  # noqa: BLE001 - a failing task (or plugin) must not stop the others
            if isinstance(exc, UserError) and not isinstance(exc, PluginError):
                raise  # a config problem found mid-run: stop with its one sentence (exit 2)
            summary = _task_header(entry, host) | {
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=8),
            }
            print(f"evalkit: task {entry.label!r} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        task_results[entry.label] = summary
        host.pm.hook.evalkit_task_end(task=entry.label, summary=summary)
    results = {
        "schema_version": SCHEMA_VERSION,
        "evalkit_version": evalkit.__version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "run_hash": run.run_hash,
        "config": cfg.to_dict(),
        "model": {
            "name": cfg.model.name,
            "plugin": run.model_plugin,
            "plugin_version": host.plugin_version(run.model_plugin),
            "config_hash": run.model_hash,
            **({"identity": run.model_identity} if run.model_identity else {}),
        },
        **({"judge": _judge_header(run, host)} if run.judge else {}),
        "tasks": task_results,
        **({"suites": summarize_suites(run, task_records, metrics, host)} if run.suites else {}),
        "runtime": {"wall_s": round(time.perf_counter() - start, 3), **_jsonable(handle.stats())},
    }
    if writer:
        write_json_atomic(run_dir / "results.json", results)
    host.pm.hook.evalkit_run_end(run_dir=str(run_dir), results=results)
    return results


def _judge_header(run: ResolvedRun, host: PluginHost) -> dict[str, Any]:
    judge = run.judge
    return {
        "name": run.config.judge.name,
        "plugin": judge.plugin,
        "plugin_version": host.plugin_version(judge.plugin),
        "config_hash": judge.config_hash,
        **({"identity": judge.identity} if judge.identity else {}),
    }


def _task_header(entry: TaskEntry, host: PluginHost) -> dict[str, Any]:
    return {
        "task": entry.task.name,
        "version": entry.task.version,
        "plugin": entry.plugin,
        "plugin_version": host.plugin_version(entry.plugin),
        "config": entry.config.to_dict(),
        "config_hash": entry.config_hash,
        "data_hash": entry.data_hash,
    }


def run_task(
    entry: TaskEntry,
    examples: list[Example],
    handle: ModelHandle,
    run_dir: Path,
    cfg,
    metrics,
    writer: bool,
    host: PluginHost,
    judge: ModelHandle | None = None,
) -> dict[str, Any]:
    """Evaluate one task (training its probe models first if it has them), resuming from its record store."""
    t0 = time.perf_counter()
    probe_info: dict[str, Any] = {}
    if entry.task.model_data_requests(entry.config):
        examples = model_examples(entry, handle, run_dir, writer)
    if entry.task.trains_probes:
        seeds = list(probes.iter_probe_seeds(entry))
        examples = [ex for seed in seeds for ex in probes.seed_examples(examples, seed)]
    store = RecordStore(run_dir / entry.label / "samples.jsonl", entry.config_hash)
    done = store.done()
    todo = [ex for ex in examples if ex["id"] not in done]
    host.pm.hook.evalkit_task_start(
        task=entry.label,
        config=entry.config.to_dict(),
        num_items=len(examples),
        num_done=len(examples) - len(todo),
    )
    bar = tqdm(
        total=len(examples),
        initial=len(examples) - len(todo),
        desc=entry.label,
        unit="item",
        disable=None if cfg.runtime.progress else True,
        file=sys.stderr,
    )

    def commit(records: list[Record]) -> None:
        if writer:
            store.append(records)
        else:  # other processes keep the same view without writing
            store.remember(records)
        for rec in records:
            host.pm.hook.evalkit_result(task=entry.label, record=rec)
        bar.update(len(records))

    stats: dict[str, Any] = {}
    if entry.task.trains_probes:
        for seed in seeds:
            result = probes.train_task_probe(entry, seed, cfg)
            probe_info[str(seed)] = probes.training_summary(result)
            seed_todo = [ex for ex in todo if ex["groups"]["seed"] == str(seed)]
            if seed_todo:
                probe = probes.probe_handle(result, cfg, entry, seed)
                evaluate_items(entry, seed_todo, probe, cfg, commit, judge)
                stats = add_stats(stats, _jsonable(probe.stats()))
    else:
        before = handle.stats()
        evaluate_items(entry, todo, handle, cfg, commit, judge)
        stats = stats_since(_jsonable(before), _jsonable(handle.stats()))
    bar.close()
    if writer:
        store.compact()
    wanted = {ex["id"] for ex in examples}
    records = [r for r in store.records() if r["id"] in wanted]
    missing = len(wanted) - len(records)
    if missing:
        raise RuntimeError(f"{missing} items have no record after evaluation")
    metric_of = _metric_table(entry.task, records, metrics)
    summary = dict(entry.task.summarize(records, entry.config))
    if probe_info:
        summary["probes"] = probe_info
    over_seeds = summarize_over_seeds(records, metric_of) if entry.task.trains_probes else None
    generalization = summarize_generalization(
        records, _gap_metrics(entry.task, metric_of), cfg.seed, cfg.bootstrap_resamples
    )
    return _task_header(entry, host) | {
        "status": "ok",
        "num_items": len(records),
        "num_resumed": len(examples) - len(todo),
        "metrics": summarize_scores(records, metric_of, cfg.seed, cfg.bootstrap_resamples),
        "groups": summarize_groups(records, metric_of, cfg.seed, cfg.bootstrap_resamples),
        **({"generalization": generalization} if generalization else {}),
        **({"over_seeds": over_seeds} if over_seeds is not None else {}),
        "summary": _jsonable(summary),
        "runtime": {"wall_s": round(time.perf_counter() - t0, 3), **stats},
    }, records


def summarize_suites(
    run: ResolvedRun, task_records: Mapping[str, list[Record]], metrics, host: PluginHost
) -> dict[str, Any]:
    """results.json's ``suites``: per suite its members, the host's ID / OOD figures per group, and the
    suite's own summary, computed over the members that finished (``failed_tasks`` names the others)."""
    cfg = run.config
    entries = {e.label: e for e in run.tasks}
    out = {}
    for s in run.suites:
        suite = s.suite
        done = [t for t in s.members if t in task_records]
        failed = [t for t in s.members if t not in task_records]
        entry: dict[str, Any] = {
            "suite": suite.name,
            "plugin": s.plugin,
            "plugin_version": host.plugin_version(s.plugin),
            "tasks": list(s.members),
            "group_key": suite.group_key,
            "groups": {t: suite.groups[t] for t in s.members if t in suite.groups},
            "group_order": list(suite.group_order),
            "status": "partial" if failed else "ok",
            **({"failed_tasks": failed} if failed else {}),
        }
        draws = {
            t: split_draws(
                task_records[t],
                _gap_metrics(entries[t].task, _metric_table(entries[t].task, task_records[t], metrics)),
                cfg.seed,
                cfg.bootstrap_resamples,
                stream=zlib.crc32(t.encode()),  # a task's draws do not depend on which members ran
            )
            for t in done
        }
        entry["generalization"] = summarize_suite_generalization(draws, suite.groups, suite.group_order)
        if suite.summarize is not None and done:
            try:
                configs = {t: entries[t].config for t in done}
                entry["summary"] = _jsonable(
                    dict(suite.summarize({t: task_records[t] for t in done}, configs))
                )
            except Exception as exc:  # noqa: BLE001 - a plugin bug must not cost results.json
                entry |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
                entry["traceback"] = traceback.format_exc(limit=8)
                print(
                    f"evalkit: suite {s.label!r} summary failed: {type(exc).__name__}: {exc}", file=sys.stderr
                )
        out[s.label] = entry
    return out


def evaluate_items(
    entry: TaskEntry,
    todo: Sequence[Example],
    handle: ModelHandle,
    cfg,
    commit,
    judge: ModelHandle | None = None,
) -> None:
    """Evaluate items in chunks (or through the task's own protocol), committing each chunk durably."""
    custom = entry.task.evaluate(handle, todo, entry.config)
    if custom is not None:
        for rec in custom:
            commit([_check_record(entry, rec)])
        return
    chunk = max(1, int(cfg.runtime.chunk_size))
    for i in range(0, len(todo), chunk):
        commit(evaluate_chunk(entry, todo[i : i + chunk], handle, judge))


MAX_PASSES = 8  # follow-up passes an item may ask for (Task.follow_up) before the task counts as broken


def evaluate_chunk(
    entry: TaskEntry, chunk: Sequence[Example], handle: ModelHandle, judge: ModelHandle | None = None
) -> list[Record]:
    """Answer the chunk's requests pass by pass (every item's first pass, then every follow-up pass the
    task asks for), sending each pass to the model grouped by kind; score each item once it is done."""
    task: Task = entry.task
    requests: list[list[Request]] = [[] for _ in chunk]
    responses: list[list[Any]] = [[] for _ in chunk]
    passes = [0] * len(chunk)
    pending = {i: list(task.requests(ex, entry.config)) for i, ex in enumerate(chunk)}
    while pending:
        batch = {
            i: [_keyed(task, chunk[i], len(requests[i]) + j, req) for j, req in enumerate(reqs)]
            for i, reqs in pending.items()
        }
        answers = _answer(handle, batch)
        pending = {}
        for i, reqs in batch.items():
            requests[i] += reqs
            responses[i] += answers[i]
            passes[i] += 1
            more = list(task.follow_up(chunk[i], responses[i], entry.config) or ())
            if more and passes[i] >= MAX_PASSES:
                raise PluginError(
                    f"task {task.name!r} asked for more than {MAX_PASSES} passes for item {chunk[i]['id']!r}; "
                    "follow_up() must return no requests once an item is done"
                )
            if more:
                pending[i] = more
    judged: dict[int, list[Request]] = {}
    if judge is not None and task.judged:
        judged = {i: list(task.judge_requests(ex, responses[i], entry.config)) for i, ex in enumerate(chunk)}
        judged = {
            i: [_keyed(task, {"id": f"{chunk[i]['id']}/judge"}, j, r) for j, r in enumerate(reqs)]
            for i, reqs in judged.items()
            if reqs
        }
    judgements = _answer(judge, judged) if judged else {}
    records = []
    for i, (ex, reqs, resps, n_passes) in enumerate(zip(chunk, requests, responses, passes, strict=True)):
        rec = {
            "id": ex["id"],
            "groups": ex.get("groups", {}),
            "requests": [to_json(r) for r in reqs],
            "responses": [to_json(r) for r in resps],
            "scores": task.score(ex, resps, entry.config),
        }
        if n_passes > 1:
            rec["passes"] = n_passes
        if i in judgements:
            judge_scores = task.judge_score(ex, resps, judgements[i], entry.config)
            if isinstance(rec["scores"], Mapping):  # else _check_record names the task's bad score() result
                rec["scores"] = {**rec["scores"], **judge_scores}
            rec["judge"] = {
                "requests": [to_json(r) for r in judged[i]],
                "responses": [to_json(r) for r in judgements[i]],
            }
        details = task.details(ex, resps, entry.config)
        if details:
            rec["details"] = _jsonable(dict(details))
        records.append(_check_record(entry, rec))
    return records


def _keyed(task: Task, example: Example, position: int, req: Request) -> Request:
    """A generation request named by task, item and position, so its PRNG stream ignores batching."""
    if isinstance(req, Generate) and not req.key:
        return dataclasses.replace(req, key=f"{task.name}/{example['id']}/{position}")
    return req


def _answer(handle: ModelHandle, batch: Mapping[int, Sequence[Request]]) -> dict[int, list[Any]]:
    """Send every item's requests to the model, one call per request kind; responses in request order."""
    by_kind: dict[str, list[tuple[int, int, Request]]] = defaultdict(list)
    for i, reqs in batch.items():
        for j, req in enumerate(reqs):
            by_kind[req.kind].append((i, j, req))
    out: dict[int, list[Any]] = {i: [None] * len(reqs) for i, reqs in batch.items()}
    for kind, items in by_kind.items():
        answers = getattr(handle, kind)([req for _, _, req in items])
        if len(answers) != len(items):
            raise RuntimeError(f"model returned {len(answers)} responses to {len(items)} {kind} requests")
        for (i, j, _), answer in zip(items, answers, strict=True):
            out[i][j] = answer
    return out


def _checked_scores(task: Task, item_id: Any, scores: Any) -> dict[str, float | None]:
    """The scores of one item as floats (None: no score); a PluginError names the task, item and key."""
    where = f"task {task.name!r} scored item {item_id!r}"
    if not isinstance(scores, Mapping):
        raise PluginError(f"{where} with a {type(scores).__name__}; score() must return a dict of numbers")
    out = {}
    for key, value in scores.items():
        if value is None:
            out[str(key)] = None
            continue
        try:
            number = None if isinstance(value, str | bytes) else float(value)  # numpy / jax scalars too
        except (TypeError, ValueError):
            number = None
        if number is None:
            raise PluginError(
                f"{where}: {key!r} is {value!r}; score() values must be numbers (None for no score)"
            )
        if np.isnan(number):
            raise PluginError(f"{where}: {key!r} is NaN; use None for an item without this score")
        out[str(key)] = number
    return out


def _check_record(entry: TaskEntry, rec: Record) -> Record:
    """A record from the default loop or a task's own protocol: id and groups present, scores checked."""
    if not isinstance(rec, dict) or "id" not in rec or "scores" not in rec:
        raise TypeError(
            f"task {entry.task.name!r} produced a record without 'id' and a 'scores' dict: {rec!r:.200}"
        )
    rec.setdefault("groups", {})
    rec["scores"] = _checked_scores(entry.task, rec["id"], rec["scores"])
    return _jsonable(rec)


def _metric_table(task: Task, records: Iterable[Record], metrics) -> dict[str, Any]:
    names = {k for rec in records for k in rec.get("scores", {})}
    return {name: metrics.get(task.metrics.get(name, "mean")) for name in names}


def _gap_metrics(task: Task, metric_of: Mapping[str, Any]) -> dict[str, Any]:
    """The scores the task wants ID / OOD figures for (Task.gap_scores; None: all)."""
    return {k: m for k, m in metric_of.items() if task.gap_scores is None or k in task.gap_scores}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


__all__ = ["evaluate_chunk", "execute", "prepare_data", "run_task"]
