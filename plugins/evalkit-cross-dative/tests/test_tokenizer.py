"""The learners' byte-level BPE tokenizer: training, files, determinism, loading, and the added `[verb]` token."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from evalkit_cross_dative.tokenizer import train_bpe_tokenizer
from tokenizers import AddedToken, Tokenizer

from evalkit.models.tokenizers import HFTokenizer

AGENTS = ["mommy", "daddy", "john", "lucy", "he", "she", "you", "we"]
VERBS = ["gave", "sent", "brought", "showed", "threw", "read", "told", "sold"]
OBJECTS = ["me the ball", "her a book", "the dog to him", "it to us", "them some cheerios", "a cat to elmo"]
ENDINGS = [".", "?", "!"]
VOCAB_SIZE = 300


def corpus() -> list[str]:
    """A small deterministic child-directed-like corpus with mixed case."""
    lines = [f"{a} {v} {o} {e}" for a, v, o, e in itertools.product(AGENTS, VERBS, OBJECTS, ENDINGS)]
    return lines + [line.capitalize() for line in lines[::7]]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "nested" / "out"
    return train_bpe_tokenizer(corpus(), out, vocab_size=VOCAB_SIZE)


def test_writes_the_hf_folder(tok_dir: Path) -> None:
    names = sorted(p.name for p in tok_dir.iterdir())
    assert names == ["tokenizer.json", "tokenizer_config.json"]  # no temp files left behind
    config = json.loads((tok_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["bos_token"] == "<s>" and config["eos_token"] == "</s>"
    assert config["pad_token"] == "<pad>" and config["unk_token"] == "<unk>"
    assert config["model_max_length"] == 128


def test_model_pipeline_and_specials(tok_dir: Path) -> None:
    spec = json.loads((tok_dir / "tokenizer.json").read_text(encoding="utf-8"))
    assert spec["model"]["type"] == "BPE"
    assert spec["normalizer"]["type"] == "Lowercase"
    assert spec["pre_tokenizer"] == {**spec["pre_tokenizer"], "type": "ByteLevel", "add_prefix_space": True}
    assert spec["decoder"]["type"] == "ByteLevel"
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    assert [tok.token_to_id(t) for t in ("<pad>", "<s>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert tok.get_vocab_size() == VOCAB_SIZE
    assert all(tok.token_to_id(ch) is not None for ch in ("Ā", "Ġ", "a", "!"))  # the full byte alphabet


def test_encoding_prepends_bos_and_lowercases(tok_dir: Path) -> None:
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    enc = tok.encode("Mommy GAVE me the ball .")
    assert enc.ids[0] == 1 and 1 not in enc.ids[1:]
    assert enc.ids == tok.encode("mommy gave me the ball .").ids
    assert enc.tokens[1].startswith("Ġ")  # add_prefix_space: the first word gets its space too
    pair = tok.encode("mommy gave me the ball .", "she read it .")
    assert pair.ids.count(1) == 2 and pair.ids[0] == 1
    unseen = tok.encode("zoë 🙂", add_special_tokens=False)
    assert 3 not in unseen.ids and tok.decode(unseen.ids) == " zoë 🙂"


def test_deterministic(tok_dir: Path, tmp_path: Path) -> None:
    again = train_bpe_tokenizer(iter(corpus()), tmp_path, vocab_size=VOCAB_SIZE)
    assert again == tmp_path
    assert (again / "tokenizer.json").read_bytes() == (tok_dir / "tokenizer.json").read_bytes()
    assert (again / "tokenizer_config.json").read_bytes() == (tok_dir / "tokenizer_config.json").read_bytes()


def test_min_frequency_limits_merges(tmp_path: Path) -> None:
    texts = ["abcabc", "abcabc", "xyz"]
    vocab = json.loads((train_bpe_tokenizer(texts, tmp_path, min_frequency=3) / "tokenizer.json").read_text())
    merged = {t for t in vocab["model"]["vocab"] if len(t) > 1 and not t.startswith("<")}
    assert merged and not any("x" in t or "y" in t for t in merged)  # "xyz" occurs once


def test_evalkit_hf_tokenizer_loads_it(tok_dir: Path) -> None:
    tok = HFTokenizer(tok_dir)
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (1, 2, 0)
    assert tok.vocab_size == VOCAB_SIZE
    ids = tok.encode("mommy gave me the ball .")
    assert 1 not in ids
    assert tok.decode(ids) == " mommy gave me the ball ."  # ByteLevel decoding keeps the prefix space


def test_transformers_loads_it(tok_dir: Path) -> None:
    transformers = pytest.importorskip("transformers")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tok_dir / "tokenizer.json"))
    auto = transformers.AutoTokenizer.from_pretrained(str(tok_dir))
    raw = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).encode("Mommy gave me the ball .").ids
    assert fast("Mommy gave me the ball .")["input_ids"] == raw
    assert auto("Mommy gave me the ball .")["input_ids"] == raw
    assert (auto.bos_token_id, auto.eos_token_id, auto.pad_token_id, auto.unk_token_id) == (1, 2, 0, 3)
    assert auto.model_max_length == 128


# Adding the novel verb. The study calls `tokenizer.add_tokens([" [verb]"])` on a transformers tokenizer;
# transformers makes that AddedToken(" [verb]", normalized=True, lstrip=False, rstrip=False,
# single_word=False). The raw `tokenizers` route gives the same ids with the same options, which are also
# `AddedToken`'s defaults, so no helper is needed: `tok.add_tokens([AddedToken(" [verb]")])` (or the plain
# string) is enough. single_word=True never matches (the token starts with a space, so it is never a whole
# word); lstrip=True also swallows extra spaces before it; normalized=False stops "[VERB]" matching after
# the Lowercase normaliser. Either way the token needs its leading space: a sentence-initial "[verb]" (no
# space before it, since add_prefix_space acts after added tokens are split off) and "mommy[verb]" fall
# back to byte-level pieces.
VERB_SENTENCES = [
    "mommy [verb] her me .",
    "Mommy [VERB] her me .",
    "mommy [verb]",
    "mommy  [verb] her",
    "you keep [verb] .",
    "don't [verb] that .",
    "[verb] it .",
    "mommy[verb] her",
]


def test_verb_token_is_one_id(tok_dir: Path) -> None:
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    before = tok.encode("mommy", add_special_tokens=False).ids
    after = tok.encode(" her me .", add_special_tokens=False).ids
    verb = AddedToken(" [verb]", normalized=True, lstrip=False, rstrip=False, single_word=False)
    assert tok.add_tokens([verb]) == 1
    verb_id = tok.token_to_id(" [verb]")
    assert verb_id == VOCAB_SIZE  # the next row of the embedding table (no <|endoftext|> before it)
    assert tok.encode("mommy [verb] her me .").ids == [1, *before, verb_id, *after]
    assert verb_id not in tok.encode("[verb] it .").ids  # sentence-initial: no leading space, no match


def test_verb_token_agrees_with_transformers(tok_dir: Path) -> None:
    transformers = pytest.importorskip("transformers")
    auto = transformers.AutoTokenizer.from_pretrained(str(tok_dir))
    assert auto.add_tokens([" [verb]"]) == 1
    raw = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    raw.add_tokens([AddedToken(" [verb]")])  # defaults: normalized=True, lstrip/rstrip/single_word False
    for sentence in VERB_SENTENCES:
        assert auto(sentence)["input_ids"] == raw.encode(sentence).ids, sentence
    assert auto.convert_tokens_to_ids(" [verb]") == raw.token_to_id(" [verb]") == VOCAB_SIZE
