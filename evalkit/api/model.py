"""The model side of the API: the handle a task talks to, and the spec a model plugin registers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ml_collections import ConfigDict

from evalkit.api.requests import (
    Generate,
    Generation,
    Loglikelihood,
    LoglikelihoodResult,
    LoglikelihoodRolling,
    RollingResult,
)


@runtime_checkable
class Tokenizer(Protocol):
    """Text <-> token ids. Tasks with their own vocabulary send token ids and never need it."""

    vocab_size: int
    eos_id: int | None

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


@runtime_checkable
class ModelHandle(Protocol):
    """What a task may use: the three request methods, the tokenizer, and runtime statistics.

    Handles backed by Flax also expose ``model`` (the NNX module), ``mesh`` and ``config`` for tasks with
    custom protocols; tasks must check for them with ``getattr``. Handles render :class:`Chat` contexts
    with their ``chat_template`` (``evalkit.models.chat_template.render_chats``).
    """

    name: str
    tokenizer: Tokenizer | None

    def loglikelihood(self, requests: Sequence[Loglikelihood]) -> list[LoglikelihoodResult]: ...

    def loglikelihood_rolling(self, requests: Sequence[LoglikelihoodRolling]) -> list[RollingResult]: ...

    def generate(self, requests: Sequence[Generate]) -> list[Generation]: ...

    def stats(self) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A kind of model a plugin provides: ``load(config, runtime)`` builds a :class:`ModelHandle`.

    ``config`` is the run's ``model`` section merged over ``default_config()``; ``runtime`` is the run's
    ``runtime`` section (mesh, batching, processes), which never changes results.
    """

    name: str
    load: Callable[[ConfigDict, ConfigDict], ModelHandle]
    default_config: Callable[[], ConfigDict] = ConfigDict
    description: str = ""
    #: model config keys that cannot change results (speed knobs); they stay out of every hash.
    runtime_keys: tuple[str, ...] = ()
    #: facts beyond the config that decide results, read without loading the model (e.g. the hash of the
    #: chat template a checkpoint folder holds): ``identity(config) -> {name: JSON value}``. They enter the
    #: model's hash (None values are left out) and results.json's ``model.identity``.
    identity: Callable[[ConfigDict], Mapping[str, Any]] | None = None
