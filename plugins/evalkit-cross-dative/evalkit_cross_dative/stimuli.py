"""Exposure stimuli of the cross-dative study (Misra & Kim 2024, v1/v2), rebuilt from feature definitions.

Design. Each argument (theme, recipient) has four features: pronominality (`p`/`n`), animacy (`a`/`i`),
length (`l`/`s`) and definiteness (`d`/`i`); an argument type is their four letters (`pasd`, `nild`, ...)
and a configuration is theme type + recipient type (`pasdnild`). Pronouns are short, so there are 12
argument types and 144 pairs; a pair is dropped when both slots have a single filler (the 9 pairs within
{`pasi` someone, `pisd` it, `pisi` something}), leaving the 135 configurations of the release. Each has 5
instances (agent, theme, recipient), written once as a double object (DO, `AGENT [verb] RECIPIENT THEME .`)
and once as a prepositional object (PO, labelled `pp`: `AGENT [verb] THEME to RECIPIENT .`).

How upstream drew the instances (kanishkamisra/encouraging-exposures at d37c7728, read to learn, not
copied: `src/dativegen-nomarkedness.py`, `src/config.py`, `data/lexicon/adaptation-final-nomarkedness.json`,
the flat `.../adaptation.jsonl`): Python's `random` seeded with 42; per configuration, in the order above,
for each instance a theme drawn with replacement from the theme fillers of its type, a recipient drawn
from the recipient fillers of its type that are not the theme and do not clash with it (a `CONFLICTS`
table: he/him, she/her, me/us, "a ball"/"the red ball", ...), and an agent drawn and then thrown away;
after the five instances, five distinct agents drawn from those clashing with none of the configuration's
arguments (with replacement if fewer than five are left). Filler order is the lexicon's list order.
(The later version of that script, at 5926bfd9, samples themes without replacement from a changed
lexicon without "nonna"; it does not give the release.)

How the release is reproduced here: `default_lexicon()` holds that lexicon (70 feature-coded phrases in
upstream order, their roles, 7 agents, the clash groups that touch them), and `generate_exposures()`
replays the procedure on CPython's MT19937 stream seeded with 42, drawing indices as `random.choice`,
`random.sample` and `random.choices` do, from `getrandbits` and `random()` only (the parts of `random`
that are stable across Python versions). Every one of the 1,350 sentences is derived, none is tabled.
With a `seed`, the same design is sampled afresh with `numpy.random.default_rng`.

Quirks of the release kept on purpose (the lexicon codes phrases as upstream did): a length is "long"
when the phrase splits on single spaces into more than two parts, so " some cheerios" (written with a
leading space, which gives the 26 double-spaced sentences) is `nili`; bare "cheerios" and "legos" are
coded definite and "pencils" indefinite; the store phrases are recipients only and the lego phrases
themes only. Item ids follow the flat upstream file: per configuration the DO instances, then the PO ones.
"""

from __future__ import annotations

import functools
import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.api import UserError

ROLES: tuple[str, ...] = ("theme", "recipient")
DATIVES: tuple[str, ...] = ("do", "pp")
VERB = "[verb]"
RELEASE_SEED = 42  # the upstream script's `random.seed`
RELEASE_INSTANCES = 5
RELEASE_FILE = (
    "data/experiments/single_stimuli_dative_simulation_valtest_vbd_no_markedness_no_discourse/"
    "sentences/adaptation.json"
)  # relative to the shared cross-dative data folder

# Feature name -> {letter: word}, in code position order. The letter order is the enumeration order of
# argument types and configurations (long before short, as upstream enumerated them).
FEATURES: dict[str, dict[str, str]] = {
    "pronominality": {"p": "pronoun", "n": "nominal"},
    "animacy": {"a": "animate", "i": "inanimate"},
    "length": {"l": "long", "s": "short"},
    "definiteness": {"d": "definite", "i": "indefinite"},
}

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


# --------------------------------------------------------------------------------------------- codes


def _check_type(code: object, what: str) -> str:
    """Returns a valid 4-letter argument type or raises UserError naming `what` and the fix."""
    letters = [tuple(v) for v in FEATURES.values()]
    if not isinstance(code, str) or len(code) != 4 or any(c not in ok for c, ok in zip(code, letters)):
        allowed = " ".join("/".join(ok) for ok in letters)
        raise UserError(
            f"{what}: {code!r} is not an argument type; write four letters, one per feature ({allowed}), "
            "e.g. 'pasd' or 'nild'"
        )
    if code[0] == "p" and code[2] != "s":
        raise UserError(
            f"{what}: {code!r} is a long pronoun type; pronouns are short, write {code[:2]}s{code[3]}"
        )
    return code


