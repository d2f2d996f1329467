"""Importing a person's chat history (ChatGPT, Claude, WhatsApp, Telegram exports) into a
memory: one parser per format (``base.py`` holds the contract), sessions cut by
``sessions.py``, and :func:`import_chat` adding each session with one ``Memory.add``."""

from __future__ import annotations

from lightmem.chats.base import Chat, ChatExport, ChatMessage, ChatParser, ChatSession
from lightmem.chats.importer import ChatImportResult, ProgressFn, SessionSummary, import_chat
from lightmem.chats.registry import FORMATS, ChatFormat, get_parser, read_chat
from lightmem.chats.sessions import DEFAULT_GAP_HOURS

__all__ = [
    "DEFAULT_GAP_HOURS",
    "FORMATS",
    "Chat",
    "ChatExport",
    "ChatFormat",
    "ChatImportResult",
    "ChatMessage",
    "ChatParser",
    "ChatSession",
    "ProgressFn",
    "SessionSummary",
    "get_parser",
    "import_chat",
    "read_chat",
]
