"""The files a cross_dative run leaves beside its records: the per-item table and the analysis."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SAMPLES = "samples.jsonl"


def task_records(task_dir: str | Path, config_hash: str) -> list[dict[str, Any]]:
    """The task's stored records of this config (the last copy of each id), from ``samples.jsonl``."""
    records: dict[str, dict[str, Any]] = {}
    path = Path(task_dir) / SAMPLES
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            if rec.get("config_hash") == config_hash:
                records[rec["id"]] = rec
    return list(records.values())


def write_outputs(task_dir: str | Path, config: Mapping[str, Any], config_hash: str) -> dict[str, Any]:
    """Writes ``table.csv``, ``table.jsonl`` and ``analysis/`` into ``task_dir``; returns the analysis summary."""
    from evalkit_cross_dative.analysis import analyze
    from evalkit_cross_dative.table import records_table, write_table

    task_dir = Path(task_dir)
    table = records_table(task_records(task_dir, config_hash))
    write_table(table, task_dir)
    return analyze(
        table,
        task_dir / "analysis",
        bootstrap=int(config.get("bootstrap", 1000)),
        seed=int(config.get("init_seed", 0)),
    )