def argument_types() -> list[str]:
    """The 12 argument types (4 pronominal, 8 nominal), in the enumeration order of the release."""
    codes = ("".join(c) for c in product(*(tuple(v) for v in FEATURES.values())))
    return [c for c in codes if not (c[0] == "p" and c[2] == "l")]


def parse_code(code: str) -> dict[str, str]:
    """An 8-letter configuration code as words, keyed like the upstream flat file (`theme_animacy`, ...)."""
    if not isinstance(code, str) or len(code) != 8:
        raise UserError(
            f"configuration code {code!r} is not 8 letters; "
            "write theme type + recipient type, e.g. 'pasdnild'"
        )
    out: dict[str, str] = {}
    for role, part in zip(ROLES, (code[:4], code[4:])):
        _check_type(part, f"{role} part of configuration code {code!r}")
        for (name, values), letter in zip(FEATURES.items(), part):
            out[f"{role}_{name}"] = values[letter]
    return out


def make_code(
    theme_pronominality: str,
    theme_animacy: str,
    theme_length: str,
    theme_definiteness: str,
    recipient_pronominality: str,
    recipient_animacy: str,
    recipient_length: str,
    recipient_definiteness: str,
) -> str:
    """The 8-letter code of a configuration given as words or letters; inverse of `parse_code`."""
    given = locals()
    letters = []
    for role in ROLES:
        for name, values in FEATURES.items():
            value = given[f"{role}_{name}"]
            by_word = {w: c for c, w in values.items()}
            if value in values:
                letters.append(value)
            elif value in by_word:
                letters.append(by_word[value])
            else:
                choices = ", ".join(f"{c!r}/{w!r}" for c, w in values.items())
                raise UserError(f"{role}_{name}={value!r} is not a {name} value; use one of {choices}")
    code = "".join(letters)
    parse_code(code)  # rejects long pronouns
    return code


# ------------------------------------------------------------------------------------------- lexicon


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
            _check_type(p.code, f"lexicon phrase {p.text!r}")
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
        _check_type(code, "argument type")
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
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"lexicon file {path} does not exist; write one with Lexicon.to_json") from None
        except json.JSONDecodeError as e:
            raise UserError(f"lexicon file {path} is not valid JSON ({e}); fix the file") from None
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


_configurations = configurations  # generate_exposures' `configurations` argument shadows the function


# ----------------------------------------------------------------------------------------- exposures


@dataclass(frozen=True)
class Exposure:
    """One exposure sentence with its ids (as in the upstream flat file) and its parsed arguments."""

    item_id: int
    hypothesis_id: int
    hypothesis_instance: int
    dative: str
    feature_config: str
    agent: str
    theme: str
    recipient: str
    sentence: str

    def as_record(self) -> dict[str, Any]:
        """The upstream `adaptation.jsonl` row: ids, the 8 feature words, arguments, dative, sentence."""
        return {
            "item": self.item_id,
            "hypothesis_id": self.hypothesis_id,
            "hypothesis_instance": self.hypothesis_instance,
            **parse_code(self.feature_config),
            "agent": self.agent,
            "theme": self.theme,
            "recipient": self.recipient,
            "dative": self.dative,
            "sentence": self.sentence,
        }


def render(agent: str, theme: str, recipient: str, dative: str, *, verb: str = VERB) -> str:
    """The sentence: DO `AGENT VERB RECIPIENT THEME .`, PO (`pp`) `AGENT VERB THEME to RECIPIENT .`."""
    if dative == "do":
        return f"{agent} {verb} {recipient} {theme} ."
    if dative == "pp":
        return f"{agent} {verb} {theme} to {recipient} ."
    raise UserError(f"dative {dative!r} is not 'do' or 'pp' (the prepositional object is labelled 'pp')")


def _item_id(hypothesis_id: int, dative: str, instance: int, instances: int) -> int:
    """Upstream numbering: per configuration, instances 1..n of DO, then of PO."""
    return (hypothesis_id - 1) * 2 * instances + (instances if dative == "pp" else 0) + instance


