"""``import_chat`` into a real memory (hashing embedder, no LLM): what is stored, re-imports
that add nothing, longer exports that add only what is new, dry runs that write nothing,
and malformed files that write nothing either."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.chats import import_chat
from lightmem.errors import InputError
from tests.chats.conftest import FIXTURES

CHATGPT = FIXTURES / "chatgpt_conversations.json"
WHATSAPP = FIXTURES / "whatsapp_android_12h.txt"


def test_chatgpt_turns_keep_roles_times_refs_and_one_session_per_conversation(
    memory: Memory,
) -> None:
    result = import_chat(memory, CHATGPT, format="chatgpt", user_id="maya")
    assert (result.added, result.already_present, result.chats, len(result.sessions)) == (
        5,
        0,
        2,
        2,
    )
    turns = memory.turns(user_id="maya")
    first = "chatgpt:c0ffee00-0000-4000-8000-000000000001"
    assert [t.ref for t in turns][:2] == [f"{first}:n-q1", f"{first}:n-a1"]
    assert [(t.role, t.speaker) for t in turns][:2] == [("user", None), ("assistant", "ChatGPT")]
    assert turns[0].timestamp == datetime(2024, 3, 1, 8, 0, 10)
    assert {t.session_id for t in turns} == {first, "chatgpt:c0ffee00-0000-4000-8000-000000000002"}
    assert result.first == datetime(2024, 3, 1, 8, 0, 10, 250000)
    assert result.last == datetime(2024, 4, 1, 10, 0)


def test_a_reimport_adds_nothing(memory: Memory) -> None:
    import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya")
    before = len(memory.turns(user_id="maya"))
    again = import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya")
    assert (again.added, again.already_present, again.sessions_added) == (0, 7, 0)
    assert len(memory.turns(user_id="maya")) == before == 7


def test_whatsapp_sessions_split_at_silences(memory: Memory) -> None:
    result = import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya")
    assert [s.messages for s in result.sessions] == [5, 1, 1]  # gaps of 12 h and of 44 h
    narrow = import_chat(memory, WHATSAPP, format="whatsapp", user_id="tom", gap_hours=1)
    assert [s.messages for s in narrow.sessions] == [4, 1, 1, 1]  # 21:45 -> 00:05 is 2h20
    turns = memory.turns(user_id="maya")
    assert [t.speaker for t in turns][:2] == ["Tom", "Maya"]
    assert len({t.session_id for t in turns}) == 3


def test_a_longer_whatsapp_export_adds_only_the_new_messages(
    memory: Memory, tmp_path: Path
) -> None:
    full = WHATSAPP.read_text(encoding="utf-8")
    short = tmp_path / "short.txt"
    short.write_text(full.split("12/31/23, 12:10")[0], encoding="utf-8")  # up to 12:05 AM
    first = import_chat(memory, short, format="whatsapp", user_id="maya")
    assert first.added == 5
    longer = tmp_path / "longer.txt"
    longer.write_text(full + "1/2/24, 8:20\u202fAM - Tom: Beautiful!\n", encoding="utf-8")
    second = import_chat(memory, longer, format="whatsapp", user_id="maya")
    assert (second.added, second.already_present) == (3, 5)
    turns = memory.turns(user_id="maya")
    assert [t.content for t in turns][-3:] == [
        "Note: bring adapters",
        "The castle at sunrise",
        "Beautiful!",
    ]
    assert turns[-1].session_id == turns[-2].session_id  # joined the session it continues
    assert import_chat(memory, longer, format="whatsapp", user_id="maya").added == 0


def test_a_continued_chatgpt_conversation_adds_only_the_new_turns(
    memory: Memory, tmp_path: Path
) -> None:
    import_chat(memory, CHATGPT, format="chatgpt", user_id="maya")
    data = json.loads(CHATGPT.read_text(encoding="utf-8"))
    mapping: dict[str, Any] = data[0]["mapping"]
    mapping["n-a2"]["children"] = ["n-q3"]
    content = {"content_type": "text", "parts": ["Thanks, I'll try the senior one."]}
    message = {"id": "n-q3", "author": {"role": "user"}, "create_time": 1709290000.0}
    mapping["n-q3"] = {
        "id": "n-q3",
        "parent": "n-a2",
        "children": [],
        "message": {**message, "content": content},
    }
    data[0]["current_node"] = "n-q3"
    later = tmp_path / "conversations.json"
    later.write_text(json.dumps(data), encoding="utf-8")
    result = import_chat(memory, later, format="chatgpt", user_id="maya")
    assert (result.added, result.already_present, result.sessions_added) == (1, 5, 1)
    last = memory.turns(user_id="maya")[-1]
    assert last.content == "Thanks, I'll try the senior one."
    assert last.session_id == "chatgpt:c0ffee00-0000-4000-8000-000000000001"


def test_dry_run_previews_and_writes_nothing(memory: Memory) -> None:
    preview = import_chat(memory, CHATGPT, format="chatgpt", user_id="maya", dry_run=True)
    assert memory.turns(user_id="maya") == []
    assert preview.dry_run and preview.added == 5 and preview.messages == 5
    assert preview.skipped["system_or_tool"] == 3
    data = preview.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["session_list"][0]["title"] == "Cat food advice"
    assert data["first"] == "2024-03-01T08:00:10"
    import_chat(memory, CHATGPT, format="chatgpt", user_id="maya")
    after = import_chat(memory, CHATGPT, format="chatgpt", user_id="maya", dry_run=True)
    assert (after.added, after.already_present) == (0, 5)


def test_progress_is_reported_per_session(memory: Memory) -> None:
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))

    import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya", progress=progress)
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_a_malformed_file_writes_nothing(memory: Memory, tmp_path: Path) -> None:
    text = WHATSAPP.read_text(encoding="utf-8") + "12/31/23, 31:00 PM - Tom: bad clock\n"
    path = tmp_path / "chat.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"chat\.txt, line 16: 31 is not an hour"):
        import_chat(memory, path, format="whatsapp", user_id="maya")
    assert memory.turns(user_id="maya") == []


def test_owners_are_deduplicated_apart(memory: Memory) -> None:
    import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya")
    other = import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya", agent_id="bot")
    assert other.added == 7
    assert len(memory.turns(user_id="maya", agent_id="bot")) == 7


def test_text_that_cannot_be_stored_is_repaired_and_counted(memory: Memory, tmp_path: Path) -> None:
    chat = {
        "name": "X",
        "id": 1,
        "messages": [
            {
                "id": 1,
                "type": "message",
                "date": "2024-01-01T10:00:00",
                "from": "Ann",
                "text": "nul\u0000 and \udfff here",
            }
        ],
    }
    path = tmp_path / "result.json"
    path.write_text(json.dumps(chat), encoding="utf-8")
    result = import_chat(memory, path, format="telegram", user_id="maya")
    assert (result.added, result.repaired) == (1, 1)
    content = memory.turns(user_id="maya")[0].content
    assert content.startswith("nul\ufffd and \ufffd") and content.endswith(" here")


def test_imported_text_is_stored_as_written(memory: Memory, tmp_path: Path) -> None:
    text = "12/30/23, 9:42 PM - Tom: {{user_id}} ${HOME} $(rm -rf /) [bold]x[/bold] <script>\n"
    path = tmp_path / "chat.txt"
    path.write_text(text, encoding="utf-8")
    import_chat(memory, path, format="whatsapp", user_id="maya")
    (turn,) = memory.turns(user_id="maya")
    assert turn.content == "{{user_id}} ${HOME} $(rm -rf /) [bold]x[/bold] <script>"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"format": "signal", "user_id": "maya"}, "unknown chat format 'signal'"),
        ({"format": "whatsapp", "user_id": None}, "a scope is required"),
        ({"format": "whatsapp", "user_id": "maya", "gap_hours": 0}, "gap_hours must be"),
        ({"format": "whatsapp", "user_id": "maya", "dry_run": "yes"}, "dry_run must be True"),
    ],
)
def test_bad_arguments(memory: Memory, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(InputError, match=error):
        import_chat(memory, WHATSAPP, **kwargs)


def test_a_missing_file_is_an_input_error(memory: Memory, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        import_chat(memory, tmp_path / "nope.json", format="claude", user_id="maya")


def test_an_empty_chatgpt_export_imports_nothing(memory: Memory, tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_text("[]", encoding="utf-8")
    result = import_chat(memory, path, format="chatgpt", user_id="maya")
    assert (result.chats, result.added, result.sessions) == (0, 0, [])


def test_a_forgotten_turn_is_not_brought_back_a_purged_one_is(memory: Memory) -> None:
    import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya")
    memory.flush(user_id="maya")
    memory.forget("Zoraida", user_id="maya")
    assert import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya").added == 0
    memory.forget("Zoraida", user_id="maya", purge=True)
    again = import_chat(memory, WHATSAPP, format="whatsapp", user_id="maya")
    assert (again.added, again.already_present) == (1, 6)
