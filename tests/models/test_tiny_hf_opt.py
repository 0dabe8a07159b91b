"""write_tiny_hf_opt: a random OPT folder that evalkit and transformers both load, with equal logits."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file
from tokenizers import Tokenizer

from evalkit.models.hf_import import load_hf_model
from evalkit.runtime import DEFAULT_RULES, make_mesh, mesh_config
from evalkit.testing import write_tiny_hf_opt

SENTENCE = "Mommy gave me the  ball ."


@pytest.fixture(scope="module")
def mesh():
    return make_mesh(mesh_config())


def test_folder_layout_and_tokenizer(tmp_path):
    folder = write_tiny_hf_opt(tmp_path / "opt", num_layers=1, max_len=40)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["architectures"] == ["OPTForCausalLM"] and cfg["model_type"] == "opt"
    assert cfg["tie_word_embeddings"] and cfg["do_layer_norm_before"] and cfg["enable_bias"]
    assert (cfg["pad_token_id"], cfg["bos_token_id"], cfg["eos_token_id"]) == (0, 1, 2)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert cfg["vocab_size"] == tok.get_vocab_size() == 512
    assert [tok.token_to_id(t) for t in ("<pad>", "<s>", "</s>", "<unk>")] == [0, 1, 2, 3]
    enc = tok.encode(SENTENCE)
    assert enc.ids[0] == 1 and 1 not in enc.ids[1:] and enc.ids == tok.encode(SENTENCE.lower()).ids
    assert tok.decode(enc.ids) == " " + SENTENCE.lower()  # add_prefix_space; the double space is kept
    tensors = load_file(str(folder / "model.safetensors"))
    assert tensors["model.decoder.embed_positions.weight"].shape == (42, 32)
    assert "lm_head.weight" not in tensors and len(tensors) == 4 + 16
    assert all(t.dtype == np.float32 for t in tensors.values())
    assert tensors["model.decoder.layers.0.fc1.weight"].shape == (64, 32)
    again = write_tiny_hf_opt(tmp_path / "again", num_layers=1, max_len=40)
    again = load_file(str(again / "model.safetensors"))
    assert all(np.array_equal(again[k], v) for k, v in tensors.items())  # deterministic in the seed


def test_custom_texts_set_the_vocabulary(tmp_path):
    folder = write_tiny_hf_opt(tmp_path / "opt", texts=["the dog . the dog . a cat ."] * 3, vocab_size=300)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    size = json.loads((folder / "config.json").read_text())["vocab_size"]
    assert size == tok.get_vocab_size() and 260 < size <= 300  # 4 specials + 256 bytes + a few merges
    assert tok.encode("the dog").tokens == ["<s>", "Ġthe", "Ġdog"]


@pytest.mark.parametrize("shape", [{}, {"hidden_size": 64, "num_heads": 8, "num_layers": 3, "ffn_dim": 96}])
def test_evalkit_and_transformers_agree(shape, tmp_path, mesh):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    folder = write_tiny_hf_opt(tmp_path / "opt", **shape)
    hf, info = transformers.OPTForCausalLM.from_pretrained(folder, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched tensors
    assert hf.lm_head.weight is hf.model.decoder.embed_tokens.weight
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    ids = hf_tok(SENTENCE).input_ids
    assert ids == Tokenizer.from_file(str(folder / "tokenizer.json")).encode(SENTENCE).ids
    specials = (hf_tok.pad_token_id, hf_tok.bos_token_id, hf_tok.eos_token_id, hf_tok.unk_token_id)
    assert specials == (0, 1, 2, 3)

    model, tokenizer, cfg = load_hf_model(folder, mesh, DEFAULT_RULES)
    assert cfg.tied_embeddings and cfg.vocab_size == hf.config.vocab_size and cfg.max_len == 128
    assert tokenizer.encode(SENTENCE) == ids[1:]  # evalkit never adds specials; the caller prepends <s>

    rng = np.random.default_rng(0)
    tokens = np.stack([np.array(ids), rng.integers(4, cfg.vocab_size, len(ids))]).astype(np.int32)
    tokens[1, 0] = 1
    positions = np.broadcast_to(np.arange(tokens.shape[1], dtype=np.int32), tokens.shape)
    logits, _ = model(jnp.asarray(tokens), jnp.asarray(positions))
    with torch.no_grad():
        ref = hf(torch.tensor(tokens, dtype=torch.long)).logits.numpy()
    assert np.std(ref) > 0.02  # the comparison is not between near-zero logits
    diff = float(np.abs(np.asarray(logits, np.float32) - ref).max())
    print(f"max |logit diff| = {diff:.2e}")
    assert diff < 1e-4
