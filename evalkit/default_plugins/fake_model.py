"""A deterministic fake model: proves the host end to end without jax, and backs plugin authors' tests.

Log-likelihoods are derived from a CRC of the text; generation reverses the last line of the context (so
a "reverse the string" task has a known answer), with an optional deterministic error rate and delay.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from typing import Any

from ml_collections import ConfigDict

from evalkit.api import (
    Generate,
    Generation,
    Loglikelihood,
    LoglikelihoodResult,
    LoglikelihoodRolling,
    RollingResult,
)
from evalkit.models.chat_template import model_chat_template, render_chats


class ByteTokenizer:
    """UTF-8 bytes as token ids; 256 is EOS."""

    vocab_size = 257
    eos_id = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")


def _crc(*parts: Any) -> int:
    return zlib.crc32(repr(parts).encode("utf-8"))


class FakeModel:
    """A :class:`evalkit.api.ModelHandle` whose answers are pure functions of each request."""

    def __init__(
        self, error_rate: float = 0.0, delay_s: float = 0.0, name: str = "fake", chat_template: Any = None
    ):
        self.name = name
        self.chat_template = chat_template
        self.tokenizer = ByteTokenizer()
        self.error_rate = error_rate
        self.delay_s = delay_s
        self._calls = 0
        self._tokens = 0

    def _tick(self, n: int, tokens: int) -> None:
        self._calls += n
        self._tokens += tokens
        if self.delay_s:
            time.sleep(self.delay_s * n)

    def _ids(self, value) -> list[int]:
        return self.tokenizer.encode(value) if isinstance(value, str) else list(value)

    def loglikelihood(self, requests: Sequence[Loglikelihood]) -> list[LoglikelihoodResult]:
        requests = render_chats(requests, self.chat_template)
        out = []
        for r in requests:
            ctx, cont = self._ids(r.context), self._ids(r.continuation)
            lp = -sum(1.0 + (_crc(ctx[-1:], i, t) % 1000) / 1000 for i, t in enumerate(cont))
            out.append(LoglikelihoodResult(lp, _crc(ctx, cont) % 3 == 0, len(cont)))
        self._tick(
            len(requests), sum(len(self._ids(r.context)) + len(self._ids(r.continuation)) for r in requests)
        )
        return out

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling]) -> list[RollingResult]:
        out = []
        for r in requests:
            ids = self._ids(r.text)
            out.append(
                RollingResult(-sum(1.0 + (_crc(i, t) % 1000) / 1000 for i, t in enumerate(ids)), len(ids))
            )
        self._tick(len(requests), sum(len(self._ids(r.text)) for r in requests))
        return out

    def generate(self, requests: Sequence[Generate]) -> list[Generation]:
        requests = render_chats(requests, self.chat_template)
        out = []
        for r in requests:
            wrong = _crc(r.context, r.key) % 1000 < self.error_rate * 1000
            if isinstance(r.context, str):
                answer = r.context.rstrip("\n").split("\n")[-1][::-1] + "\n"
                if wrong:
                    answer = "?" + answer
                out.append(_cut_text(answer, r))
            else:
                answer = list(reversed(r.context)) + [self.tokenizer.eos_id]
                if wrong:
                    answer = [0] + answer
                out.append(_cut_tokens(answer, r, self.tokenizer.eos_id))
        self._tick(len(requests), sum(len(self._ids(r.context)) for r in requests))
        return out

    def stats(self) -> dict[str, Any]:
        return {"requests_count": self._calls, "input_tokens": self._tokens}


def _cut_text(answer: str, r: Generate) -> Generation:
    cut, reason = answer, "eos"
    for stop in r.until:
        pos = cut.find(stop)
        if pos >= 0:
            cut, reason = cut[:pos], "stop"
    tokens = ByteTokenizer().encode(cut)
    if len(tokens) > r.max_new_tokens:
        tokens, reason = tokens[: r.max_new_tokens], "length"
    return Generation(ByteTokenizer().decode(tokens), tuple(tokens), reason)


def _cut_tokens(answer: list[int], r: Generate, eos: int) -> Generation:
    out, reason = [], "length"
    for t in answer[: r.max_new_tokens]:
        if t == eos or t in r.until:
            reason = "eos" if t == eos else "stop"
            break
        out.append(t)
    return Generation(None, tuple(out), reason)


def fake_model_config() -> ConfigDict:
    # chat_template: 'auto' / 'none' (plain prompts: the fake model has no folder) or a template file
    return ConfigDict({"error_rate": 0.0, "delay_s": 0.0, "chat_template": "auto"})


def load_fake_model(config: ConfigDict, runtime: ConfigDict | None = None) -> FakeModel:
    return FakeModel(config.error_rate, config.delay_s, chat_template=model_chat_template(config))
