"""AO-CHILDES child-directed utterances from the package's raw transcript CSVs.

Re-implements the filtering and formatting of the AO-CHILDES package (UIUCLearningLanguageLab/AOCHILDES,
`aochildes/pipeline.py`, commit e253481): rows with target-child age > 2,190 days, num_tokens < 1, speaker
role Target_Child or Child, or a collection other than Eng-NA are dropped, as are glosses containing `�`,
`www`, `xxx` or `yyy`; the rest go by target-child age, then transcript, then utterance order. Each gloss
gets a terminator (` ?` for glosses starting with what/where/how/who/when/"you wanna"/"do you"/"can you",
except "what a ", otherwise one chosen by its utterance type), is lower-cased, has `+` and `_` turned into
spaces, and has the words chi/mot/fat mapped to child/mother/father.

Differences from the package, on purpose:
- The package's `spelling.py` word merges and spelling normalisation (e.g. "lets" -> "let us") are not
  applied: that list is not available to this project, so utterances keep the childes-db spelling.
- Each gloss is paired with its own utterance type; the package pairs the glosses of one transcript with
  the types of all rows at that age, so its terminators can come from the wrong rows.
- Rows without an age (NA) are dropped; the package's pandas groupby drops them too.
- An utterance type the package does not know (it would raise KeyError) gets ` .`; none occur in the
  shipped CSVs.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.api import UserError

DEFAULT_DIR_ENV = "EVALKIT_AOCHILDES_DIR"
TRANSCRIPTS_SUBDIR = "original_transcripts"
UPSTREAM = "github.com/UIUCLearningLanguageLab/AOCHILDES"

REQUIRED_COLUMNS = (
    "gloss",
    "type",
    "num_tokens",
    "transcript_id",
    "utterance_order",
    "target_child_age",
    "speaker_role",
    "collection_name",
)
BAD_SPEAKER_ROLES = frozenset({"Target_Child", "Child"})
COLLECTION_NAMES = frozenset({"Eng-NA"})
MIN_NUM_TOKENS = 1
_MISSING = frozenset({"NA", ""})  # how R's write.table marks a missing value
_IGNORE_RE = re.compile(r"(�|www|xxx|yyy)")
_QUESTION_STARTS = ("what", "where", "how", "who", "when", "you wanna", "do you", "can you")
_TERMINATORS = {
    "imperative": "!",
    "imperative_emphatic": "!",
    "question exclamation": "!",
    "declarative": ".",
    "interruption": ".",
    "self interruption": ".",
    "quotation next line": ".",
    "quotation precedes": ".",
    "broken for coding": ".",
    "question": "?",
    "self interruption question": "?",
    "interruption question": "?",
    "trail off question": "?",
    "trail off": ".",
}
_SPEAKER_CODES = {"chi": "child", "mot": "mother", "fat": "father"}


@dataclass(frozen=True)
class _Row:
    """One eligible CSV row: its sort key and the fields that make the utterance."""

    age: float
    transcript_id: int
    utterance_order: int
    gloss: str
    utterance_type: str


def default_transcripts_dir() -> Path:
    """`$EVALKIT_AOCHILDES_DIR`, else the shared data folder next to the repository (`../shared/data/aochildes`)."""
    env = os.environ.get(DEFAULT_DIR_ENV)
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[3]
    return repo_root.parent / "shared" / "data" / "aochildes"


def _csv_dir(data_dir: str | Path | None) -> Path:
    """The folder holding the CSVs: `data_dir` itself or its `original_transcripts/` subfolder."""
    folder = Path(data_dir) if data_dir is not None else default_transcripts_dir()
    if (folder / TRANSCRIPTS_SUBDIR).is_dir():
        return folder / TRANSCRIPTS_SUBDIR
    if folder.is_dir():
        return folder
    raise UserError(
        f"the AO-CHILDES transcript folder {folder} does not exist; it should hold the AO-CHILDES package's "
        f"{TRANSCRIPTS_SUBDIR}/*.csv files (from {UPSTREAM}), so point ${DEFAULT_DIR_ENV} or the config's "
        "data dir at it"
    )


def _csv_paths(folder: Path) -> list[Path]:
    """The CSVs in `folder`, sorted by name as the package reads them."""
    paths = sorted(p for p in folder.glob("*.csv") if p.is_file())
    if not paths:
        raise UserError(
            f"the AO-CHILDES transcript folder {folder} has no .csv files; copy the AO-CHILDES package's "
            f"{TRANSCRIPTS_SUBDIR}/*.csv files (from {UPSTREAM}) into it"
        )
    return paths


def _number(value: str) -> float | None:
    """A numeric CSV field, or None when it is missing (NA)."""
    return None if value.strip() in _MISSING else float(value)


def _eligible(fields: dict[str, str], max_age_days: int) -> _Row | None:
    """The row's utterance fields when it passes the package's filters, else None."""
    age = _number(fields["target_child_age"])
    num_tokens = _number(fields["num_tokens"])
    gloss = fields["gloss"]
    if age is None or age > max_age_days or num_tokens is None or num_tokens < MIN_NUM_TOKENS:
        return None
    if fields["speaker_role"] in BAD_SPEAKER_ROLES or fields["collection_name"] not in COLLECTION_NAMES:
        return None
    if gloss in _MISSING or _IGNORE_RE.search(gloss):
        return None
    transcript_id = _number(fields["transcript_id"])
    order = _number(fields["utterance_order"])
    return _Row(
        age=age,
        transcript_id=int(transcript_id) if transcript_id is not None else -1,  # NA sorts first
        utterance_order=int(order) if order is not None else -1,
        gloss=gloss,
        utterance_type=fields["type"],
    )


def _read_csv(path: Path, max_age_days: int) -> Iterator[_Row]:
    """The eligible rows of one transcript CSV, in file order."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise UserError(
                    f"the AO-CHILDES transcript {path} lacks the column(s) {', '.join(missing)}; use the "
                    f"unmodified {TRANSCRIPTS_SUBDIR}/*.csv files of the AO-CHILDES package ({UPSTREAM})"
                )
            index = {c: header.index(c) for c in REQUIRED_COLUMNS}
            for line_no, values in enumerate(reader, start=2):
                if not values:
                    continue
                try:
                    row = _eligible({c: values[i] for c, i in index.items()}, max_age_days)
                except (IndexError, ValueError) as err:
                    raise UserError(
                        f"row {line_no} of the AO-CHILDES transcript {path} is malformed ({err}); restore the "
                        f"unmodified file from the AO-CHILDES package ({UPSTREAM})"
                    ) from err
                if row is not None:
                    yield row
    except UnicodeDecodeError as err:
        raise UserError(
            f"the AO-CHILDES transcript {path} is not UTF-8 text; restore the unmodified file from the "
            f"AO-CHILDES package ({UPSTREAM})"
        ) from err


