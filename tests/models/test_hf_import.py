"""Hugging Face import: logits and greedy decoding match transformers; bad folders give clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from hf_tiny import save_torch, torch_model, write_numpy_llama

from evalkit.errors import UserError
from evalkit.models.hf_import import load_hf_model
from evalkit.models.safetensors_io import read_raw_tensor
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config

ARCHS = ("llama", "mistral", "qwen2", "gpt2", "opt")
B, T, PROMPT, NEW = 2, 16, 6, 5


@pytest.fixture(scope="module")
def mesh():
    return make_mesh(mesh_config())


@jax.jit
def _forward(graphdef, state, tokens):
    positions = jnp.broadcast_to(jnp.arange(tokens.shape[1], dtype=jnp.int32), tokens.shape)
    return nnx.merge(graphdef, state)(tokens, positions, jnp.ones(tokens.shape, jnp.int32))[0]


def forward(model, tokens: np.ndarray) -> np.ndarray:
    return np.asarray(_forward(*nnx.split(model), jnp.asarray(tokens, jnp.int32)))


def greedy(model, prompts: np.ndarray, steps: int, eos: int) -> np.ndarray:
    """Argmax decoding with full forward passes over a fixed [B, T] buffer (causal, so the tail is inert)."""
    buf = np.zeros((prompts.shape[0], T), np.int64)
    buf[:, : prompts.shape[1]] = prompts
    done = np.zeros(prompts.shape[0], bool)
    for n in range(prompts.shape[1], prompts.shape[1] + steps):
        nxt = forward(model, buf)[:, n - 1].argmax(-1)
        buf[:, n] = np.where(done, 0, nxt)  # transformers pads finished rows with pad_token_id=0.
        done |= nxt == eos
    return buf[:, : prompts.shape[1] + steps]


@pytest.fixture(scope="module")
def torch_dirs(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("hf")
    return {
        arch: (save_torch(m := torch_model(arch, seed=i), root / arch), m) for i, arch in enumerate(ARCHS)
    }


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_and_greedy_match_transformers(arch, torch_dirs, mesh):
    import torch

    folder, hf = torch_dirs[arch]
    model, tokenizer, cfg = load_hf_model(folder, mesh, DEFAULT_RULES)
    assert tokenizer.encode("w5 w7") == [5, 7] and cfg.param_dtype == "float32"
    tokens = np.random.default_rng(0).integers(3, 100, (B, T))
    with torch.no_grad():
        ref = hf(torch.tensor(tokens)).logits.numpy()
    diff = float(np.abs(forward(model, tokens) - ref).max())
    print(f"{arch}: max |logit diff| = {diff:.2e}")
    assert diff < 1e-4

    prompts = tokens[:, :PROMPT]
    with torch.no_grad():
        expected = hf.generate(
            torch.tensor(prompts),
            attention_mask=torch.ones(B, PROMPT, dtype=torch.long),
            max_new_tokens=NEW,
            do_sample=False,
            pad_token_id=0,
        ).numpy()
    np.testing.assert_array_equal(greedy(model, prompts, NEW, eos=2), expected)


def test_mistral_sliding_window_caps_context(torch_dirs, mesh):
    assert load_hf_model(torch_dirs["mistral"][0], mesh, DEFAULT_RULES)[2].max_len == 32


def test_sharded_and_bf16_checkpoints(torch_dirs, tmp_path, mesh):
    import torch

    _, hf = torch_dirs["llama"]
    sharded = save_torch(hf, tmp_path / "sharded", max_shard_size="20KB")
    assert (sharded / "model.safetensors.index.json").is_file() and len(
        list(sharded.glob("*.safetensors"))
    ) > 2
    tokens = np.random.default_rng(1).integers(3, 100, (B, T))
    single = forward(load_hf_model(torch_dirs["llama"][0], mesh, DEFAULT_RULES)[0], tokens)
    np.testing.assert_array_equal(forward(load_hf_model(sharded, mesh, DEFAULT_RULES)[0], tokens), single)

    hf16 = torch_model("llama").to(torch.bfloat16)
    folder16 = save_torch(hf16, tmp_path / "bf16")
    model16, _, cfg16 = load_hf_model(folder16, mesh, DEFAULT_RULES)
    assert cfg16.param_dtype == "bfloat16" and model16.embed.embedding[...].dtype == jnp.bfloat16
    ref_embed = hf16.model.embed_tokens.weight.detach().float().numpy()
    np.testing.assert_array_equal(np.asarray(model16.embed.embedding[...], np.float32), ref_embed)
    # Upcast to float32 on load: matches a float32 transformers model holding the bf16-rounded weights
    # (not hf16.float(), whose RoPE inv_freq buffer was rounded to bf16 too).
    model32, _, _ = load_hf_model(folder16, mesh, DEFAULT_RULES, dtype="float32")
    hf32 = torch_model("llama")
    with torch.no_grad():
        for p in hf32.parameters():
            p.copy_(p.bfloat16().float())
        ref = hf32(torch.tensor(tokens)).logits.numpy()
    assert np.abs(forward(model32, tokens) - ref).max() < 1e-4
    raw = read_raw_tensor(folder16 / "model.safetensors", "model.embed_tokens.weight")
    np.testing.assert_array_equal(raw.astype(np.float32), ref_embed)


# --- torch-free: a Llama folder written with safetensors.numpy -------------------------------------


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return write_numpy_llama(tmp_path_factory.mktemp("np") / "llama")


@pytest.fixture
def broken(llama_dir, tmp_path):
    """A fresh copy of the numpy Llama folder to damage."""
    return Path(shutil.copytree(llama_dir, tmp_path / "broken"))


def _edit_config(folder: Path, **fields) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, **fields}))


def test_numpy_llama_loads_with_expected_layout(llama_dir, mesh):
    from safetensors.numpy import load_file

    model, _, cfg = load_hf_model(llama_dir, mesh, DEFAULT_RULES)
    assert (cfg.num_kv_heads, cfg.head_dim, cfg.d_ff, cfg.tied_embeddings) == (2, None, 64, False)
    hf = load_file(str(llama_dir / "model.safetensors"))
    q = hf["model.layers.1.self_attn.q_proj.weight"]  # [H*Dh, D]
    np.testing.assert_array_equal(model.layers[1].attn.q.kernel[...], q.T.reshape(32, 4, 8))
    o = hf["model.layers.0.self_attn.o_proj.weight"]  # [D, H*Dh]
    np.testing.assert_array_equal(model.layers[0].attn.o.kernel[...], o.T.reshape(4, 8, 32))


def _raises(folder: Path, mesh, *fragments: str) -> str:
    with pytest.raises(UserError) as info:
        load_hf_model(folder, mesh, DEFAULT_RULES)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_config(broken, mesh):
    (broken / "config.json").unlink()
    _raises(broken, mesh, "config.json is missing")


def test_missing_weights(broken, mesh):
    (broken / "model.safetensors").unlink()
    _raises(broken, mesh, str(broken), "has no model.safetensors")


def test_missing_shard(broken, mesh):
    index = {"weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"}}
    (broken / "model.safetensors.index.json").write_text(json.dumps(index))
    _raises(broken, mesh, "model-00001-of-00002.safetensors is missing")


def test_truncated_safetensors(broken, mesh):
    file = broken / "model.safetensors"
    with open(file, "r+b") as f:
        f.truncate(file.stat().st_size - 100)
    _raises(broken, mesh, str(file), "truncated or corrupt")


def test_unknown_architecture(broken, mesh):
    _edit_config(broken, model_type="bert", architectures=["BertForMaskedLM"])
    _raises(broken, mesh, "'bert'", "not supported", "LlamaForCausalLM", "GPT2LMHeadModel", "OPTForCausalLM")


def test_shape_mismatch(broken, mesh):
    _edit_config(broken, intermediate_size=48)
    _raises(broken, mesh, "tensor model.layers.0.mlp.down_proj.weight has shape (32, 64)", "implies (32, 48)")


def test_missing_tokenizer(broken, mesh):
    (broken / "tokenizer.json").unlink()
    _raises(broken, mesh, "tokenizer.json is missing")


def test_post_norm_opt_is_unsupported(broken, mesh):
    _edit_config(
        broken,
        model_type="opt",
        architectures=["OPTForCausalLM"],
        do_layer_norm_before=False,
        hidden_size=1024,
        word_embed_proj_dim=512,
    )
    _raises(broken, mesh, "do_layer_norm_before=false", "not supported")


def test_rope_scaling_is_unsupported(broken, mesh):
    _edit_config(broken, rope_scaling={"rope_type": "llama3", "factor": 8.0})
    _raises(broken, mesh, "rope scaling 'llama3'", "not supported")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"hidden_size": "big"}, "field 'hidden_size' must be a positive integer, not \"big\""),
        ({"num_attention_heads": 3.5}, "field 'num_attention_heads' must be a positive integer, not 3.5"),
        (
            {"intermediate_size": [64, 64]},
            "field 'intermediate_size' must be a positive integer, not [64, 64]",
        ),
        ({"vocab_size": None}, "field 'vocab_size' must be a positive integer, not null"),
        ({"rms_norm_eps": "1e-6"}, "field 'rms_norm_eps' must be a positive number, not \"1e-6\""),
        (
            {"tie_word_embeddings": "false"},
            "field 'tie_word_embeddings' must be true or false, not \"false\"",
        ),
        ({"model_type": ["llama"]}, "field 'model_type' must be a string, not [\"llama\"]"),
        ({"rope_scaling": "none"}, "field 'rope_scaling' must be a JSON object, not \"none\""),
        (
            {"rope_scaling": {"rope_theta": "x"}},
            "field 'rope_scaling.rope_theta' must be a positive number, not \"x\"",
        ),
    ],
)
def test_mistyped_config_field_names_file_and_field(broken, mesh, fields, message):
    _edit_config(broken, **fields)
    _raises(broken, mesh, f"{broken / 'config.json'}: {message}; correct it or download config.json again")


def test_null_optional_fields_mean_the_default(broken, mesh):
    _edit_config(broken, head_dim=None, rope_theta=None, rms_norm_eps=None, rope_scaling=None)
    cfg = load_hf_model(broken, mesh, DEFAULT_RULES)[2]
    assert (cfg.head_dim, cfg.rope_theta, cfg.norm_eps) == (None, 10_000.0, 1e-6)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b'{"model_type": "llama",\n "name": "caf\xe9"}', "is not UTF-8 text (byte 0xe9 on line 2)"),
        (b'{"model_type": "llama",}', "is not valid JSON (Expecting property name enclosed in double quotes"),
        (b"[1, 2]", "must hold a JSON object"),
    ],
)
def test_unreadable_config(broken, mesh, raw, message):
    (broken / "config.json").write_bytes(raw)
    _raises(broken, mesh, f"{broken / 'config.json'} {message}")


@pytest.mark.parametrize("command", ["score", "convert"])
def test_cli_names_mistyped_config_field(broken, tmp_path, capsys, command):
    from evalkit import cli

    _edit_config(broken, num_attention_heads=3.5)
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"id": 1, "context": "w5", "continuation": " w7"}\n', encoding="utf-8")
    out = tmp_path / "out"
    argv = {
        "score": ["score", "--model", str(broken), "--requests", str(requests), "--out", str(out)],
        "convert": ["convert", str(broken), str(out)],
    }[command]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"{broken / 'config.json'}: field 'num_attention_heads' must be a positive integer, not 3.5" in err
    assert not out.exists()