def _exposures_of(code: str, hyp: int, triples: Sequence[tuple[str, str, str]]) -> list[Exposure]:
    """DO then PO exposures of one configuration from its (agent, theme, recipient) instances."""
    n = len(triples)
    return [
        Exposure(_item_id(hyp, d, k, n), hyp, k, d, code, a, t, r, render(a, t, r, d))
        for d in DATIVES
        for k, (a, t, r) in enumerate(triples, start=1)
    ]


class _ReleaseDraws:
    """Indices as CPython's `random.choice`/`sample`/`choices` draw them, from one seeded MT19937 stream.

    Only `getrandbits` and `random()` are used: seeding with an int and those two are stable across Python
    versions, the index algorithms (written out here) are not promised to be.
    """

    def __init__(self, seed: int) -> None:
        self._mt = random.Random(seed)

    def below(self, n: int) -> int:
        """Uniform in [0, n) by rejection on n.bit_length() random bits."""
        k = n.bit_length()
        r = self._mt.getrandbits(k)
        while r >= n:
            r = self._mt.getrandbits(k)
        return r

    def choice(self, seq: Sequence[str]) -> str:
        return seq[self.below(len(seq))]

    def sample(self, seq: Sequence[str], k: int) -> list[str]:
        """k distinct elements: the pool method for small populations, else rejection of repeats."""
        n = len(seq)
        setsize = 21 + (4 ** math.ceil(math.log(k * 3, 4)) if k > 5 else 0)
        if n <= setsize:
            pool = list(seq)
            out = []
            for i in range(k):
                j = self.below(n - i)
                out.append(pool[j])
                pool[j] = pool[n - i - 1]
            return out
        picked: set[int] = set()
        out = []
        for _ in range(k):
            j = self.below(n)
            while j in picked:
                j = self.below(n)
            picked.add(j)
            out.append(seq[j])
        return out

    def choices(self, seq: Sequence[str], k: int) -> list[str]:
        n = float(len(seq))
        return [seq[math.floor(self._mt.random() * n)] for _ in range(k)]


class _NumpyDraws:
    """The same draws from `numpy.random.default_rng` (for new, seeded samples)."""

    def __init__(self, seed: Sequence[int]) -> None:
        self._rng = np.random.default_rng(list(seed))

    def choice(self, seq: Sequence[str]) -> str:
        return seq[int(self._rng.integers(len(seq)))]

    def sample(self, seq: Sequence[str], k: int) -> list[str]:
        return [seq[int(i)] for i in self._rng.choice(len(seq), size=k, replace=False)]

    def choices(self, seq: Sequence[str], k: int) -> list[str]:
        return [seq[int(i)] for i in self._rng.integers(len(seq), size=k)]


def _draw_instances(
    lex: Lexicon, code: str, n: int, draws: _ReleaseDraws | _NumpyDraws, *, discard_agent: bool
) -> list[tuple[str, str, str]]:
    """n (agent, theme, recipient) for one configuration: themes with replacement, a non-clashing
    recipient per theme, then distinct agents clashing with no argument (with replacement if too few)."""
    themes, recipients = lex.fillers(code[:4], "theme"), lex.fillers(code[4:], "recipient")
    pairs = []
    for _ in range(n):
        theme = draws.choice(themes)
        allowed = [r for r in recipients if not lex.clash(r, theme)]
        if not allowed:
            raise UserError(
                f"configuration {code!r}: every {code[4:]} recipient clashes with the theme {theme!r}; "
                "add recipient phrases of that type to the lexicon"
            )
        recipient = draws.choice(allowed)
        if discard_agent:  # upstream drew an agent here and later replaced it; the draw moves the stream
            free = [a for a in lex.agents if not lex.clash(a, theme) and not lex.clash(a, recipient)]
            if not free:
                raise UserError(
                    f"configuration {code!r}: every agent clashes with {theme!r} or {recipient!r}"
                )
            draws.choice(free)
        pairs.append((theme, recipient))
    used = [w for pair in pairs for w in pair]
    pool = [a for a in lex.agents if not any(lex.clash(a, w) for w in used)]
    if not pool:
        raise UserError(
            f"configuration {code!r}: every agent clashes with an argument; add agents to the lexicon"
        )
    agents = draws.sample(pool, n) if len(pool) >= n else draws.choices(pool, n)
    return [(a, t, r) for a, (t, r) in zip(agents, pairs)]


