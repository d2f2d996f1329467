"""Claude's data export: ``conversations.json`` (alone or in the export's ZIP).

A list of conversations with ``uuid``, ``name``, ``created_at`` and ``chat_messages``, each
message with ``uuid``, ``sender`` (``human`` or ``assistant``), ``created_at`` (ISO 8601) and
its text as ``content`` blocks (``{"type": "text", "text": ...}``) and/or a plain ``text``.
The text blocks are joined; tool calls, tool results and thinking blocks are left out, and
so are attachments and files (only what was said is imported).

Skipped, by reason: ``non_text`` (a message with blocks, files or attachments but no text),
``empty``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lightmem.chats.base import Chat, ChatExport, ChatMessage, ChatParser, Tally, plain_id
from lightmem.chats.files import get_list, get_str, json_kind, load_json, need_dict, opt_time
from lightmem.errors import InputError

_ROLES = {"human": ("user", None), "assistant": ("assistant", "Claude")}


class ClaudeParser(ChatParser):
    name = "claude"
    zip_members = ("conversations.json",)

    def parse(self, text: str, name: str) -> ChatExport:
        data = load_json(text, name, "Claude's conversations.json (a list of conversations)")
        if not isinstance(data, list):
            raise InputError(f"{name}: expected a list of conversations, got {json_kind(data)}")
        tally = Tally()
        chats = [_conversation(c, f"{name}: conversation {i}", tally) for i, c in enumerate(data)]
        return ChatExport(self.name, name, chats, tally)


def _conversation(value: object, where: str, tally: Tally) -> Chat:
    conv = need_dict(value, where, "a conversation")
    conv_id = get_str(conv, "uuid", where, required=False)
    if conv_id is None:
        raise InputError(f"{where}: has no 'uuid' (expected Claude's conversations.json)")
    where = f"{where} (uuid {conv_id})"
    if "chat_messages" not in conv:
        raise InputError(f"{where}: has no 'chat_messages' (expected Claude's conversations.json)")
    key = f"claude:{plain_id(conv_id)}"
    last = opt_time(conv.get("created_at"), f"{where}: created_at")
    messages: list[ChatMessage] = []
    for i, item in enumerate(get_list(conv, "chat_messages", where)):
        kept = _message(key, item, f"{where}, message {i}", tally, last)
        if kept is not None:
            last = kept.timestamp or last
            messages.append(kept)
    title = conv.get("name") if isinstance(conv.get("name"), str) else None
    return Chat(key, tally.text(title) if title else None, messages)


def _message(
    key: str, value: object, where: str, tally: Tally, last: datetime | None
) -> ChatMessage | None:
    msg = need_dict(value, where, "a message")
    msg_id = get_str(msg, "uuid", where)
    where = f"{where} (uuid {msg_id})"
    sender = msg.get("sender")
    if sender not in _ROLES:
        raise InputError(f"{where}: 'sender' must be 'human' or 'assistant', got {sender!r}")
    role, speaker = _ROLES[sender]
    content = _text(msg, where, tally)
    if content is None:
        return None
    return ChatMessage(
        ref=f"{key}:{plain_id(msg_id)}",
        role=role,
        content=content,
        speaker=speaker,
        timestamp=opt_time(msg.get("created_at"), f"{where}: created_at") or last,
    )


def _text(msg: dict[str, Any], where: str, tally: Tally) -> str | None:
    """The text blocks of ``content`` joined, else ``text``; None (counted) when neither."""
    blocks = msg.get("content")
    if blocks is not None and not isinstance(blocks, list):
        raise InputError(f"{where}: 'content' must be a list of blocks")
    texts = [
        b["text"]
        for b in blocks or []
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    ]
    text = "\n\n".join(t for t in texts if t.strip())
    plain = msg.get("text")
    if not text and isinstance(plain, str):
        text = plain
    if not text.strip():
        attached = msg.get("files") or msg.get("attachments")
        tally.skip("non_text" if blocks or attached else "empty")
        return None
    return tally.text(text)
