"""Exposure stimuli: the generator rebuilds the released adaptation.json; parsing, seeds, lexicon, errors."""

from __future__ import annotations

import json
import random
from itertools import product
from pathlib import Path

import pytest
from evalkit_cross_dative.codes import FEATURES, ROLES, argument_types, make_code, parse_code
from evalkit_cross_dative.lexicon import Lexicon, Phrase, configurations, default_lexicon
from evalkit_cross_dative.release import RELEASE_FILE, exposures_from_release, parse_sentence, read_release
from evalkit_cross_dative.sentences import Exposure, render, to_adaptation_json
from evalkit_cross_dative.stimuli import generate_exposures

from evalkit.api import UserError

DATA_DIR = Path(__file__).resolve().parents[3] / "../shared/data/cross-dative"
RELEASE = DATA_DIR / RELEASE_FILE
SINGLETON_PRONOUNS = ("pasi", "pisd", "pisi")


@pytest.fixture(scope="module")
def release() -> dict:
    if not RELEASE.is_file():
        pytest.skip(f"released exposure file not present at {RELEASE}")
    return json.loads(RELEASE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def generated() -> list[Exposure]:
    return generate_exposures()


def check_design(exposures: list[Exposure], lex: Lexicon, instances: int = 5) -> None:
    """Every argument has its configuration's type, and the i-th DO and PO share agent, theme, recipient."""
    by_key: dict[tuple[str, int], list[Exposure]] = {}
    for e in exposures:
        assert lex.phrase(e.theme).code == e.feature_config[:4], e
        assert lex.phrase(e.recipient).code == e.feature_config[4:], e
        assert "theme" in lex.phrase(e.theme).roles and "recipient" in lex.phrase(e.recipient).roles
        assert e.agent in lex.agents and not lex.clash(e.theme, e.recipient)
        assert e.sentence == render(e.agent, e.theme, e.recipient, e.dative)
        by_key.setdefault((e.feature_config, e.hypothesis_instance), []).append(e)
    for pair in by_key.values():
        assert sorted(e.dative for e in pair) == ["do", "pp"]
        assert len({(e.agent, e.theme, e.recipient) for e in pair}) == 1
    for code in {e.feature_config for e in exposures}:  # `instances` DO (and so PO) sentences each
        agents = [e.agent for e in exposures if e.feature_config == code and e.dative == "do"]
        assert len(agents) == instances


def test_codes_and_types():
    assert list(FEATURES) == ["pronominality", "animacy", "length", "definiteness"] and ROLES == (
        "theme",
        "recipient",
    )
    types = argument_types()
    assert types[:4] == ["pasd", "pasi", "pisd", "pisi"] and len(types) == 12
    assert sorted(types[4:]) == sorted("n" + "".join(c) for c in product("ai", "sl", "di"))
    words = parse_code("pasdnild")
    assert words == {
        "theme_pronominality": "pronoun",
        "theme_animacy": "animate",
        "theme_length": "short",
        "theme_definiteness": "definite",
        "recipient_pronominality": "nominal",
        "recipient_animacy": "inanimate",
        "recipient_length": "long",
        "recipient_definiteness": "definite",
    }
    assert make_code(**words) == "pasdnild"
    assert make_code("p", "a", "s", "d", "nominal", "i", "long", "definite") == "pasdnild"


def test_configurations_are_135_in_release_order():
    codes = configurations()
    expected = [
        t + r
        for t, r in product(argument_types(), argument_types())
        if not (t in SINGLETON_PRONOUNS and r in SINGLETON_PRONOUNS)
    ]
    assert codes == expected and len(codes) == 135 == 144 - 9


def test_generator_reproduces_the_release(release, generated):
    assert list(release) == configurations()
    assert to_adaptation_json(generated) == release
    assert list(to_adaptation_json(generated)) == list(release)
    sentences = [s for v in release.values() for d in ("do", "pp") for s in v[d]]
    assert len(sentences) == len(generated) == 1350
    assert sum("  " in s for s in sentences) == 26 == sum("  " in e.sentence for e in generated)
    assert exposures_from_release(release) == generated  # parsed and type-checked against the lexicon
    assert read_release(RELEASE) == generated


def test_release_ids_follow_the_upstream_flat_file(generated):
    """Rows of upstream's adaptation.jsonl (items 1, 6, 1346, 1350), ids and features included."""
    assert [e.item_id for e in generated] == list(range(1, 1351))
    first = generated[0].as_record()
    assert first["item"] == 1 and first["hypothesis_id"] == 1 and first["hypothesis_instance"] == 1
    assert (first["agent"], first["theme"], first["recipient"], first["dative"]) == (
        "mommy",
        "me",
        "her",
        "do",
    )
    assert first["sentence"] == "mommy [verb] her me ." and first["recipient_definiteness"] == "definite"
    sixth = generated[5]
    assert (sixth.item_id, sixth.hypothesis_instance, sixth.dative, sixth.sentence) == (
        6,
        1,
        "pp",
        "mommy [verb] me to her .",
    )
    assert (
        generated[1345].sentence == "nonna [verb] a toy to a store ."
        and generated[1345].hypothesis_instance == 1
    )
    assert generated[1349].as_record() == {
        "item": 1350,
        "hypothesis_id": 135,
        "hypothesis_instance": 5,
        "theme_pronominality": "nominal",
        "theme_animacy": "inanimate",
        "theme_length": "short",
        "theme_definiteness": "indefinite",
        "recipient_pronominality": "nominal",
        "recipient_animacy": "inanimate",
        "recipient_length": "short",
        "recipient_definiteness": "indefinite",
        "agent": "he",
        "theme": "some books",
        "recipient": "some milk",
        "dative": "pp",
        "sentence": "he [verb] some books to some milk .",
    }


def test_every_argument_matches_its_feature_code(generated):
    lex = default_lexicon()
    check_design(generated, lex)
    used = {w for e in generated for w in (e.theme, e.recipient)}
    assert used == {p.text for p in lex.phrases}  # the release uses every phrase of its lexicon
    spaced = {e.theme for e in generated if e.theme.startswith(" ")} | {
        e.recipient for e in generated if e.recipient.startswith(" ")
    }
    assert spaced == {" some cheerios"} and lex.phrase(" some cheerios").code == "nili"


def test_subset_of_configurations_keeps_release_draws_and_ids(generated):
    subset = generate_exposures(configurations=["nilinild", "pasdpasd"])
    assert subset == [e for c in ("nilinild", "pasdpasd") for e in generated if e.feature_config == c]


def test_seeded_generation(generated):
    lex = default_lexicon()
    a, b = generate_exposures(seed=7), generate_exposures(seed=7)
    assert a == b
    assert generate_exposures(seed=8) != a
    assert len(a) == 1350 and [e.item_id for e in a] == list(range(1, 1351))
    differing = sum(x.sentence != y.sentence for x, y in zip(a, generated))
    assert differing > 1000  # a fresh sample, not the release
    check_design(a, lex)
    assert exposures_from_release(to_adaptation_json(a)) == a
    subset = generate_exposures(seed=7, configurations=["nisinili"])
    assert subset == [e for e in a if e.feature_config == "nisinili"]
    three = generate_exposures(seed=3, instances=3, configurations=["pasdnald"])
    assert [e.item_id for e in three] == [e.hypothesis_id * 6 - 5 + i for e, i in zip(three, range(6))]
    check_design(three, lex, instances=3)


def test_release_draws_match_cpython_random():
    """The written-out index draws equal random.choice/sample/choices on this Python."""
    from evalkit_cross_dative.draws import ReleaseDraws

    ours, ref = ReleaseDraws(42), random.Random(42)
    words = [f"w{i}" for i in range(30)]
    for n in (1, 2, 3, 7, 8, 30):
        assert ours.choice(words[:n]) == ref.choice(words[:n])
        assert ours.sample(words[:n], min(n, 5)) == ref.sample(words[:n], min(n, 5))
        assert ours.choices(words[:n], 5) == ref.choices(words[:n], k=5)
    assert ours.sample(words, 25) == ref.sample(words, 25)


def test_render_keeps_spaces():
    assert render("she", " some cheerios", "the ball", "do") == "she [verb] the ball  some cheerios ."
    assert render("she", " some cheerios", "the ball", "pp") == "she [verb]  some cheerios to the ball ."
    assert parse_sentence("she [verb] the ball  some cheerios .", "do") == (
        "she",
        " some cheerios",
        "the ball",
    )
    with pytest.raises(UserError, match="'pp'"):
        render("she", "it", "me", "po")


def test_lexicon_json_round_trip_and_new_features(tmp_path):
    lex = default_lexicon()
    path = tmp_path / "lexicon.json"
    lex.to_json(path)
    assert Lexicon.from_json(path) == lex
    assert generate_exposures(Lexicon.from_json(path)) == generate_exposures()
    data = lex.to_dict()
    data["phrases"].append({"text": "the giraffe over there", "type": "nald", "roles": ["recipient"]})
    data["agents"].append("grandpa joe")
    new = Lexicon.from_dict(data)
    assert "the giraffe over there" in new.fillers("nald", "recipient")
    assert "the giraffe over there" not in new.fillers("nald", "theme")
    out = generate_exposures(new, seed=1)
    check_design(out, new)
    assert len(out) == 1350


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"text": "whoever", "type": "pald"}, "pronouns are short"),
        ({"text": "a cat", "type": "nxsd"}, "not an argument type"),
        ({"text": "a zebra", "type": "nasi", "roles": ["agent"]}, "roles"),
        ({"text": "me", "type": "pasd"}, "listed twice"),
        ({"text": "a [verb]", "type": "nasi"}, "without"),
    ],
)
def test_lexicon_validation(entry, message):
    data = default_lexicon().to_dict()
    data["phrases"].append(entry)
    with pytest.raises(UserError, match=message):
        Lexicon.from_dict(data)


