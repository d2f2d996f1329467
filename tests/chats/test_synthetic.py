"""A 10,000-message synthetic WhatsApp chat imported, then imported again: the second run
adds nothing (the hashing embedder keeps this to seconds)."""

from __future__ import annotations

from pathlib import Path

from lightmem import Memory
from lightmem.chats import import_chat
from tests.chats.generate import synthetic_whatsapp, synthetic_whatsapp_chat


def test_generator_is_deterministic_and_realistic() -> None:
    text = synthetic_whatsapp(500, seed=7)
    assert text == synthetic_whatsapp(500, seed=7) != synthetic_whatsapp(500, seed=8)
    chat = synthetic_whatsapp_chat(500, seed=7)
    assert chat.text == text
    assert {"media", "deleted", "system_line"} <= set(chat.skipped)
    assert "<Media omitted>" in text and "\u202f" in text
    assert any(line and not line[0].isdigit() for line in text.splitlines())  # multi-line


def test_ten_thousand_messages_import_then_reimport_adds_nothing(
    memory: Memory, tmp_path: Path
) -> None:
    chat = synthetic_whatsapp_chat(10_000, seed=1)
    path = tmp_path / "_chat.txt"
    path.write_text(chat.text, encoding="utf-8")
    first = import_chat(memory, path, format="whatsapp", user_id="maya")
    assert first.added == chat.kept == len(memory.turns(user_id="maya"))
    assert first.skipped == chat.skipped
    assert len(first.sessions) > 100  # days and evenings of silence
    again = import_chat(memory, path, format="whatsapp", user_id="maya")
    assert (again.added, again.already_present) == (0, chat.kept)
    assert len(memory.turns(user_id="maya")) == chat.kept
