"""Tokenizers behind one small protocol: bytes, a fixed token list, or a Hugging Face tokenizer.json.

`encode` never adds special tokens; callers prepend `bos_id` / append `eos_id` themselves, so
every tokenizer behaves the same for scoring.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from evalkit.errors import UserError

TOKENIZER_DIR = "tokenizer"  # the folder of a checkpoint that holds its tokenizer files


@runtime_checkable
class Tokenizer(Protocol):
    """What evalkit needs from a tokenizer."""

    name: str

    @property
    def vocab_size(self) -> int: ...

    @property
    def bos_id(self) -> int | None: ...

    @property
    def eos_id(self) -> int | None: ...

    @property
    def pad_id(self) -> int | None: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255, then pad=256, bos=257, eos=258."""

    name = "bytes"
    vocab_size = 259
    pad_id = 256
    bos_id = 257
    eos_id = 258

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        """Drops special ids; invalid or truncated UTF-8 becomes U+FFFD."""
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")


DEFAULT_SPECIALS = {"pad": "<pad>", "bos": "<bos>", "eos": "<eos>"}


class VocabTokenizer:
    """A fixed token list (e.g. characters of a synthetic task); specials come first in the id space.

    `specials` maps roles ('pad', 'bos', 'eos', optionally 'unk') to token strings. Text is split
    on `sep` when it is non-empty, else matched greedily by the longest known token.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        specials: Mapping[str, str] | None = None,
        sep: str = "",
        name: str = "vocab",
    ):
        specials = dict(DEFAULT_SPECIALS if specials is None else specials)
        unknown_roles = set(specials) - {"pad", "bos", "eos", "unk"}
        if unknown_roles:
            raise ValueError(f"Special token roles {sorted(unknown_roles)} must be among pad, bos, eos, unk.")
        vocab = list(dict.fromkeys([*specials.values(), *tokens]))
        if "" in vocab:
            raise ValueError("VocabTokenizer tokens must be non-empty strings.")
        self.name = name
        self.sep = sep
        self._id_of = {tok: i for i, tok in enumerate(vocab)}
        self._tokens = vocab
        self._special_ids = {self._id_of[tok] for tok in specials.values()}
        self._role_ids = {role: self._id_of[tok] for role, tok in specials.items()}
        self._max_len = max(len(tok) for tok in vocab)

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    @property
    def pad_id(self) -> int | None:
        return self._role_ids.get("pad")

    @property
    def bos_id(self) -> int | None:
        return self._role_ids.get("bos")

    @property
    def eos_id(self) -> int | None:
        return self._role_ids.get("eos")

    def _lookup(self, token: str) -> int:
        if token in self._id_of:
            return self._id_of[token]
        if "unk" in self._role_ids:
            return self._role_ids["unk"]
        raise ValueError(f"Token {token!r} is not in the vocabulary of tokenizer {self.name!r}.")

    def encode(self, text: str | Sequence[str]) -> list[int]:
        """Ids for `text`, or for an explicit list of token strings."""
        if not isinstance(text, str):
            return [self._lookup(tok) for tok in text]
        if self.sep:
            return [self._lookup(tok) for tok in text.split(self.sep) if tok]
        ids, i = [], 0
        while i < len(text):
            for size in range(min(self._max_len, len(text) - i), 0, -1):
                if text[i : i + size] in self._id_of:
                    ids.append(self._id_of[text[i : i + size]])
                    i += size
                    break
            else:
                ids.append(self._lookup(text[i]))
                i += 1
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Joins the non-special tokens with `sep`."""
        return self.sep.join(self._tokens[int(i)] for i in ids if int(i) not in self._special_ids)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _token_content(value: Any) -> str | None:
    # tokenizer_config.json stores specials as strings or as serialized AddedToken dicts.
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def _first_id(value: Any) -> int | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value if isinstance(value, int) else None


class HFTokenizer:
    """A Hugging Face `tokenizer.json` (via the `tokenizers` library).

    bos/eos/pad come from a sibling tokenizer_config.json, else from config.json, else None.
    """

    def __init__(self, path: str | os.PathLike[str]):
        from tokenizers import Tokenizer as _HFTokenizer

        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise FileNotFoundError(f"Tokenizer file not found: {path}")
        self._tok = _HFTokenizer.from_file(str(path))
        self.name = path.parent.name or path.stem
        self._special_ids = self._read_specials(path.parent)

    def _read_specials(self, folder: Path) -> dict[str, int | None]:
        tok_cfg = _read_json(folder / "tokenizer_config.json")
        model_cfg = _read_json(folder / "config.json")
        ids: dict[str, int | None] = {}
        for role in ("bos", "eos", "pad"):
            content = _token_content(tok_cfg.get(f"{role}_token"))
            token_id = self._tok.token_to_id(content) if content is not None else None
            ids[role] = token_id if token_id is not None else _first_id(model_cfg.get(f"{role}_token_id"))
        return ids

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def bos_id(self) -> int | None:
        return self._special_ids["bos"]

    @property
    def eos_id(self) -> int | None:
        return self._special_ids["eos"]

    @property
    def pad_id(self) -> int | None:
        return self._special_ids["pad"]

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)

    def token_id(self, token: str) -> int | None:
        """The id of `token` as one vocabulary entry (added tokens included), or None when it has none."""
        return self._tok.token_to_id(token)

    def with_added_tokens(self, tokens: Sequence[str]) -> HFTokenizer:
        """A copy with `tokens` added as whole tokens after the current vocabulary, matched in the text
        before pre-tokenization as `transformers`' `add_tokens` does (e.g. a novel word " [verb]" taught to a
        model); the original is unchanged."""
        from tokenizers import AddedToken
        from tokenizers import Tokenizer as _HFTokenizer

        copy = object.__new__(HFTokenizer)
        copy._tok = _HFTokenizer.from_str(self._tok.to_str())
        copy._tok.add_tokens([AddedToken(t, normalized=True) for t in tokens])
        copy.name = self.name
        copy._special_ids = dict(self._special_ids)
        return copy


def checked_ids(value: Sequence[int], vocab_size: int, what: str, tokenized: bool = False) -> list[int]:
    """Token ids of a request as ints, or UserError when one lies outside the model's vocabulary (an
    out-of-range id would otherwise be read as some other row of the embedding table, or as NaN).
    ``tokenized``: the ids come from the model's own tokenizer, so the tokenizer is what does not fit."""
    ids = [int(t) for t in value]
    bad = next((t for t in ids if not 0 <= t < vocab_size), None)
    if bad is not None and tokenized:
        raise UserError(
            f"the tokenizer turned a request's {what} into token id {bad}, outside the model's vocabulary "
            f"(0..{vocab_size - 1}); the checkpoint's tokenizer does not match its model"
        )
    if bad is not None:
        raise UserError(
            f"a request's {what} has token id {bad}, outside the model's vocabulary (0..{vocab_size - 1}); "
            "send ids the model's tokenizer produces"
        )
    return ids


def load_tokenizer(spec: str) -> Tokenizer:
    """`'bytes'`, `'vocab:a,b,c'` (comma-separated tokens), or a path to tokenizer.json or its folder."""
    if spec == "bytes":
        return ByteTokenizer()
    if spec.startswith("vocab:"):
        tokens = [tok for tok in spec[len("vocab:") :].split(",") if tok]
        if not tokens:
            raise ValueError(f"Tokenizer spec {spec!r} lists no tokens after 'vocab:'.")
        return VocabTokenizer(tokens)
    return HFTokenizer(spec)
