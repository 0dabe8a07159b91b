"""`evalkit compare RUN_A RUN_B`: paired bootstrap of two runs' per-item scores, task by task.

Both runs must have evaluated the same task (same label) on overlapping item ids, typically two models on
one config. Items are paired by id; scores present in both records are compared with
:func:`evalkit.metrics.paired_bootstrap` (mean difference A - B, its CI and a two-sided p-value).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from evalkit.errors import UserError
from evalkit.results.schema import load_results


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Registers the `compare` subcommand; its `func` is `run`."""
    p = subparsers.add_parser(
        "compare",
        help="compare two runs item by item (paired bootstrap)",
        description=(
            "Pair the per-item scores of two runs (their output directories or results.json files) by item "
            "id and report, per task and score, the mean difference A - B with its bootstrap CI and p-value."
        ),
    )
    p.add_argument("run_a", help="output directory (or results.json) of run A")
    p.add_argument("run_b", help="output directory (or results.json) of run B")
    p.add_argument("--task", action="append", default=None, help="only this task label (repeatable)")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
    return p


def _results(path: str) -> tuple[Path, dict[str, Any]]:
    file = Path(path)
    if file.is_dir():
        file = file / "results.json"
    if not file.is_file():
        raise UserError(f"{path} has no results.json; pass the output directory of a finished `evalkit run`")
    try:
        data = load_results(file)
    except (OSError, json.JSONDecodeError, AttributeError, ValueError) as exc:
        raise UserError(
            f"{file} cannot be read as evalkit results ({exc}); rerun `evalkit run` to rewrite it"
        ) from exc
    if not isinstance(data.get("tasks"), dict):
        raise UserError(f"{file} is not an evalkit results file (no 'tasks'); pass a run's results.json")
    return file.parent, data


def _item_scores(
    run_dir: Path, label: str, entry: dict[str, Any]
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Per record id: its numeric scores, and the test item it scores (several probe seeds share one),
    from the task's samples.jsonl (this task config's records only)."""
    from evalkit.metrics.items import item_of
    from evalkit.results.store import RecordStore

    samples = run_dir / label / "samples.jsonl"
    if not samples.is_file():
        raise UserError(f"{samples} is missing; compare needs the per-item records that `evalkit run` writes")
    out, items = {}, {}
    for rec in RecordStore(samples, entry.get("config_hash", ""), read_only=True).records():
        scores = {
            k: float(v)
            for k, v in (rec.get("scores") or {}).items()
            if isinstance(v, (int, float)) and math.isfinite(float(v))
        }
        out[rec["id"]] = scores
        items[rec["id"]] = item_of(rec)
    return out, items


def compare_runs(
    run_a: str, run_b: str, tasks: list[str] | None = None, resamples: int = 10_000, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per (task, score) both runs have: means of A and B, and the paired bootstrap of A - B."""
    import numpy as np

    from evalkit.metrics import paired_bootstrap

    dir_a, res_a = _results(run_a)
    dir_b, res_b = _results(run_b)
    common = [t for t in res_a["tasks"] if t in res_b["tasks"]]
    if tasks:
        unknown = [t for t in tasks if t not in common]
        if unknown:
            raise UserError(
                f"task {unknown[0]!r} is not in both runs; tasks in both: {', '.join(common) or 'none'}"
            )
        common = [t for t in common if t in tasks]
    if not common:
        raise UserError("the two runs share no task label; compare runs of the same config (e.g. two models)")
    rows = []
    for label in common:
        a, items = _item_scores(dir_a, label, res_a["tasks"][label])
        b, _ = _item_scores(dir_b, label, res_b["tasks"][label])
        ids = sorted(set(a) & set(b))
        if not ids:
            raise UserError(
                f"task {label!r}: the two runs share no item ids; compare runs of the same task config"
            )
        names = sorted(set.intersection(*(set(a[i]) & set(b[i]) for i in ids)))
        for name in names:
            xa = np.array([a[i][name] for i in ids])
            xb = np.array([b[i][name] for i in ids])
            clusters = [items[i] for i in ids]
            stats = paired_bootstrap(xa, xb, clusters=clusters, resamples=resamples, seed=seed)
            rows.append({
                "task": label, "score": name, "a": float(xa.mean()), "b": float(xb.mean()), **stats,
                "only_a": len(set(a) - set(b)), "only_b": len(set(b) - set(a)),
            })  # fmt: skip
    return rows


def run(args: argparse.Namespace, overrides: dict[str, str]) -> int:
    if args.resamples < 1:
        raise UserError(f"--resamples={args.resamples} must be at least 1")
    rows = compare_runs(args.run_a, args.run_b, args.task, args.resamples, args.seed)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"A = {args.run_a}\nB = {args.run_b}\n")
    header = f"{'task':<28} {'score':<16} {'A':>8} {'B':>8} {'A - B':>8} {'95% CI':>19} {'p':>7} {'n':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        ci = f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
        p = f"<{r['p_floor']:.0e}" if r["p_value"] == 0 else f"{r['p_value']:.4f}"
        print(
            f"{r['task']:<28} {r['score']:<16} {r['a']:>8.4f} {r['b']:>8.4f} {r['mean_diff']:>+8.4f} "
            f"{ci:>19} {p:>7} {r['n']:>6}"
        )
    unpaired = [r for r in rows if r["only_a"] or r["only_b"]]
    for r in {r["task"]: r for r in unpaired}.values():
        print(f"note: {r['task']}: {r['only_a']} items only in A and {r['only_b']} only in B were left out")
    return 0
