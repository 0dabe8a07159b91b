"""Atomic file writes: write a temporary file beside the target, fsync, then rename over it.

Files get the permissions the user's umask gives a new file (as `open` would), not mkstemp's 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from evalkit.errors import UserError


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new file, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(
        path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=True) + "\n"
    )


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it: done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def writable_dir(path: str | Path, setting: str) -> Path:
    """Creates folder ``path`` (with parents) and checks it is writable, before any work is done; a
    UserError names ``setting`` (e.g. ``--config.output_dir``) otherwise."""
    text = str(path).strip()
    if not text:
        raise UserError(f"{setting} is empty; set it to the folder results should go to")
    folder = Path(text).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"{setting}={text!r} cannot be created ({exc.strerror or exc}); set {setting} to a writable folder"
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{setting}={text!r} is not writable; set {setting} to a writable folder")
    return folder
