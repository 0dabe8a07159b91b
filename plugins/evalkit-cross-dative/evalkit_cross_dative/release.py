"""Reading the released `adaptation.json` back as checked Exposures: each sentence split into agent, theme and
recipient with the lexicon, and their types checked against the configuration key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalkit.api import UserError, json_document
from evalkit_cross_dative.codes import DATIVES, VERB, parse_code
from evalkit_cross_dative.lexicon import Lexicon, configurations, default_lexicon
from evalkit_cross_dative.sentences import Exposure, exposures_of, render

RELEASE_INSTANCES = 5
RELEASE_FILE = (
    "data/experiments/single_stimuli_dative_simulation_valtest_vbd_no_markedness_no_discourse/"
    "sentences/adaptation.json"
)  # relative to the shared cross-dative data folder


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
    index = {c: i for i, c in enumerate(configurations(lex), start=1)}
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
        out += exposures_of(key, index[key], parsed["do"])
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


def read_release(path: str | Path, lexicon: Lexicon | None = None) -> list[Exposure]:
    """Reads and checks a released `adaptation.json` (see `RELEASE_FILE`) with `exposures_from_release`."""
    data = json_document(
        path, missing_fix=f"point to .../{RELEASE_FILE}", json_fix="restore the released file"
    )
    return exposures_from_release(data, lexicon)
