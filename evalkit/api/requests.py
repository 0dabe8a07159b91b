"""Requests a task sends to a model, and the responses it gets back.

Text form uses ``str``; token-id form (tasks with their own vocabulary) uses tuples of ints; chat form
(:class:`Chat`) holds messages that the model handle renders with the model's chat template. A request is a
fact about one item, so it never depends on batch composition, mesh or process count.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Tokens = tuple[int, ...]
CHAT_ROLES = ("system", "user", "assistant")


@dataclasses.dataclass(frozen=True)
class Chat:
    """Chat messages as a context: the model handle renders them with the model's chat template (with the
    generation prompt), or joins their contents with blank lines when the model has none.

    ``messages`` are ``(role, content)`` pairs (dicts with ``role`` and ``content`` are accepted);
    ``assistant_prefix`` is text the assistant's answer already starts with, appended after the rendered
    prompt verbatim (a follow-up pass continues an earlier answer this way).
    """

    messages: tuple[tuple[str, str], ...]
    assistant_prefix: str = ""

    def __post_init__(self):
        if isinstance(self.messages, str | dict):
            raise TypeError("Chat messages are a sequence of (role, content) pairs, not one str or dict")
        pairs = []
        for message in self.messages:
            if isinstance(message, dict):
                message = (message.get("role"), message.get("content"))
            pair = tuple(message) if isinstance(message, tuple | list) else ()
            role, content = pair if len(pair) == 2 else (None, None)
            if role not in CHAT_ROLES or not isinstance(content, str):
                raise TypeError(
                    f"chat messages are (role, content) pairs with role in {CHAT_ROLES} and str content, "
                    f"got {message!r:.80}"
                )
            pairs.append((role, content))
        if not pairs:
            raise ValueError("a Chat context needs at least one message")
        object.__setattr__(self, "messages", tuple(pairs))
        if not isinstance(self.assistant_prefix, str):
            raise TypeError("Chat.assistant_prefix must be a str")

    def as_dicts(self) -> list[dict[str, str]]:
        """The messages in the ``[{"role", "content"}]`` form chat templates read."""
        return [{"role": role, "content": content} for role, content in self.messages]


TextOrTokens = str | Tokens
Context = str | Tokens | Chat


def _as_tokens_or_text(value: Any, field: str) -> TextOrTokens:
    if isinstance(value, str):
        return value
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{field} must be a str or a sequence of token ids, got {type(value).__name__}"
        ) from exc


def _as_context(value: Any) -> Context:
    return value if isinstance(value, Chat) else _as_tokens_or_text(value, "context")


@dataclasses.dataclass(frozen=True)
class Loglikelihood:
    """Log-probability of ``continuation`` given ``context``, and whether it is the greedy continuation."""

    context: Context
    continuation: TextOrTokens
    kind: Literal["loglikelihood"] = dataclasses.field(default="loglikelihood", init=False)

    def __post_init__(self):
        object.__setattr__(self, "context", _as_context(self.context))
        object.__setattr__(self, "continuation", _as_tokens_or_text(self.continuation, "continuation"))


@dataclasses.dataclass(frozen=True)
class LoglikelihoodRolling:
    """Log-probability of a whole text (perplexity-style), scored in context-length windows."""

    text: TextOrTokens
    kind: Literal["loglikelihood_rolling"] = dataclasses.field(default="loglikelihood_rolling", init=False)

    def __post_init__(self):
        object.__setattr__(self, "text", _as_tokens_or_text(self.text, "text"))


@dataclasses.dataclass(frozen=True)
class Generate:
    """Generate up to ``max_new_tokens`` after ``context``; stop at EOS or at any of ``until``.

    ``until`` holds stop strings (text form) or stop token ids (token form). ``key`` names the item for its
    PRNG stream; the host fills it with the task and item id so sampling does not depend on batching.
    """

    context: Context
    until: tuple[Any, ...] = ()
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    key: str = ""
    kind: Literal["generate"] = dataclasses.field(default="generate", init=False)

    def __post_init__(self):
        object.__setattr__(self, "context", _as_context(self.context))
        object.__setattr__(self, "until", tuple(self.until))
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


Request = Loglikelihood | LoglikelihoodRolling | Generate
REQUEST_KINDS = ("loglikelihood", "loglikelihood_rolling", "generate")


@dataclasses.dataclass(frozen=True)
class LoglikelihoodResult:
    """Response to :class:`Loglikelihood`: summed log-prob, greedy flag, continuation length in tokens."""

    logprob: float
    is_greedy: bool
    num_tokens: int
    truncated: int = 0


@dataclasses.dataclass(frozen=True)
class RollingResult:
    """Response to :class:`LoglikelihoodRolling`: summed log-prob and scored token count."""

    logprob: float
    num_tokens: int


@dataclasses.dataclass(frozen=True)
class Generation:
    """Response to :class:`Generate`: text (text form) or None, the new token ids, and why it stopped."""

    text: str | None
    tokens: Tokens
    finish_reason: Literal["stop", "eos", "length"]
    truncated: int = 0


Response = LoglikelihoodResult | RollingResult | Generation


def response_from_json(data: dict[str, Any]) -> Response:
    """The response :func:`to_json` wrote (its ``kind`` names the class)."""
    fields = {k: v for k, v in data.items() if k != "kind"}
    kind = {cls.__name__: cls for cls in (LoglikelihoodResult, RollingResult, Generation)}[data["kind"]]
    if kind is Generation:
        fields["tokens"] = tuple(fields["tokens"])
    return kind(**fields)


def to_json(obj: Request | Response) -> dict[str, Any]:
    """A JSON-ready dict of a request or response (tuples become lists)."""
    out = dataclasses.asdict(obj)
    if "kind" not in out:
        out["kind"] = type(obj).__name__
    return out
