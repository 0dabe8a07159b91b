"""Test helpers for evalkit and for plugin authors.

Use the fixtures by adding ``pytest_plugins = ["evalkit.testing"]`` to a ``conftest.py``:

- ``evalkit_host``: a fresh plugin host for one test (plugins reloaded, nothing leaks between tests);
- ``register_plugin``: ``register_plugin(obj)`` registers a plugin object for the rest of one test;
- ``fake_model``: the deterministic :class:`FakeModel` (no jax);
- ``fake_mesh``: ``fake_mesh(shape={'data': 2})`` builds a mesh from the local (simulated) devices.

And functions: :func:`evaluate_task` runs one task end to end in-process; :func:`install_plugin` really
installs a plugin directory (``pip install --target``); :func:`run_cli` runs ``evalkit`` in a subprocess;
:func:`write_tiny_hf_llama` writes a random Llama-style Hugging Face folder (byte-level tokenizer, optional
chat template) to stand in for an instruction model.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from ml_collections import ConfigDict

from evalkit.default_plugins.fake_model import FakeModel
from evalkit.plugins import PluginHost, get_host, reset_host

__all__ = [
    "FakeModel",
    "evaluate_task",
    "install_plugin",
    "plugin_registered",
    "run_cli",
    "write_tiny_hf_llama",
]


@contextlib.contextmanager
def plugin_registered(plugin: Any, name: str | None = None, host: PluginHost | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module or object with hookimpls) for the duration of the block."""
    host = host or get_host()
    plugin_name = host.register(plugin, name=name)
    try:
        yield plugin_name
    finally:
        host.unregister(plugin_name)


