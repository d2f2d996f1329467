"""What every chat-export parser returns, and the contract it keeps.

A parser reads one export (the text of ``conversations.json``, ``result.json`` or a WhatsApp
``.txt``) and returns a :class:`ChatExport`: its chats, each a list of :class:`ChatMessage`
in the order they were written, and the count of everything it skipped, by reason. It never
drops a message quietly, never writes anything, and raises :class:`~lightmem.errors.InputError`
naming the line or record for a file it cannot read. Imported text is data: nothing in it is
interpreted.

Timestamps are naive ``datetime`` objects: UTC where the export says when (ChatGPT, Claude,
Telegram's ``date_unixtime``), the wall-clock time as written where it does not (WhatsApp,
Telegram's ``date``).
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from lightmem.text import clean_text, storable
from lightmem.timeutil import format_timestamp

#: an id from an export is used as written when it is this plain; otherwise it is hashed
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.@+=-]{1,128}")


@dataclass(slots=True)
class ChatMessage:
    """One message of a chat: who said what, when, and its stable ``ref``."""

    ref: str  # stable across re-exports: "chatgpt:<conversation>:<message>", "whatsapp:<sha>"
    role: str  # "user" or "assistant"
    content: str
    speaker: str | None
    timestamp: datetime | None

    def to_message(self) -> dict[str, Any]:
        """The message as :meth:`lightmem.Memory.add` takes it."""
        message: dict[str, Any] = {"role": self.role, "content": self.content, "ref": self.ref}
        if self.speaker:
            message["name"] = self.speaker
        if self.timestamp is not None:
            message["timestamp"] = format_timestamp(self.timestamp)
        return message


@dataclass(slots=True)
class Chat:
    """One conversation (ChatGPT, Claude) or chat (WhatsApp, Telegram) of an export."""

    key: str  # stable prefix of its session ids: "chatgpt:<conversation id>", "whatsapp"
    title: str | None
    messages: list[ChatMessage]
    #: True: split into sessions at long silences (WhatsApp, Telegram); False: one session
    split: bool = False


@dataclass(slots=True)
class ChatSession:
    """What one ``add`` stores: a conversation, or a stretch of a chat between long silences.
    Its ``id`` is stable across re-imports and longer exports of the same chat."""

    id: str
    title: str | None
    messages: list[ChatMessage]

    @property
    def start(self) -> datetime | None:
        return min((m.timestamp for m in self.messages if m.timestamp), default=None)

    @property
    def end(self) -> datetime | None:
        return max((m.timestamp for m in self.messages if m.timestamp), default=None)


@dataclass(slots=True)
class Tally:
    """What a parser skipped, by reason, and how many texts it had to repair."""

    skipped: dict[str, int] = field(default_factory=dict)
    repaired: int = 0  # texts with a NUL or invalid Unicode, stored with U+FFFD instead

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    def text(self, value: str) -> str:
        """``value`` as every store can keep it (counted when it had to change)."""
        if storable(value):
            return value
        self.repaired += 1
        return clean_text(value)


@dataclass(slots=True)
class ChatExport:
    format: str
    path: str
    chats: list[Chat]
    tally: Tally


class ChatParser(ABC):
    """Reads one export format. Subclasses name the format and the file a ZIP holds."""

    name: ClassVar[str]
    #: file names (fnmatch patterns) of the export inside a ZIP, preferred first
    zip_members: ClassVar[tuple[str, ...]]

    @abstractmethod
    def parse(self, text: str, name: str) -> ChatExport:
        """Every chat of ``text`` (read from ``name``), or :class:`InputError`."""


def plain_id(value: object) -> str:
    """An export's id as it can sit in a ref or a session id: as written when it is plain
    (letters, digits, ``_.@+=-``), else a short hash of it."""
    text = str(value)
    if _PLAIN_ID.fullmatch(text):
        return text
    return "h" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def digest(*parts: str) -> str:
    """A short, stable hash of ``parts`` (for refs that the export gives no id for)."""
    joined = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(joined).hexdigest()[:24]
