"""Claude's conversations.json: text blocks joined, tool and thinking blocks left out, the
plain ``text`` as a fallback, ISO times with offsets converted to UTC."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from lightmem.chats import read_chat
from lightmem.errors import InputError
from tests.chats.conftest import FIXTURES

CONVERSATIONS = FIXTURES / "claude_conversations.json"
FIRST = "claude:5a1e0000-0000-4000-8000-0000000000a1"


def test_messages_keep_speaker_time_and_text() -> None:
    first, second = read_chat(CONVERSATIONS, "claude").chats
    assert first.key == FIRST and first.title == "Cello practice plan"
    assert [(m.ref, m.role, m.speaker) for m in first.messages] == [
        (f"{FIRST}:msg-0001", "user", None),
        (f"{FIRST}:msg-0002", "assistant", "Claude"),
        (f"{FIRST}:msg-0003", "user", None),
    ]
    assert first.messages[1].content == (
        "Thirty minutes a day is a good start.\n\nSplit it into scales, bowing and one piece."
    )
    assert first.messages[2].content == "My teacher is called Ines and lessons are on Thursdays."
    assert first.messages[2].timestamp == datetime(2024, 5, 2, 16, 5)  # 18:05+02:00
    assert second.title is None
    assert second.messages[0].timestamp == datetime(2024, 6, 10, 9, 0)  # the conversation's


def test_tool_results_and_attachments_are_not_imported() -> None:
    export = read_chat(CONVERSATIONS, "claude")
    text = " ".join(m.content for c in export.chats for m in c.messages)
    assert "RESULT TEXT NOT IMPORTED" not in text and "NOT IMPORTED" not in text
    assert export.tally.skipped == {"non_text": 1, "empty": 1}


def test_an_unknown_sender_names_the_message(tmp_path: Path) -> None:
    data = [
        {
            "uuid": "c1",
            "chat_messages": [
                {"uuid": "m1", "sender": "human", "text": "hi"},
                {"uuid": "m2", "sender": "robot", "text": "beep"},
            ],
        }
    ]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_chat(path, "claude")
    assert "conversation 0 (uuid c1), message 1 (uuid m2): 'sender' must be" in str(caught.value)


def test_a_message_of_files_alone_is_non_text_not_empty(tmp_path: Path) -> None:
    data = [
        {
            "uuid": "c1",
            "chat_messages": [
                {"uuid": "m1", "sender": "human", "text": "", "files": [{"file_name": "a.pdf"}]},
                {"uuid": "m2", "sender": "human", "text": "", "attachments": [{"id": "x"}]},
                {"uuid": "m3", "sender": "human", "text": " "},
            ],
        }
    ]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert read_chat(path, "claude").tally.skipped == {"non_text": 2, "empty": 1}


def test_a_chatgpt_export_given_as_claude_says_which_it_is() -> None:
    with pytest.raises(InputError, match=r"has no 'uuid'.*looks like a ChatGPT export"):
        read_chat(FIXTURES / "chatgpt_conversations.json", "claude")
