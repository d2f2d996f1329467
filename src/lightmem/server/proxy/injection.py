"""What goes upstream for one request: the app's system messages, the memory block (as one
more system message), then the last ``proxy.history_turns`` turns; and the accounting the
response reports (``X-LightMem-*`` headers and the ``lightmem`` field). The accounting counts
every message the app sent (a history that grows with each request), so it is done while the
upstream answers (:meth:`Plan.account`), not before the request goes out.

Everything is read through the caller's scoped view, so a key only ever injects memories of
the scopes it may read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lightmem.config import ProxySection
from lightmem.retrieval.query import memory_query, text_of
from lightmem.retrieval.search import QUERY_EMBEDDING
from lightmem.scoped import ScopedMemory
from lightmem.server.proxy.block import (
    QUESTION_HEADER,
    Counter,
    compose,
    message_tokens,
    render_stable,
    split_system,
    stable_hash,
    trim,
)
from lightmem.tokens import count_tokens
from lightmem.types import Entry, Scope

#: The per-question part is left out below this many tokens: too small to hold a memory.
MIN_QUESTION_TOKENS = 20
#: Tokens of the shortest summary line the stable part is expected to hold (its date alone
#: takes 9): it bounds how many summaries are read for it.
SESSION_LINE_LEAST = 16


@dataclass(slots=True)
class Plan:
    """The upstream messages and what the proxy did to them."""

    messages: list[dict[str, Any]]
    #: the turns left out (their tokens are counted by :meth:`account`)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    #: the injected system message's index in :attr:`messages` (None: nothing injected)
    block_at: int | None = None
    stable: str = ""
    injected_tokens: int = 0
    stable_tokens: int = 0
    trimmed_tokens: int = 0
    upstream_tokens: int = 0
    memories: list[str] = field(default_factory=list)
    turns: list[str] = field(default_factory=list)
    #: seconds spent building the block (retrieval included)
    seconds: float = 0.0
    #: of which embedding the query (the one new message, as the others' vectors are kept)
    embedding_seconds: float = 0.0

    def account(self, counts: Counter = count_tokens) -> None:
        """Count the tokens the response reports: injected, left out, sent upstream."""
        at = self.block_at
        injected = [] if at is None else self.messages[at : at + 1]
        self.injected_tokens = message_tokens(injected, counts)
        self.trimmed_tokens = message_tokens(self.dropped, counts)
        self.upstream_tokens = message_tokens(self.messages, counts)

    @property
    def saved_tokens(self) -> int:
        """Tokens fewer than the request as the app sent it (negative: the block is larger
        than the history left out)."""
        return self.trimmed_tokens - self.injected_tokens

    @property
    def stable_hash(self) -> str:
        return stable_hash(self.stable) if self.stable else ""

    def report(self, session: str, recorded: list[str]) -> dict[str, Any]:
        """The ``lightmem`` field of a response (OpenAI clients ignore it)."""
        return {
            "session": session,
            "injected_tokens": self.injected_tokens,
            "stable_tokens": self.stable_tokens,
            "stable_hash": self.stable_hash,
            "trimmed_tokens": self.trimmed_tokens,
            "saved_tokens": self.saved_tokens,
            "upstream_tokens": self.upstream_tokens,
            "memories": self.memories,
            "turns": self.turns,
            "recorded": recorded,
        }

    def headers(self, session: str) -> dict[str, str]:
        return {
            "X-LightMem-Session": session,
            "X-LightMem-Injected-Tokens": str(self.injected_tokens),
            "X-LightMem-Stable-Tokens": str(self.stable_tokens),
            "X-LightMem-Stable-Hash": self.stable_hash,
            "X-LightMem-Trimmed-Tokens": str(self.trimmed_tokens),
            "X-LightMem-Saved-Tokens": str(self.saved_tokens),
            "X-LightMem-Upstream-Tokens": str(self.upstream_tokens),
            "Server-Timing": f"lightmem-block;dur={self.seconds * 1e3:.1f}, "
            f"lightmem-embed;dur={self.embedding_seconds * 1e3:.1f}",
        }


def plan(
    view: ScopedMemory,
    scope: Scope,
    messages: list[dict[str, Any]],
    settings: ProxySection,
    counts: Counter = count_tokens,
) -> Plan:
    """Trim the history and build the block for the recent user turns (``counts``: the
    proxy's :class:`~lightmem.tokens.TokenCounts`, as the block's fixed parts come again and
    again). The tokens to report are counted later, by :meth:`Plan.account`."""
    start = time.perf_counter()
    system, turns = split_system(messages)
    sent, dropped = trim(turns, settings.history_turns)
    budget = settings.budget_tokens
    most = int(budget * settings.stable_share)
    stable, stable_ids = render_stable(stable_candidates(view, scope, most), most, counts)
    stable_tokens = counts(stable)
    query = memory_query(turns, settings.query_turns)
    room = budget - stable_tokens - counts(QUESTION_HEADER) - 2
    found = None
    QUERY_EMBEDDING.set(0.0)
    if query and room >= MIN_QUESTION_TOKENS:
        said = [text_of(m) for m in sent]  # the turns going upstream are not quoted again
        found = view.context(
            query, pool=scope, budget_tokens=room, hierarchical=False, in_prompt=said
        )
    out = Plan(messages=[*system, *sent], dropped=dropped)
    if stable_ids or (found is not None and found.items):
        block = compose(stable, found.text if found is not None else "")
        out.messages = [*system, {"role": "system", "content": block}, *sent]
        out.block_at = len(system)
        out.stable, out.stable_tokens = stable, stable_tokens
        out.memories = [*stable_ids, *_ids(found, "memory")]
        out.turns = _ids(found, "turn")
    out.seconds = time.perf_counter() - start
    out.embedding_seconds = QUERY_EMBEDDING.get()
    return out


def stable_candidates(view: ScopedMemory, scope: Scope, budget: int) -> list[Entry]:
    """What the stable part is chosen from: the pinned memories, and the summaries of the
    latest sessions, as many as ``budget`` tokens could hold (a user of a thousand sessions
    costs no more to serve than one of ten)."""
    most = budget // SESSION_LINE_LEAST + 1
    latest = view.get_all(pool=scope, kind="summary", newest_first=True, limit=most)
    shown = [*view.get_all(pool=scope, pinned=True), *latest]
    return list({e.id: e for e in shown}.values())


def _ids(found: Any, kind: str) -> list[str]:
    return [] if found is None else [h.id for h in found.items if h.kind == kind]
