"""Import a local Hugging Face model folder (config.json, safetensors, tokenizer.json) as an evalkit model.

Supported: Llama, Mistral, Qwen2 (RoPE, RMSNorm, SwiGLU, GQA), GPT-2 and pre-norm OPT. Each tensor is
read lazily on the host, reshaped to the evalkit layout (kernels input-first) and placed straight
into its target sharding with `jax.make_array_from_callback`; the model is never built whole on
one device. No torch, no pickle.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx

from evalkit.errors import UserError
from evalkit.models.config import transformer_config
from evalkit.models.safetensors_io import INDEX_FILE, SafetensorsWeights
from evalkit.models.sharded import abstract_model
from evalkit.models.tokenizers import HFTokenizer
from evalkit.sharding import Rules

log = logging.getLogger(__name__)

ARCHITECTURES = {
    "llama": "LlamaForCausalLM",
    "mistral": "MistralForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "gpt2": "GPT2LMHeadModel",
    "opt": "OPTForCausalLM",
}
_GELU = {
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "gelu": "gelu",
    "relu": "relu",
}
# Buffers some checkpoints carry that hold no parameters.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq", "attn.bias", "attn.masked_bias")


# Every config.json field the importer reads (rope_type, type and rope_theta also inside rope_parameters
# / rope_scaling): a test of its value and what the value must be. null means the default where there is one.
_INT = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer")
_FLOAT = (
    lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf,
    "a positive number",
)
_BOOL = (lambda v: isinstance(v, bool), "true or false")
_STR = (lambda v: isinstance(v, str), "a string")
_STRS = (lambda v: isinstance(v, list) and all(isinstance(s, str) for s in v), "a list of strings")
_OBJECT = (lambda v: isinstance(v, dict), "a JSON object")
_FIELD_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "architectures": _STRS,
    **dict.fromkeys(("rope_parameters", "rope_scaling"), _OBJECT),
    **dict.fromkeys(("model_type", "hidden_act", "activation_function", "rope_type", "type"), _STR),
    **dict.fromkeys(("rms_norm_eps", "layer_norm_epsilon", "rope_theta"), _FLOAT),
    **dict.fromkeys(
        (
            "vocab_size", "num_hidden_layers", "n_layer", "hidden_size", "n_embd", "num_attention_heads",
            "n_head", "num_key_value_heads", "head_dim", "intermediate_size", "n_inner", "ffn_dim",
            "max_position_embeddings", "n_positions", "sliding_window", "word_embed_proj_dim",
        ),
        _INT,
    ),
    **dict.fromkeys(
        (
            "use_sliding_window", "attention_bias", "mlp_bias", "tie_word_embeddings", "scale_attn_weights",
            "scale_attn_by_inverse_layer_idx", "do_layer_norm_before", "enable_bias",
            "_remove_final_layer_norm", "layer_norm_elementwise_affine",
        ),
        _BOOL,
    ),
}  # fmt: skip

Path_ = tuple[str | int, ...]
Loader = Callable[[tuple[int, ...]], np.ndarray]


def is_hf_dir(path: str | Path) -> bool:
    """True when `path` looks like a Hugging Face model folder (config.json or safetensors weights)."""
    path = Path(path)
    return path.is_dir() and (
        (path / "config.json").is_file() or (path / INDEX_FILE).is_file() or any(path.glob("*.safetensors"))
    )


def read_hf_config(folder: Path) -> dict[str, Any]:
    """The JSON object in folder/config.json; a UserError names the file if it is missing or unreadable."""
    file = folder / "config.json"
    if not file.is_file():
        raise UserError(f"{file} is missing; a Hugging Face model folder needs its config.json")
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{file} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); download it again "
            "or save it as UTF-8"
        ) from exc
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{file} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "download or save it again"
        ) from exc
    if not isinstance(cfg, dict):
        raise UserError(f"{file} must hold a JSON object")
    return cfg


def architecture(hf: dict[str, Any], file: Path) -> str:
    """The evalkit name (llama, mistral, qwen2, gpt2, opt) of the model in config.json."""
    f = _Fields(hf, file)
    model_type, classes = f("model_type", None), f("architectures", None) or []
    if model_type in ARCHITECTURES:
        return model_type
    by_class = {cls: name for name, cls in ARCHITECTURES.items()}
    for cls in classes:
        if cls in by_class:
            return by_class[cls]
    found = model_type or ", ".join(classes) or "none"
    raise UserError(
        f"{file}: architecture {found!r} is not supported; supported: {', '.join(ARCHITECTURES.values())}"
    )


class _Fields:
    """Reads config.json fields, checked against `_FIELD_TYPES`; a UserError names the file and the field
    when one is missing or has the wrong type. null counts as absent (the default) where there is one."""

    def __init__(self, hf: dict[str, Any], file: Path, prefix: str = ""):
        self.hf, self.file, self.prefix = hf, file, prefix

    def __call__(self, key: str, default: Any = ...) -> Any:
        value = self.hf.get(key)
        if value is None and default is not ...:
            return default
        if key not in self.hf:
            raise UserError(
                f"{self.file} lacks the field {self.prefix + key!r}; the model config is incomplete"
            )
        is_valid, expected = _FIELD_TYPES[key]
        if value is None or not is_valid(value):
            shown = json.dumps(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise UserError(
                f"{self.file}: field {self.prefix + key!r} must be {expected}, not {shown}; "
                "correct it or download config.json again"
            )
        return value

    def unsupported(self, what: str) -> UserError:
        return UserError(f"{self.file}: {what} is not supported by evalkit's transformer")


def _rope_theta(f: _Fields) -> float:
    key = "rope_parameters" if f("rope_parameters", None) else "rope_scaling"
    params = _Fields(f(key, None) or {}, f.file, prefix=f"{key}.")
    kind = params("rope_type", None) or params("type", "default")
    if kind != "default":
        raise f.unsupported(f"rope scaling {kind!r}")
    return float(params("rope_theta", None) or f("rope_theta", 10_000.0))


def _llama_family(f: _Fields, arch: str) -> dict[str, Any]:
    if f("hidden_act", "silu") != "silu":
        raise f.unsupported(f"hidden_act={f('hidden_act')!r} (only silu for SwiGLU)")
    d, heads = f("hidden_size"), f("num_attention_heads")
    max_len = f("max_position_embeddings")
    window = f("sliding_window", None) if arch == "mistral" or f("use_sliding_window", False) else None
    if window and window < max_len:
        log.info("%s: sliding_window=%d; capping max_len so attention stays exact", f.file, window)
        max_len = window
    hd = f("head_dim", None)
    return dict(
        d_model=d,
        num_heads=heads,
        num_kv_heads=f("num_key_value_heads", heads) or heads,
        head_dim=hd if hd and hd != d // heads else None,
        d_ff=f("intermediate_size"),
        mlp="swiglu",
        norm="rmsnorm",
        norm_eps=float(f("rms_norm_eps", 1e-6)),
        position="rope",
        rope_theta=_rope_theta(f),
        max_len=max_len,
        attn_bias=f("attention_bias", False),
        qkv_bias=arch == "qwen2",
        mlp_bias=f("mlp_bias", False),
        tied_embeddings=f("tie_word_embeddings", False),
    )


def _gpt2(f: _Fields) -> dict[str, Any]:
    act = f("activation_function", "gelu_new")
    if act not in _GELU:
        raise f.unsupported(f"activation_function={act!r}")
    if not f("scale_attn_weights", True) or f("scale_attn_by_inverse_layer_idx", False):
        raise f.unsupported("GPT-2 attention scaling other than 1/sqrt(head_dim)")
    d = f("n_embd")
    return dict(
        d_model=d,
        num_heads=f("n_head"),
        num_kv_heads=f("n_head"),
        d_ff=f("n_inner", None) or 4 * d,
        mlp=_GELU[act],
        norm="layernorm",
        norm_eps=float(f("layer_norm_epsilon", 1e-5)),
        position="learned",
        max_len=f("n_positions"),
        attn_bias=True,
        mlp_bias=True,
        tied_embeddings=True,
    )


def _opt(f: _Fields) -> dict[str, Any]:
    d = f("hidden_size")
    if not f("do_layer_norm_before", True):
        raise f.unsupported("OPT with do_layer_norm_before=false (post-norm, e.g. opt-350m)")
    if f("word_embed_proj_dim", d) != d:
        raise f.unsupported(
            "OPT with word_embed_proj_dim != hidden_size (project_in/project_out, e.g. opt-350m)"
        )
    act = f("activation_function", "relu")
    if act not in _GELU:
        raise f.unsupported(f"activation_function={act!r}")
    bias = f("enable_bias", True)
    return dict(
        d_model=d,
        num_heads=f("num_attention_heads"),
        num_kv_heads=f("num_attention_heads"),
        d_ff=f("ffn_dim"),
        mlp=_GELU[act],
        norm="layernorm",
        norm_eps=1e-5,
        position="learned",
        position_offset=2,
        max_len=f("max_position_embeddings"),
        attn_bias=bias,
        mlp_bias=bias,
        tied_embeddings=f("tie_word_embeddings", True),
        final_norm=not f("_remove_final_layer_norm", False),
    )


def model_config_from_hf(hf: dict[str, Any], file: Path, dtype: str = "float32") -> ml_collections.ConfigDict:
    """The evalkit transformer config equivalent to a Hugging Face config.json."""
    f = _Fields(hf, file)
    arch = architecture(hf, file)
    fields = _gpt2(f) if arch == "gpt2" else _opt(f) if arch == "opt" else _llama_family(f, arch)
    layers_key = "n_layer" if arch == "gpt2" else "num_hidden_layers"
    fields.update(vocab_size=f("vocab_size"), num_layers=f(layers_key), dtype=dtype, param_dtype=dtype)
    try:
        return transformer_config(**fields)
    except ValueError as exc:
        raise UserError(f"{file} describes a model evalkit cannot build: {exc}") from exc


# --- tensor mapping --------------------------------------------------------------------------------


class _Mapper:
    """Builds loaders that read a HF tensor, check its shape and reshape it to the evalkit layout."""

    def __init__(self, weights: SafetensorsWeights):
        self.w = weights

    def _read(self, name: str, expected: tuple[int, ...]) -> np.ndarray:
        arr = self.w.get(name)
        if tuple(arr.shape) != tuple(expected):
            raise UserError(
                f"{self.w.file_of(name)}: tensor {name} has shape {tuple(arr.shape)} but config.json implies "
                f"{tuple(expected)}; the weights and config.json disagree"
            )
        return arr

    def linear(self, name: str, in_ndim: int = 1) -> Loader:
        """nn.Linear weight [out, in] -> kernel [*in, *out]."""

        def load(shape: tuple[int, ...]) -> np.ndarray:
            n_in, n_out = math.prod(shape[:in_ndim]), math.prod(shape[in_ndim:])
            return self._read(name, (n_out, n_in)).T.reshape(shape)

        return load

    def conv1d(self, name: str, in_ndim: int = 1) -> Loader:
        """GPT-2 Conv1D weight [in, out] -> kernel [*in, *out]."""

        def load(shape: tuple[int, ...]) -> np.ndarray:
            n_in, n_out = math.prod(shape[:in_ndim]), math.prod(shape[in_ndim:])
            return self._read(name, (n_in, n_out)).reshape(shape)

        return load

    def flat(self, name: str) -> Loader:
        """A tensor stored flat (biases, norm scales) or with the same shape."""
        return lambda shape: self._read(name, (math.prod(shape),)).reshape(shape)

    def exact(self, name: str) -> Loader:
        return lambda shape: self._read(name, shape)

    def fused(self, name: str, part: int, parts: int = 3) -> Loader:
        """One of `parts` equal slices of the last axis of a fused tensor (GPT-2 c_attn)."""

        def load(shape: tuple[int, ...]) -> np.ndarray:
            n_out = math.prod(shape[-2:])
            lead = (shape[0],) if len(shape) == 3 else ()
            arr = self._read(name, (*lead, parts * n_out))
            return arr[..., part * n_out : (part + 1) * n_out].reshape(shape)

        return load

    def prefix(self, candidates: tuple[str, ...], probe: str) -> str:
        """The first prefix under which tensor `probe` exists."""
        names = self.w.names()
        for p in candidates:
            if p + probe in names:
                return p
        return candidates[0]


def _const(value: float) -> Loader:
    return lambda shape: np.full(shape, value, np.float32)


def _llama_loaders(m: _Mapper, cfg: ml_collections.ConfigDict) -> dict[Path_, Loader]:
    p = m.prefix(("model.", ""), "embed_tokens.weight")
    out: dict[Path_, Loader] = {("embed", "embedding"): m.exact(p + "embed_tokens.weight")}
    for i in range(cfg.num_layers):
        hf, ek = f"{p}layers.{i}.", ("layers", i)
        out[(*ek, "attn_norm", "scale")] = m.flat(hf + "input_layernorm.weight")
        out[(*ek, "mlp_norm", "scale")] = m.flat(hf + "post_attention_layernorm.weight")
        for ours, theirs in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj")):
            out[(*ek, "attn", ours, "kernel")] = m.linear(f"{hf}self_attn.{theirs}.weight")
            if cfg.attn_bias or cfg.qkv_bias:
                out[(*ek, "attn", ours, "bias")] = m.flat(f"{hf}self_attn.{theirs}.bias")
        out[(*ek, "attn", "o", "kernel")] = m.linear(hf + "self_attn.o_proj.weight", in_ndim=2)
        if cfg.attn_bias:
            out[(*ek, "attn", "o", "bias")] = m.flat(hf + "self_attn.o_proj.bias")
        for name in ("gate", "up", "down"):
            out[(*ek, "mlp", name, "kernel")] = m.linear(f"{hf}mlp.{name}_proj.weight")
            if cfg.mlp_bias:
                out[(*ek, "mlp", name, "bias")] = m.flat(f"{hf}mlp.{name}_proj.bias")
    out[("final_norm", "scale")] = m.flat(p + "norm.weight")
    if not cfg.tied_embeddings:
        out[("lm_head", "kernel")] = m.linear("lm_head.weight")
    return out


def _gpt2_loaders(m: _Mapper, cfg: ml_collections.ConfigDict) -> dict[Path_, Loader]:
    p = m.prefix(("transformer.", ""), "wte.weight")
    out: dict[Path_, Loader] = {
        ("embed", "embedding"): m.exact(p + "wte.weight"),
        ("pos_embed", "embedding"): m.exact(p + "wpe.weight"),
        ("final_norm", "scale"): m.flat(p + "ln_f.weight"),
        ("final_norm", "bias"): m.flat(p + "ln_f.bias"),
    }
    for i in range(cfg.num_layers):
        hf, ek = f"{p}h.{i}.", ("layers", i)
        for ours, theirs in (("attn_norm", "ln_1"), ("mlp_norm", "ln_2")):
            out[(*ek, ours, "scale")] = m.flat(f"{hf}{theirs}.weight")
            out[(*ek, ours, "bias")] = m.flat(f"{hf}{theirs}.bias")
        for part, name in enumerate("qkv"):
            out[(*ek, "attn", name, "kernel")] = m.fused(hf + "attn.c_attn.weight", part)
            out[(*ek, "attn", name, "bias")] = m.fused(hf + "attn.c_attn.bias", part)
        out[(*ek, "attn", "o", "kernel")] = m.conv1d(hf + "attn.c_proj.weight", in_ndim=2)
        out[(*ek, "attn", "o", "bias")] = m.flat(hf + "attn.c_proj.bias")
        for ours, theirs in (("up", "c_fc"), ("down", "c_proj")):
            out[(*ek, "mlp", ours, "kernel")] = m.conv1d(f"{hf}mlp.{theirs}.weight")
            out[(*ek, "mlp", ours, "bias")] = m.flat(f"{hf}mlp.{theirs}.bias")
    return out


def _opt_loaders(m: _Mapper, cfg: ml_collections.ConfigDict, affine: bool) -> dict[Path_, Loader]:
    p = m.prefix(("model.decoder.", "decoder.", ""), "embed_tokens.weight")

    def norm(ek: Path_, name: str) -> dict[Path_, Loader]:
        if not affine:
            return {(*ek, "scale"): _const(1.0), (*ek, "bias"): _const(0.0)}
        return {(*ek, "scale"): m.flat(name + ".weight"), (*ek, "bias"): m.flat(name + ".bias")}

    out: dict[Path_, Loader] = {
        ("embed", "embedding"): m.exact(p + "embed_tokens.weight"),
        ("pos_embed", "embedding"): m.exact(p + "embed_positions.weight"),
    }
    if cfg.final_norm:
        out.update(norm(("final_norm",), p + "final_layer_norm"))
    for i in range(cfg.num_layers):
        hf, ek = f"{p}layers.{i}.", ("layers", i)
        out.update(norm((*ek, "attn_norm"), hf + "self_attn_layer_norm"))
        out.update(norm((*ek, "mlp_norm"), hf + "final_layer_norm"))
        for ours, theirs in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "out_proj")):
            out[(*ek, "attn", ours, "kernel")] = m.linear(
                f"{hf}self_attn.{theirs}.weight", 2 if ours == "o" else 1
            )
            if cfg.attn_bias:
                out[(*ek, "attn", ours, "bias")] = m.flat(f"{hf}self_attn.{theirs}.bias")
        for ours, theirs in (("up", "fc1"), ("down", "fc2")):
            out[(*ek, "mlp", ours, "kernel")] = m.linear(f"{hf}{theirs}.weight")
            if cfg.mlp_bias:
                out[(*ek, "mlp", ours, "bias")] = m.flat(f"{hf}{theirs}.bias")
    if not cfg.tied_embeddings:
        out[("lm_head", "kernel")] = m.linear("lm_head.weight")
    return out


def _loaders(arch: str, m: _Mapper, cfg: ml_collections.ConfigDict, f: _Fields) -> dict[Path_, Loader]:
    if arch == "gpt2":
        return _gpt2_loaders(m, cfg)
    if arch == "opt":
        return _opt_loaders(m, cfg, f("layer_norm_elementwise_affine", True))
    return _llama_loaders(m, cfg)


def _embedding_dtype(weights: SafetensorsWeights) -> str:
    for name in sorted(weights.names()):
        if name.endswith(("embed_tokens.weight", "wte.weight")):
            return "bfloat16" if weights.dtype(name) == "BF16" else "float32"
    return "float32"


def load_tokenizer_file(folder: Path) -> HFTokenizer:
    file = folder / "tokenizer.json"
    if not file.is_file():
        raise UserError(f"{file} is missing; add the model's tokenizer.json to {folder}")
    try:
        return HFTokenizer(file)
    except Exception as exc:  # tokenizers raises its own exception types on bad JSON.
        raise UserError(f"{file} could not be loaded as a tokenizer ({exc}); download it again") from exc


def load_hf_model(
    path: str | Path, mesh: jax.sharding.Mesh, rules: Rules, dtype: str | None = None
) -> tuple[nnx.Module, HFTokenizer, ml_collections.ConfigDict]:
    """Loads a Hugging Face folder onto `mesh`; `dtype` (float32/bfloat16) defaults to the weights' dtype."""
    folder = Path(path)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a directory; pass a Hugging Face model folder")
    hf = read_hf_config(folder)
    arch = architecture(hf, folder / "config.json")
    tokenizer = load_tokenizer_file(folder)
    weights = SafetensorsWeights(folder)
    cfg = model_config_from_hf(hf, folder / "config.json", dtype or _embedding_dtype(weights))
    loaders = _loaders(arch, _Mapper(weights), cfg, _Fields(hf, folder / "config.json"))

    graphdef, state = nnx.split(abstract_model(cfg, mesh, rules))
    for key, var in nnx.to_flat_state(state):
        target = var.get_value()
        host = np.asarray(loaders[key](tuple(target.shape))).astype(target.dtype, copy=False)
        var.set_value(jax.make_array_from_callback(target.shape, target.sharding, lambda idx, a=host: a[idx]))
    unused = sorted(n for n in weights.names() - weights.used if not n.endswith(_IGNORED_SUFFIXES))
    if unused and not (cfg.tied_embeddings and unused == ["lm_head.weight"]):
        log.warning("%s: %d tensors were not used: %s", folder, len(unused), ", ".join(unused[:8]))
    return nnx.merge(graphdef, state), tokenizer, cfg
