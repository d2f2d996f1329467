"""Cutting chats into sessions: one per ChatGPT / Claude conversation; a WhatsApp or Telegram
chat at every silence longer than the gap (default :data:`DEFAULT_GAP_HOURS`).

A split session's id comes from its first message (``whatsapp:session:<hash>``), so it is
the same in every later, longer export of the chat: messages added at the end of the last
session join it.
"""

from __future__ import annotations

from datetime import timedelta

from lightmem.chats.base import Chat, ChatMessage, ChatSession, Tally, digest

#: a silence longer than this starts a new session of a WhatsApp or Telegram chat
DEFAULT_GAP_HOURS = 6.0


def split_by_gap(messages: list[ChatMessage], gap: timedelta) -> list[list[ChatMessage]]:
    """``messages`` in runs where no two neighbours are more than ``gap`` apart (a message
    without a time, or earlier than the one before, stays in the current run)."""
    runs: list[list[ChatMessage]] = []
    last = None
    for message in messages:
        when = message.timestamp
        if not runs or (when is not None and last is not None and when - last > gap):
            runs.append([])
        runs[-1].append(message)
        if when is not None and (last is None or when > last):
            last = when
    return runs


def chat_sessions(chats: list[Chat], gap: timedelta, tally: Tally) -> list[ChatSession]:
    """Every chat's sessions, in file order; a ref met twice keeps its first message (the
    later ones are counted as ``duplicate``), and a chat with nothing kept has no session."""
    seen: set[str] = set()
    sessions: list[ChatSession] = []
    for chat in chats:
        unique = _first_of_each_ref(chat.messages, seen)
        tally.skip("duplicate", len(chat.messages) - len(unique))
        if not unique:
            continue
        if not chat.split:
            sessions.append(ChatSession(chat.key, chat.title, unique))
            continue
        for run in split_by_gap(unique, gap):
            session_id = f"{chat.key}:session:{digest(run[0].ref)[:16]}"
            sessions.append(ChatSession(session_id, chat.title, run))
    return sessions


def _first_of_each_ref(messages: list[ChatMessage], seen: set[str]) -> list[ChatMessage]:
    unique = []
    for message in messages:
        if message.ref not in seen:
            seen.add(message.ref)
            unique.append(message)
    return unique
