"""The simulated learners' tokenizer: byte-level BPE trained on AO-CHILDES, saved as a Hugging Face folder.

Follows the study's learners (Misra & Kim 2024, `kanishka/smolm-autoreg-bpe-*`): lower-casing normaliser,
`ByteLevel(add_prefix_space=True)` pre-tokenizer, specials `<pad>` 0, `<s>` 1, `</s>` 2, `<unk>` 3, vocab
size 8,192, min frequency 2, and a post-processor that prepends `<s>` to every sequence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE
from tokenizers.processors import TemplateProcessing
from tokenizers.trainers import BpeTrainer

from evalkit_cross_dative.atomic import write_text_atomic

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3 in this order
MODEL_MAX_LENGTH = 128
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"


def _untrained_tokenizer() -> Tokenizer:
    """An empty byte-level BPE pipeline with the learners' normaliser, pre-tokenizer and decoder."""
    tok = Tokenizer(BPE(unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    return tok


def _bos_processor(bos_id: int) -> TemplateProcessing:
    """Prepends `<s>` to every sequence (and to the second one of a pair), as the learners were trained."""
    return TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)])


def _tokenizer_config() -> dict[str, object]:
    """tokenizer_config.json: special-token roles for evalkit's HFTokenizer and transformers' AutoTokenizer."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "unk_token": UNK,
        "model_max_length": MODEL_MAX_LENGTH,
        "clean_up_tokenization_spaces": False,
    }


def train_bpe_tokenizer(
    texts: Iterable[str], out_dir: str | Path, *, vocab_size: int = 8192, min_frequency: int = 2
) -> Path:
    """Trains the learners' byte-level BPE tokenizer on `texts` and writes it to `out_dir`; returns `out_dir`."""
    tok = _untrained_tokenizer()
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = _bos_processor(tok.token_to_id(BOS))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / TOKENIZER_FILE, tok.to_str(pretty=True))
    write_text_atomic(out / CONFIG_FILE, json.dumps(_tokenizer_config(), indent=2) + "\n")
    return out
