"""``Memory.context()``: what an application puts in its prompt before each reply.

The ranked pool of :mod:`lightmem.retrieval.search` is packed into a token budget (greedy in
rank order; an item that does not fit is skipped and smaller ones after it may still fit),
then written as a prompt-ready block: the memories in time order with their dates, a newer
memory marked when it supersedes an older one on the same subject, then the conversation
turns quoted as evidence. An event is written with the facts it binds beneath it. With
``sessions`` (hierarchical context) the summaries of the sessions the hits were found in
come first, each cut to ``SESSION_LINE_TOKENS``. Tokens are cl100k tokens of the block as
written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

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
    #: item index -> index of the older item it supersedes (same subject, newer date)
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
    mark = f" (newer: supersedes the memory of {day(older.timestamp)})" if older else ""
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
    return f'- [{day(hit.timestamp)}] {speaker}: "{words}"'


def superseded(
    hits: Sequence[Hit], vectors: dict[str, np.ndarray], threshold: float
) -> dict[int, int]:
    """For memories in time order: newer index -> the latest older one it is similar to
    (cosine >= ``threshold``), i.e. the one it supersedes."""
    out: dict[int, int] = {}
    order = sorted(
        (i for i, h in enumerate(hits) if h.kind == "memory" and h.id in vectors),
        key=lambda i: (hits[i].timestamp or datetime.min, i),
    )
    for pos, i in enumerate(order):
        for j in reversed(order[:pos]):
            same_time = hits[j].timestamp == hits[i].timestamp
            if not same_time and float(vectors[hits[i].id] @ vectors[hits[j].id]) >= threshold:
                out[i] = j
                break
    return out


def build_context(
    hits: Sequence[Hit],
    budget: int,
    vectors: Callable[[list[str]], dict[str, np.ndarray]],
    threshold: float,
    *,
    sessions: bool = False,
) -> Context:
    """Pack ``hits`` (best first) into ``budget`` tokens and write the block; with
    ``sessions``, the hits' session summaries first (best session first, while they fit)."""
    summaries: list[Entry] = []
    if sessions:
        used = count_tokens(SESSION_HEADER) + 2
        for s in dict.fromkeys(h.session.id for h in hits if h.session is not None):
            entry = next(h.session for h in hits if h.session is not None and h.session.id == s)
            size = count_tokens(session_line(entry)) + 1
            if used + size <= budget // 2:  # at most half of the budget
                summaries.append(entry)
                used += size
        budget_left = budget - used if summaries else budget
    else:
        budget_left = budget
    overhead = count_tokens(MEMORY_HEADER) + count_tokens(TURN_HEADER) + 4
    sizes = [count_tokens(memory_line(h) if h.kind == "memory" else turn_line(h)) + 1 for h in hits]
    kept = [hits[i] for i in pack(sizes, max(0, budget_left - overhead))]
    vecs = vectors([h.id for h in kept if h.kind == "memory"])
    while True:
        memories = [h for h in kept if h.kind == "memory"]
        found = superseded(memories, vecs, threshold)
        if not kept or count_tokens(render(kept, memories, found, summaries)) <= budget:
            break
        kept.pop()  # the supersession marks pushed it past the budget: drop the last item
    text = render(kept, memories, found, summaries)
    index = {id(h): n for n, h in enumerate(kept)}
    supersedes = {index[id(memories[k])]: index[id(memories[v])] for k, v in found.items()}
    return Context(text, count_tokens(text), budget, list(kept), supersedes)


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
    turns = sorted((h for h in kept if h.kind == "turn"), key=lambda h: h.timestamp or datetime.min)
    if turns:
        if lines:
            lines.append("")
        lines.append(TURN_HEADER)
        lines.extend(turn_line(h) for h in turns)
    return "\n".join(lines)
