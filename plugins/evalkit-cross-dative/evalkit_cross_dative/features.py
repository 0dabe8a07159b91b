"""The exposure features as the analysis reads them: the four argument features, the datives and directions, and
the first-postverbal-argument booleans, all parsed from an exposure's 8-letter configuration code."""

from __future__ import annotations

import re
from dataclasses import dataclass

from evalkit.api import UserError


@dataclass(frozen=True)
class Feature:
    """One argument feature: its letter position inside a 4-letter argument type and its two levels."""

    position: int
    levels: dict[str, str]  # letter -> word
    positive: str  # the word coded +0.5 in the mixed models


FEATURES: dict[str, Feature] = {
    "pronominality": Feature(0, {"p": "pronoun", "n": "nominal"}, "pronoun"),
    "animacy": Feature(1, {"a": "animate", "i": "inanimate"}, "animate"),
    "length": Feature(2, {"s": "short", "l": "long"}, "short"),
    "definiteness": Feature(3, {"d": "definite", "i": "indefinite"}, "definite"),
}
ROLE_OFFSETS: dict[str, int] = {"theme": 0, "recipient": 4}  # code = theme type + recipient type
CODE_PATTERN = re.compile(r"[pn][ai][sl][di][pn][ai][sl][di]")
DATIVES: tuple[str, ...] = ("do", "pp")
STATES: tuple[str, ...] = ("initial", "final", "best")
FIRST_ARGUMENT: dict[str, str] = {"do": "recipient", "pp": "theme"}  # first argument after the verb
PROTOTYPICAL_ANIMACY: dict[str, str] = {"do": "animate", "pp": "inanimate"}  # of that first argument
DIRECTIONS: dict[str, str] = {"do": "do→pp", "pp": "pp→do"}  # exposure dative -> direction label
DIRECTION_TITLES: dict[str, str] = {"do→pp": "DO exposure → PO use", "pp→do": "PO exposure → DO use"}
DIRECTION_FILES: dict[str, str] = {"do→pp": "do_pp", "pp→do": "pp_do"}
FIRST_FEATURES: dict[str, str] = {  # first-argument column -> the argument feature it reads
    "first_pronominal": "pronominality",
    "first_definite": "definiteness",
    "first_short": "length",
    "first_prototypical_animacy": "animacy",
}
FEATURE_COLUMNS: tuple[str, ...] = tuple(f"{role}_{name}" for role in ROLE_OFFSETS for name in FEATURES)


def _check_code(code: object) -> str:
    """The code itself, or a UserError saying what an 8-letter configuration code looks like."""
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise UserError(
            f"feature configuration {code!r} is not an 8-letter code; write theme then recipient type, "
            "each p/n a/i s/l d/i (e.g. 'pasdnild')"
        )
    return code


def feature_columns(code: str, dative: str | None = None) -> dict[str, str | bool]:
    """The exposure's features as words (``theme_animacy`` -> "animate", ...) read from its 8-letter code;
    with the exposure ``dative``, also the first-postverbal-argument booleans (``first_pronominal``, ...)."""
    _check_code(code)
    out: dict[str, str | bool] = {}
    for role, offset in ROLE_OFFSETS.items():
        for name, feature in FEATURES.items():
            out[f"{role}_{name}"] = feature.levels[code[offset + feature.position]]
    if dative is None:
        return out
    if dative not in FIRST_ARGUMENT:
        raise UserError(f"dative {dative!r} is not 'do' or 'pp' (the prepositional object is labelled 'pp')")
    first = FIRST_ARGUMENT[dative]
    out["first_pronominal"] = out[f"{first}_pronominality"] == "pronoun"
    out["first_definite"] = out[f"{first}_definiteness"] == "definite"
    out["first_short"] = out[f"{first}_length"] == "short"
    out["first_prototypical_animacy"] = out[f"{first}_animacy"] == PROTOTYPICAL_ANIMACY[dative]
    return out
