"""Tiny Hugging Face model folders for import tests: numpy-written Llama (no torch) and torch-built ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

VOCAB = 100
LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": VOCAB,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def write_tokenizer(path: Path, vocab: int = VOCAB) -> Path:
    """A word-level tokenizer.json over tokens w0..w{vocab-1}."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({f"w{i}": i for i in range(vocab)}, unk_token="w0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    return path


def write_numpy_llama(folder: Path, seed: int = 0) -> Path:
    """A random 2-layer GQA Llama folder written with safetensors.numpy (HF tensor names and layouts)."""
    from safetensors.numpy import save_file

    c = LLAMA_CONFIG
    d, f, hd = c["hidden_size"], c["intermediate_size"], c["hidden_size"] // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (0.3 * rng.standard_normal(shape)).astype(np.float32)

    tensors = {
        "model.embed_tokens.weight": w(VOCAB, d),
        "lm_head.weight": w(VOCAB, d),
        "model.norm.weight": 1 + w(d) / 3,
    }
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        tensors.update(
            {
                p + "input_layernorm.weight": 1 + w(d) / 3,
                p + "post_attention_layernorm.weight": 1 + w(d) / 3,
                p + "self_attn.q_proj.weight": w(d, d),
                p + "self_attn.k_proj.weight": w(kv, d),
                p + "self_attn.v_proj.weight": w(kv, d),
                p + "self_attn.o_proj.weight": w(d, d),
                p + "mlp.gate_proj.weight": w(f, d),
                p + "mlp.up_proj.weight": w(f, d),
                p + "mlp.down_proj.weight": w(d, f),
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(c))
    write_tokenizer(folder / "tokenizer.json")
    return folder


def torch_model(arch: str, seed: int = 0):
    """A tiny random transformers model of `arch` with non-trivial norms and biases."""
    import torch
    import transformers as tf

    common = dict(vocab_size=VOCAB, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    llama_like = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    configs = {
        "llama": lambda: tf.LlamaForCausalLM(tf.LlamaConfig(**common, **llama_like)),
        "mistral": lambda: tf.MistralForCausalLM(tf.MistralConfig(**common, **llama_like, sliding_window=32)),
        "qwen2": lambda: tf.Qwen2ForCausalLM(
            tf.Qwen2Config(**common, **llama_like, tie_word_embeddings=True)
        ),
        "gpt2": lambda: tf.GPT2LMHeadModel(
            tf.GPT2Config(**common, n_embd=32, n_layer=2, n_head=4, n_positions=64)
        ),
        "opt": lambda: tf.OPTForCausalLM(
            tf.OPTConfig(
                **common,
                hidden_size=32,
                ffn_dim=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=64,
                word_embed_proj_dim=32,
            )
        ),
    }
    torch.manual_seed(seed)
    model = configs[arch]()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim > 1:
                p.normal_(0.0, 0.3)
            elif "norm" in name or "ln_" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    return model.eval()


def save_torch(model, folder: Path, **kwargs) -> Path:
    """save_pretrained (safetensors) plus a tokenizer.json."""
    model.save_pretrained(str(folder), **kwargs)
    write_tokenizer(folder / "tokenizer.json")
    return folder
