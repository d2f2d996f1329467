"""ChatGPT's data export: ``conversations.json`` (alone or in the export's ZIP).

A list of conversations, each with ``title``, ``create_time``, ``id`` / ``conversation_id``,
``current_node`` and ``mapping`` (node id -> ``{id, message, parent, children}``). Regenerated
answers and edited questions make the mapping a tree: only the branch that ends at
``current_node`` (what the app shows) is imported, walked from that node up to the root; a
conversation without ``current_node`` is read along its newest branch (the leaf whose message
was written last).

Skipped, by reason: ``null_message`` (nodes without a message, such as the root),
``system_or_tool`` (system and tool messages, and assistant messages addressed to a tool),
``hidden`` (messages the app hides, such as custom instructions), ``non_text`` (images,
files, browsing and reasoning blocks with no text), ``empty``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lightmem.chats.base import Chat, ChatExport, ChatMessage, ChatParser, Tally, plain_id
from lightmem.chats.files import get_str, json_kind, load_json, need_dict, opt_time
from lightmem.errors import InputError

_TEXT_TYPES = frozenset({"text", "multimodal_text"})
_SPEAKERS = {"user": None, "assistant": "ChatGPT"}


class ChatGPTParser(ChatParser):
    name = "chatgpt"
    zip_members = ("conversations.json",)

    def parse(self, text: str, name: str) -> ChatExport:
        data = load_json(text, name, "ChatGPT's conversations.json (a list of conversations)")
        if not isinstance(data, list):
            raise InputError(f"{name}: expected a list of conversations, got {json_kind(data)}")
        tally = Tally()
        chats = [_conversation(c, f"{name}: conversation {i}", tally) for i, c in enumerate(data)]
        return ChatExport(self.name, name, chats, tally)


def _conversation(value: object, where: str, tally: Tally) -> Chat:
    conv = need_dict(value, where, "a conversation")
    conv_id = get_str(conv, "conversation_id", where, required=False) or get_str(
        conv, "id", where, required=False
    )
    if conv_id is None:
        raise InputError(
            f"{where}: has no 'id' or 'conversation_id' (expected ChatGPT's conversations.json)"
        )
    where = f"{where} (id {conv_id})"
    mapping = conv.get("mapping")
    if not isinstance(mapping, dict):
        raise InputError(
            f"{where}: has no 'mapping' of messages (expected ChatGPT's conversations.json)"
        )
    started = opt_time(conv.get("create_time"), f"{where}: create_time")
    key = f"chatgpt:{plain_id(conv_id)}"
    messages: list[ChatMessage] = []
    last = started
    for node_id in branch(mapping, conv.get("current_node"), where):
        node = need_dict(mapping[node_id], f"{where}, node {node_id!r}", "a mapping node")
        message = node.get("message")
        if message is None:
            tally.skip("null_message")
            continue
        kept = _message(key, node_id, message, f"{where}, message {node_id!r}", tally, last)
        if kept is not None:
            last = kept.timestamp or last
            messages.append(kept)
    title = conv.get("title") if isinstance(conv.get("title"), str) else None
    return Chat(key, tally.text(title) if title else None, messages)


def branch(mapping: dict[str, Any], current: object, where: str) -> list[str]:
    """The node ids from the root down to ``current`` (the branch the app shows; None: the
    newest leaf's)."""
    if current is None:
        current = newest_leaf(mapping)
        if current is None:
            raise InputError(f"{where}: has no current_node and its mapping no node to read")
    if not isinstance(current, str) or current not in mapping:
        raise InputError(
            f"{where}: current_node {current!r} is not a node of its mapping; the export is "
            f"damaged or was edited: download it again"
        )
    path: list[str] = []
    seen: set[str] = set()
    node_id: str | None = current
    while node_id is not None:
        if node_id in seen:
            raise InputError(f"{where}: the parents of node {node_id!r} form a loop")
        seen.add(node_id)
        path.append(node_id)
        node = need_dict(mapping[node_id], f"{where}, node {node_id!r}", "a mapping node")
        parent = node.get("parent")
        if parent is not None and (not isinstance(parent, str) or parent not in mapping):
            raise InputError(
                f"{where}, node {node_id!r}: its parent {parent!r} is not in the mapping; "
                f"the export is damaged: download it again"
            )
        node_id = parent
    return path[::-1]


def newest_leaf(mapping: dict[str, Any]) -> str | None:
    """The node without children whose message was written last (of equal times, the one
    listed last), or None when there is none."""
    best: tuple[float, int] | None = None
    chosen = None
    for n, (node_id, node) in enumerate(mapping.items()):
        if not isinstance(node, dict) or node.get("children"):
            continue
        message = node.get("message")
        when = message.get("create_time") if isinstance(message, dict) else None
        rank = (float(when) if isinstance(when, int | float) else float("-inf"), n)
        if best is None or rank > best:
            best, chosen = rank, node_id
    return chosen


def _message(
    key: str, node_id: str, value: object, where: str, tally: Tally, last: datetime | None
) -> ChatMessage | None:
    msg = need_dict(value, where, "a message")
    author = msg.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    if not isinstance(role, str):
        raise InputError(f"{where}: has no author.role")
    recipient = msg.get("recipient")
    if role not in _SPEAKERS or recipient not in (None, "all"):
        tally.skip("system_or_tool")
        return None
    metadata = msg.get("metadata")
    if isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation"):
        tally.skip("hidden")
        return None
    content = _text(need_dict(msg.get("content"), where, "'content'"), where, tally)
    if content is None:
        return None
    msg_id = get_str(msg, "id", where, required=False) or node_id
    return ChatMessage(
        ref=f"{key}:{plain_id(msg_id)}",
        role=role,
        content=content,
        speaker=_SPEAKERS[role],
        timestamp=opt_time(msg.get("create_time"), f"{where}: create_time") or last,
    )


def _text(content: dict[str, Any], where: str, tally: Tally) -> str | None:
    """The text of a message's content, or None (counted) when it holds none."""
    kind = content.get("content_type")
    if kind == "code" and isinstance(content.get("text"), str):
        parts: list[object] = [content["text"]]
    elif kind in _TEXT_TYPES:
        raw = content.get("parts")
        if not isinstance(raw, list):
            raise InputError(f"{where}: content 'parts' must be a list")
        parts = raw
    else:
        tally.skip("non_text")
        return None
    texts = [p for p in parts if isinstance(p, str) and p.strip()]
    if not texts:
        tally.skip("non_text" if any(not isinstance(p, str) for p in parts) else "empty")
        return None
    return tally.text("\n".join(texts))
