"""The same weights in both engines for the peer benchmarks, through the import path users take.

`llama_twin(cfg, folder)` saves a random-init `transformers.LlamaForCausalLM` with the shapes of an
evalkit Llama-style config as a Hugging Face folder (safetensors + a word-level tokenizer.json) and
returns the PyTorch model; evalkit then loads that folder as any user would (`model.checkpoint=FOLDER`,
i.e. `evalkit.models.hf_import`), so no benchmark keeps a weight mapping of its own.
"""

from __future__ import annotations

from pathlib import Path

import ml_collections


def llama_twin(cfg: ml_collections.ConfigDict, folder: str | Path, seed: int = 0):
    """Writes the Hugging Face folder and returns the float32 PyTorch model (eval mode, no EOS/stop)."""
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM

    hf_cfg = LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        head_dim=cfg.head_dim or cfg.d_model // cfg.num_heads,
        max_position_embeddings=cfg.max_len,
        rms_norm_eps=cfg.norm_eps,
        rope_theta=cfg.rope_theta,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=None,
    )
    hf_cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    model = LlamaForCausalLM(hf_cfg).float().eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    folder = Path(folder)
    model.save_pretrained(str(folder), safe_serialization=True)
    vocab = {f"t{i}": i for i in range(cfg.vocab_size)}
    Tokenizer(models.WordLevel(vocab, unk_token="t0")).save(str(folder / "tokenizer.json"))
    return model