def generate_exposures(
    lexicon: Lexicon | None = None,
    *,
    instances: int = RELEASE_INSTANCES,
    seed: int | None = None,
    configurations: Iterable[str] | None = None,
) -> list[Exposure]:
    """Exposure sentences for every configuration (or the given ones), DO then PO per configuration.

    `seed=None` replays upstream's procedure and seed (42): with the default lexicon and 5 instances this
    is exactly the release. An int seed draws a fresh sample of the same design with numpy, each
    configuration from its own stream (`default_rng([seed, hypothesis_id])`), so a subset draws the same.
    Ids are positions in the lexicon's full configuration list, whatever subset or order is asked for.
    """
    lex = lexicon if lexicon is not None else default_lexicon()
    if not isinstance(instances, int) or isinstance(instances, bool) or instances < 1:
        raise UserError(f"instances={instances!r}; give a positive number of instances per configuration")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise UserError(f"seed={seed!r}; give a non-negative int, or None for the release draws")
    full = _configurations(lex)
    index = {c: i for i, c in enumerate(full, start=1)}
    wanted = full if configurations is None else _check_configurations(configurations, index)
    if seed is None:
        draws = _ReleaseDraws(RELEASE_SEED)  # one stream over the full design, so subsets match the release
        triples = {c: _draw_instances(lex, c, instances, draws, discard_agent=True) for c in full}
    else:
        triples = {
            c: _draw_instances(lex, c, instances, _NumpyDraws((seed, index[c])), discard_agent=False)
            for c in wanted
        }
    return [e for c in wanted for e in _exposures_of(c, index[c], triples[c])]


def _check_configurations(codes: Iterable[str], index: Mapping[str, int]) -> list[str]:
    """The requested codes, each well-formed, listed once and a configuration of the lexicon."""
    wanted = list([codes] if isinstance(codes, str) else codes)
    for c in wanted:
        parse_code(c)
        if c not in index:
            raise UserError(
                f"configuration {c!r} is not one of the lexicon's {len(index)} configurations (a slot has no "
                "filler, or both slots have one); add fillers or drop it"
            )
    if len(set(wanted)) != len(wanted):
        raise UserError(f"configurations {wanted!r} list a code twice; list each once")
    return wanted


# -------------------------------------------------------------------------------------------- parsing


def _splits(body: str, dative: str) -> list[tuple[str, str]]:
    """Every (theme, recipient) reading of the text between the verb and the final ` .`."""
    out = []
    if dative == "do":
        for i, ch in enumerate(body):
            if ch == " " and i > 0 and i < len(body) - 1:
                out.append((body[i + 1 :], body[:i]))
    else:
        i = body.find(" to ")
        while i != -1:
            out.append((body[:i], body[i + 4 :]))
            i = body.find(" to ", i + 1)
    return out


def parse_sentence(
    sentence: str, dative: str, lexicon: Lexicon | None = None, *, code: str | None = None
) -> tuple[str, str, str]:
    """(agent, theme, recipient) of an exposure sentence, split where both arguments are lexicon phrases.

    A DO sentence has no marker between its arguments, so the lexicon decides; `code` breaks ties.
    """
    lex = lexicon if lexicon is not None else default_lexicon()
    render("", "", "", dative)  # rejects an unknown dative
    where = f"sentence {sentence!r}" + (f" of key {code!r}" if code else "")
    if not isinstance(sentence, str) or sentence.count(VERB) != 1:
        raise UserError(
            f"{where} must contain the novel verb {VERB!r} exactly once; write it in the verb slot"
        )
    if f" {VERB} " not in sentence or not sentence.endswith(" ."):
        raise UserError(
            f"{where} does not read 'AGENT {VERB} ... .'; separate the verb by spaces and end in ' .'"
        )
    agent, body = sentence[: -len(" .")].split(f" {VERB} ")
    readings = [
        (t, r)
        for t, r in _splits(body, dative)
        if (p := lex.phrase(t)) and "theme" in p.roles and (q := lex.phrase(r)) and "recipient" in q.roles
    ]
    if code is not None and len(readings) > 1:
        typed = [(t, r) for t, r in readings if _code_of(lex, t) + _code_of(lex, r) == code]
        readings = typed or readings
    if not readings:
        form = "RECIPIENT THEME" if dative == "do" else "THEME to RECIPIENT"
        raise UserError(
            f"{where}: cannot read {body!r} as {form} with known phrases; add the phrases to the lexicon "
            "(Lexicon.from_json) or fix the sentence"
        )
    if len(readings) > 1:
        raise UserError(f"{where} reads several ways {readings!r}; make the lexicon's phrases unambiguous")
    theme, recipient = readings[0]
    return agent, theme, recipient


