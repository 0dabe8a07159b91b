"""Run configs: load a ``get_config()`` file, merge plugin defaults, apply ``--config.a.b=value`` overrides.

Semantics follow ml_collections ``config_flags``: ``path.py:ARG`` passes ARG to ``get_config``; overrides
may only set keys that exist (the error names the closest valid key) and are parsed by the existing
value's type. The resolved config is locked and hashed; the ``runtime`` section (mesh, batching,
progress) never enters a hash, so a run can resume on another mesh.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ml_collections import ConfigDict
from ml_collections.config_dict import placeholder

from evalkit.errors import UserError
from evalkit.results.schema import stable_hash

TOO_LONG = ("truncate", "error")  # what runtime.too_long may say

RUN_KEYS = (
    "output_dir",
    "data_dir",
    "seed",
    "model",
    "judge",
    "tasks",
    "runtime",
    "reporters",
    "required_plugins",
    "bootstrap_resamples",
    "name",
)


def run_defaults() -> ConfigDict:
    """Every top-level key a run config may set, with its default."""
    c = ConfigDict()
    c.name = ""
    c.output_dir = "runs/default"
    c.data_dir = os.environ.get("EVALKIT_DATA_DIR", str(Path("~/.cache/evalkit/data").expanduser()))
    c.seed = 0
    c.model = ConfigDict({"name": "fake"})
    c.judge = ConfigDict({"name": ""})  # a second model that rates outputs (Task.judge_requests); '' = none
    c.tasks = ConfigDict()
    c.runtime = runtime_defaults()
    c.reporters = ("console", "markdown", "plots", "html")
    c.required_plugins = ()
    c.bootstrap_resamples = 1000
    return c


def runtime_defaults() -> ConfigDict:
    """How a run executes (never part of a hash): chunking, progress bars, mesh, batching, processes."""
    c = ConfigDict()
    c.chunk_size = 64  # items evaluated (and durably stored) per step
    c.progress = True
    # -1 = the remaining devices; axis_order fixes the mesh axis order (ConfigDict sorts its keys).
    c.mesh = ConfigDict(
        {
            "shape": ConfigDict({"data": -1, "fsdp": 1, "tensor": 1}),
            "axis_order": ("data", "fsdp", "tensor"),
            "axis_types": "auto",
            "rules": DEFAULT_RULES,
        }
    )
    # Multi-host: jax.distributed.initialize(); None values are auto-detected (TPU pods, Slurm, k8s).
    c.distributed = ConfigDict(
        {
            "enabled": False,
            "coordinator_address": placeholder(str),
            "num_processes": placeholder(int),
            "process_id": placeholder(int),
        }
    )
    # share_prefixes: requests with one context (multiple-choice choices) score it once (docs/runtime.md).
    c.batch = ConfigDict(
        {"max_tokens": 16384, "max_rows": 64, "num_buckets": 4, "generate_batch": 32, "share_prefixes": True}
    )
    # Generation engine: 'continuous' (slots refilled as rows finish; docs/runtime.md) or 'static' (fixed batches).
    c.generate = ConfigDict({"engine": "continuous", "prefill_chunk": 128})
    c.too_long = TOO_LONG[0]  # inputs longer than the model's context: 'truncate' (left) or 'error'
    return c


# One table mapping logical axis names (used in model code) to mesh axes (MaxText style).
DEFAULT_RULES = (
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("head_dim", None),
    ("mlp", "tensor"),
    ("norm", None),
)


# --- loading ---------------------------------------------------------------------------------------


def load_config_file(spec: str) -> ConfigDict:
    """Run ``get_config(arg)`` of ``path.py[:arg]`` and return the config it builds."""
    path, _, arg = spec.partition(":")
    file = Path(path)
    if not file.is_file():
        raise UserError(
            f"config file {path!r} does not exist; pass the path of a Python file with get_config()"
        )
    module_spec = importlib.util.spec_from_file_location(f"evalkit_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's file
        raise UserError(
            f"config file {path!r} failed to load ({type(exc).__name__}: {exc}); fix the file"
        ) from exc
    if not hasattr(module, "get_config"):
        raise UserError(
            f"config file {path!r} has no get_config() function; define one that returns a ConfigDict"
        )
    try:
        cfg = module.get_config(arg) if arg else module.get_config()
    except Exception as exc:  # noqa: BLE001
        raise UserError(
            f"get_config() in {path!r} raised {type(exc).__name__}: {exc}; fix the file or its argument"
        ) from exc
    if isinstance(cfg, Mapping):
        cfg = ConfigDict(dict(cfg))
    if not isinstance(cfg, ConfigDict):
        raise UserError(
            f"get_config() in {path!r} returned {type(cfg).__name__}; it must return a ConfigDict"
        )
    return cfg


# --- merging and overrides -------------------------------------------------------------------------


def merge_into(
    defaults: ConfigDict, user: Mapping[str, Any] | ConfigDict, where: str, open_sections: Iterable[str] = ()
) -> ConfigDict:
    """Copy ``user`` values into a copy of ``defaults``; a key not in defaults is an error naming the closest.

    Sections named in ``open_sections`` accept new keys (e.g. ``tasks``, whose keys are task names).
    """
    out = ConfigDict(defaults.to_dict() if isinstance(defaults, ConfigDict) else dict(defaults))
    open_sections = set(open_sections)
    for key, value in user.items() if isinstance(user, Mapping | ConfigDict) else []:
        path = f"{where}.{key}" if where else key
        if key not in out:
            if where in open_sections:
                out[key] = value
                continue
            raise UserError(_unknown_key_message(path, _leaf_paths(out, where)))
        current = out[key]
        if isinstance(current, ConfigDict) and isinstance(value, Mapping | ConfigDict):
            out[key] = merge_into(current, value, path, open_sections)
        else:
            out[key] = _checked_value(value, current, path)
    return out


def apply_overrides(cfg: ConfigDict, overrides: Mapping[str, str]) -> None:
    """Apply ``{'a.b': 'raw string'}`` overrides in place, parsing each by the current value's type."""
    for dotted, raw in overrides.items():
        node = cfg
        parts = dotted.split(".")
        for _i, part in enumerate(parts[:-1]):
            if not isinstance(node, ConfigDict) or part not in node:
                raise UserError(_unknown_key_message(dotted, _leaf_paths(cfg)))
            node = node[part]
        key = parts[-1]
        if not isinstance(node, ConfigDict) or key not in node:
            raise UserError(_unknown_key_message(dotted, _leaf_paths(cfg)))
        if isinstance(node[key], ConfigDict):
            raise UserError(
                f"--config.{dotted} is a section; set one of its keys, e.g. --config.{dotted}.KEY=VALUE"
            )
        node[key] = parse_value(raw, node[key], dotted)


