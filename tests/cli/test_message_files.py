"""One message format in files: the same JSON Lines go into `add` and `ingest --format
jsonl` (`ref`, `time`, `images`, `user_id` in both), and each refuses what it should."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightmem import Memory

LINES = [
    {
        "user_id": "maya",
        "role": "user",
        "speaker": "Maya",
        "content": "I moved to Porto in March.",
        "time": "2024-03-01T10:00:00",
        "session_id": "s1",
        "ref": "m1",
        "images": [{"url": "https://example.com/porto.jpg", "caption": "the Douro at dusk"}],
    },
    {"user_id": "maya", "role": "assistant", "content": "Welcome to Porto!", "ref": "m2"},
]


def write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def check(store: Path) -> None:
    with Memory(store) as mem:
        turns = mem.turns(user_id="maya")
    assert [t.ref for t in turns] == ["m1", "m2"]
    assert turns[0].speaker == "Maya" and turns[0].session_id == "s1"
    assert turns[0].timestamp is not None and turns[0].timestamp.isoformat().startswith("2024-03")
    assert turns[0].images[0].caption == "the Douro at dusk"


def test_the_same_jsonl_file_goes_into_add_and_ingest(cli: Any, tmp_path: Path) -> None:
    data = write(tmp_path / "messages.jsonl", LINES)
    added = cli("add", str(data), store=tmp_path / "a")
    assert added.code == 0, added.stderr
    check(tmp_path / "a")
    ingested = cli("ingest", "--format", "jsonl", str(data), "--quiet", store=tmp_path / "b")
    assert ingested.code == 0, ingested.stderr
    check(tmp_path / "b")


def test_add_refuses_a_user_id_that_is_not_the_users(cli: Any, tmp_path: Path) -> None:
    data = write(tmp_path / "messages.jsonl", LINES)
    r = cli("add", str(data), "--user", "bob", store=tmp_path / "s")
    assert r.code == 2 and "user_id 'maya' differs from --user 'bob'" in r.stderr
    no_one = write(tmp_path / "anon.jsonl", [{"role": "user", "content": "hello"}])
    r = cli("add", str(no_one), store=tmp_path / "s")
    assert r.code == 2 and "a user_id on every message" in r.stderr


def test_ingest_names_a_misspelled_key_and_ref_id_must_agree(cli: Any, tmp_path: Path) -> None:
    typo = write(tmp_path / "typo.jsonl", [{"role": "user", "content": "x", "speeker": "A"}])
    r = cli("ingest", "--format", "jsonl", str(typo), store=tmp_path / "s")
    assert r.code == 2 and "unknown key(s) speeker" in r.stderr and "ref" in r.stderr
    both = write(tmp_path / "both.jsonl", [{"role": "user", "content": "x", "ref": "a", "id": "b"}])
    r = cli("ingest", "--format", "jsonl", str(both), store=tmp_path / "s")
    assert r.code == 2 and "'ref' and 'id' disagree" in r.stderr