def exposures_from_release(
    data: Mapping[str, Any], lexicon: Lexicon | None = None, *, instances: int = RELEASE_INSTANCES
) -> list[Exposure]:
    """The released `adaptation.json` contents (code -> {"do": [...], "pp": [...]}) as checked Exposures.

    Each sentence is parsed, its agent and phrases looked up in the lexicon and their types checked against
    the key; the i-th DO and PO sentence must share their arguments. Ids as in `generate_exposures`.
    """
    lex = lexicon if lexicon is not None else default_lexicon()
    if not isinstance(data, Mapping):
        raise UserError(
            "exposure data must be a JSON object mapping configuration codes to {'do': [...], 'pp': [...]}"
        )
    index = {c: i for i, c in enumerate(_configurations(lex), start=1)}
    out: list[Exposure] = []
    for key, value in data.items():
        try:
            parse_code(key)
        except UserError as e:
            raise UserError(f"unknown key {key!r} in the exposure data: {e}") from None
        if key not in index:
            raise UserError(
                f"unknown key {key!r} in the exposure data: not one of the {len(index)} configurations "
                "(both slots have a single filler); drop it"
            )
        if not isinstance(value, Mapping) or set(value) != set(DATIVES):
            raise UserError(f'key {key!r} must map to {{"do": [...], "pp": [...]}}; got {value!r:.80}')
        parsed: dict[str, list[tuple[str, str, str]]] = {}
        for d in DATIVES:
            sentences = value[d]
            if not isinstance(sentences, list) or len(sentences) != instances:
                n = len(sentences) if isinstance(sentences, list) else type(sentences).__name__
                raise UserError(
                    f"key {key!r}: {d!r} has {n} sentences, expected a list of {instances}; "
                    f"give one sentence per instance (or pass instances=)"
                )
            parsed[d] = []
            for s in sentences:
                agent, theme, recipient = parse_sentence(s, d, lex, code=key)
                _check_argument(lex, key, s, "theme", theme, key[:4])
                _check_argument(lex, key, s, "recipient", recipient, key[4:])
                if agent not in lex.agents:
                    raise UserError(f"key {key!r}: agent {agent!r} of {s!r} is not a lexicon agent; add it")
                parsed[d].append((agent, theme, recipient))
        for k, (a, b) in enumerate(zip(parsed["do"], parsed["pp"]), start=1):
            if a != b:
                raise UserError(
                    f"key {key!r}: DO and PO sentence {k} differ in (agent, theme, recipient): "
                    f"{a!r} vs {b!r}; "
                    "the i-th DO and PO sentences must share them"
                )
        out += _exposures_of(key, index[key], parsed["do"])
    return out


def _code_of(lex: Lexicon, text: str) -> str:
    """The argument type of a phrase known to be in the lexicon."""
    phrase = lex.phrase(text)
    assert phrase is not None
    return phrase.code


def _check_argument(lex: Lexicon, key: str, sentence: str, role: str, text: str, want: str) -> None:
    """Raises UserError when the lexicon's type of `text` differs from the key's type for `role`."""
    got = _code_of(lex, text)
    if got != want:
        raise UserError(
            f"key {key!r}: {role} {text!r} of {sentence!r} is {got} in the lexicon, "
            f"but the key wants {want}; "
            "fix the sentence, the key or the lexicon"
        )


def to_adaptation_json(exposures: Iterable[Exposure]) -> dict[str, dict[str, list[str]]]:
    """The released file's layout: code -> {"do": [sentences], "pp": [sentences]} in instance order."""
    grouped: dict[str, dict[str, list[Exposure]]] = {}
    for e in exposures:
        grouped.setdefault(e.feature_config, {d: [] for d in DATIVES})[e.dative].append(e)
    return {
        code: {
            d: [e.sentence for e in sorted(es, key=lambda e: e.hypothesis_instance)] for d, es in by.items()
        }
        for code, by in grouped.items()
    }


def read_release(path: str | Path, lexicon: Lexicon | None = None) -> list[Exposure]:
    """Reads and checks a released `adaptation.json` (see `RELEASE_FILE`) with `exposures_from_release`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"exposure file {path} does not exist; point to .../{RELEASE_FILE}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"exposure file {path} is not valid JSON ({e})") from None
    return exposures_from_release(data, lexicon)