def evaluate_task(
    task_name: str,
    tmp_path: Path,
    task_config: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run one registered task on a model (default: the fake model) in-process; return results.json."""
    from evalkit.cli import run_resolved
    from evalkit.resolve import resolve_run

    cfg = ConfigDict()
    cfg.output_dir = str(tmp_path / "run")
    cfg.data_dir = str(tmp_path / "data")
    cfg.seed = seed
    cfg.model = ConfigDict(dict(model or {"name": "fake"}))
    cfg.tasks = ConfigDict({task_name: ConfigDict(dict(task_config or {}))})
    cfg.reporters = ()
    cfg.runtime = ConfigDict({"progress": False})
    resolved = resolve_run(cfg, {}, get_host())
    run_resolved(get_host(), resolved)
    from evalkit.results import load_results

    return load_results(Path(cfg.output_dir) / "results.json")


def install_plugin(source_dir: str | Path, target_dir: str | Path) -> Path:
    """Install a plugin directory into ``target_dir`` with pip (no deps); put it on PYTHONPATH to use it.

    pip builds from a copy, so no ``build/`` or ``*.egg-info`` (with its entry points) is left in
    ``source_dir``, where it would load the plugin a second time whenever that folder is on sys.path.
    """
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(source_dir).name
        shutil.copytree(
            source_dir, copy, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")
        )
        _pip_install_target(copy, Path(target_dir))
    return Path(target_dir)


def _pip_install_target(source_dir: Path, target_dir: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target_dir),
            str(source_dir),
        ],
        check=True,
        capture_output=True,
    )


def run_cli(
    args: list[str],
    env: Mapping[str, str] | None = None,
    pythonpath: list[Path] = (),
    cwd: str | Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """Run ``python -m evalkit.cli ARGS`` in a subprocess with extra PYTHONPATH entries."""
    full_env = {**os.environ, **(env or {})}
    paths = [str(p) for p in pythonpath] + ([full_env["PYTHONPATH"]] if full_env.get("PYTHONPATH") else [])
    full_env["PYTHONPATH"] = os.pathsep.join(paths)
    return subprocess.run(
        [sys.executable, "-m", "evalkit.cli", *args],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_tiny_hf_llama(
    folder: str | Path,
    *,
    chat_template: str | None = None,
    max_len: int = 2048,
    hidden_size: int = 64,
    num_layers: int = 2,
    seed: int = 0,
) -> Path:
    """A random Llama-style Hugging Face folder (safetensors, config.json, a byte-level tokenizer.json with
    ``<s>`` / ``</s>``, tokenizer_config.json with an optional chat template): a stand-in for a downloaded
    instruction model in tests and benchmarks. Any text encodes; nothing is downloaded."""
    import json

    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<s>", "</s>"])
    tok.save(str(folder / "tokenizer.json"))
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    vocab = 288  # the tokenizer's 258 ids, rounded up
    heads, kv_heads, ffn = 4, 2, 2 * hidden_size
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden_size,
        "intermediate_size": ffn,
        "num_hidden_layers": num_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": max_len,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "bos_token_id": bos,
        "eos_token_id": eos,
    }
    tok_config = {"bos_token": "<s>", "eos_token": "</s>", "model_max_length": max_len}
    if chat_template is not None:
        tok_config["chat_template"] = chat_template
    rng = np.random.default_rng(seed)
    kv = kv_heads * hidden_size // heads

    def w(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (scale * rng.standard_normal(shape)).astype(np.float32)

    tensors = {
        "model.embed_tokens.weight": w(vocab, hidden_size),
        "lm_head.weight": w(vocab, hidden_size),
        "model.norm.weight": 1 + w(hidden_size, scale=0.1),
    }
    for i in range(num_layers):
        layer = f"model.layers.{i}."
        shapes = {
            "self_attn.q_proj": (hidden_size, hidden_size),
            "self_attn.k_proj": (kv, hidden_size),
            "self_attn.v_proj": (kv, hidden_size),
            "self_attn.o_proj": (hidden_size, hidden_size),
            "mlp.gate_proj": (ffn, hidden_size),
            "mlp.up_proj": (ffn, hidden_size),
            "mlp.down_proj": (hidden_size, ffn),
        }
        tensors |= {f"{layer}{name}.weight": w(*shape) for name, shape in shapes.items()}
        tensors[f"{layer}input_layernorm.weight"] = 1 + w(hidden_size, scale=0.1)
        tensors[f"{layer}post_attention_layernorm.weight"] = 1 + w(hidden_size, scale=0.1)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=1))
    return folder


# --- pytest fixtures -----------------------------------------------------------------------------


@pytest.fixture
def evalkit_host() -> Iterator[PluginHost]:
    """A fresh plugin host for one test."""
    reset_host()
    try:
        yield get_host()
    finally:
        reset_host()


@pytest.fixture
def register_plugin(evalkit_host: PluginHost):
    """``register_plugin(obj, name=None)`` registers a plugin object until the test ends."""
    names = []

    def register(plugin: Any, name: str | None = None) -> str:
        names.append(evalkit_host.register(plugin, name=name))
        return names[-1]

    yield register
    for name in names:
        evalkit_host.unregister(name)


@pytest.fixture
def fake_model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def fake_mesh():
    """``fake_mesh(shape)`` -> a jax Mesh over the local devices; skips if there are too few."""

    def make(shape: Mapping[str, int] | None = None):
        import jax
        import numpy as np

        shape = dict(shape or {"data": jax.device_count()})
        need = int(np.prod(list(shape.values())))
        if jax.device_count() < need:
            pytest.skip(f"needs {need} devices (set XLA_FLAGS=--xla_force_host_platform_device_count={need})")
        return jax.make_mesh(
            tuple(shape.values()), tuple(shape), axis_types=(jax.sharding.AxisType.Auto,) * len(shape)
        )

    return make


_TINY_OPT_TEXTS = (
    "look at the doggy .",
    "do you want some more juice ?",
    "mommy gave me the ball .",
    "can you give the book to daddy ?",
    "where did the kitty go ?",
    "that's a big truck !",
    "let's read a story before bed .",
    "grandpa sent us a letter .",
    "she brought the cookies to the table .",
    "what color is the block ?",
    "put the cup on the table please .",
    "you threw the ball to me .",
    "he showed her the picture .",
    "are you hungry ?",
    "don't touch that , it's hot .",
    "elmo wants to play with you .",
    "the bear is sleeping over there .",
    "can you say thank you ?",
    "we're going to the store .",
    "i'll give it to you in a minute .",
    "bert took the cheerios .",
    "is that your teddy bear ?",
    "tell me what happened .",
    "oh , you dropped your spoon .",
    "let's put the toys away now .",
    "he sold the car to a man .",
    "who's that in the mirror ?",
    "you made me a cake !",
    "nonna read them a book .",
    "the cat is under the chair .",
    "lucy asked him a question .",
    "clap your hands .",
    "do you want to go outside ?",
    "she fed the baby some milk .",
    "where's your other shoe ?",
    "that's right , good job .",
)


def write_tiny_hf_opt(
    folder: str | Path,
    *,
    texts: Sequence[str] | None = None,
    vocab_size: int = 512,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    ffn_dim: int = 64,
    max_len: int = 128,
    seed: int = 0,
) -> Path:
    """A random pre-norm OPT Hugging Face folder shaped like the child-directed-speech learners of Misra &
    Kim (2024): config.json (``OPTForCausalLM``, ReLU, tied embeddings, bos 1 / eos 2 / pad 0),
    ``model.safetensors`` (weights normal(0, 0.02), layer-norm scales 1 with small random biases) and a
    byte-level BPE tokenizer.json (lower-casing, ``ByteLevel(add_prefix_space=True)``, ``<pad>`` ``<s>``
    ``</s>`` ``<unk>`` = 0..3, a post-processor that prepends ``<s>``) trained on ``texts`` (default: a few
    dozen built-in child-directed sentences) up to ``vocab_size`` ids; the model's vocabulary is the
    tokenizer's size. Loads with evalkit's importer and with transformers; no torch, nothing downloaded."""
    import json

    import numpy as np
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(_TINY_OPT_TEXTS if texts is None else texts), trainer=trainer)
    ids = {s: tok.token_to_id(s) for s in specials}
    if list(ids.values()) != [0, 1, 2, 3]:
        raise AssertionError(f"special token ids {ids}; expected 0..3")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B:1", special_tokens=[("<s>", 1)]
    )
    tok.save(str(folder / "tokenizer.json"))
    vocab = tok.get_vocab_size()

    config = {
        "architectures": ["OPTForCausalLM"],
        "model_type": "opt",
        "vocab_size": vocab,
        "hidden_size": hidden_size,
        "word_embed_proj_dim": hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "ffn_dim": ffn_dim,
        "max_position_embeddings": max_len,
        "activation_function": "relu",
        "do_layer_norm_before": True,
        "_remove_final_layer_norm": False,
        "layer_norm_elementwise_affine": True,
        "enable_bias": True,
        "dropout": 0.1,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "layerdrop": 0.0,
        "init_std": 0.02,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
        "use_cache": True,
    }
    tok_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "model_max_length": max_len,
    }
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (0.02 * rng.standard_normal(shape)).astype(np.float32)

    def norm(name: str) -> dict[str, np.ndarray]:
        return {f"{name}.weight": np.ones(hidden_size, np.float32), f"{name}.bias": w(hidden_size)}

    p = "model.decoder."
    tensors = {
        p + "embed_tokens.weight": w(vocab, hidden_size),
        p + "embed_positions.weight": w(max_len + 2, hidden_size),  # OPT's position offset is 2
        **norm(p + "final_layer_norm"),
    }
    for i in range(num_layers):
        layer = f"{p}layers.{i}."
        shapes = {
            "self_attn.q_proj": (hidden_size, hidden_size),
            "self_attn.k_proj": (hidden_size, hidden_size),
            "self_attn.v_proj": (hidden_size, hidden_size),
            "self_attn.out_proj": (hidden_size, hidden_size),
            "fc1": (ffn_dim, hidden_size),
            "fc2": (hidden_size, ffn_dim),
        }
        for name, (n_out, n_in) in shapes.items():
            tensors[f"{layer}{name}.weight"] = w(n_out, n_in)
            tensors[f"{layer}{name}.bias"] = w(n_out)
        tensors |= norm(layer + "self_attn_layer_norm") | norm(layer + "final_layer_norm")
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=1))
    return folder
