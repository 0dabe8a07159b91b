"""Models: a configurable decoder-only transformer, positional encodings, presets, tokenizers, checkpoints."""

from evalkit.lazy import lazy_exports

# Lazy exports: importing this package does not import jax until a name is used.
_EXPORTS = {
    "ByteTokenizer": "evalkit.models.tokenizers",
    "Cache": "evalkit.models.cache",
    "HFTokenizer": "evalkit.models.tokenizers",
    "PRESETS": "evalkit.models.presets",
    "PositionEncoding": "evalkit.models.positions",
    "Tokenizer": "evalkit.models.tokenizers",
    "Transformer": "evalkit.models.transformer",
    "VocabTokenizer": "evalkit.models.tokenizers",
    "alibi_slopes": "evalkit.models.positions",
    "apply_rope": "evalkit.models.positions",
    "get_preset": "evalkit.models.presets",
    "gpt2_small": "evalkit.models.presets",
    "head_dim": "evalkit.models.config",
    "llama_20m": "evalkit.models.presets",
    "llama_7b": "evalkit.models.presets",
    "load_model": "evalkit.models.checkpoint",
    "load_tokenizer": "evalkit.models.tokenizers",
    "register_position": "evalkit.models.positions",
    "registered_positions": "evalkit.models.positions",
    "save_model": "evalkit.models.checkpoint",
    "tiny": "evalkit.models.presets",
    "transformer_config": "evalkit.models.config",
    "validate_model_config": "evalkit.models.config",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
