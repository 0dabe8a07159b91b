"""The lexicon stimuli are drawn from (feature-coded noun phrases, agents, clash groups), the upstream lexicon
that generated the release (`default_lexicon`), and the configurations a lexicon can fill."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

from evalkit.api import UserError, json_document
from evalkit_cross_dative.codes import ROLES, VERB, argument_types, check_type

# The lexicon that generated the release: (phrase, type, roles: t theme, r recipient), upstream order.
_RELEASE_PHRASES: tuple[tuple[str, str, str], ...] = (
    ("me", "pasd", "tr"),
    ("her", "pasd", "tr"),
    ("him", "pasd", "tr"),
    ("it", "pisd", "tr"),
    ("them", "pasd", "tr"),
    ("us", "pasd", "tr"),
    ("someone", "pasi", "tr"),
    ("something", "pisi", "tr"),
    ("mommy", "nasd", "tr"),
    ("grandpa", "nasd", "tr"),
    ("grandma", "nasd", "tr"),
    ("a cat", "nasi", "tr"),
    ("the cat", "nasd", "tr"),
    ("a dog", "nasi", "tr"),
    ("the dog", "nasd", "tr"),
    ("elmo", "nasd", "tr"),
    ("bert", "nasd", "tr"),
    ("a big bear", "nali", "tr"),
    ("the big bear", "nald", "tr"),
    ("a cute cat", "nali", "tr"),
    ("a small dog", "nali", "tr"),
    ("the cute cat", "nald", "tr"),
    ("the small dog", "nald", "tr"),
    ("the bear over there", "nald", "tr"),
    ("a bear outside the house", "nali", "tr"),
    ("the cat outside the house", "nald", "tr"),
    ("the cat over there", "nald", "tr"),
    ("a cat outside the house", "nali", "tr"),
    ("the dog outside the house", "nald", "tr"),
    ("a dog outside the house", "nali", "tr"),
    ("the dog over there", "nald", "tr"),
    ("daddy", "nasd", "tr"),
    ("a ball", "nisi", "tr"),
    ("the ball", "nisd", "tr"),
    ("a book", "nisi", "tr"),
    ("the book", "nisd", "tr"),
    ("a cup", "nisi", "tr"),
    ("the cup", "nisd", "tr"),
    ("a store", "nisi", "r"),
    ("the store", "nisd", "r"),
    ("a toy", "nisi", "tr"),
    ("the toys", "nisd", "tr"),
    ("a red ball", "nili", "tr"),
    ("the red ball", "nild", "tr"),
    ("a nice book", "nili", "tr"),
    ("some books", "nisi", "tr"),
    ("some balls", "nisi", "tr"),
    ("some store", "nisi", "r"),
    ("a store that is far away", "nili", "r"),
    ("the store that is far away", "nild", "r"),
    ("a toy in the room", "nili", "tr"),
    ("the toys in the room", "nild", "tr"),
    ("the cup on the table", "nild", "tr"),
    ("a cup on the table", "nili", "tr"),
    ("some milk", "nisi", "tr"),
    ("some food", "nisi", "tr"),
    ("the food", "nisd", "tr"),
    ("the milk", "nisd", "tr"),
    ("the food on the table", "nild", "tr"),
    ("the balls in the room", "nild", "tr"),
    ("a ball in that room", "nili", "tr"),
    ("cheerios", "nisd", "tr"),
    ("legos", "nisd", "t"),
    ("a lego", "nisi", "t"),
    ("the lego", "nisd", "t"),
    ("pencils", "nisi", "tr"),
    ("the pencils", "nisd", "tr"),
    ("a chair", "nisi", "tr"),
    ("the chair", "nisd", "tr"),
    (" some cheerios", "nili", "tr"),
)
_RELEASE_AGENTS: tuple[str, ...] = ("she", "he", "mommy", "daddy", "nonna", "lucy", "john")
# Groups of words that may not share a sentence (upstream's conflict table, restricted to this lexicon).
_RELEASE_CLASHES: tuple[tuple[str, ...], ...] = (
    ("he", "him"),
    ("she", "her"),
    ("me", "us"),
    ("a book", "the book", "a nice book", "some books"),
    ("a store", "the store", "some store", "a store that is far away", "the store that is far away"),
    ("a cup", "the cup", "the cup on the table", "a cup on the table"),
    ("pencils", "the pencils"),
    ("a ball", "the ball", "a red ball", "the red ball", "some balls", "the balls in the room",
     "a ball in that room"),
    ("a big bear", "the big bear", "the bear over there", "a bear outside the house"),
    ("a dog", "the dog", "a small dog", "the small dog", "the dog outside the house",
     "a dog outside the house",
     "the dog over there"),
    ("a cat", "the cat", "a cute cat", "the cute cat", "the cat outside the house", "the cat over there",
     "a cat outside the house"),
    ("legos", "a lego", "the lego"),
    ("some milk", "the milk"),
    ("some food", "the food", "the food on the table"),
    ("a toy", "the toys", "a toy in the room", "the toys in the room"),
    ("a chair", "the chair"),
)  # fmt: skip

_ROLE_LETTERS = {"t": "theme", "r": "recipient"}


@dataclass(frozen=True)
class Phrase:
    """A noun phrase with its argument type (e.g. `nild`) and the roles it may fill."""

    text: str
    code: str
    roles: tuple[str, ...] = ROLES


@dataclass(frozen=True)
class Lexicon:
    """Feature-coded noun phrases, agents, and clash groups (words that may not share a sentence).

    Phrase order matters: fillers are drawn by position, so the release needs upstream's order.
    """

    phrases: tuple[Phrase, ...]
    agents: tuple[str, ...]
    clashes: tuple[tuple[str, ...], ...] = ()
    _by_text: dict[str, Phrase] = field(init=False, repr=False, compare=False)
    _group_of: dict[str, frozenset[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "phrases", tuple(self.phrases))
        object.__setattr__(self, "agents", tuple(self.agents))
        object.__setattr__(self, "clashes", tuple(tuple(g) for g in self.clashes))
        by_text: dict[str, Phrase] = {}
        if not self.phrases:
            raise UserError("lexicon has no phrases; give at least one phrase per argument type you use")
        for p in self.phrases:
            if not isinstance(p, Phrase):
                raise UserError(f"lexicon phrase {p!r} is not a Phrase(text, code, roles)")
            _check_text(p.text, "lexicon phrase")
            check_type(p.code, f"lexicon phrase {p.text!r}")
            if not p.roles or any(r not in ROLES for r in p.roles) or len(set(p.roles)) != len(p.roles):
                raise UserError(
                    f"lexicon phrase {p.text!r} has roles {list(p.roles)!r}; "
                    f"give a non-empty subset of {ROLES}"
                )
            if p.text in by_text:
                raise UserError(f"lexicon phrase {p.text!r} is listed twice; keep one entry per phrase")
            by_text[p.text] = p
        if not self.agents:
            raise UserError("lexicon has no agents; give at least one agent (e.g. 'mommy')")
        for a in self.agents:
            _check_text(a, "lexicon agent")
        if len(set(self.agents)) != len(self.agents):
            raise UserError(f"lexicon agents {list(self.agents)!r} repeat a name; list each agent once")
        known = set(by_text) | set(self.agents)
        group_of: dict[str, set[int]] = {}
        for i, group in enumerate(self.clashes):
            if len(group) < 2:
                raise UserError(
                    f"clash group {list(group)!r} has fewer than two members; drop it or add members"
                )
            for word in group:
                if word not in known:
                    raise UserError(
                        f"clash group {list(group)!r} names {word!r}, which is neither a phrase nor an agent "
                        "of the lexicon; fix the spelling or drop it"
                    )
                group_of.setdefault(word, set()).add(i)
        object.__setattr__(self, "_by_text", by_text)
        object.__setattr__(self, "_group_of", {w: frozenset(g) for w, g in group_of.items()})

    def fillers(self, code: str, role: str) -> list[str]:
        """The phrases of argument type `code` that may fill `role`, in lexicon order."""
        check_type(code, "argument type")
        if role not in ROLES:
            raise UserError(f"role {role!r} is not one of {ROLES}")
        return [p.text for p in self.phrases if p.code == code and role in p.roles]

    def phrase(self, text: str) -> Phrase | None:
        """The entry for `text` (exact text, leading spaces included), or None."""
        return self._by_text.get(text)

    def clash(self, a: str, b: str) -> bool:
        """True when `a` and `b` may not share a sentence: the same words, or members of one clash group."""
        return a == b or bool(self._group_of.get(a, frozenset()) & self._group_of.get(b, frozenset()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: {"agents", "phrases": [{"text", "type", "roles"}, ...], "clashes"}."""
        return {
            "agents": list(self.agents),
            "phrases": [{"text": p.text, "type": p.code, "roles": list(p.roles)} for p in self.phrases],
            "clashes": [list(g) for g in self.clashes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Lexicon:
        """Builds and validates a lexicon from the `to_dict` form (roles default to both, clashes to none)."""
        if not isinstance(data, Mapping) or "phrases" not in data or "agents" not in data:
            raise UserError('a lexicon is a JSON object with "agents", "phrases" and optionally "clashes"')
        for name in ("agents", "phrases", "clashes"):
            if not isinstance(data.get(name, []), list):
                raise UserError(f'lexicon "{name}" must be a JSON list, got {type(data[name]).__name__}')
        phrases = []
        for entry in data["phrases"]:
            if not isinstance(entry, Mapping) or "text" not in entry or "type" not in entry:
                raise UserError(
                    f'lexicon phrase {entry!r} needs "text" and "type" (e.g. "nild"), "roles" optional'
                )
            roles = entry.get("roles", list(ROLES))
            if isinstance(roles, str):
                roles = [roles]
            phrases.append(Phrase(entry["text"], entry["type"], tuple(roles)))
        return cls(tuple(phrases), tuple(data["agents"]), tuple(tuple(g) for g in data.get("clashes", ())))

    @classmethod
    def from_json(cls, path: str | Path) -> Lexicon:
        """Reads a lexicon written by `to_json` (or by hand in that form)."""
        data = json_document(
            path, missing_fix="write a lexicon with Lexicon.to_json", json_fix="fix the lexicon"
        )
        return cls.from_dict(data)

    def to_json(self, path: str | Path) -> None:
        """Writes the lexicon as JSON (UTF-8, indented), a starting point for new feature definitions."""
        Path(path).write_text(
            json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def _check_text(text: object, what: str) -> None:
    """Rejects empty words and words containing the verb slot or a line break."""
    if not isinstance(text, str) or not text.strip() or VERB in text or "\n" in text:
        raise UserError(f"{what} {text!r} must be non-empty text without {VERB!r} or line breaks")


@functools.cache
def default_lexicon() -> Lexicon:
    """The lexicon that generated the released exposure set (upstream order, codes, roles); shared."""
    phrases = tuple(
        Phrase(text, code, tuple(_ROLE_LETTERS[r] for r in roles)) for text, code, roles in _RELEASE_PHRASES
    )
    return Lexicon(phrases, _RELEASE_AGENTS, _RELEASE_CLASHES)


def configurations(lexicon: Lexicon | None = None) -> list[str]:
    """The theme x recipient codes with fillers in both slots, minus pairs with one filler in each slot.

    With the default lexicon: the release's 135 keys, in its order (144 minus the 9 pairs within
    `pasi`/`pisd`/`pisi`).
    """
    lex = lexicon if lexicon is not None else default_lexicon()
    out = []
    for t, r in product(argument_types(), argument_types()):
        nt, nr = len(lex.fillers(t, "theme")), len(lex.fillers(r, "recipient"))
        if nt and nr and not (nt == 1 and nr == 1):
            out.append(t + r)
    return out
