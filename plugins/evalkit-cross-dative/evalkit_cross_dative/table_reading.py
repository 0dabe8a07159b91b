"""Reading a saved results table (``.csv`` or ``.jsonl``) back for the analysis, with checked columns, values and
dtypes, so a hand-made or damaged table fails with the file, the line and the fix."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.api import UserError, jsonl_records
from evalkit_cross_dative.features import CODE_PATTERN, DATIVES, STATES
from evalkit_cross_dative.table import COLUMNS

SCHEMA: tuple[str, ...] = COLUMNS  # the columns table.py writes
SCHEMA_HINT = (
    "one row per learner, item_id, lr, state and generalization_dative, as the exposure simulations write"
)
_INTEGER = ("item_id", "hypothesis_id", "hypothesis_instance", "best_epoch")
_FLOAT = ("lr", "val_performance", "train_loss", "logprob")
_CHOICES = {"state": STATES, "adaptation_dative": DATIVES, "generalization_dative": DATIVES}
_TEXT = ("learner", "generalization_feature_config")
_FIX = "fix that value or rerun the exposure simulations to rewrite the table"


def _decode(path: Path) -> str:
    """The file's text; a UserError naming the file and the line if it is missing or not UTF-8."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"results table {path} does not exist; pass the path of a saved table") from None
    except OSError as exc:
        raise UserError(f"cannot read results table {path} ({exc.strerror}); check the path") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{path} line {line} is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the table as UTF-8"
        ) from None


def _read_csv(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """All-string frame of a CSV file and the line number of every row; malformed lines are UserErrors."""
    reader = csv.reader(io.StringIO(_decode(path), newline=""))
    try:
        header = next(reader, None)
        if not header:
            raise UserError(f"{path} is empty; it needs a header line ({', '.join(SCHEMA)}) and rows")
        rows, lines = [], []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise UserError(
                    f"{path} line {reader.line_num} has {len(row)} fields but the header has {len(header)}; "
                    "fix or remove that line"
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise UserError(
            f"{path} line {reader.line_num} is not valid CSV ({exc}); fix or remove that line"
        ) from None
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise UserError(f"{path} has the column(s) {', '.join(duplicated)} twice; keep one of each")
    return pd.DataFrame(rows, columns=header, dtype=object), np.asarray(lines, dtype=int)


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Frame of a JSON Lines file (one object per line) and the line number of every row."""
    _decode(path)  # missing file / UTF-8 errors as for CSV
    records, lines = [], []
    for number, record in jsonl_records(path, json_fix="write one JSON object per line"):
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number} is not a JSON object; write one object per line")
        records.append(record)
        lines.append(number)
    return pd.DataFrame.from_records(records), np.asarray(lines, dtype=int)


def _bad_value(
    path: Path, lines: np.ndarray, bad: np.ndarray, frame: pd.DataFrame, column: str, want: str
) -> None:
    """Raise a UserError naming the first bad row's line, value and what was expected, if ``bad`` has any."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = frame[column].iloc[i]
        raise UserError(f"{path} line {lines[i]}: {column} is {value!r}, expected {want}; {_FIX}")


def _missing(series: pd.Series) -> np.ndarray:
    """Cells that are absent: None/NaN or empty text."""
    return (series.isna() | series.astype(str).str.strip().eq("")).to_numpy()


def _typed(path: Path, frame: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
    """The table with checked values and proper dtypes; the first bad value is a UserError with its line."""
    out = frame[list(SCHEMA)].copy()
    for column in SCHEMA:
        _bad_value(path, lines, _missing(out[column]), out, column, "a value (the cell is empty)")
    for column in _INTEGER:
        number = pd.to_numeric(out[column], errors="coerce")
        bad = number.isna() | (number % 1 != 0) | (number < 0)
        _bad_value(path, lines, bad.to_numpy(), out, column, "a whole number ≥ 0")
        out[column] = number.astype(np.int64)
    for column in _FLOAT:
        number = pd.to_numeric(out[column], errors="coerce")
        bad = ~np.isfinite(number.to_numpy(float))
        if column == "lr":
            bad |= (number <= 0).to_numpy()
        _bad_value(
            path, lines, bad, out, column, "a positive number" if column == "lr" else "a finite number"
        )
        out[column] = number.astype(float)
    for column, allowed in _CHOICES.items():
        out[column] = out[column].astype(str)
        _bad_value(
            path, lines, ~out[column].isin(allowed).to_numpy(), out, column, f"one of {', '.join(allowed)}"
        )
    for column in _TEXT:
        out[column] = out[column].astype(str)
    out["adaptation_feature_config"] = out["adaptation_feature_config"].astype(str)
    bad_code = ~out["adaptation_feature_config"].str.fullmatch(CODE_PATTERN.pattern).to_numpy(bool)
    want = "an 8-letter code (theme then recipient: p/n a/i s/l d/i, e.g. 'pasdnild')"
    _bad_value(path, lines, bad_code, out, "adaptation_feature_config", want)
    return out


def _check_duplicates(path: Path, table: pd.DataFrame, lines: np.ndarray) -> None:
    """A UserError naming the line of a repeated (learner, item, lr, state, construction) row."""
    key = ["learner", "item_id", "lr", "state", "generalization_dative", "generalization_feature_config"]
    repeated = table.duplicated(key).to_numpy()
    if repeated.any():
        i = int(np.flatnonzero(repeated)[0])
        raise UserError(
            f"{path} line {lines[i]} repeats an earlier row's learner, item_id, lr, state and "
            "generalization_dative; remove the duplicate (a table may hold each row once)"
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """A saved results table (``.csv`` or ``.jsonl``) with checked columns and values; every problem is a
    UserError naming the file (and line) and the fix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise UserError(f"results table {path} is not a .csv or .jsonl file; save the table in one of those")
    frame, lines = _read_csv(path) if suffix == ".csv" else _read_jsonl(path)
    missing = [c for c in SCHEMA if c not in frame.columns]
    if missing:
        raise UserError(f"{path} lacks the column(s) {', '.join(missing)}; add them ({SCHEMA_HINT})")
    if frame.empty:
        raise UserError(f"{path} has no rows; run the exposure simulations first")
    table = _typed(path, frame, lines)
    _check_duplicates(path, table, lines)
    return table