def test_lexicon_validation_of_agents_clashes_and_files(tmp_path):
    with pytest.raises(UserError, match="neither a phrase nor an agent"):
        Lexicon((Phrase("me", "pasd"),), ("mommy",), (("me", "mee"),))
    with pytest.raises(UserError, match="no agents"):
        Lexicon((Phrase("me", "pasd"),), ())
    with pytest.raises(UserError, match="does not exist"):
        Lexicon.from_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(UserError, match="not valid JSON"):
        Lexicon.from_json(tmp_path / "bad.json")


def test_bad_codes():
    for code in ("pasdnil", "pasdxild", "paldnild", 7):
        with pytest.raises(UserError):
            parse_code(code)
    with pytest.raises(UserError, match="pronominality"):
        make_code("x", "a", "s", "d", "n", "i", "l", "d")
    with pytest.raises(UserError, match="pronouns are short"):
        make_code("p", "a", "l", "d", "n", "i", "l", "d")
    with pytest.raises(UserError, match="not one of the lexicon's 135"):
        generate_exposures(configurations=["pasipisd"])
    with pytest.raises(UserError, match="seed"):
        generate_exposures(seed=-1)


def small_release() -> dict:
    """Two configurations of the release, as in the file."""
    return to_adaptation_json(generate_exposures(configurations=["pasdpasd", "nisinili"]))


