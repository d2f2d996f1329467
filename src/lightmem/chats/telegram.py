"""Telegram Desktop's "Export chat history" in machine-readable JSON: ``result.json``.

Either one chat (``{name, type, id, messages}``) or the whole account's export
(``{chats: {list: [chat, ...]}}``). Each message has ``id``, ``type`` (``message`` or
``service``), ``date`` (local time) and/or ``date_unixtime`` (UTC, preferred when present),
``from``, ``from_id`` and ``text``: a string, or a list of strings and entity objects
(``{type, text}``: bold, links, mentions ...) joined into one string, a link's address kept
after its text (``our site (https://...)``). A photo, file or sticker with a caption keeps the
caption; a poll is kept as its question and options (``Poll: Dinner? (pizza / sushi)``); a
forwarded message is marked with whom it came from (``[forwarded from CP News] ...``), as
its words are not its sender's. Every speaker is a person: role ``user``, the sender's name
as ``name``; each chat is split into sessions at long silences.

Skipped, by reason: ``service`` (joins, pins, calls, title changes), ``media`` (a photo,
file, sticker, voice message, location ... without text), ``empty``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lightmem.chats.base import Chat, ChatExport, ChatMessage, ChatParser, Tally, plain_id
from lightmem.chats.files import get_list, get_str, json_kind, load_json, need_dict, opt_time
from lightmem.errors import InputError

_MEDIA_KEYS = frozenset(
    {"photo", "file", "media_type", "sticker_emoji", "poll", "contact_information"}
    | {"location_information", "place_name", "game_title", "invoice_information"}
)


class TelegramParser(ChatParser):
    name = "telegram"
    zip_members = ("result.json",)

    def parse(self, text: str, name: str) -> ChatExport:
        data = load_json(text, name, "Telegram Desktop's result.json")
        tally = Tally()
        chats = [_chat(c, where, tally) for c, where in _chat_records(data, name)]
        return ChatExport(self.name, name, chats, tally)


def _chat_records(data: object, name: str) -> list[tuple[object, str]]:
    """Each chat record with the words that name it in errors."""
    if isinstance(data, dict) and "messages" in data:
        return [(data, f"{name}: the chat")]
    if isinstance(data, dict) and isinstance(data.get("chats"), dict):
        listed = get_list(data["chats"], "list", f"{name}: 'chats'")
        return [(c, f"{name}: chats.list[{i}]") for i, c in enumerate(listed)]
    raise InputError(
        f"{name}: expected one chat ({{'name', 'id', 'messages'}}) or a full export "
        f"({{'chats': {{'list': [...]}}}}); export the chat from Telegram Desktop as "
        f"'Machine-readable JSON'"
    )


def _chat(value: object, where: str, tally: Tally) -> Chat:
    chat = need_dict(value, where, "a chat")
    chat_id = get_str(chat, "id", where)
    title = get_str(chat, "name", where, required=False)
    where = f"{where} (id {chat_id})"
    key = f"telegram:{plain_id(chat_id)}"
    messages = [
        kept
        for i, item in enumerate(get_list(chat, "messages", where))
        if (kept := _message(key, item, f"{where}, message {i}", tally)) is not None
    ]
    return Chat(key, tally.text(title) if title else None, messages, split=True)


def _message(key: str, value: object, where: str, tally: Tally) -> ChatMessage | None:
    msg = need_dict(value, where, "a message")
    msg_id = get_str(msg, "id", where)
    where = f"{where} (id {msg_id})"
    if msg.get("type", "message") != "message":
        tally.skip("service")
        return None
    text = joined_text(msg.get("text"), where) or poll_text(msg.get("poll"))
    forwarded = msg.get("forwarded_from")
    if text.strip() and isinstance(forwarded, str) and forwarded.strip():
        text = f"[forwarded from {forwarded.strip()}] {text}"
    if not text.strip():
        tally.skip("media" if _MEDIA_KEYS & msg.keys() else "empty")
        return None
    speaker = get_str(msg, "from", where, required=False) or get_str(
        msg, "from_id", where, required=False
    )
    return ChatMessage(
        ref=f"{key}:{plain_id(msg_id)}",
        role="user",
        content=tally.text(text),
        speaker=tally.text(speaker) if speaker else "Deleted Account",
        timestamp=_time(msg, where),
    )


def joined_text(value: object, where: str) -> str:
    """``text`` as one string: a string, or a list of strings and ``{type, text}`` entities."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise InputError(f"{where}: 'text' must be a string or a list, got {json_kind(value)}")
    parts: list[str] = []
    for item in value:
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            shown, href = item["text"], item.get("href")
            href = href.strip() if isinstance(href, str) else ""
            parts.append(f"{shown} ({href})" if href and href != shown.strip() else shown)
        else:
            raise InputError(
                f"{where}: 'text' holds {item!r:.60}; expected strings and {{'type', 'text'}}"
            )
    return "".join(parts)


def poll_text(value: object) -> str:
    """A poll as a line of text: its question and options ('' when it has no question)."""
    if not isinstance(value, dict) or not isinstance(value.get("question"), str):
        return ""
    question = value["question"].strip()
    answers = value.get("answers")
    options = [
        a["text"].strip()
        for a in (answers if isinstance(answers, list) else [])
        if isinstance(a, dict) and isinstance(a.get("text"), str) and a["text"].strip()
    ]
    if not question:
        return ""
    return f"Poll: {question}" + (f" ({' / '.join(options)})" if options else "")


def _time(msg: dict[str, Any], where: str) -> datetime:
    unix = msg.get("date_unixtime")
    if isinstance(unix, str) and unix.strip().isdigit():
        unix = int(unix)
    when = opt_time(unix, f"{where}: date_unixtime") or opt_time(msg.get("date"), f"{where}: date")
    if when is None:
        raise InputError(f"{where}: has no 'date' or 'date_unixtime'")
    return when
