"""Tokenizers: round trips, special ids, and a real tokenizer.json built in a temp dir."""

import json

import pytest

from evalkit.models import ByteTokenizer, HFTokenizer, Tokenizer, VocabTokenizer, load_tokenizer


@pytest.mark.parametrize("text", ["Hello, world!", "你好，世界", "mixed ascii 和 中文 🙂"])
def test_byte_tokenizer_round_trip(text):
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert all(0 <= i < 256 for i in ids)
    assert tok.decode([tok.bos_id, *ids, tok.eos_id, tok.pad_id]) == text
    assert (tok.vocab_size, tok.pad_id, tok.bos_id, tok.eos_id) == (259, 256, 257, 258)
    assert isinstance(tok, Tokenizer)


def test_byte_tokenizer_decodes_partial_utf8():
    ids = ByteTokenizer().encode("中文")
    assert ByteTokenizer().decode(ids[:4]) == "中\ufffd"


def test_vocab_tokenizer_greedy_list_and_sep():
    tok = VocabTokenizer(["a", "b", "ab", "+", "="])
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.vocab_size) == (0, 1, 2, 8)
    ids = tok.encode("ab+b=a")
    assert ids == [5, 6, 4, 7, 3]
    assert tok.decode([tok.bos_id, *ids, tok.eos_id]) == "ab+b=a"
    assert tok.encode(["a", "b"]) == [3, 4]
    words = VocabTokenizer(["the", "cat"], specials={"eos": "</s>"}, sep=" ")
    assert words.encode("the cat  the") == [1, 2, 1]
    assert words.decode([1, 2, 0]) == "the cat"
    assert words.pad_id is None and words.bos_id is None and words.eos_id == 0
    with pytest.raises(ValueError, match="'c'"):
        tok.encode("abc")
    unk = VocabTokenizer(["x"], specials={"unk": "<unk>"})
    assert unk.encode("xy") == [1, 0]


def _write_tiny_hf_tokenizer(folder):
    from tokenizers import Tokenizer as RawTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    raw = RawTokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<unk>", "<s>", "</s>"])
    raw.train_from_iterator(["the cat sat", "the dog sat on the mat"], trainer=trainer)
    raw.save(str(folder / "tokenizer.json"))
    return raw


def test_hf_tokenizer_reads_specials_from_sibling_configs(tmp_path):
    raw = _write_tiny_hf_tokenizer(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"bos_token": {"content": "<s>", "special": True}, "eos_token": "</s>"})
    )
    (tmp_path / "config.json").write_text(json.dumps({"pad_token_id": 0, "eos_token_id": [99]}))
    tok = HFTokenizer(tmp_path / "tokenizer.json")
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (1, 2, 0)
    assert tok.vocab_size == raw.get_vocab_size()
    ids = tok.encode("the cat sat on the mat")
    assert ids == raw.encode("the cat sat on the mat").ids
    assert tok.decode([tok.bos_id, *ids]) == "the cat sat on the mat"
    assert isinstance(load_tokenizer(str(tmp_path)), HFTokenizer)


def test_hf_tokenizer_without_configs_and_missing_file(tmp_path):
    _write_tiny_hf_tokenizer(tmp_path)
    tok = HFTokenizer(tmp_path)
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (None, None, None)
    missing = tmp_path / "nope" / "tokenizer.json"
    with pytest.raises(FileNotFoundError, match="nope"):
        HFTokenizer(missing)


def test_load_tokenizer_specs():
    assert isinstance(load_tokenizer("bytes"), ByteTokenizer)
    tok = load_tokenizer("vocab:0,1,2,3,4,5,6,7,8,9,+")
    assert tok.decode(tok.encode("12+7")) == "12+7"
    with pytest.raises(ValueError, match="no tokens"):
        load_tokenizer("vocab:")
