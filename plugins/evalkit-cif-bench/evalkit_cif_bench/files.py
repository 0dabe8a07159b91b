"""Reading the CIF-Bench files: the data directory, its manifest, the task files and the leaderboard.

The data cannot be downloaded at run time and is never copied into the repository (its licence is
unknown): evalkit reads it from a directory laid out as the upstream repository's public data. Every
problem with it (missing directory, a changed or missing file, a malformed or non-UTF-8 line) is one
sentence naming the file and what to do.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from evalkit import UserError
from evalkit.api import jsonl_records, text_lines

TASK_FILE = re.compile(r"^(\d+)_(.+)_public\.jsonl$")
FIELDS = ("Input", "Output", "Instruction")
VERIFY_MODES = ("strict", "warn", "off")
LAYOUT = (
    "dataset/public/<id>_<Task_Name>_public.jsonl (150 files of the CIF-Bench repository yizhilll/CIF-Bench at "
    "commit 04dc5aa, with its MANIFEST.sha256 and leaderboard.csv beside dataset/)"
)
ENV_VAR = "EVALKIT_CIF_BENCH_DIR"
RESTORE = "restore the original file"


def default_data_dir() -> str:
    """``$EVALKIT_CIF_BENCH_DIR``, else ``../shared/data/cif-bench`` beside this checkout (the project's copy)."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    checkout = Path(__file__).resolve().parents[3]  # plugins/evalkit-cif-bench/evalkit_cif_bench/files.py
    return str(checkout.parent / "shared" / "data" / "cif-bench")


@dataclass(frozen=True)
class Item:
    """One line of a task file: the instruction(s), the input and the reference output."""

    task_id: int
    line: int
    instructions: tuple[str, ...]
    input: str
    output: str


def task_files(root: str | Path) -> dict[int, Path]:
    """Task id -> its file under ``root/dataset/public``; one sentence if the layout is not there."""
    folder = Path(root).expanduser() / "dataset" / "public"
    if not folder.is_dir():
        raise UserError(
            f"the CIF-Bench data directory {str(root)!r} has no dataset/public folder; it must hold {LAYOUT}. "
            f"Set --config.tasks.cif_bench.manual_dir (or ${ENV_VAR}) to that directory"
        )
    files: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = TASK_FILE.match(path.name)
        if match:
            files[int(match.group(1))] = path
    if not files:
        raise UserError(f"{folder} holds no <id>_<Task_Name>_public.jsonl files; it must hold {LAYOUT}")
    return files


def verify_manifest(root: str | Path, mode: str) -> int:
    """Check every file listed in ``MANIFEST.sha256`` (when present) against its SHA-256; returns the number
    checked. ``strict``: a changed or missing file is a UserError naming it; ``warn``: a warning; ``off``.
    A directory that passed is not hashed again in this process (every task's data build asks)."""
    if mode not in VERIFY_MODES:
        raise UserError(f"verify={mode!r} must be one of {', '.join(map(repr, VERIFY_MODES))}")
    manifest = Path(root).expanduser() / "MANIFEST.sha256"
    if mode == "off" or not manifest.is_file():
        return 0
    key = (str(manifest.resolve()), manifest.stat().st_mtime_ns)
    if key in _VERIFIED:
        return _VERIFIED[key]
    checked, clean = _check_manifest(manifest, mode)
    if clean:
        _VERIFIED[key] = checked
    return checked


_VERIFIED: dict[
    tuple[str, int], int
] = {}  # manifests whose files all matched: (path, mtime) -> files checked


def _check_manifest(manifest: Path, mode: str) -> tuple[int, bool]:
    """(files checked, whether all matched); a mismatch raises (strict) or warns (warn)."""
    checked, clean = 0, True
    for number, line in text_lines(manifest, RESTORE):
        if not line.strip():
            continue
        digest, _, name = line.strip().partition("  ")
        path = manifest.parent / name
        problem = None
        if not path.is_file():
            problem = "is missing"
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problem = "differs from the released file"
        if problem:
            clean = False
            message = f"{path} {problem} (MANIFEST.sha256 line {number}); restore the original files or set verify='off'"
            if mode == "strict":
                raise UserError(message)
            warnings.warn(message, stacklevel=3)
        checked += 1
    return checked, clean


def read_task(task_id: int, path: Path) -> list[Item]:
    """The items of one task file. Each line is ``{"Input", "Output", "Instruction"}``; ``Instruction`` may
    also be a list of instructions (several per item, as the private split has)."""
    items = []
    for number, record in jsonl_records(path, RESTORE, RESTORE):
        instructions = record.get("Instruction") if isinstance(record, dict) else None
        if isinstance(instructions, str):
            instructions = [instructions]
        ok = isinstance(record, dict) and isinstance(instructions, list) and instructions
        ok = ok and all(isinstance(s, str) for s in instructions)
        if not ok or not isinstance(record.get("Input"), str) or not isinstance(record.get("Output"), str):
            raise UserError(
                f"{path} line {number} must be an object with string Input, Output and Instruction (or a list "
                "of instruction strings); restore the original file"
            )
        items.append(Item(task_id, number, tuple(instructions), record["Input"], record["Output"]))
    return items


def read_leaderboard(root: str | Path) -> list[dict[str, str]]:
    """The paper's private-split leaderboard (``leaderboard.csv``, UTF-8 with a byte-order mark)."""
    path = Path(root).expanduser() / "leaderboard.csv"
    if not path.is_file():
        raise UserError(f"{path} is missing; it comes with the CIF-Bench data ({LAYOUT})")
    text = "\n".join(line for _, line in text_lines(path, RESTORE))  # drops the byte-order mark
    return list(csv.DictReader(io.StringIO(text)))
