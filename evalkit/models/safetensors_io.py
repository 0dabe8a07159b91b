"""Lazy, validated reading of (possibly sharded) safetensors weights as numpy arrays.

Tensors are read one at a time on the host. bfloat16 comes back as `ml_dtypes.bfloat16`; where the
installed `safetensors` cannot hand bf16 to numpy, the raw bytes are read from the file instead.
Every problem is a `UserError` naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from evalkit.errors import UserError

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
_RAW_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": ml_dtypes.bfloat16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def _corrupt(file: Path, exc: Exception) -> UserError:
    return UserError(
        f"{file} is not a readable safetensors file ({exc}); it is probably truncated or corrupt, "
        "so download or save it again"
    )


def read_raw_tensor(file: Path, name: str) -> np.ndarray:
    """Reads tensor `name` straight from the file bytes (header: u64 length + JSON)."""
    try:
        with open(file, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(header_len))
            info = header[name]
            start, end = info["data_offsets"]
            f.seek(8 + header_len + start)
            data = f.read(end - start)
    except (OSError, ValueError, KeyError) as exc:
        raise _corrupt(file, exc) from exc
    if info["dtype"] not in _RAW_DTYPES:
        raise UserError(
            f"{file}: tensor {name} has unsupported dtype {info['dtype']}; use float32 or bfloat16"
        )
    dtype = np.dtype(_RAW_DTYPES[info["dtype"]])
    if len(data) != end - start or len(data) != dtype.itemsize * int(np.prod(info["shape"])):
        raise _corrupt(file, ValueError(f"tensor {name} data is incomplete"))
    return np.frombuffer(data, dtype).reshape(info["shape"])


class SafetensorsWeights:
    """The weights of a Hugging Face folder: `model.safetensors`, a sharded index, or `*.safetensors`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._handles: dict[Path, Any] = {}
        index = folder / INDEX_FILE
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (ValueError, KeyError, TypeError) as exc:
                raise UserError(
                    f"{index} is not a valid safetensors index ({exc}); save the model again"
                ) from exc
            self._file_of = {name: folder / fname for name, fname in weight_map.items()}
            for file in sorted(set(self._file_of.values())):
                if not file.is_file():
                    raise UserError(
                        f"{file} is missing: {index} lists it as a weight shard; download it again"
                    )
        else:
            files = (
                [folder / SINGLE_FILE]
                if (folder / SINGLE_FILE).is_file()
                else sorted(folder.glob("*.safetensors"))
            )
            if not files:
                hint = " (PyTorch .bin weights are not supported)" if any(folder.glob("*.bin")) else ""
                raise UserError(
                    f"{folder} has no {SINGLE_FILE} or {INDEX_FILE}{hint}; save the model with safetensors"
                )
            self._file_of = {name: file for file in files for name in self._open(file).keys()}
        self.used: set[str] = set()

    def _open(self, file: Path) -> Any:
        from safetensors import safe_open

        if file not in self._handles:
            try:
                self._handles[file] = safe_open(str(file), framework="numpy")
            except Exception as exc:  # SafetensorError, OSError: truncated header, bad JSON, ...
                raise _corrupt(file, exc) from exc
        return self._handles[file]

    def names(self) -> set[str]:
        return set(self._file_of)

    def file_of(self, name: str) -> Path:
        if name not in self._file_of:
            raise UserError(
                f"tensor {name} is missing from the safetensors files in {self.folder}; the weights "
                "do not match config.json"
            )
        return self._file_of[name]

    def dtype(self, name: str) -> str:
        """The safetensors dtype string (F32, BF16, ...)."""
        return self._open(self.file_of(name)).get_slice(name).get_dtype()

    def get(self, name: str) -> np.ndarray:
        """The whole tensor as a numpy array."""
        file = self.file_of(name)
        handle = self._open(file)
        if name not in handle.keys():
            raise UserError(
                f"{file} does not contain tensor {name} although {INDEX_FILE} says so; save it again"
            )
        self.used.add(name)
        try:
            return handle.get_tensor(name)
        except Exception as exc:  # noqa: BLE001 - older safetensors cannot give bf16 to numpy.
            if handle.get_slice(name).get_dtype() != "BF16":
                raise _corrupt(file, exc) from exc
            return read_raw_tensor(file, name)
