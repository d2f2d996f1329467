"""The chat formats by name: the one place that lists them, and reading a file as one.

A file given as the wrong format is an error that says which format it looks like.
"""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

from lightmem.chats.base import ChatExport, ChatParser
from lightmem.chats.chatgpt import ChatGPTParser
from lightmem.chats.claude import ClaudeParser
from lightmem.chats.files import StrPath, read_export
from lightmem.chats.telegram import TelegramParser
from lightmem.chats.whatsapp import MESSAGE_LINE, WhatsAppParser
from lightmem.errors import InputError

ChatFormat = Literal["chatgpt", "claude", "whatsapp", "telegram"]
FORMATS: tuple[str, ...] = get_args(ChatFormat)
_PARSERS: dict[str, type[ChatParser]] = {
    p.name: p for p in (ChatGPTParser, ClaudeParser, WhatsAppParser, TelegramParser)
}
LABELS = {"chatgpt": "ChatGPT", "claude": "Claude", "whatsapp": "WhatsApp", "telegram": "Telegram"}


def get_parser(format: str) -> ChatParser:
    """The parser of ``format`` (one of :data:`FORMATS`, in any case: "WhatsApp" too)."""
    parser = _PARSERS.get(format.strip().lower()) if isinstance(format, str) else None
    if parser is None:
        raise InputError(f"unknown chat format {format!r}; use one of: {', '.join(FORMATS)}")
    return parser()


def read_chat(path: StrPath, format: str) -> ChatExport:
    """Read and parse the export at ``path`` (the file, or the ZIP holding it) as ``format``.

    Raises :class:`InputError` naming the line or record for a malformed file, and saying
    which format a file of another format looks like."""
    parser = get_parser(format)
    text, name = read_export(path, parser.zip_members)
    try:
        return parser.parse(text, name)
    except InputError as exc:
        guess = guess_format(text)
        if guess is None or guess == parser.name:
            raise
        raise InputError(
            f"{exc}; the file looks like a {LABELS[guess]} export: import it as format {guess!r}"
        ) from None


def guess_format(text: str) -> str | None:
    """Which format the text of an export looks like, if any (for error hints)."""
    try:
        return _guess_json(json.loads(text))
    except (ValueError, RecursionError):
        first = next((line for line in text.splitlines() if line.strip()), "")
        return "whatsapp" if MESSAGE_LINE.match(first) else None


def _guess_json(data: Any) -> str | None:
    if isinstance(data, dict):
        return "telegram" if "messages" in data or "chats" in data else None
    first = data[0] if isinstance(data, list) and data else None
    if isinstance(first, dict) and "mapping" in first:
        return "chatgpt"
    if isinstance(first, dict) and "chat_messages" in first:
        return "claude"
    return None