def test_release_errors_name_key_and_fix():
    data = small_release()
    assert [e.hypothesis_id for e in exposures_from_release(data)][::10] == [1, 133]

    bad = small_release()
    bad["pasdpasd"]["do"][2] = "john gave me her ."
    with pytest.raises(UserError, match=r"(?s)'pasdpasd'.*\[verb\].*verb slot"):
        exposures_from_release(bad)

    bad = small_release()
    bad["pasdxxxx"] = bad.pop("pasdpasd")
    with pytest.raises(UserError, match="unknown key 'pasdxxxx'"):
        exposures_from_release(bad)

    bad = small_release()
    bad["pasipasi"] = bad.pop("pasdpasd")
    with pytest.raises(UserError, match="unknown key 'pasipasi'"):
        exposures_from_release(bad)

    bad = small_release()
    bad["nisinili"]["pp"].pop()
    with pytest.raises(UserError, match=r"'nisinili'.*'pp' has 4 sentences, expected a list of 5"):
        exposures_from_release(bad)

    bad = small_release()
    bad["nisinili"] = bad.pop("pasdpasd")  # pronoun sentences under a nominal key
    with pytest.raises(UserError, match=r"key 'nisinili'.*is pasd in the lexicon, but the key wants nisi"):
        exposures_from_release(bad)

    bad = small_release()
    bad["pasdpasd"]["pp"][0], bad["pasdpasd"]["pp"][1] = bad["pasdpasd"]["pp"][1], bad["pasdpasd"]["pp"][0]
    with pytest.raises(UserError, match="DO and PO sentence 1 differ"):
        exposures_from_release(bad)

    bad = small_release()
    bad["pasdpasd"]["do"][0] = "mommy [verb] her the zebra ."
    with pytest.raises(UserError, match="known phrases"):
        exposures_from_release(bad)
