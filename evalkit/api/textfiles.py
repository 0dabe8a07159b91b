"""Reading user-supplied text and JSON Lines files line by line, so that a bad byte or line is reported with
the file and line number in one sentence instead of a traceback (``evalkit score``, task plugins' data)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from evalkit.errors import UserError


def text_lines(
    path: str | os.PathLike[str], fix: str = "save the file as UTF-8"
) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end) of every line; a byte-order mark on the first line is
    dropped; a line that is not UTF-8 is a UserError naming the file, the line, the byte and ``fix``."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise UserError(
                    f"{path} line {number} is not UTF-8 text (byte {exc.start + 1} of the line is "
                    f"0x{raw[exc.start]:02x}); {fix}"
                ) from None
            yield number, text.rstrip("\r\n")


def jsonl_records(
    path: str | os.PathLike[str],
    json_fix: str = "write one JSON object per line",
    utf8_fix: str = "save the file as UTF-8",
) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of every non-blank line of a JSON Lines file, errors as in
    :func:`text_lines` (a line that is not JSON names ``json_fix``)."""
    for number, line in text_lines(path, utf8_fix):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path} line {number} is not valid JSON ({exc.msg}); {json_fix}") from None


def json_document(
    path: str | os.PathLike[str],
    missing_fix: str = "check the path",
    json_fix: str = "fix the file",
    utf8_fix: str = "save the file as UTF-8",
) -> Any:
    """The parsed value of a whole JSON file; a missing file, a byte that is not UTF-8 or invalid JSON is a
    UserError naming the file and the matching ``*_fix``."""
    try:
        raw = open(path, "rb").read()
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; {missing_fix}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path} is not UTF-8 text (byte {exc.start + 1} is 0x{raw[exc.start]:02x}); {utf8_fix}"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno}); {json_fix}") from None
