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

The parts live beside this module (which holds the generator): `codes` (argument types and configuration
codes), `lexicon`, `sentences` (the Exposure record and rendering), `draws` (the index draws) and `release`
(reading the released file back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from evalkit.api import UserError
from evalkit_cross_dative.codes import parse_code
from evalkit_cross_dative.draws import NumpyDraws, ReleaseDraws
from evalkit_cross_dative.lexicon import Lexicon, default_lexicon
from evalkit_cross_dative.lexicon import configurations as _configurations  # the argument below shadows it
from evalkit_cross_dative.release import RELEASE_INSTANCES
from evalkit_cross_dative.release import exposures_from_release as exposures_from_release  # re-export
from evalkit_cross_dative.sentences import Exposure, exposures_of

RELEASE_SEED = 42  # the upstream script's `random.seed`


def _draw_instances(
    lex: Lexicon, code: str, n: int, draws: ReleaseDraws | NumpyDraws, *, discard_agent: bool
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
        draws = ReleaseDraws(RELEASE_SEED)  # one stream over the full design, so subsets match the release
        triples = {c: _draw_instances(lex, c, instances, draws, discard_agent=True) for c in full}
    else:
        triples = {
            c: _draw_instances(lex, c, instances, NumpyDraws((seed, index[c])), discard_agent=False)
            for c in wanted
        }
    return [e for c in wanted for e in exposures_of(c, index[c], triples[c])]


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
