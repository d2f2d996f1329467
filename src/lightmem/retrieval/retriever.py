"""Search and context over one scope or several pools: the one path every surface takes.

:class:`Retriever` runs :class:`~lightmem.retrieval.search.Searcher` for each scope (one
owner's partition at a time, never across) and fuses several pools' lists by reciprocal rank;
:meth:`Retriever.context` applies the budget and mode rule (:func:`context_mode`) and packs
the hits (:func:`~lightmem.retrieval.context.build_context`). ``Memory.search``/``context``
call it with one scope, the scoped view (shared pools) with several.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lightmem.config import MemoryConfig, RetrievalSection
from lightmem.embedders.base import Embedder
from lightmem.embedders.images import ImageEmbedder
from lightmem.errors import InputError
from lightmem.messages import check_flag
from lightmem.retrieval.context import Context, build_context
from lightmem.retrieval.fusion import rrf
from lightmem.retrieval.search import Searcher, SearchSettings
from lightmem.stores.base import Store, TimeRange
from lightmem.timeutil import parse_timestamp
from lightmem.tokens import TokenCounts
from lightmem.types import Entry, Hit, Scope, SearchMode

#: the entries to leave out of an owner's results now (expired ones), as if deleted
Hidden = Callable[[Scope], Callable[[Entry], bool]]


def context_mode(
    mode: SearchMode | None, hierarchical: bool | None, default: SearchMode
) -> tuple[SearchMode, bool]:
    """The search mode of a context call and whether its summaries lead: ``hierarchical``
    (default: when the mode is ``hierarchical``) forces that mode on, ``False`` turns the
    configured default off for this call (hybrid), and contradicting both is an error."""
    if hierarchical is False and mode == "hierarchical":
        raise InputError("mode 'hierarchical' with hierarchical=False: choose one")
    chosen: SearchMode = mode or default
    if hierarchical is None:
        return chosen, chosen == "hierarchical"
    if hierarchical:
        return "hierarchical", True
    return ("hybrid" if chosen == "hierarchical" else chosen), False


def check_budget(budget: object) -> int:
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
        raise InputError(f"budget_tokens must be an integer >= 1, got {budget!r}")
    return budget


def candidates(budget: int) -> int:
    """Enough candidates to fill ``budget`` with short facts (~20 tokens each)."""
    return min(1000, max(20, budget // 10))


def parse_time_range(value: Any) -> TimeRange | None:
    """A ``(start, end)`` pair of times (either end ``None``: open), checked and parsed."""
    if value is None:
        return None
    try:
        start, end = value
    except (TypeError, ValueError):
        raise InputError(
            "time_range must be a (start, end) pair; use None for an open end"
        ) from None
    lo = None if start is None else parse_timestamp(start, field="time_range start")
    hi = None if end is None else parse_timestamp(end, field="time_range end")
    if lo is not None and hi is not None and lo > hi:
        raise InputError(
            f"time_range: the start ({lo.isoformat()}) is after the end ({hi.isoformat()}); "
            f"swap them"
        )
    return (lo, hi)


def fuse_pools(lists: Sequence[list[Hit]], limit: int, rrf_k: int) -> list[Hit]:
    """One ranked list from each pool's: fused by reciprocal rank, ``relevance`` on the fused
    scores (1 for the best). A hit's ``scope`` is the pool it came from. Hits of equal rank
    in their pools (every pool's best, then every pool's second) go by how close each is to
    the query (``match``): the pool's own ranking scores do not compare, cosines do. Else a
    pool with one stray memory put it level with the memory another pool has on the very
    subject, and first."""
    by_key: dict[str, Hit] = {}
    for hits in lists:
        by_key.update((f"{h.kind}:{h.id}", h) for h in hits)
    fused = rrf([[f"{h.kind}:{h.id}" for h in hits] for hits in lists], k=rrf_k)
    fused.sort(key=lambda kv: (-kv[1], -_closeness(by_key[kv[0]])))
    fused = fused[:limit]
    out = [by_key[k] for k, _ in fused]
    top = fused[0][1] if fused else 1.0
    for hit, (_, score) in zip(out, fused, strict=True):
        hit.score, hit.relevance = score, round(score / top, 4) if top > 0 else 0.0
    return out


def said_in(texts: Sequence[str]) -> frozenset[str]:
    """The texts of a prompt's messages, their spacing evened out (what a turn that says
    one of them is matched by)."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise InputError("in_prompt is a list of the prompt's message texts (strings)")
    return frozenset(w for t in texts if (w := _words(t)))


