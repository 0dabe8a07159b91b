"""Reading the released cross-dative stimuli: the data directory, its manifest and the three files.

The files cannot be downloaded at run time and are never copied into the repository: evalkit reads them from a
directory laid out as the upstream repository (kanishkamisra/encouraging-exposures). Every problem with them is
one sentence naming the file and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.api import UserError, jsonl_records

ENV_VAR = "EVALKIT_CROSS_DATIVE_DIR"
VERB = "[verb]"
EXPERIMENTS = "data/experiments"
VALIDATION = f"{EXPERIMENTS}/validation.json"
GENERALIZATION = f"{EXPERIMENTS}/single_stimuli_dative_simulation_valtest_vbd/generalization.jsonl"
ADAPTATION = f"{EXPERIMENTS}/single_stimuli_dative_simulation_valtest_vbd_no_markedness_no_discourse/sentences/adaptation.json"
FILES = (VALIDATION, GENERALIZATION, ADAPTATION)
SOURCE = (
    "the repository github.com/kanishkamisra/encouraging-exposures (MIT licence): data/experiments/validation.json, "
    "…/single_stimuli_dative_simulation_valtest_vbd/generalization.jsonl and "
    "…/single_stimuli_dative_simulation_valtest_vbd_no_markedness_no_discourse/sentences/adaptation.json, "
    "at the same paths under the data directory"
)
DATIVES = ("do", "pp")


def default_data_dir() -> str:
    """``$EVALKIT_CROSS_DATIVE_DIR``, else ``../shared/data/cross-dative`` beside this checkout."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    checkout = (
        Path(__file__).resolve().parents[3]
    )  # plugins/evalkit-cross-dative/evalkit_cross_dative/files.py
    return str(checkout.parent / "shared" / "data" / "cross-dative")


def data_path(root: str | Path, name: str) -> Path:
    """The file ``name`` under ``root``; one sentence naming every expected file when it is missing."""
    path = Path(root).expanduser() / name
    if not path.is_file():
        raise UserError(
            f"the cross-dative data directory {str(root)!r} lacks {name}; it must hold the stimuli of {SOURCE}. "
            f"Set --config.tasks.cross_dative.data_dir (or ${ENV_VAR}) to that directory"
        )
    return path


def verify_manifest(root: str | Path) -> int:
    """Checks the files listed in ``root/MANIFEST.sha256`` (when there is one); returns how many matched."""
    manifest = Path(root).expanduser() / "MANIFEST.sha256"
    if not manifest.is_file():
        return 0
    checked = 0
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        digest, _, name = line.strip().partition("  ")
        path = manifest.parent / name
        if not path.is_file():
            continue  # a partial copy: data_path() names what a run actually needs
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise UserError(
                f"{path} does not match its checksum in {manifest}; restore the original file from {SOURCE}"
            )
        checked += 1
    return checked


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (byte {exc.start}); restore the original file") from exc
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); restore the original file"
        ) from exc


def check_stimulus(sentence: Any, where: str, *, after_space: bool = True) -> str:
    """A stimulus sentence, checked to hold ``[verb]`` (with ``after_space``: every one after a space, how the new
    token " [verb]" is written; one that is not is tokenized as ordinary text, as the authors' tokenizer did)."""
    if not isinstance(sentence, str) or VERB not in sentence:
        raise UserError(f"{where} has no {VERB} in {sentence!r}; every stimulus must contain the novel verb")
    starts = [i for i in range(len(sentence)) if sentence.startswith(VERB, i)]
    if after_space and any(at == 0 or sentence[at - 1] != " " for at in starts):
        raise UserError(
            f"{where}: {VERB} in {sentence!r} does not follow a space, so it would not be the new token "
            f'" {VERB}"; put a space before it'
        )
    return sentence


def read_validation(root: str | Path) -> tuple[list[str], list[str]]:
    """The verbhood validation set: (good, bad) sentences with ``[verb]`` in verb / non-verb slots."""
    path = data_path(root, VALIDATION)
    data = _json(path)
    if not isinstance(data, dict) or not {"good", "bad"} <= set(data):
        raise UserError(
            f"{path} must be a JSON object with 'good' and 'bad' lists; restore the original file"
        )
    good = [check_stimulus(s, f"{path} good[{i}]") for i, s in enumerate(data["good"])]
    bad = [check_stimulus(s, f"{path} bad[{i}]") for i, s in enumerate(data["bad"])]
    return good, bad


@dataclass(frozen=True)
class GeneralizationItem:
    """One naturalistic dative utterance with its verb replaced by ``[verb]``."""

    item: int
    dative: str  # "do" or "pp"
    verb: str  # the original verb
    sentence: str

    @property
    def original(self) -> str:
        """The utterance with its real verb back (what must not be in a learner's training text)."""
        return self.sentence.replace(VERB, self.verb)


def read_generalization(root: str | Path) -> list[GeneralizationItem]:
    """The 255 generalization sentences (items 1-165 DO, 166-255 PO)."""
    path = data_path(root, GENERALIZATION)
    items = []
    for line, record in jsonl_records(path, "restore the original file"):
        where = f"{path} line {line}"
        if not isinstance(record, dict) or not {"item", "dative", "verb", "sentence"} <= set(record):
            raise UserError(
                f"{where} must have item, dative, verb and sentence fields; restore the original file"
            )
        if record["dative"] not in DATIVES:
            raise UserError(
                f"{where} has dative {record['dative']!r}, not 'do' or 'pp'; restore the original file"
            )
        # item 63 starts with "[verb]": the authors' tokenizer saw ordinary text there, and so does evalkit's
        sentence = check_stimulus(record["sentence"], where, after_space=False)
        items.append(GeneralizationItem(int(record["item"]), record["dative"], str(record["verb"]), sentence))
    if not items:
        raise UserError(f"{path} holds no sentences; restore the original file")
    return items


def read_adaptation(root: str | Path) -> dict[str, dict[str, list[str]]]:
    """The released exposure sentences: feature code -> {"do": [...], "pp": [...]} (checked by the stimuli module)."""
    path = data_path(root, ADAPTATION)
    data = _json(path)
    if not isinstance(data, dict) or not data:
        raise UserError(f"{path} must be a JSON object of feature codes; restore the original file")
    return data
