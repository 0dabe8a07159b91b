"""Run results: the per-item record store (resume), atomic writes, and the results.json schema."""

from evalkit.results.atomic import writable_dir, write_json_atomic, write_text_atomic
from evalkit.results.schema import SCHEMA_VERSION, load_results, stable_hash
from evalkit.results.store import RecordStore, natural_id_key

__all__ = [
    "SCHEMA_VERSION",
    "RecordStore",
    "load_results",
    "natural_id_key",
    "stable_hash",
    "writable_dir",
    "write_json_atomic",
    "write_text_atomic",
]
