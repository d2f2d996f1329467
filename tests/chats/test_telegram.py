"""Telegram Desktop's result.json: one chat or the full export, text entity lists joined,
service messages and bare media skipped and counted, sessions split at long silences."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lightmem.chats import read_chat
from lightmem.chats.base import Tally
from lightmem.chats.sessions import chat_sessions
from lightmem.errors import InputError
from tests.chats.conftest import FIXTURES


def test_one_chat_with_entities_captions_and_service_messages() -> None:
    export = read_chat(FIXTURES / "telegram_chat.json", "telegram")
    (chat,) = export.chats
    assert chat.key == "telegram:4815162342" and chat.title == "Ana Ribeiro" and chat.split
    assert [m.ref for m in chat.messages] == [f"telegram:4815162342:{i}" for i in (2, 3, 5, 6)]
    assert chat.messages[1].content == (
        "Yes! Tickets are row F, details at https://example.org/tickets \u2014 ask @tom_b"
    )
    assert chat.messages[2].content == "The venue from outside"  # a photo's caption
    assert {m.role for m in chat.messages} == {"user"}
    assert [m.speaker for m in chat.messages] == ["Ana Ribeiro", "Maya", "Maya", "user999"]
    assert chat.messages[0].timestamp == datetime(2023, 12, 30, 9, 5)  # date_unixtime, UTC
    assert chat.messages[3].timestamp == datetime(2023, 12, 30, 21, 31)  # date, as written
    assert export.tally.skipped == {"service": 2, "media": 1}


def test_links_polls_and_forwards_keep_what_they_say(tmp_path: Path) -> None:
    """A link's address, a poll's question and whom a forward came from were dropped (the
    poll counted as bare media; a forwarded post read as its sender's own words)."""
    base = {"type": "message", "date": "2024-01-02T10:00:00", "from": "Tom"}
    messages = [
        {
            **base,
            "id": 1,
            "text": [
                "see ",
                {"type": "text_link", "text": "our site", "href": "https://example.org/x"},
            ],
        },
        {
            **base,
            "id": 2,
            "text": "",
            "poll": {
                "question": "Dinner?",
                "answers": [{"text": "pizza", "voters": 2}, {"text": "sushi", "voters": 1}],
            },
        },
        {**base, "id": 3, "text": "Rates rise again", "forwarded_from": "CP News"},
        {
            **base,
            "id": 4,
            "text": [{"type": "link", "text": "https://a.io", "href": "https://a.io"}],
        },
    ]
    path = tmp_path / "result.json"
    path.write_text(
        json.dumps({"name": "T", "type": "personal_chat", "id": 7, "messages": messages}),
        encoding="utf-8",
    )
    (chat,) = read_chat(path, "telegram").chats
    assert [m.content for m in chat.messages] == [
        "see our site (https://example.org/x)",
        "Poll: Dinner? (pizza / sushi)",
        "[forwarded from CP News] Rates rise again",
        "https://a.io",
    ]


def test_a_long_silence_starts_a_new_session() -> None:
    export = read_chat(FIXTURES / "telegram_chat.json", "telegram")
    sessions = chat_sessions(export.chats, timedelta(hours=6), Tally())
    assert [[m.ref.rsplit(":", 1)[1] for m in s.messages] for s in sessions] == [
        ["2", "3"],
        ["5", "6"],
    ]
    assert all(s.id.startswith("telegram:4815162342:session:") for s in sessions)
    assert len(chat_sessions(export.chats, timedelta(hours=24), Tally())) == 1


def test_the_full_export_imports_every_chat() -> None:
    export = read_chat(FIXTURES / "telegram_full.json", "telegram")
    assert [c.title for c in export.chats] == ["Climbing club", "Saved Messages"]
    assert [len(c.messages) for c in export.chats] == [2, 1]
    assert export.chats[0].messages[1].content == "I'm in, but my left wrist still hurts."
    assert export.tally.skipped == {"service": 1, "media": 1, "empty": 1}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"id": 1, "type": "message", "text": "hi"}, r"message 0 \(id 1\): has no 'date'"),
        (
            {"id": 1, "type": "message", "date": "2024-01-01T10:00:00", "text": [5]},
            r"message 0 \(id 1\): 'text' holds 5",
        ),
        (
            {"type": "message", "date": "2024-01-01T10:00:00", "text": "x"},
            r"message 0: has no 'id'",
        ),
        ({"id": 1, "date": "yesterday", "text": "x"}, r"message 0 \(id 1\): date: cannot parse"),
    ],
)
def test_a_bad_message_names_the_chat_and_message(
    tmp_path: Path, message: dict[str, object], error: str
) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"name": "X", "id": 7, "messages": [message]}), encoding="utf-8")
    with pytest.raises(InputError, match=r"the chat \(id 7\), " + error):
        read_chat(path, "telegram")


def test_a_list_is_not_a_telegram_export() -> None:
    with pytest.raises(InputError, match=r"expected one chat.*looks like a ChatGPT export"):
        read_chat(FIXTURES / "chatgpt_conversations.json", "telegram")
