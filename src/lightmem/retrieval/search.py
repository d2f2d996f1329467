"""Search: ONE ranked pool of memories and raw turns, scoped and time-filtered, with the
source turns attached to every hit as evidence.

Lists fused by weighted reciprocal-rank fusion (``retrieval.rrf_k``):

* memories (extracted facts, manual notes) by the store's dense and BM25 search, each list
  weighted ``retrieval.memory_weight``: a fact packs its evidence in few tokens;
* raw turns (:mod:`lightmem.retrieval.turns`) by dense and BM25 over their own text and over
  their context keys: facts cover most of what is asked, the turns the rest;
* with an image embedder (dense and hybrid modes, with the turn pool): the images of the
  turns by the embedder's text side, as a list of the turns that share them and a list of
  the memories that carry them.

The pool is deduplicated in rank order: a turn already cited by a chosen memory adds nothing
new and is skipped, and so is a memory whose source turns were all quoted already. In
no-LLM mode a memory IS its turn: the turn's keys rank it, and the hit is the memory.

``mode="hierarchical"`` first ranks the session summaries (dense and BM25, fused) and takes
the ``retrieval.sessions`` best sessions, then drills in: each of the hybrid rankings again,
deeper, restricted to the memories and turns of those sessions, fused with the flat
rankings (weight ``retrieval.session_weight``), so evidence in other sessions still ranks.
A hit found in a top session carries its summary (``Hit.session``). Without summaries (or
for an owner too large for the in-memory pool) it is hybrid search.

An event hit carries the active facts it binds (``Hit.facts``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lightmem.embedders.base import Embedder
from lightmem.embedders.images import ImageEmbedder
from lightmem.errors import InputError
from lightmem.retrieval.fusion import rrf
from lightmem.retrieval.turns import (
    TurnKeys,
    TurnSearch,
    image_rankings,
    is_turn_text,
    memory_bm25,
    memory_dense,
    rankings,
    summary_rankings,
)
from lightmem.stores.base import Store, TimeRange
from lightmem.types import Entry, EntryStatus, Hit, Scope, SearchMode, Turn

MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid", "hierarchical")
#: how much deeper the rankings go when drilling into the top sessions
DRILL_DEPTH = 4


@dataclass(frozen=True, slots=True)
class SearchSettings:
    rrf_k: int = 10
    turns: bool = True
    memory_weight: float = 2.0
    context_window: int = 2
    neighbour_weight: float = 0.3
    source_weight: float = 0.6
    pool_max_items: int = 50_000
    sessions: int = 3
    session_weight: float = 0.3


class Searcher:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: SearchSettings | None = None,
        image_embedder: ImageEmbedder | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        #: seconds spent embedding queries (``search_embedding``), beside the pipeline's
        #: stage timings, so a caller can tell embedding from retrieval
        self.timings = timings if timings is not None else {}
        self.image_embedder = image_embedder
        self.settings = settings or SearchSettings()
        self.turn_search = TurnSearch(
            store,
            dim=embedder.dim,
            window=self.settings.context_window,
            neighbour_weight=self.settings.neighbour_weight,
            source_weight=self.settings.source_weight,
            image_model=image_embedder.model_id if image_embedder is not None else None,
        )

    def search(
        self,
        query: str,
        scope: Scope,
        *,
        limit: int,
        mode: SearchMode,
        time_range: TimeRange | None = None,
        with_sources: bool = True,
        include_turns: bool | None = None,
        hidden: Callable[[Entry], bool] | None = None,
    ) -> list[Hit]:
        """The ``limit`` best hits. ``include_turns=False`` ranks memories only (default:
        the ``retrieval.turns`` setting). ``hidden`` names entries to leave out (expired
        ones) as if deleted: their turns are not shown either."""
        check_query(query, mode, limit)
        hierarchical = mode == "hierarchical"
        if hierarchical:
            mode = "hybrid"
        turns_on = self.settings.turns if include_turns is None else include_turns
        keys = (
            self.turn_search.keys(scope.owner, self.settings.pool_max_items) if turns_on else None
        )
        depth = max(limit * 3, 50)
        deep = (
            depth * DRILL_DEPTH if hierarchical and keys is not None and keys.summaries else depth
        )
        vector = self._embed_query(query) if mode in ("dense", "hybrid") else None
        lists: list[list[str]] = []
        memory_ids: list[str] = []
        if vector is not None:
            if keys is not None:
                # Memories keyed by their text and their source turns.
                dense = memory_dense(keys, scope, vector, deep, time_range)
            else:
                dense = [i for i, _ in self.store.search_dense(scope, vector, depth, time_range)]
            lists.append(["e:" + i for i in dense])
            memory_ids += dense
        if mode in ("bm25", "hybrid"):
            if keys is not None:
                # Stemmed BM25 over the memories (the store's own is unstemmed).
                sparse = memory_bm25(keys, scope, query, deep, time_range)
            else:
                sparse = [i for i, _ in self.store.search_bm25(scope, query, depth, time_range)]
            lists.append(["e:" + i for i in sparse])
            memory_ids += sparse
        weights = [self.settings.memory_weight] * len(lists)
        image_turns: list[str] = []
        if keys is not None and vector is not None and self.image_embedder is not None:
            # the images by the image embedder's text side: the turns that share them and
            # the memories that carry them
            image_query = self.image_embedder.embed_texts([query])[0]
            image_turns, carried = image_rankings(keys, scope, image_query, depth, time_range)
            lists.append(["e:" + i for i in carried])
            weights.append(self.settings.memory_weight)
            memory_ids += carried
        entries = {e.id: e for e in self.store.get_entries(list(dict.fromkeys(memory_ids)))}
        turn_entry: dict[str, str] = {}
        if keys is not None:
            turn_entry = keys.turn_entry
            # A memory that is its turn's text (no-LLM mode) is ranked by the turn's keys.
            lists = [[u for u in ranked if not _turn_text(entries.get(u[2:]))] for ranked in lists]
            query_text = query if mode in ("bm25", "hybrid") else None
            for ranked in rankings(keys, scope, vector, query_text, deep, time_range):
                lists.append(["t:" + i for i in ranked])
                weights.append(1.0)
            if image_turns:
                lists.append(["t:" + i for i in image_turns])
                weights.append(1.0)
        top_sessions: dict[str, Entry] = {}
        if deep > depth and keys is not None:
            top_sessions = self._top_sessions(keys, scope, vector, query, time_range)
            session_of = {t.id: t.session_id for t in keys.turns}
            drilled = [
                [u for u in ranked if _unit_sessions(u, entries, session_of) & top_sessions.keys()]
                for ranked in lists
            ]
            w = self.settings.session_weight
            weights += [w * x for x in weights]
            lists = [ranked[:depth] for ranked in lists] + [d[:depth] for d in drilled]
        fused = rrf(lists, k=self.settings.rrf_k, weights=weights)
        hits = self._resolve(fused, entries, turn_entry, limit, with_sources, hidden)
        self._attach_facts(hits, hidden)
        if top_sessions:
            for hit in hits:
                found = [t.session_id for t in hit.sources if t.session_id in top_sessions]
                hit.session = top_sessions[found[0]] if found else None
        return hits

    def _embed_query(self, query: str) -> npt.NDArray[np.float32]:
        start = time.perf_counter()
        vector = self.embedder.embed([query])[0]
        seconds = time.perf_counter() - start
        self.timings["search_embedding"] = self.timings.get("search_embedding", 0.0) + seconds
        return vector

    def _attach_facts(self, hits: list[Hit], hidden: Callable[[Entry], bool] | None) -> None:
        """Each event hit gets the active facts it binds, in the event's order: only facts
        of the event's own owner. An event's ``meta`` may come from an import, and ids it
        names in another tenant's memory are never followed (that would read past the
        scope check the event itself passed)."""
        events = [h for h in hits if h.entry is not None and h.entry.kind == "event"]
        wanted = [f for h in events for f in _bound(h.entry)]
        if not wanted:
            return
        found = {e.id: e for e in self.store.get_entries(list(dict.fromkeys(wanted)))}
        for h in events:
            assert h.entry is not None
            owner = h.entry.scope.owner
            h.facts = [
                found[f]
                for f in _bound(h.entry)
                if f in found
                and found[f].scope.owner == owner
                and found[f].status == EntryStatus.ACTIVE
                and not (hidden is not None and hidden(found[f]))
            ]

    def _top_sessions(
        self,
        keys: TurnKeys,
        scope: Scope,
        vector: npt.NDArray[np.float32] | None,
        query: str,
        time_range: TimeRange | None,
    ) -> dict[str, Entry]:
        """Session id -> summary of the ``retrieval.sessions`` best sessions for the query."""
        ranked = summary_rankings(keys, scope, vector, query, 50, time_range)
        by_id = {e.id: e for lst in ranked for e in lst}
        fused = rrf([[e.id for e in lst] for lst in ranked], k=self.settings.rrf_k)
        out: dict[str, Entry] = {}
        for entry_id, _ in fused:
            sid = by_id[entry_id].meta.get("session_id")
            if isinstance(sid, str) and sid not in out:
                out[sid] = by_id[entry_id]
            if len(out) >= self.settings.sessions:
                break
        return out

    def _resolve(
        self,
        fused: list[tuple[str, float]],
        entries: dict[str, Entry],
        turn_entry: dict[str, str],
        limit: int,
        with_sources: bool,
        hidden: Callable[[Entry], bool] | None = None,
    ) -> list[Hit]:
        """Hits in fused order, deduplicated by the turns already chosen."""
        wanted_turns = [u[2:] for u, _ in fused if u.startswith("t:")]
        extra = [turn_entry[t] for t in wanted_turns if t in turn_entry]
        missing = [i for i in dict.fromkeys(extra) if i not in entries]
        entries.update({e.id: e for e in self.store.get_entries(missing)})
        chosen: list[tuple[Entry | str, float]] = []
        covered: set[str] = set()  # turns cited by a chosen memory or shown themselves
        shown: set[str] = set()  # turns chosen as raw turns
        seen_entries: set[str] = set()
        for unit, score in fused:
            if len(chosen) >= limit:
                break
            kind, key = unit[:1], unit[2:]
            if kind == "e" or key in turn_entry:
                entry = entries.get(key if kind == "e" else turn_entry[key])
                if entry is None or entry.status != EntryStatus.ACTIVE or entry.id in seen_entries:
                    continue
                if entry.kind == "summary" or not entry.searchable:
                    continue  # the store's own indexes rank these too: not a hit
                if hidden is not None and hidden(entry):
                    continue
                if kind == "t" and key in covered:
                    continue
                if entry.sources and set(entry.sources) <= shown:
                    continue  # a restatement of turns already quoted
                seen_entries.add(entry.id)
                covered.update(entry.sources)
                chosen.append((entry, score))
            elif key not in covered:
                covered.add(key)
                shown.add(key)
                chosen.append((key, score))
        needed = [t for item, _ in chosen for t in _turn_ids(item, with_sources)]
        # a forgotten turn is no evidence either (a memory that still cites it keeps it
        # only until a purge drops it from its sources)
        found = self.store.get_turns(list(dict.fromkeys(needed)))
        turns = {t.id: t for t in found if not t.forgotten}
        top = chosen[0][1] if chosen else 1.0
        hits: list[Hit] = []
        for item, score in chosen:
            relevance = round(score / top, 4) if top > 0 else 0.0
            if isinstance(item, Entry):
                sources = [turns[t] for t in item.sources if t in turns] if with_sources else []
                hits.append(Hit(item, score, sources, relevance=relevance))
            elif item in turns:
                turn: Turn = turns[item]
                hits.append(Hit(None, score, [turn], turn=turn, relevance=relevance))
        return hits


def check_query(query: object, mode: object, limit: object) -> None:
    if not isinstance(query, str) or not query.strip():
        raise InputError("query must be a non-empty string")
    if mode not in MODES:
        raise InputError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InputError(f"limit must be an integer >= 1, got {limit!r}")


def _bound(entry: Entry | None) -> list[str]:
    facts = entry.meta.get("facts") if entry is not None else None
    return [f for f in facts if isinstance(f, str)] if isinstance(facts, list) else []


def _unit_sessions(
    unit: str, entries: dict[str, Entry], session_of: dict[str, str | None]
) -> set[str | None]:
    """The sessions a ranked unit ("t:turn" or "e:entry") comes from."""
    if unit.startswith("t:"):
        return {session_of.get(unit[2:])}
    entry = entries.get(unit[2:])
    return {session_of.get(t) for t in entry.sources} if entry is not None else set()


def _turn_text(entry: Entry | None) -> bool:
    return entry is not None and is_turn_text(entry)


def _turn_ids(item: Entry | str, with_sources: bool) -> list[str]:
    if isinstance(item, Entry):
        return list(item.sources) if with_sources else []
    return [item]