def _terminator(gloss: str, utterance_type: str) -> str:
    """The package's utterance-boundary mark: a question word start forces `?`, else the type decides."""
    if gloss.startswith(_QUESTION_STARTS) and not gloss.startswith("what a "):
        return "?"
    return _TERMINATORS.get(utterance_type, ".")


def _format_word(word: str) -> str:
    """Lower-case, split compounds on `+`/`_` (hyphens kept) and expand the speaker codes chi/mot/fat."""
    word = word.lower().replace("+", " ").replace("_", " ")
    return _SPEAKER_CODES.get(word, word)


def format_utterance(gloss: str, utterance_type: str) -> str:
    """One gloss as AO-CHILDES text: formatted words, a space, then its terminator."""
    text = f"{gloss} {_terminator(gloss, utterance_type)}"
    return " ".join(_format_word(w) for w in text.split())


def read_utterances(data_dir: str | Path | None = None, *, max_age_days: int = 2190) -> list[str]:
    """All eligible AO-CHILDES utterances, ordered by child age, transcript and utterance order."""
    rows: list[_Row] = []
    for path in _csv_paths(_csv_dir(data_dir)):
        rows.extend(_read_csv(path, max_age_days))
    rows.sort(key=lambda r: (r.age, r.transcript_id, r.utterance_order))  # stable: file order breaks ties
    return [format_utterance(r.gloss, r.utterance_type) for r in rows]


def split_dev(utterances: Sequence[str], dev_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded random held-out set: (train, dev), each keeping the original order."""
    if not 0.0 <= dev_fraction < 1.0:
        raise UserError(f"the dev fraction is {dev_fraction}; set it to at least 0 and below 1")
    n = len(utterances)
    n_dev = round(n * dev_fraction)
    if dev_fraction > 0 and n >= 2:
        n_dev = min(max(n_dev, 1), n - 1)
    is_dev = np.zeros(n, dtype=bool)
    is_dev[np.random.default_rng(seed).choice(n, size=n_dev, replace=False)] = True
    train = [u for u, d in zip(utterances, is_dev) if not d]
    dev = [u for u, d in zip(utterances, is_dev) if d]
    return train, dev


def normalize_sentence(text: str) -> str:
    """Comparison form: lower-cased, whitespace collapsed and stripped, trailing `.?!` and spaces dropped."""
    return " ".join(text.lower().split()).rstrip(".?! ")


def remove_sentences(utterances: Sequence[str], sentences: Iterable[str]) -> tuple[list[str], list[str]]:
    """Drops utterances equal to one of `sentences` (after normalisation), so test items stay unseen: (kept, removed)."""
    banned = {key for key in map(normalize_sentence, sentences) if key}
    kept: list[str] = []
    removed: list[str] = []
    for utterance in utterances:
        (removed if normalize_sentence(utterance) in banned else kept).append(utterance)
    return kept, removed


def utterances_fingerprint(utterances: Iterable[str]) -> str:
    """SHA-256 hex digest of the newline-joined utterances, for config hashes."""
    return hashlib.sha256("\n".join(utterances).encode("utf-8")).hexdigest()
