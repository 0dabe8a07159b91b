"""The public readers of user-supplied text, JSON Lines and JSON files: bad input is one UserError sentence."""

from __future__ import annotations

import pytest

from evalkit.api import UserError, json_document, jsonl_records, text_lines


def test_text_lines_and_jsonl_records_read_and_report_bad_lines(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n{"a": 2}\r\n')
    assert list(jsonl_records(good)) == [(1, {"a": 1}), (3, {"a": 2})]
    assert list(text_lines(good))[2] == (3, '{"a": 2}')
    bad_byte = tmp_path / "latin1.jsonl"
    bad_byte.write_bytes(b'{"a": 1}\n{"b": "caf\xe9"}\n')
    with pytest.raises(UserError, match=r"line 2 is not UTF-8 text \(byte 11 of the line is 0xe9\); re-save"):
        list(jsonl_records(bad_byte, utf8_fix="re-save"))
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    with pytest.raises(UserError, match="line 2 is not valid JSON .*; one object per line"):
        list(jsonl_records(bad_json, json_fix="one object per line"))


def test_json_document_reads_a_file_and_names_the_fix(tmp_path):
    path = tmp_path / "doc.json"
    path.write_bytes(b'\xef\xbb\xbf{"x": [1, 2]}')
    assert json_document(path) == {"x": [1, 2]}
    with pytest.raises(UserError, match="does not exist; point to the release"):
        json_document(tmp_path / "missing.json", missing_fix="point to the release")
    path.write_bytes(b'{"x": "\xff"}')
    with pytest.raises(UserError, match=r"is not UTF-8 text \(byte 8 is 0xff\); save the file as UTF-8"):
        json_document(path)
    path.write_text('{"x": }', encoding="utf-8")
    with pytest.raises(UserError, match="is not valid JSON .*line 1.*; restore it"):
        json_document(path, json_fix="restore it")
