"""Orbax checkpoints of evalkit models: params plus a JSON item holding the model config and tokenizer.

Layout: `DIR/<step>/{params,meta}` written by `ocp.CheckpointManager` (V0 API, kept behind this one
module) and `DIR/tokenizer/` holding a copied tokenizer.json, so `--config.model.checkpoint=DIR`
alone rebuilds model and tokenizer. Restores go straight into the target shardings of any mesh.
A Hugging Face folder passed to `load_model` is imported instead (see `hf_import`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp
from flax import nnx

from evalkit.errors import UserError
from evalkit.models.config import transformer_config
from evalkit.models.sharded import abstract_model
from evalkit.models.tokenizers import TOKENIZER_DIR, Tokenizer, load_tokenizer
from evalkit.sharding import Rules

FORMAT = "evalkit.model"
FORMAT_VERSION = 1
# Files read next to tokenizer.json: special token ids (HFTokenizer) and the chat template.
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)
_SPECIAL_FROM_CONFIG = ("bos_token_id", "eos_token_id", "pad_token_id")


def _manager(path: Path, create: bool) -> ocp.CheckpointManager:
    # Loading uses create=False rather than read_only=True, which only adds warnings; it writes nothing.
    options = ocp.CheckpointManagerOptions(create=create)
    handlers = {"params": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(path.absolute(), item_handlers=handlers, options=options)


def _copy_tokenizer(spec: str, path: Path) -> str:
    """Copies a tokenizer.json (and its special-token files) under `path`; returns the spec to store."""
    if spec == "bytes" or spec.startswith("vocab:"):
        return spec  # Self-contained specs are stored as is.
    source = Path(spec)
    if source.is_dir():
        source = source / "tokenizer.json"
    if not source.is_file():
        raise UserError(f"tokenizer file {source} does not exist; pass an existing tokenizer.json")
    target = path / TOKENIZER_DIR
    if jax.process_index() == 0:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / "tokenizer.json")
        for name in _TOKENIZER_FILES[1:]:
            if (source.parent / name).is_file():
                shutil.copyfile(source.parent / name, target / name)
        _write_special_ids(source.parent / "config.json", target / "config.json")
    return f"{TOKENIZER_DIR}/tokenizer.json"


def _write_special_ids(hf_config: Path, target: Path) -> None:
    # HFTokenizer falls back to config.json for bos/eos/pad ids; keep only those fields.
    if not hf_config.is_file():
        return
    try:
        fields = json.loads(hf_config.read_text())
    except ValueError:
        return
    specials = {k: fields[k] for k in _SPECIAL_FROM_CONFIG if k in fields}
    if specials:
        target.write_text(json.dumps(specials))


def save_model(
    path: str | Path,
    model: nnx.Module,
    model_cfg: ml_collections.ConfigDict,
    step: int = 0,
    tokenizer_spec: str | None = None,
) -> Path:
    """Writes params, model config and tokenizer to `path`; returns the step directory."""
    path = Path(path)
    params = nnx.to_pure_dict(nnx.state(model))
    with _manager(path, create=True) as mngr:
        if step in mngr.all_steps():
            raise UserError(f"checkpoint {path} already has step {step}; choose a new directory or step")
        meta = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model_config": model_cfg.to_dict(),
            "tokenizer": _copy_tokenizer(tokenizer_spec, path) if tokenizer_spec else None,
        }
        mngr.save(
            step, args=ocp.args.Composite(params=ocp.args.StandardSave(params), meta=ocp.args.JsonSave(meta))
        )
        mngr.wait_until_finished()
    return path / str(step)


def _bad(path: Path, problem: str) -> UserError:
    return UserError(f"checkpoint {path} {problem}")


def _brief(exc: BaseException, limit: int = 160) -> str:
    """The first line of an (often very long) orbax / TensorStore error, cut to ``limit`` characters."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _restore_meta(mngr: ocp.CheckpointManager, path: Path, step: int) -> dict[str, Any]:
    if not (path / str(step) / "meta").is_dir():
        raise _bad(path, f"step {step} has no 'meta' item (model config); save it again with evalkit")
    try:
        meta = mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    except Exception as exc:  # orbax/json errors on a damaged item.
        raise _bad(
            path, f"step {step} has an unreadable model config ({_brief(exc)}); save it again"
        ) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "model_config" not in meta:
        raise _bad(
            path, f"step {step} has no evalkit model config; save it with `evalkit convert` or save_model"
        )
    return meta


