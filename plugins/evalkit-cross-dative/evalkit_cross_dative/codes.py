"""The stimulus design's vocabulary: roles, datives, the verb slot, and the 4-letter argument types and 8-letter
configuration codes (checked, enumerated, and converted to and from feature words)."""

from __future__ import annotations

from itertools import product

from evalkit.api import UserError

ROLES: tuple[str, ...] = ("theme", "recipient")
DATIVES: tuple[str, ...] = ("do", "pp")
VERB = "[verb]"

# Feature name -> {letter: word}, in code position order. The letter order is the enumeration order of
# argument types and configurations (long before short, as upstream enumerated them).
FEATURES: dict[str, dict[str, str]] = {
    "pronominality": {"p": "pronoun", "n": "nominal"},
    "animacy": {"a": "animate", "i": "inanimate"},
    "length": {"l": "long", "s": "short"},
    "definiteness": {"d": "definite", "i": "indefinite"},
}


def check_type(code: object, what: str) -> str:
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
        check_type(part, f"{role} part of configuration code {code!r}")
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
