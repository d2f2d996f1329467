"""Importing a person's chat history: parse the whole export, leave out what the owner already
has (by ``ref``), then add each session with ONE :meth:`Memory.add` (one transaction, one
embedding pass), at ingest speed.

Nothing is written when the file is malformed: it is parsed completely before the first
``add``. A re-import adds nothing; a longer export of the same chat adds only its new
messages; an import stopped half-way (a killed process, a full disk) finishes when run again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from lightmem.chats.base import ChatExport, ChatMessage, ChatSession
from lightmem.chats.files import StrPath
from lightmem.chats.registry import read_chat
from lightmem.chats.sessions import DEFAULT_GAP_HOURS, chat_sessions
from lightmem.errors import InputError
from lightmem.messages import check_flag, make_scope
from lightmem.timeutil import format_timestamp

if TYPE_CHECKING:
    from lightmem.memory import Memory

#: ``progress(done, total)``: sessions added so far, of the sessions with new messages
ProgressFn = Callable[[int, int], None]


@dataclass(slots=True)
class SessionSummary:
    session_id: str
    title: str | None
    messages: int  # messages of the session in the file
    new: int  # of them, not yet in the store (added, unless a dry run)
    start: datetime | None
    end: datetime | None


@dataclass(slots=True)
class ChatImportResult:
    """What an import found and did (or, with ``dry_run``, would do)."""

    format: str
    path: str
    dry_run: bool
    chats: int  # conversations (ChatGPT, Claude) or chats (WhatsApp, Telegram) in the file
    sessions: list[SessionSummary]
    skipped: dict[str, int]  # messages not imported, by reason
    already_present: int  # messages whose ref the owner already has
    added: int = 0  # turns stored; with dry_run, turns that would be stored
    repaired: int = 0  # texts with a NUL or invalid Unicode, stored with U+FFFD instead
    #: extraction batches that failed while adding (``flush`` retries them)
    failed_batches: list[str] = field(default_factory=list)
    #: batches left pending because the LLM endpoint cannot be reached (``flush`` retries)
    waiting_batches: list[str] = field(default_factory=list)
    #: processing errors after an add (the turns are stored; the next add or flush resumes)
    deferred: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(s.messages for s in self.sessions)

    @property
    def sessions_added(self) -> int:
        return sum(1 for s in self.sessions if s.new)

    @property
    def first(self) -> datetime | None:
        return min((s.start for s in self.sessions if s.start), default=None)

    @property
    def last(self) -> datetime | None:
        return max((s.end for s in self.sessions if s.end), default=None)

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-able data (the CLI's ``--json`` output)."""
        return {
            "format": self.format,
            "path": self.path,
            "dry_run": self.dry_run,
            "chats": self.chats,
            "sessions": len(self.sessions),
            "sessions_added": self.sessions_added,
            "messages": self.messages,
            "added": self.added,
            "already_present": self.already_present,
            "skipped": dict(sorted(self.skipped.items())),
            "repaired": self.repaired,
            "first": format_timestamp(self.first),
            "last": format_timestamp(self.last),
            "failed_batches": self.failed_batches,
            "waiting_batches": self.waiting_batches,
            "deferred": self.deferred,
            "session_list": [_session_dict(s) for s in self.sessions],
        }


def import_chat(
    memory: Memory,
    path: StrPath | ChatExport,
    *,
    format: str,
    user_id: str | None,
    agent_id: str | None = None,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
    gap_hours: float = DEFAULT_GAP_HOURS,
) -> ChatImportResult:
    """Import the chat export at ``path`` (``format``: ``chatgpt``, ``claude``, ``whatsapp``
    or ``telegram``; or an export :func:`read_chat` read already) into the owner ``user_id``
    / ``agent_id``: one session per conversation,
    or per stretch of a chat between silences longer than ``gap_hours``. Messages whose ref
    the owner already has are left out. ``dry_run`` reads and counts, and writes nothing.

    Raises :class:`InputError` (nothing written) for a malformed file or a wrong format."""
    check_flag(dry_run, "dry_run")
    make_scope(user_id, agent_id, None)
    gap = _gap(gap_hours)
    export = path if isinstance(path, ChatExport) else read_chat(path, format)
    sessions = chat_sessions(export.chats, gap, export.tally)
    known = {
        t.ref
        for t in memory.turns(user_id=user_id, agent_id=agent_id, include_forgotten=True)
        if t.ref
    }
    plans = [(s, [m for m in s.messages if m.ref not in known]) for s in sessions]
    result = _result(export, plans, dry_run)
    if dry_run:
        result.added = sum(len(new) for _, new in plans)
    else:
        _add(memory, [p for p in plans if p[1]], result, progress, user_id, agent_id)
    return result


def _add(
    memory: Memory,
    todo: list[tuple[ChatSession, list[ChatMessage]]],
    result: ChatImportResult,
    progress: ProgressFn | None,
    user_id: str | None,
    agent_id: str | None,
) -> None:
    """Add each session's new messages in one ``add``, reporting progress after each."""
    if progress is not None:
        progress(0, len(todo))
    for done, (session, new) in enumerate(todo, start=1):
        added = memory.add(
            [m.to_message() for m in new], user_id=user_id, agent_id=agent_id, session_id=session.id
        )
        result.added += len(added.turn_ids)
        result.failed_batches += added.failed_batches
        result.waiting_batches += added.waiting_batches
        if added.deferred:
            result.deferred.append(added.deferred)
        if progress is not None:
            progress(done, len(todo))


def _gap(hours: float) -> timedelta:
    number = isinstance(hours, int | float) and not isinstance(hours, bool)
    if not number or not math.isfinite(hours) or hours <= 0:
        raise InputError(f"gap_hours must be a number of hours above 0, got {hours!r}")
    return timedelta(hours=hours)


def _result(
    export: ChatExport, plans: list[tuple[ChatSession, list[ChatMessage]]], dry_run: bool
) -> ChatImportResult:
    summaries = [
        SessionSummary(s.id, s.title, len(s.messages), len(new), s.start, s.end) for s, new in plans
    ]
    return ChatImportResult(
        format=export.format,
        path=export.path,
        dry_run=dry_run,
        chats=len(export.chats),
        sessions=summaries,
        skipped=dict(export.tally.skipped),
        already_present=sum(len(s.messages) - len(new) for s, new in plans),
        repaired=export.tally.repaired,
    )


def _session_dict(s: SessionSummary) -> dict[str, Any]:
    return {
        "session_id": s.session_id,
        "title": s.title,
        "messages": s.messages,
        "new": s.new,
        "start": format_timestamp(s.start),
        "end": format_timestamp(s.end),
    }
