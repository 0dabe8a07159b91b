"""Append-only per-item record store that makes runs resumable.

Each finished item is appended as one JSON line and fsynced, keyed by (task config hash, item id). A run
killed at any point loses at most the line being written; on restart that torn line is cut off, records of
other config hashes are ignored, and duplicates are impossible because done items are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from evalkit.metrics.aggregate import natural_key
from evalkit.results.atomic import write_text_atomic


class RecordStore:
    """Records of one task in ``<run_dir>/<task>/samples.jsonl``."""

    def __init__(self, path: str | Path, config_hash: str, read_only: bool = False):
        """``read_only``: only read (readers of archived results): a torn last line is skipped, not cut off."""
        self.path = Path(path)
        self.config_hash = config_hash
        self.read_only = read_only
        self._records: dict[str, dict[str, Any]] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data) and not self.read_only:  # a torn last line from a killed write: drop it
            with open(self.path, "r+b") as f:
                f.truncate(end)
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec.get("config_hash") == self.config_hash and rec["id"] not in self._records:
                self._records[rec["id"]] = rec

    def done(self) -> set[str]:
        return set(self._records)

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Durably append finished records (each gets this store's config hash)."""
        lines = []
        for rec in records:
            rec = {**rec, "config_hash": self.config_hash}
            if rec["id"] in self._records:
                continue
            self._records[rec["id"]] = rec
            lines.append(json.dumps(rec, ensure_ascii=False, sort_keys=True, allow_nan=True))
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def remember(self, records: Iterable[dict[str, Any]]) -> None:
        """Keep records in memory only (processes other than the writer in a multi-host run)."""
        for rec in records:
            self._records.setdefault(rec["id"], {**rec, "config_hash": self.config_hash})

    def records(self) -> list[dict[str, Any]]:
        """This config's records, ordered by item id (so aggregation never depends on completion order)."""
        return [self._records[k] for k in sorted(self._records, key=natural_id_key)]

    def compact(self) -> None:
        """Rewrite the file atomically with exactly this config's records, in id order."""
        text = "".join(
            json.dumps(r, ensure_ascii=False, sort_keys=True, allow_nan=True) + "\n" for r in self.records()
        )
        write_text_atomic(self.path, text)


def natural_id_key(item_id: str) -> tuple:
    """Order ids like 'len10/3' naturally: split on '/' and compare parts numerically where possible."""
    return tuple(natural_key(part) for part in str(item_id).split("/"))
