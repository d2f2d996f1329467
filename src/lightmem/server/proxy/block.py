"""The pure half of the proxy: which turns of a request go upstream, what the memory query is,
how the injected block is written, and how many tokens each part holds.

The injected block is one system message, cache-friendly: a **stable part** first (a fixed
header, the user's pinned memories, then the summaries of the latest sessions, all in a
fixed order), byte for byte the same from request to request until sleep time (or the user)
changes them, then the **per-question part** (``context()`` for the recent user turns). A
model server's prefix cache can keep everything up to the per-question part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from lightmem.retrieval.context import day, session_line
from lightmem.retrieval.query import MEMORY_PREAMBLE, text_of
from lightmem.tokens import count_tokens
from lightmem.types import Entry

STABLE_HEADER = MEMORY_PREAMBLE
PINNED_HEADER = "Pinned:"
SESSIONS_HEADER = "Earlier sessions (oldest first):"
QUESTION_HEADER = "Relevant to this request:"
#: Roles whose leading messages are the app's own instructions: kept, never trimmed.
SYSTEM_ROLES = frozenset({"system", "developer"})
#: Counts a text's tokens (:func:`count_tokens`, or a :class:`~lightmem.tokens.TokenCounts`).
Counter = Callable[[str], int]
#: What one message costs beyond its text (role, separators), as chat templates count.
MESSAGE_OVERHEAD = 4


def split_system(messages: Sequence[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """(the leading system/developer messages, the conversation turns after them)."""
    n = 0
    while n < len(messages) and messages[n].get("role") in SYSTEM_ROLES:
        n += 1
    return list(messages[:n]), list(messages[n:])


def trim(turns: Sequence[dict[str, Any]], keep: int) -> tuple[list[Any], list[Any]]:
    """(the turns sent, the turns left out): the last ``keep`` (0: all). A tool result whose
    call was left out is left out too: an upstream refuses an orphan."""
    if keep <= 0 or len(turns) <= keep:
        return list(turns), []
    cut = len(turns) - keep
    while cut < len(turns) - 1 and turns[cut].get("role") == "tool":
        cut += 1
    return list(turns[cut:]), list(turns[:cut])


def stable_entries(entries: Sequence[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(pinned memories by creation, session summaries by time), each in a fixed order."""
    pinned = [e for e in entries if e.pinned and e.kind != "summary"]
    summaries = [e for e in entries if e.kind == "summary"]
    pinned.sort(key=lambda e: (e.created_at or datetime.min, e.id))
    summaries.sort(key=lambda e: (e.timestamp or datetime.min, e.id))
    return pinned, summaries


def render_stable(
    entries: Sequence[Entry], budget: int, counts: Counter = count_tokens
) -> tuple[str, list[str]]:
    """The stable part within ``budget`` tokens and the ids it holds: the header, the pinned
    memories (the oldest first, while they fit), then the latest sessions' summaries that
    fit (the oldest sessions dropped), shown oldest first. Only the entries decide it: the
    same entries give the same bytes."""
    pinned, summaries = stable_entries(entries)
    lines, ids = [STABLE_HEADER], []
    used = counts(STABLE_HEADER)
    for header, group in ((PINNED_HEADER, pinned), (SESSIONS_HEADER, summaries[::-1])):
        chosen: list[tuple[str, str]] = []
        cost = counts(header) + 2
        for e in group:
            line = session_line(e) if e.kind == "summary" else pinned_line(e)
            size = counts(line) + 1
            if used + cost + size > budget:
                break
            chosen.append((e.id, line))
            cost += size
        if header == SESSIONS_HEADER:
            chosen.reverse()  # the latest that fit, in time order
        if chosen:
            lines += ["", header, *(line for _, line in chosen)]
            ids += [i for i, _ in chosen]
            used += cost
    return "\n".join(lines), ids


def pinned_line(entry: Entry) -> str:
    return f"- [{day(entry.timestamp)}] {' '.join(entry.text.split())}"


def compose(stable: str, question: str) -> str:
    """The injected system message: the stable part, then the per-question part."""
    return f"{stable}\n\n{QUESTION_HEADER}\n{question}" if question else stable


def stable_hash(stable: str) -> str:
    """A short fingerprint of the stable part: equal hashes, equal bytes."""
    return hashlib.sha256(stable.encode()).hexdigest()[:16]


def message_tokens(messages: Sequence[dict[str, Any]], counts: Counter = count_tokens) -> int:
    """cl100k tokens of the messages' text plus :data:`MESSAGE_OVERHEAD` each (``counts``:
    a :class:`~lightmem.tokens.TokenCounts` when the same messages come again and again)."""
    return sum(counts(text_of(m)) + MESSAGE_OVERHEAD for m in messages)