def parse_value(raw: str, current: Any, path: str) -> Any:
    """Parse an override string by the type of the value it replaces."""
    try:
        if isinstance(current, bool):
            low = raw.strip().lower()
            if low not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(raw)
            return low in {"true", "1", "yes"}
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, str):
            return raw
        if isinstance(current, tuple | list):
            value = ast.literal_eval(raw) if raw.strip() else ()
            value = tuple(value) if isinstance(value, tuple | list) else (value,)
            return type(current)(value)
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return raw
    except (ValueError, SyntaxError) as exc:
        kind = type(current).__name__
        raise UserError(
            f"--config.{path}={raw!r} is not a valid {kind}; give {_article(kind)} {kind} like {current!r}"
        ) from exc


def _checked_value(value: Any, current: Any, path: str) -> Any:
    if current is None or value is None or isinstance(value, type(current)):
        return value
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(current, tuple | list) and isinstance(value, tuple | list):
        return type(current)(value)
    raise UserError(f"config key {path} must be a {type(current).__name__} (like {current!r}), got {value!r}")


def _leaf_paths(cfg: ConfigDict, prefix: str = "") -> list[str]:
    out = []
    for key, value in cfg.items():
        path = f"{prefix}.{key}" if prefix else key
        out.append(path)
        if isinstance(value, ConfigDict):
            out.extend(_leaf_paths(value, path))
    return out


def _unknown_key_message(path: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(path, valid, n=1, cutoff=0.5)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else "see the config file or `evalkit list tasks` for valid keys"
    )
    return f"unknown config key {path!r}; {hint}"


def split_overrides(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Separate ``--config.a.b=v`` / ``--config.a.b v`` arguments from the rest of argv."""
    overrides: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--config."):
            key, eq, value = arg[len("--config.") :].partition("=")
            if not eq:
                if i + 1 >= len(argv):
                    raise UserError(f"{arg} needs a value; write {arg}=VALUE")
                value = argv[i + 1]
                i += 1
            overrides[key] = value
        else:
            rest.append(arg)
        i += 1
    return overrides, rest


def hashable_view(cfg: ConfigDict) -> dict[str, Any]:
    """The config minus the runtime section: what identifies a run's results."""
    data = cfg.to_dict()
    data.pop("runtime", None)
    return data


def config_hash(cfg: ConfigDict | Mapping[str, Any]) -> str:
    return stable_hash(cfg.to_dict() if isinstance(cfg, ConfigDict) else dict(cfg))


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