def _words(text: str) -> str:
    return " ".join(text.split())


def _in_prompt(hit: Hit, said: frozenset[str]) -> bool:
    """Whether the prompt holds all that ``hit`` was drawn from: a turn it has, or every
    turn a memory came from (in no-LLM mode a turn's own words)."""
    if not hit.sources:
        return hit.kind == "turn" and _words(hit.text) in said
    return all(_words(t.content) in said for t in hit.sources)


def _closeness(hit: Hit) -> float:
    return hit.match if hit.match is not None else -1.0


@dataclass(slots=True)
class Retriever:
    searcher: Searcher
    store: Store
    settings: RetrievalSection
    hidden: Hidden
    #: the token counts of the lines contexts show again and again
    counts: TokenCounts = field(default_factory=TokenCounts)

    @classmethod
    def build(
        cls,
        store: Store,
        embedder: Embedder,
        image_embedder: ImageEmbedder | None,
        config: MemoryConfig,
        hidden: Hidden,
        timings: dict[str, float] | None = None,
    ) -> Retriever:
        """The retriever of a memory, its settings from the ``retrieval`` config."""
        r = config.retrieval
        fields = SearchSettings.__dataclass_fields__
        settings = SearchSettings(**{k: getattr(r, k) for k in fields})
        searcher = Searcher(store, embedder, settings, image_embedder, timings)
        return cls(searcher, store, r, hidden)

    def prepare(self, scope: Scope) -> None:
        """Bring the owner's index up to date with the change log now (after writes, off a
        request's path), so that its next search applies no delta (or, cold, builds none)."""
        self.searcher.index(scope)

    def search(
        self,
        query: str,
        scopes: Sequence[Scope],
        *,
        limit: int | None = None,
        mode: SearchMode | None = None,
        time_range: Any = None,
        include_turns: bool | None = None,
    ) -> list[Hit]:
        """The best hits of one scope, or of several pools in one ranking (each searched in
        its own partition, the lists fused). No access check: the scoped view checks."""
        check_flag(include_turns, "include_turns", optional=True)
        window = parse_time_range(time_range)
        n = self.settings.limit if limit is None else limit
        chosen = mode or self.settings.mode
        lists = [
            self.searcher.search(
                query,
                scope,
                limit=n,
                mode=chosen,
                time_range=window,
                include_turns=include_turns,
                hidden=self.hidden(scope.owner),
            )
            for scope in dict.fromkeys(scopes)
        ]
        if len(lists) == 1:
            return lists[0]
        return fuse_pools(lists, n, self.settings.rrf_k)

    def context(
        self,
        query: str,
        scopes: Sequence[Scope],
        *,
        budget_tokens: int | None = None,
        mode: SearchMode | None = None,
        time_range: Any = None,
        hierarchical: bool | None = None,
        in_prompt: Sequence[str] = (),
    ) -> Context:
        """The prompt-ready block for ``query`` within ``budget_tokens``, without what was
        drawn from the messages ``in_prompt`` only (the prompt holds them already)."""
        check_flag(hierarchical, "hierarchical", optional=True)
        chosen, sessions = context_mode(mode, hierarchical, self.settings.mode)
        budget = check_budget(
            self.settings.context_tokens if budget_tokens is None else budget_tokens
        )
        said = said_in(in_prompt)
        n = candidates(budget)
        n += min(len(said), n)  # room for the hits left out (a long history: as many again)
        hits = self.search(query, scopes, limit=n, mode=chosen, time_range=time_range)
        if said:
            hits = [h for h in hits if not _in_prompt(h, said)]
        return build_context(hits, budget, sessions=sessions, counts=self.counts)
