"""``Memory.context()``: what an application puts in its prompt before each reply.

The ranked pool of :mod:`lightmem.retrieval.search` is packed into a token budget (greedy in
rank order; an item that does not fit is skipped and smaller ones after it may still fit),
then written as a prompt-ready block: the memories in time order with their dates, then the
conversation turns quoted as evidence. A memory that a newer one replaced is written with its
validity ("superseded on 2024-06-02"), and the newer one says what it supersedes; a replaced
memory whose successor is in the block comes in only with the budget left once everything
else was packed. Relative times in quoted turns ("last Saturday") are followed by the date
they name, counted from the turn's own time. An event is written with the facts it binds
beneath it. With ``sessions`` (hierarchical context) the summaries of the sessions the hits
were found in come first, each cut to ``SESSION_LINE_TOKENS``. Tokens are cl100k tokens of
the block as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lightmem.retrieval.when import resolve_relative
from lightmem.tokens import count_tokens, truncate_tokens
from lightmem.types import Entry, Hit

MEMORY_HEADER = "Memories (oldest first):"
TURN_HEADER = "From the conversation:"
SESSION_HEADER = "Sessions (oldest first):"
SESSION_LINE_TOKENS = 80


@dataclass(slots=True)
class Context:
    """A prompt-ready block and what it holds."""

    text: str
    tokens: int
    budget_tokens: int
    items: list[Hit] = field(default_factory=list)
    #: item index -> index of the older item it supersedes (it replaced that memory)
    supersedes: dict[int, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text


def pack(sizes: Sequence[int], budget: int) -> list[int]:
    """Indexes of the items kept: in order, each one that still fits (greedy fill)."""
    kept: list[int] = []
    used = 0
    for i, size in enumerate(sizes):
        if size <= 0 or used + size > budget:
            continue
        kept.append(i)
        used += size
    return kept


def day(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d") if ts is not None else "undated"


def memory_line(hit: Hit, older: Hit | None = None) -> str:
    entry = hit.entry
    if entry is not None and entry.superseded_by is not None:
        mark = f" (superseded on {day(entry.valid_until)}: no longer current)"
    elif older is not None or hit.replaces:
        when = older.timestamp if older is not None else hit.replaces[-1].timestamp
        mark = f" (current: supersedes the memory of {day(when)})"
    else:
        mark = ""
    line = f"- [{day(hit.timestamp)}]{mark} {' '.join(hit.text.split())}"
    facts = [f"  - {' '.join(f.text.split())}" for f in hit.facts]
    return "\n".join([line, *facts])


def session_line(summary: Entry) -> str:
    text = truncate_tokens(" ".join(summary.text.split()), SESSION_LINE_TOKENS)
    return f"- [{day(summary.timestamp)}] {text}"


def turn_line(hit: Hit) -> str:
    t = hit.sources[0] if hit.sources else None
    speaker = t.label if t is not None else "someone"
    words = " ".join((t.content if t is not None else hit.text).split())
    return f'- [{day(hit.timestamp)}] {speaker}: "{resolve_relative(words, hit.timestamp)}"'


def supersession(hits: Sequence[Hit]) -> dict[int, int]:
    """Newer index -> the index of a memory among ``hits`` that it replaced (the older
    one's ``superseded_by`` names it)."""
    where = {h.id: i for i, h in enumerate(hits) if h.kind == "memory"}
    out: dict[int, int] = {}
    for i, h in enumerate(hits):
        entry = h.entry
        if entry is not None and entry.superseded_by in where:
            out.setdefault(where[entry.superseded_by], i)
    return out


def build_context(
    hits: Sequence[Hit],
    budget: int,
    *,
    sessions: bool = False,
    counts: Callable[[str], int] = count_tokens,
) -> Context:
    """Pack ``hits`` (best first) into ``budget`` tokens and write the block; with
    ``sessions``, the hits' session summaries first (best session first, while they fit).
    ``counts`` sizes the lines (a :class:`~lightmem.tokens.TokenCounts` keeps them)."""
    summaries: list[Entry] = []
    budget_left = budget
    if sessions:
        used = count_tokens(SESSION_HEADER) + 2
        for s in dict.fromkeys(h.session.id for h in hits if h.session is not None):
            entry = next(h.session for h in hits if h.session is not None and h.session.id == s)
            size = counts(session_line(entry)) + 1
            if used + size <= budget // 2:  # at most half of the budget
                summaries.append(entry)
                used += size
        budget_left = budget - used if summaries else budget
    overhead = counts(MEMORY_HEADER) + counts(TURN_HEADER) + 4
    found = supersession(hits)
    replaced = set(found.values())
    sizes = [_size(h, hits, found, i, counts) for i, h in enumerate(hits)]
    room = max(0, budget_left - overhead)
    first = pack([0 if i in replaced else s for i, s in enumerate(sizes)], room)
    left = room - sum(sizes[i] for i in first)
    kept_ids = set(first)
    later = pack([s if i in replaced else 0 for i, s in enumerate(sizes)], left)
    kept = [hits[i] for i in sorted(kept_ids | set(later))]
    memories = [h for h in kept if h.kind == "memory"]
    links = supersession(memories)
    text = render(kept, memories, links, summaries)
    tokens = count_tokens(text)
    while kept and tokens > budget:  # rare: joined lines count a little more
        kept.pop()
        memories = [h for h in kept if h.kind == "memory"]
        links = supersession(memories)
        text = render(kept, memories, links, summaries)
        tokens = count_tokens(text)
    index = {id(h): n for n, h in enumerate(kept)}
    supersedes = {index[id(memories[k])]: index[id(memories[v])] for k, v in links.items()}
    return Context(text, tokens, budget, list(kept), supersedes)


def _size(
    hit: Hit, hits: Sequence[Hit], found: dict[int, int], i: int, counts: Callable[[str], int]
) -> int:
    if hit.kind != "memory":
        return counts(turn_line(hit)) + 1
    older = hits[found[i]] if i in found else None
    return counts(memory_line(hit, older)) + 1


def render(
    kept: Sequence[Hit],
    memories: Sequence[Hit],
    found: dict[int, int],
    summaries: Sequence[Entry] = (),
) -> str:
    lines: list[str] = []
    if summaries:
        lines.append(SESSION_HEADER)
        by_time = sorted(summaries, key=lambda e: e.timestamp or datetime.min)
        lines.extend(session_line(e) for e in by_time)
    if memories:
        if lines:
            lines.append("")
        lines.append(MEMORY_HEADER)
        order = sorted(
            range(len(memories)), key=lambda i: (memories[i].timestamp or datetime.min, i)
        )
        for i in order:
            older = memories[found[i]] if i in found else None
            lines.append(memory_line(memories[i], older))
    turns = sorted((h for h in kept if h.kind == "turn"), key=_told)
    if turns:
        if lines:
            lines.append("")
        lines.append(TURN_HEADER)
        lines.extend(turn_line(h) for h in turns)
    return "\n".join(lines)


def _told(hit: Hit) -> tuple[datetime, int]:
    """When a turn was said: its time, then its place in the conversation (the turns of one
    ``add``, or a question and its reply within a second, share a time)."""
    seq = hit.sources[0].seq if hit.sources else 0
    return hit.timestamp or datetime.min, seq