def _model_config(path: Path, meta: dict[str, Any]) -> ml_collections.ConfigDict:
    try:
        return transformer_config(**meta["model_config"])
    except (ValueError, TypeError) as exc:
        raise _bad(path, f"has an invalid model config: {exc}") from exc


def _check_shapes(mngr: ocp.CheckpointManager, path: Path, step: int, target: dict[str, Any]) -> None:
    """Names the first tensor whose stored shape differs from what the config implies."""
    try:
        stored = mngr.item_metadata(step)["params"]
    except Exception as exc:
        raise _bad(
            path, f"step {step} has unreadable params metadata ({_brief(exc)}); save it again"
        ) from exc
    if stored is None:
        raise _bad(path, f"step {step} has no 'params' item; save it again with evalkit")
    flat_stored = {_key(p): leaf for p, leaf in jax.tree_util.tree_leaves_with_path(stored)}
    for p, leaf in jax.tree_util.tree_leaves_with_path(target):
        key = _key(p)
        found = flat_stored.get(key)
        if found is None:
            raise _bad(path, f"lacks tensor {key} that its model config requires")
        if tuple(found.shape) != tuple(leaf.shape):
            raise _bad(
                path,
                f"tensor {key} has shape {tuple(found.shape)} but the model config implies "
                f"{tuple(leaf.shape)}",
            )


def _key(p: tuple[Any, ...]) -> str:
    return ".".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in p)


def _tokenizer(path: Path, spec: str | None) -> Tokenizer | None:
    if not spec:
        return None
    local = path / spec
    if spec.startswith(f"{TOKENIZER_DIR}/"):
        if not local.is_file():
            raise _bad(path, f"is missing its tokenizer file {local}; copy the tokenizer.json back")
        tokenizer = load_tokenizer(str(local))
        tokenizer.name = path.name  # Not the generic folder name 'tokenizer'.
        return tokenizer
    try:
        return load_tokenizer(spec)
    except (OSError, ValueError) as exc:
        raise _bad(path, f"names tokenizer {spec!r} that cannot be loaded ({exc})") from exc


def load_model(
    path: str | Path, mesh: jax.sharding.Mesh, rules: Rules, step: int | None = None
) -> tuple[nnx.Module, Tokenizer | None, ml_collections.ConfigDict]:
    """Restores (model, tokenizer or None, model config) onto `mesh`; the latest step by default."""
    from evalkit.models import hf_import

    path = Path(path)
    if not path.is_dir():
        raise _bad(
            path,
            "does not exist or is not a directory; pass a directory written by `evalkit convert` "
            "or a Hugging Face folder",
        )
    if hf_import.is_hf_dir(path):
        return hf_import.load_hf_model(path, mesh, rules)
    with _manager(path, create=False) as mngr:
        steps = mngr.all_steps()
        if not steps:
            raise _bad(path, "holds no checkpoint steps; pass the directory that `evalkit convert` wrote")
        if step is None:
            step = max(steps)
        elif step not in steps:
            raise _bad(path, f"has no step {step}; available steps: {', '.join(map(str, sorted(steps)))}")
        meta = _restore_meta(mngr, path, step)
        cfg = _model_config(path, meta)
        graphdef, state = nnx.split(abstract_model(cfg, mesh, rules))
        target = nnx.to_pure_dict(state)
        _check_shapes(mngr, path, step, target)
        try:
            restored = mngr.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore(target)))
        except Exception as exc:
            raise _bad(
                path, f"step {step} params could not be restored ({_brief(exc)}); save it again"
            ) from exc
    nnx.replace_by_pure_dict(state, restored["params"])
    return nnx.merge(graphdef, state), _tokenizer(path, meta.get("tokenizer")), cfg
