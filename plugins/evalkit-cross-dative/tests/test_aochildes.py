"""AO-CHILDES utterances from transcript CSVs: filters, order, formatting, errors, dev split, removal."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from evalkit_cross_dative import aochildes
from evalkit_cross_dative.aochildes import (
    DEFAULT_DIR_ENV,
    default_transcripts_dir,
    read_utterances,
    remove_sentences,
    split_dev,
    utterances_fingerprint,
)

from evalkit.api import UserError

COLUMNS = (
    "id,speaker_id,utterance_order,transcript_id,corpus_id,gloss,num_tokens,stem,part_of_speech,speaker_code,"
    "speaker_name,speaker_role,target_child_id,target_child_age,target_child_name,target_child_sex,type,"
    "media_end,media_start,media_unit,collection_id,collection_name,num_morphemes,language"
).split(",")


def row(
    gloss, *, age="900.5", transcript=10, order=1, utype="declarative", role="Mother", coll="Eng-NA", n=None
):
    """One CSV row as a dict; num_tokens defaults to the gloss's word count."""
    return {
        **dict.fromkeys(COLUMNS, "NA"),
        "gloss": gloss,
        "target_child_age": age,
        "transcript_id": str(transcript),
        "utterance_order": str(order),
        "type": utype,
        "speaker_role": role,
        "collection_name": coll,
        "num_tokens": str(len(gloss.split()) if n is None else n),
    }


