"""The ``results.json`` schema (versioned; documented in docs/results.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

SCHEMA_VERSION = 2
# Versions this evalkit reads: 2 adds `suites`, tasks' `generalization` and `model.identity` to version 1.
READABLE_VERSIONS = (1, 2)


def stable_hash(obj: Any, length: int = 16) -> str:
    """A short hex digest of a JSON-able object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def load_results(path) -> dict[str, Any]:
    """Read a results.json and check its schema version."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    version = data.get("schema_version")
    if version not in READABLE_VERSIONS:
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise ValueError(f"{path} has results schema version {version}; this evalkit reads {readable}")
    return data
