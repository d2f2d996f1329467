"""Bad input files raise InputError naming the file, the problem and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightmem.datasets import load_dataset, load_jsonl, load_locomo, load_longmemeval
from lightmem.errors import InputError

LOCOMO = [
    {
        "sample_id": "s",
        "conversation": {"session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "hi"}]},
        "qa": [],
    }
]
LONGMEMEVAL = [
    {
        "question_id": "q",
        "question_type": "t",
        "question": "?",
        "answer": "a",
        "haystack_session_ids": ["s"],
        "haystack_dates": ["2023/05/20 (Sat) 02:21"],
        "haystack_sessions": [[{"role": "user", "content": "hi"}]],
    }
]


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _raises(match: str, fn: object, *args: object) -> str:
    with pytest.raises(InputError, match=match) as info:
        fn(*args)  # type: ignore[operator]
    return str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    for loader in (load_locomo, load_longmemeval, load_jsonl):
        message = _raises("no such file", loader, tmp_path / "absent.json")
        assert "absent.json" in message


def test_directory(tmp_path: Path) -> None:
    _raises("is a directory", load_locomo, tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, "latin1.json", '[{"text": "café"}]'.encode("latin-1"))
    for loader in (load_locomo, load_longmemeval, load_jsonl):
        message = _raises("not UTF-8", loader, path)
        assert "latin1.json" in message and "re-save the file as UTF-8" in message


def test_not_json(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.json", '[{"sample_id": ')
    message = _raises("is not valid JSON", load_locomo, path)
    assert "broken.json" in message and "line 1" in message


def test_jsonl_given_as_locomo(tmp_path: Path) -> None:
    path = _write(tmp_path, "msgs.jsonl", '{"role": "user", "content": "a"}\n' * 2)
    _raises("use --format jsonl", load_locomo, path)


def test_longmemeval_given_as_locomo(tmp_path: Path) -> None:
    path = _write(tmp_path, "lme.json", json.dumps(LONGMEMEVAL))
    message = _raises("looks like a LongMemEval file; use --format longmemeval", load_locomo, path)
    assert "lme.json" in message
    load_longmemeval(path)  # the same file is fine in its own format


def test_locomo_given_as_longmemeval(tmp_path: Path) -> None:
    path = _write(tmp_path, "locomo.json", json.dumps(LOCOMO))
    _raises("looks like a LoCoMo file; use --format locomo", load_longmemeval, path)
    load_locomo(path)


def test_locomo_given_as_jsonl(tmp_path: Path) -> None:
    path = _write(tmp_path, "locomo.json", json.dumps(LOCOMO, indent=1))
    _raises("use --format locomo", load_jsonl, path)


def test_wrong_top_level(tmp_path: Path) -> None:
    path = _write(tmp_path, "obj.json", json.dumps({"hello": 1}))
    _raises("top level must be a non-empty list", load_locomo, path)
    _raises("top level must be a non-empty list", load_longmemeval, path)
    single = _write(tmp_path, "one.json", json.dumps(LONGMEMEVAL[0]))
    _raises("use --format longmemeval", load_locomo, single)


def test_bad_locomo_parts(tmp_path: Path) -> None:
    no_sessions = [{"sample_id": "s", "conversation": {"speaker_a": "A"}, "qa": []}]
    _raises("no 'session_N'", load_locomo, _write(tmp_path, "a.json", json.dumps(no_sessions)))
    bad_turn = [{"sample_id": "s", "conversation": {"session_1": [{"text": "x"}]}, "qa": []}]
    _raises("session_1 turn 0 lacks", load_locomo, _write(tmp_path, "b.json", json.dumps(bad_turn)))
    path = _write(tmp_path, "c.json", json.dumps(LOCOMO))
    _raises("no sample with id nope; the file has: s", load_locomo, path, ["nope"])


def test_bad_longmemeval_parts(tmp_path: Path) -> None:
    lacking = [{k: v for k, v in LONGMEMEVAL[0].items() if k != "haystack_dates"}]
    _raises(
        "lacks haystack_dates", load_longmemeval, _write(tmp_path, "a.json", json.dumps(lacking))
    )
    uneven = [dict(LONGMEMEVAL[0], haystack_dates=[])]
    _raises("same length", load_longmemeval, _write(tmp_path, "b.json", json.dumps(uneven)))
    path = _write(tmp_path, "c.json", json.dumps(LONGMEMEVAL))
    _raises("no question with id nope", load_longmemeval, path, ["nope"])


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        ("", "holds no messages"),
        ('{"role": "user"}', "line 1: 'content' is required"),
        ('{"role": "user", "content": "a"}\n[1]', "line 2: expected a JSON object"),
        ('{"role": "user", "content": "a"}\n{oops', "line 2: not valid JSON"),
        ('{"role": "user", "content": "a", "usr_id": "x"}', r"unknown key\(s\) usr_id"),
        ('{"role": "user", "content": "a", "timestamp": "soon"}', "line 1: timestamp"),
        ('{"role": "user", "content": "a", "name": "x", "speaker": "y"}', "disagree"),
        (
            '{"role": "u", "content": "a", "id": 1}\n{"role": "u", "content": "b", "id": 1}',
            "repeats",
        ),
    ],
)
def test_bad_jsonl(tmp_path: Path, lines: str, match: str) -> None:
    path = _write(tmp_path, "m.jsonl", lines)
    message = _raises(match, load_jsonl, path)
    assert "m.jsonl" in message


def test_unknown_format(tmp_path: Path) -> None:
    _raises("unknown dataset format 'csv'", load_dataset, "csv", tmp_path / "x")