def write_csv(folder: Path, name: str, rows: list[dict], columns=COLUMNS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fake AO-CHILDES folder with two corpora whose file order is not age order."""
    transcripts = tmp_path / "aochildes" / "original_transcripts"
    write_csv(
        transcripts,
        "A.csv",
        [
            row("older child", age="1000", transcript=5, order=1),
            row("Look at Big_Bird", age="400", transcript=7, order=2, utype="imperative_emphatic"),
            row("you see the t+shirt", age="400", transcript=7, order=1, utype="question"),
            row("too old", age="2191", transcript=8),
            row("no age", age="NA", transcript=9),
        ],
    )
    write_csv(
        transcripts,
        "B.csv",
        [
            row("same age other transcript", age="400", transcript=3, order=4, utype="trail off question"),
            row("sibling talk", age="400", transcript=3, order=5, role="Child"),
            row("target child talk", age="400", transcript=3, order=6, role="Target_Child"),
            row("clinical", age="400", transcript=3, order=7, coll="Clinical-MOR"),
            row("zero tokens", age="400", transcript=3, order=8, n=0),
            row("xxx unclear", age="400", transcript=3, order=9),
            row("ball www", age="400", transcript=3, order=10),
            row("yyy", age="400", transcript=3, order=11),
            row("bad \ufffd char", age="400", transcript=3, order=12),
            row("NA", age="400", transcript=3, order=13, n=1),
            row("where is\nthe dog", age="400", transcript=3, order=14, utype="declarative"),
        ],
    )
    return tmp_path / "aochildes"


def test_filters_order_and_format(data_dir: Path) -> None:
    assert read_utterances(data_dir) == [
        "same age other transcript ?",  # age 400, transcript 3 comes before transcript 7
        "where is the dog ?",  # embedded newline; question start overrides its declarative type
        "you see the t shirt ?",  # utterance_order 1 before 2, whatever the file order
        "look at big bird !",
        "older child .",
    ]


def test_accepts_the_transcripts_folder_itself_and_the_env_var(data_dir: Path, monkeypatch) -> None:
    expected = read_utterances(data_dir)
    assert read_utterances(data_dir / "original_transcripts") == expected
    assert read_utterances(str(data_dir)) == expected
    monkeypatch.setenv(DEFAULT_DIR_ENV, str(data_dir))
    assert default_transcripts_dir() == data_dir
    assert read_utterances() == expected


def test_default_dir_is_the_shared_data_folder_next_to_the_repo(monkeypatch) -> None:
    monkeypatch.delenv(DEFAULT_DIR_ENV, raising=False)
    repo_root = Path(aochildes.__file__).resolve().parents[3]
    assert default_transcripts_dir() == repo_root.parent / "shared" / "data" / "aochildes"


def test_max_age_days(data_dir: Path) -> None:
    assert read_utterances(data_dir, max_age_days=999)[-1] == "look at big bird !"
    assert read_utterances(data_dir, max_age_days=3000)[-1] == "too old ."
    assert read_utterances(data_dir, max_age_days=100) == []


@pytest.mark.parametrize(
    "gloss, utype, expected",
    [
        ("what's that", "declarative", "what's that ?"),
        ("whatever you say", "declarative", "whatever you say ?"),  # the package matches prefixes
        ("what a mess", "declarative", "what a mess ."),
        ("what a mess", "question", "what a mess ?"),
        ("how about that", "imperative_emphatic", "how about that ?"),
        ("who", "declarative", "who ?"),
        ("when", "declarative", "when ?"),
        ("you wanna go", "declarative", "you wanna go ?"),
        ("do you see", "declarative", "do you see ?"),
        ("can you see", "imperative", "can you see ?"),
        ("What is it", "declarative", "what is it ."),  # the package's check is case-sensitive
        ("give it", "imperative", "give it !"),
        ("oh", "question exclamation", "oh !"),
        ("and then", "trail off", "and then ."),
        ("and then", "self interruption question", "and then ?"),
        ("stop", "interruption", "stop ."),
        ("stop", "quotation next line", "stop ."),
        ("stop", "some new type", "stop ."),  # unknown types fall back to a full stop
        ("I see Mommy", "declarative", "i see mommy ."),
        ("CHI and Mot and fat", "declarative", "child and mother and father ."),
        ("chi_mot", "declarative", "chi mot ."),  # codes are mapped as whole words only
        ("yo-yo peanut+butter Big_Bird", "declarative", "yo-yo peanut butter big bird ."),
        ("  spaced   out  ", "declarative", "spaced out ."),
    ],
)
def test_format_utterance(gloss: str, utype: str, expected: str) -> None:
    assert aochildes.format_utterance(gloss, utype) == expected


def test_each_gloss_keeps_its_own_type(tmp_path: Path) -> None:
    # The package pairs one transcript's glosses with all types at that age; here each keeps its own.
    write_csv(
        tmp_path,
        "C.csv",
        [
            row("first", age="500", transcript=1, utype="declarative"),
            row("second", age="500", transcript=2, order=1, utype="question"),
            row("third", age="500", transcript=2, order=2, utype="imperative"),
        ],
    )
    assert read_utterances(tmp_path) == ["first .", "second ?", "third !"]


def test_missing_folder_names_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as err:
        read_utterances(missing)
    message = str(err.value)
    assert str(missing) in message
    assert "original_transcripts/*.csv" in message
    assert "github.com/UIUCLearningLanguageLab/AOCHILDES" in message
    assert DEFAULT_DIR_ENV in message


def test_folder_without_csvs(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here", encoding="utf-8")
    with pytest.raises(UserError, match="no .csv files"):
        read_utterances(tmp_path)


def test_non_utf8_csv_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "Latin.csv", [row("caf\u00e9")])
    path.write_bytes(path.read_bytes().replace("\u00e9".encode(), b"\xe9"))
    with pytest.raises(UserError, match=r"Latin\.csv is not UTF-8"):
        read_utterances(tmp_path)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    columns = [c for c in COLUMNS if c not in ("type", "utterance_order")]
    write_csv(tmp_path, "Short.csv", [row("hello")], columns=columns)
    with pytest.raises(UserError, match=r"Short\.csv lacks the column\(s\) type, utterance_order;"):
        read_utterances(tmp_path)


def test_malformed_number_is_named(tmp_path: Path) -> None:
    write_csv(tmp_path, "Bad.csv", [row("hello", age="soon")])
    with pytest.raises(UserError, match=r"row 2 of the AO-CHILDES transcript .*Bad\.csv"):
        read_utterances(tmp_path)


def test_split_dev_is_seeded_disjoint_and_ordered() -> None:
    utterances = [f"utterance {i} ." for i in range(1000)]
    train, dev = split_dev(utterances, 0.1, seed=6)
    assert len(dev) == 100 and len(train) == 900
    assert sorted(train + dev, key=utterances.index) == utterances
    assert train == sorted(train, key=utterances.index) and dev == sorted(dev, key=utterances.index)
    assert split_dev(utterances, 0.1, seed=6) == (train, dev)
    assert split_dev(utterances, 0.1, seed=7)[1] != dev


def test_split_dev_edges() -> None:
    assert split_dev(["a .", "b ."], 0.0, seed=0) == (["a .", "b ."], [])
    train, dev = split_dev(["a .", "b .", "c ."], 0.01, seed=0)  # a positive fraction keeps one dev item
    assert len(dev) == 1 and len(train) == 2
    assert split_dev([], 0.1, seed=0) == ([], [])
    for bad in (-0.1, 1.0):
        with pytest.raises(UserError, match="dev fraction"):
            split_dev(["a ."], bad, seed=0)


def test_remove_sentences_normalises() -> None:
    utterances = ["mommy gave me the ball .", "give it to me !", "Mommy  gave me the ball ?", "the ball ."]
    kept, removed = remove_sentences(utterances, ["  MOMMY gave me   the ball", "give it to me ?!", "", "."])
    assert kept == ["the ball ."]
    assert removed == ["mommy gave me the ball .", "give it to me !", "Mommy  gave me the ball ?"]
    assert remove_sentences(utterances, []) == (utterances, [])


def test_fingerprint() -> None:
    utterances = ["a .", "b ?"]
    assert utterances_fingerprint(utterances) == hashlib.sha256(b"a .\nb ?").hexdigest()
    assert utterances_fingerprint(iter(utterances)) == utterances_fingerprint(utterances)
    assert utterances_fingerprint(utterances[::-1]) != utterances_fingerprint(utterances)


def test_real_data_counts() -> None:
    """The 21 shipped CSVs: SOURCE.md counts 162,129 eligible utterances with 654,211 gloss words."""
    folder = default_transcripts_dir()
    csvs = sorted((folder / "original_transcripts").glob("*.csv")) or sorted(folder.glob("*.csv"))
    if not csvs:
        pytest.skip(f"AO-CHILDES transcripts not present at {folder}")
    utterances = read_utterances(folder)
    if len(csvs) == 21:  # the partial copy described in SOURCE.md, not the package's full 37 files
        assert len(utterances) == 162_129
    assert all(u.endswith((" .", " ?", " !")) and u == u.lower() for u in utterances)
    assert not any("_" in u or "+" in u or "  " in u or "\n" in u for u in utterances)
    assert utterances[0] == "just like your book at home ."
