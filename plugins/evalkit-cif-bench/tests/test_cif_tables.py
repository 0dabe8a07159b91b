"""Checks of the versioned CIF-Bench task table ``evalkit_cif_bench/data/tasks.json`` against the public files.

The table is evalkit's own (metric class, categories and generation budget per task id); it holds task ids
and file-name task names only, nothing from inside the data files. The data tests read the public split from
``<repo root>/../shared/data/cif-bench/dataset/public`` and are skipped when it is absent; the structural
tests run without it.
"""

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
TABLE = HERE.parents[1] / "evalkit_cif_bench" / "data" / "tasks.json"


def _repo_root() -> Path:
    # The folder holding the project's pyproject.toml (the plugin has its own one, so also require plugins/).
    for parent in HERE.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "plugins").is_dir():
            return parent
    return HERE.parents[3]


SHARED = _repo_root().parent / "shared" / "data" / "cif-bench"
DATA = SHARED / "dataset" / "public"
FILE_RE = re.compile(r"(\d+)_(.+)_public\.jsonl")

EXPECTED_IDS = {i for i in range(152) if i not in (84, 95)}
CATEGORIES = [
    "Chinese Culture",
    "Classification",
    "Code",
    "Commonsense",
    "Creative NLG",
    "Evaluation",
    "Grammar",
    "Linguistic",
    "Motion Detection",
    "NER",
    "NLI",
    "QA",
    "Reasoning",
    "Role Playing",
    "Sentiment",
    "Structured Data",
    "Style Transfer",
    "Summarization",
    "Toxic",
    "Translation",
]
CLASSES = ["label", "multi_label", "short_answer", "short_generation", "long_generation"]
CLASS_COUNTS = {
    "label": 32,
    "multi_label": 3,
    "short_answer": 25,
    "short_generation": 42,
    "long_generation": 48,
}

needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"CIF-Bench public split not found at {DATA} (shared data folder absent)"
)


@pytest.fixture(scope="module")
def table() -> dict:
    return json.loads(TABLE.read_text("utf-8"))


@pytest.fixture(scope="module")
def files() -> dict[int, tuple[str, Path]]:
    found: dict[int, tuple[str, Path]] = {}
    for path in DATA.iterdir():
        m = FILE_RE.fullmatch(path.name)
        assert m, f"unexpected file in the public split: {path.name}"
        tid = int(m[1])
        assert tid not in found, f"two files for task id {tid}"
        found[tid] = (m[2], path)
    return found


@pytest.fixture(scope="module")
def max_output_chars(files) -> dict[int, int]:
    longest = {}
    for tid, (_, path) in files.items():
        lines = path.read_text("utf-8").splitlines()
        assert len(lines) == 50, f"task {tid}: {len(lines)} lines"
        longest[tid] = max(len(json.loads(line)["Output"]) for line in lines)
    return longest


# ---- structural checks (no data needed) ----


def test_table_loads_with_version(table):
    assert table["version"] == "1"
    assert set(table) >= {"version", "categories", "classes", "tasks", "excluded", "notes"}
    assert table["notes"].strip()


def test_categories_and_classes_lists(table):
    assert table["categories"] == CATEGORIES
    assert table["classes"] == CLASSES


def test_every_task_id_once(table):
    keys = list(table["tasks"])
    assert len(keys) == len(set(keys)) == 150
    assert {int(k) for k in keys} == EXPECTED_IDS
    assert all(k == str(int(k)) for k in keys)


def test_every_task_has_one_known_class(table):
    for tid, entry in table["tasks"].items():
        assert isinstance(entry["class"], str) and entry["class"] in table["classes"], tid
        assert entry["name"] and isinstance(entry["name"], str), tid


def test_class_counts(table):
    """Class counts (tasks.json v1): label 32, multi_label 3, short_answer 25, short_generation 42,
    long_generation 48; total 150 (task 1 keeps short_generation but is excluded from scores)."""
    counts = Counter(e["class"] for e in table["tasks"].values())
    print("class counts:", dict(counts))
    assert dict(counts) == CLASS_COUNTS
    assert sum(counts.values()) == 150


def test_review_notes_applied(table):
    """cif_bench.md section 8 review notes: 140 long generation, 101 label, 87 and 103 multi-label."""
    cls = {int(k): e["class"] for k, e in table["tasks"].items()}
    assert cls[140] == "long_generation"
    assert cls[101] == "label"
    assert cls[87] in ("label", "multi_label")
    assert cls[103] == "multi_label"


def test_every_task_has_known_categories(table):
    for tid, entry in table["tasks"].items():
        cats = entry["categories"]
        assert isinstance(cats, list) and cats, f"task {tid} has no category"
        assert len(cats) == len(set(cats)), tid
        assert set(cats) <= set(table["categories"]), (tid, cats)


def test_every_category_used(table):
    """All 20 categories get at least one task (none is left unused)."""
    counts = Counter(c for e in table["tasks"].values() for c in e["categories"])
    print("tasks per category:", {c: counts[c] for c in table["categories"]})
    assert [c for c in table["categories"] if not counts[c]] == []


def test_excluded(table):
    assert list(table["excluded"]) == ["1"]
    assert table["excluded"]["1"].strip()
    assert table["tasks"]["1"]["name"] == "Grammar_Error_Correction"


def test_budgets_are_ints_in_range(table):
    for tid, entry in table["tasks"].items():
        mnt = entry["max_new_tokens"]
        assert isinstance(mnt, int) and not isinstance(mnt, bool), tid
        assert 16 <= mnt <= 2048 and mnt % 16 == 0, (tid, mnt)
        if entry["class"] == "label":
            assert mnt <= 64, f"label task {tid} budget {mnt} is not short"


# ---- checks against the public files ----


@needs_data
def test_all_files_present(files):
    assert len(files) == 150
    assert set(files) == EXPECTED_IDS
    assert files[35][0] == files[36][0] == "Dialogue_State_Tracking"


@needs_data
def test_table_matches_files(table, files):
    for tid, entry in table["tasks"].items():
        assert int(tid) in files, f"task {tid} has no file"
        assert entry["name"] == files[int(tid)][0], (tid, entry["name"], files[int(tid)][0])
    assert {str(t) for t in files} == set(table["tasks"])


@needs_data
def test_leaderboard_header_order(table):
    board = SHARED / "leaderboard.csv"
    if not board.is_file():
        pytest.skip(f"{board} absent")
    header = board.read_text("utf-8-sig").splitlines()[0].split(",")
    assert header[2:] == table["categories"]


@needs_data
def test_budgets_cover_gold_outputs(table, max_output_chars):
    """max_new_tokens >= the gold output length in characters for every line of every file."""
    for tid, longest in max_output_chars.items():
        mnt = table["tasks"][str(tid)]["max_new_tokens"]
        assert mnt >= longest, f"task {tid}: max_new_tokens {mnt} < longest gold output {longest} chars"


@needs_data
def test_budgets_follow_stated_rule(table, max_output_chars):
    """The rule in notes: ceil((1.5 * L + 16) / 16) * 16, at least 16, capped at 2048 (L = longest gold, chars)."""
    for tid, longest in max_output_chars.items():
        want = max(16, min(2048, math.ceil((1.5 * longest + 16) / 16) * 16))
        assert table["tasks"][str(tid)]["max_new_tokens"] == want, tid
