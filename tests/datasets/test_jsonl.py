"""Our JSON Lines message format (``lightmem ingest --format jsonl``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lightmem.datasets import load_dataset


def test_one_conversation_per_user(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(
        '{"role": "user", "content": "I adopted a dog", "name": "Ann", '
        '"timestamp": "2024-03-03T19:12:00+01:00", "session_id": "s1"}\n'
        "\n"
        '{"role": "assistant", "content": "Congratulations!", "id": "m2"}\n'
        '{"role": "user", "content": "hello", "user_id": "bob", "speaker": "Bob", '
        '"timestamp": 1700000000}\n',
        encoding="utf-8",
    )
    data = load_dataset("jsonl", path)
    assert data.name == "jsonl"
    default, bob = data.conversations
    assert (default.sample_id, bob.sample_id) == ("default", "bob")
    first, second = default.turns
    assert (first.ref, first.session_id, first.speaker) == ("L1", "s1", "Ann")
    assert first.timestamp == datetime(2024, 3, 3, 18, 12)  # converted to naive UTC
    assert (second.ref, second.session_id, second.speaker) == ("m2", "default", None)
    assert bob.turns[0].speaker == "Bob"
    assert bob.turns[0].timestamp == datetime(2023, 11, 14, 22, 13, 20)
    assert data.quirks == {"missing_timestamp": 1}
    assert all(not c.questions for c in data.conversations)
    only = load_dataset("jsonl", path, ids=["bob"])
    assert [c.sample_id for c in only.conversations] == ["bob"]
