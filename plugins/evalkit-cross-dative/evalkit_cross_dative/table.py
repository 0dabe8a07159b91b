"""The per-item result table in the paper's schema (one row per exposure, LR, state and generalization
construction), built from the task's records, and written as CSV (for the authors' analysis code) and JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evalkit_cross_dative.atomic import write_text_atomic

#: the columns of upstream's best_lr_results_hypwise.csv, with the learner first (upstream: one file per seed).
COLUMNS = (
    "learner",
    "item_id",
    "hypothesis_id",
    "hypothesis_instance",
    "lr",
    "adaptation_dative",
    "val_performance",
    "best_epoch",
    "train_loss",
    "adaptation_feature_config",
    "state",
    "generalization_dative",
    "generalization_feature_config",
    "logprob",
)
GENERALIZATION_CONFIG = "naturalistic"  # the released generalization set is not feature-coded


def record_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The table rows of one task record (every LR the record ran, every state, both constructions)."""
    d = record["details"]
    rows = []
    for run in d["runs"]:
        for state, by_dative in run["logprob"].items():
            for dative, value in by_dative.items():
                rows.append(
                    {
                        "learner": d["learner"],
                        "item_id": d["item_id"],
                        "hypothesis_id": d["hypothesis_id"],
                        "hypothesis_instance": d["hypothesis_instance"],
                        "lr": run["lr"],
                        "adaptation_dative": d["dative"],
                        "val_performance": run["val_performance"],
                        "best_epoch": run["best_epoch"],
                        "train_loss": run["train_loss"],
                        "adaptation_feature_config": d["feature_config"],
                        "state": state,
                        "generalization_dative": dative,
                        "generalization_feature_config": GENERALIZATION_CONFIG,
                        "logprob": value,
                    }
                )
    return rows


def records_table(records: Iterable[Mapping[str, Any]]) -> Any:
    """A pandas DataFrame of every record's rows, sorted by learner, item, LR, state and construction."""
    import pandas as pd

    rows = [row for rec in records for row in record_rows(rec)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values(["learner", "item_id", "lr", "state", "generalization_dative"], kind="stable")


def write_table(frame: Any, folder: str | Path) -> tuple[Path, Path]:
    """Writes ``table.csv`` and ``table.jsonl`` atomically into ``folder``; returns their paths."""
    folder = Path(folder)
    csv_path, jsonl_path = folder / "table.csv", folder / "table.jsonl"
    write_text_atomic(csv_path, frame.to_csv(index=False))
    write_text_atomic(jsonl_path, "".join(json.dumps(row) + "\n" for row in frame.to_dict(orient="records")))
    return csv_path, jsonl_path
