"""Learners for the exposure protocol: a model, its tokenizer with the novel token added, and the checks that
must pass before any simulation starts (one sentence each)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evalkit.api import UserError

VERB_TOKEN = " [verb]"


@dataclasses.dataclass
class Learner:
    """A frozen causal LM that will learn the novel verb; ``verb_id`` is its new token's id (= vocab_size)."""

    name: str
    model: Any
    tokenizer: Any  # the learner's tokenizer with VERB_TOKEN added
    new_token_id: int  # the id the extended tokenizer gives VERB_TOKEN
    bos_id: int

    @property
    def verb_id(self) -> int:
        return int(self.model.config.vocab_size)

    @property
    def max_len(self) -> int:
        return int(self.model.config.max_len)

    def encode(self, sentence: str) -> list[int]:
        """``<s>`` + the sentence's ids, with the novel token as ``verb_id``."""
        ids = self.tokenizer.encode(sentence)
        return [self.bos_id] + [self.verb_id if t == self.new_token_id else int(t) for t in ids]


def learner_names(paths: Sequence[str]) -> list[str]:
    """One name per learner path (its folder name); '' is the run's own model, named 'model'."""
    names = [Path(str(p)).name if str(p) else "model" for p in paths] or ["model"]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(
            f"tasks.cross_dative.learners has several learners named {', '.join(duplicates)} (a learner is named "
            "by its folder); give each learner its own folder name"
        )
    return names


def make_learner(name: str, model: Any, tokenizer: Any) -> Learner:
    """Adds VERB_TOKEN to the learner's tokenizer and checks what the protocol needs of the learner."""
    cfg = model.config
    if not cfg.tied_embeddings:
        raise UserError(
            f"learner {name!r} has untied input and output embeddings, but the exposure protocol (the paper's "
            "tied variant, the only one evalkit runs) trains one row that is both the input embedding and the "
            "output vector of [verb]; use a learner with tied embeddings (OPT, GPT-2)"
        )
    if tokenizer is None or not hasattr(tokenizer, "with_added_tokens"):
        kind = getattr(tokenizer, "name", None) or "none"
        raise UserError(
            f"learner {name!r} has tokenizer {kind!r}, which cannot take the novel token {VERB_TOKEN!r}; use a "
            "learner with a Hugging Face tokenizer.json (e.g. one written by configs/dative_learner.py)"
        )
    if tokenizer.bos_id is None:
        raise UserError(
            f"learner {name!r}'s tokenizer has no BOS token, which every scored sentence is conditioned on; "
            "name bos_token in its tokenizer_config.json"
        )
    existing = tokenizer.encode(VERB_TOKEN)
    if len(existing) == 1 or tokenizer.token_id(VERB_TOKEN) is not None:
        raise UserError(
            f"learner {name!r}'s tokenizer already has a token for {VERB_TOKEN!r} (id {existing[0]}), so the verb "
            "would not be novel; use a tokenizer without it"
        )
    extended = tokenizer.with_added_tokens([VERB_TOKEN])
    ids = extended.encode(VERB_TOKEN)
    if len(ids) != 1:
        raise UserError(
            f"learner {name!r}'s tokenizer splits {VERB_TOKEN!r} into {len(ids)} tokens {ids} even after adding "
            "it; use a tokenizer whose added tokens are matched whole (a Hugging Face tokenizer.json)"
        )
    return Learner(name, model, extended, int(ids[0]), int(tokenizer.bos_id))


def check_lengths(learner: Learner, sentences: Sequence[str]) -> None:
    """Every sentence (with ``<s>``) must fit the learner's context."""
    longest = max(sentences, key=lambda s: len(learner.encode(s)))
    n = len(learner.encode(longest))
    if n > learner.max_len:
        raise UserError(
            f"learner {learner.name!r} has a context of {learner.max_len} positions but the stimulus {longest!r} "
            f"needs {n}; use a learner with a longer context"
        )
