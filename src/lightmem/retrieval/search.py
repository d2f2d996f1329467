"""Search over long-term entries: dense, BM25 or hybrid (RRF), scoped, time-filtered, with
the source turns attached to every hit as evidence."""

from __future__ import annotations

from lightmem.embedders.base import Embedder
from lightmem.errors import InputError
from lightmem.retrieval.fusion import rrf
from lightmem.stores.base import Store, TimeRange
from lightmem.types import Hit, Scope, SearchMode

MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid")


class Searcher:
    def __init__(self, store: Store, embedder: Embedder, *, rrf_k: int) -> None:
        self.store = store
        self.embedder = embedder
        self.rrf_k = rrf_k

    def search(
        self,
        query: str,
        scope: Scope,
        *,
        limit: int,
        mode: SearchMode,
        time_range: TimeRange | None = None,
        with_sources: bool = True,
    ) -> list[Hit]:
        if not isinstance(query, str) or not query.strip():
            raise InputError("query must be a non-empty string")
        if mode not in MODES:
            raise InputError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if limit < 1:
            raise InputError(f"limit must be >= 1, got {limit}")
        ranked = self.rank(query, scope, limit=limit, mode=mode, time_range=time_range)
        entries = {e.id: e for e in self.store.get_entries([i for i, _ in ranked])}
        hits = [Hit(entries[i], s) for i, s in ranked if i in entries]
        if with_sources:
            turn_ids = list(dict.fromkeys(t for h in hits for t in h.entry.sources))
            turns = {t.id: t for t in self.store.get_turns(turn_ids)}
            for h in hits:
                h.sources = [turns[t] for t in h.entry.sources if t in turns]
        return hits

    def rank(
        self,
        query: str,
        scope: Scope,
        *,
        limit: int,
        mode: SearchMode,
        time_range: TimeRange | None = None,
    ) -> list[tuple[str, float]]:
        """Ranked ``(entry_id, score)``; hybrid fuses deeper lists than it returns."""
        depth = limit if mode != "hybrid" else max(limit * 3, 50)
        dense: list[tuple[str, float]] = []
        sparse: list[tuple[str, float]] = []
        if mode in ("dense", "hybrid"):
            vector = self.embedder.embed([query])[0]
            dense = self.store.search_dense(scope, vector, depth, time_range)
        if mode in ("bm25", "hybrid"):
            sparse = self.store.search_bm25(scope, query, depth, time_range)
        if mode == "dense":
            return dense[:limit]
        if mode == "bm25":
            return sparse[:limit]
        fused = rrf([[i for i, _ in dense], [i for i, _ in sparse]], k=self.rrf_k)
        return fused[:limit]
