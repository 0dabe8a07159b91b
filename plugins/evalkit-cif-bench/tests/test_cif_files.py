"""Reading the CIF-Bench files: the public split and its manifest, and every kind of bad file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from evalkit_cif_bench.files import read_leaderboard, read_task, task_files, verify_manifest

from evalkit import UserError

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cif-bench"
needs_data = pytest.mark.skipif(not (DATA / "dataset").is_dir(), reason=f"CIF-Bench data not at {DATA}")


@needs_data
def test_the_public_split_loads_150_tasks_of_50_items():
    files = task_files(DATA)
    assert len(files) == 150 and 84 not in files and 95 not in files and max(files) == 151
    items = [item for task_id, path in files.items() for item in read_task(task_id, path)]
    assert len(items) == 7500
    assert all(len(item.instructions) == 1 for item in items)
    assert files[35].name != files[36].name and "Dialogue_State_Tracking" in files[36].name
    assert verify_manifest(DATA, "strict") == 151  # every released file, byte for byte


@needs_data
def test_the_leaderboard_reads_past_its_byte_order_mark():
    rows = read_leaderboard(DATA)
    assert len(rows) == 28 and rows[0]["Model Name"] == "Baichuan2-13B-Chat" and rows[0]["Overall"] == "0.529"
    assert len(rows[0]) == 22  # model, Overall and the 20 categories


def fake_root(tmp_path: Path, lines: list[bytes], name: str = "10_Textual_Entailment_public.jsonl") -> Path:
    folder = tmp_path / "cif" / "dataset" / "public"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"\n".join(lines) + b"\n")
    return tmp_path / "cif"


def line(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


def test_several_instructions_per_item_are_accepted(tmp_path):
    root = fake_root(tmp_path, [line(Input="甲", Output="1", Instruction=["判断。", "请判断。"])])
    (item,) = read_task(10, task_files(root)[10])
    assert item.instructions == ("判断。", "请判断。") and item.output == "1" and item.line == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"Input": "a", "Output": "1"', "line 2 is not valid JSON"),
        (b'{"Input": "\xe7\x8f", "Output": "1", "Instruction": "x"}', "line 2 is not UTF-8 text"),
        (line(Input="a", Output=1, Instruction="x"), "line 2 must be an object with string Input, Output"),
        (line(Input="a", Output="1", Instruction=[]), "line 2 must be an object with string Input, Output"),
    ],
)
def test_a_bad_line_is_named_with_its_file_and_number(tmp_path, raw, message):
    root = fake_root(tmp_path, [line(Input="a", Output="1", Instruction="x"), raw])
    with pytest.raises(UserError, match=message) as err:
        read_task(10, task_files(root)[10])
    assert "10_Textual_Entailment_public.jsonl" in str(err.value)


def test_a_missing_directory_names_the_layout_and_the_source(tmp_path):
    with pytest.raises(
        UserError, match="has no dataset/public folder; it must hold dataset/public/<id>_<Task_Name>"
    ):
        task_files(tmp_path / "nowhere")
    (tmp_path / "empty" / "dataset" / "public").mkdir(parents=True)
    with pytest.raises(UserError, match="holds no <id>_<Task_Name>_public.jsonl files"):
        task_files(tmp_path / "empty")


def test_the_manifest_catches_a_changed_or_missing_file(tmp_path):
    root = fake_root(tmp_path, [line(Input="a", Output="1", Instruction="x")])
    path = root / "dataset" / "public" / "10_Textual_Entailment_public.jsonl"
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (root / "MANIFEST.sha256").write_text(
        f"{digest}  ./dataset/public/10_Textual_Entailment_public.jsonl\n{'0' * 64}  ./leaderboard.csv\n"
    )
    with pytest.raises(UserError, match=r"leaderboard.csv is missing \(MANIFEST.sha256 line 2\)"):
        verify_manifest(root, "strict")
    shutil.copy(path, root / "leaderboard.csv")
    path.write_bytes(path.read_bytes().replace(b'"1"', b'"0"'))
    with pytest.raises(UserError, match="10_Textual_Entailment_public.jsonl differs from the released file"):
        verify_manifest(root, "strict")
    with pytest.warns(UserWarning, match="differs from the released file"):
        assert verify_manifest(root, "warn") == 2
    assert verify_manifest(root, "off") == 0
    with pytest.raises(UserError, match="verify='loose' must be one of"):
        verify_manifest(root, "loose")


def test_a_verified_manifest_is_not_hashed_again(tmp_path, monkeypatch):
    import hashlib

    from evalkit_cif_bench import files

    root = fake_root(tmp_path, [line(Input="a", Output="1", Instruction="x")])
    path = root / "dataset" / "public" / "10_Textual_Entailment_public.jsonl"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (root / "MANIFEST.sha256").write_text(f"{digest}  ./dataset/public/10_Textual_Entailment_public.jsonl\n")
    calls = []
    original = files._check_manifest
    monkeypatch.setattr(files, "_check_manifest", lambda m, mode: calls.append(m) or original(m, mode))
    assert verify_manifest(root, "strict") == verify_manifest(root, "strict") == 1
    assert len(calls) == 1  # every task's data build asks; the 6 MB are hashed once
