"""Search: ONE ranked pool of memories and raw turns, scoped and time-filtered, with the
source turns attached to every hit as evidence.

Lists fused by weighted reciprocal-rank fusion (``retrieval.rrf_k``), over the owner's
in-memory index (:mod:`lightmem.retrieval.index`, kept current by delta):

* memories (extracted facts, events, manual notes) by cosine to their evidence-keyed
  vectors and by stemmed BM25, each list weighted ``retrieval.memory_weight``;
* raw turns by dense and BM25 over their own text and over their context keys: facts cover
  most of what is asked, the turns the rest;
* the same turn rankings once more over the question's *focus*: the speakers it names (by
  name or by the nickname the others greet them with; the names are taken out of the words
  searched, so "Kevin" does not match every "Kevin:" turn) and the days its dates name;
* with an image embedder: the turns' images by the embedder's text side.

The pool is deduplicated in rank order: a turn already cited by a chosen memory adds nothing
new and is skipped, and so is a memory whose source turns were all quoted already. In
no-LLM mode a memory IS its turn: the turn's keys rank it, and the hit is the memory. A
memory replaced by a newer one (``superseded_by``) is preceded by what replaced it, unless
the question is about the past.

``mode="hierarchical"`` first ranks the session summaries and takes the
``retrieval.sessions`` best sessions, then drills in: each ranking again, deeper, restricted
to those sessions, fused with the flat rankings (weight ``retrieval.session_weight``). A hit
found in a top session carries its summary (``Hit.session``). An event hit carries the
active facts it binds (``Hit.facts``). ``include_turns=False`` ranks memories only, by the
store's own indexes.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lightmem.embedders.base import Embedder
from lightmem.embedders.images import ImageEmbedder
from lightmem.errors import InputError
from lightmem.retrieval import people, rank, when
from lightmem.retrieval.fusion import rrf
from lightmem.retrieval.index import IndexSettings, OwnerIndex, is_turn_text
from lightmem.retrieval.queryvec import QueryVectors
from lightmem.retrieval.resolve import Resolver
from lightmem.retrieval.snapshot import Snapshots
from lightmem.stores.base import Store, TimeRange
from lightmem.types import Entry, Hit, Scope, SearchMode

MODES: tuple[SearchMode, ...] = ("dense", "bm25", "hybrid", "hierarchical")
#: how much deeper the rankings go when drilling into the top sessions
DRILL_DEPTH = 4
#: seconds the searches of this context (a thread, a task) spent embedding their queries: a
#: caller that sets it to 0.0 first reads what one search cost (the proxy's Server-Timing)
QUERY_EMBEDDING: ContextVar[float] = ContextVar("lightmem_query_embedding", default=0.0)
#: fusion weight of each turn ranking over the question's focus (speakers, dates)
FOCUS_WEIGHT = 1.0
#: fusion weight of the rankings of memories that replaced another, for a question about now
CHANGE_WEIGHT = 1.0
#: and the least cosine of such a memory to the question (an unrelated change is no answer)
CHANGE_COSINE = 0.3
#: bytes of owner indexes kept in memory at once (least recently searched dropped first)
CACHE_BYTES = 512 * 1024 * 1024
Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SearchSettings:
    rrf_k: int = 10
    turns: bool = True
    memory_weight: float = 2.0
    context_window: int = 2
    context_window_words: int = 60
    neighbour_weight: float = 0.3
    source_weight: float = 0.6
    sessions: int = 3
    session_weight: float = 0.3
    snapshot_min_rows: int = 2000


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
        self.image_embedder = image_embedder
        self.settings = s = settings or SearchSettings()
        #: seconds spent embedding queries (``search_embedding``), beside the pipeline's
        #: stage timings, so a caller can tell embedding from retrieval
        self.timings = timings if timings is not None else {}
        self.index_settings = IndexSettings(
            dim=embedder.dim,
            window=s.context_window,
            window_words=s.context_window_words,
            neighbour_weight=s.neighbour_weight,
            source_weight=s.source_weight,
            image_model=image_embedder.model_id if image_embedder is not None else None,
        )
        self._lock = threading.Lock()
        self._indexes: OrderedDict[Scope, OwnerIndex] = OrderedDict()
        self.snapshots = Snapshots(store, s.snapshot_min_rows)
        #: the vectors of query lines, kept (:mod:`lightmem.retrieval.queryvec`)
        self.query_vectors = QueryVectors(embedder)

    def index(self, owner: Scope) -> OwnerIndex:
        """The owner's index, brought up to date with the store's change log."""
        owner = owner.owner
        with self._lock:
            found = self._indexes.get(owner)
            if found is None:
                found = self._indexes[owner] = OwnerIndex(owner, self.index_settings)
                if self.snapshots.enabled:
                    found.restore = self.snapshots.restore
            self._indexes.move_to_end(owner)
        if found.refresh(self.store):
            with self._lock:
                total = sum(i.nbytes for i in self._indexes.values())
                while total > CACHE_BYTES and len(self._indexes) > 1:
                    _, dropped = self._indexes.popitem(last=False)
                    total -= dropped.nbytes
        return found

    def save_snapshots(self) -> int:
        """Write the snapshots of the large owners whose indexes are in memory (when the
        store closes: their next first search reads them); how many were written."""
        if not self.snapshots.enabled:
            return 0
        with self._lock:
            indexes = list(self._indexes.values())
        return sum(self.snapshots.save(i) for i in indexes)

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
        index = self.index(scope)
        with index.lock:
            if not (self.settings.turns if include_turns is None else include_turns):
                return self._memories_only(index, query, scope, limit, mode, time_range, hidden)
            return self._search(index, query, scope, limit, mode, time_range, with_sources, hidden)

    def _search(
        self,
        index: OwnerIndex,
        query: str,
        scope: Scope,
        limit: int,
        mode: SearchMode,
        time_range: TimeRange | None,
        with_sources: bool,
        hidden: Callable[[Entry], bool] | None,
    ) -> list[Hit]:
        hierarchical = mode == "hierarchical"
        mode = "hybrid" if hierarchical else mode
        depth = max(limit * 3, 50)
        deep = depth * DRILL_DEPTH if hierarchical and index.summaries else depth
        user, words = people.about_user(query)
        named, words = people.named_speakers(words, index.aliases)
        focus = rank.Focus(frozenset(named), tuple(when.question_windows(query)), user)
        vector = self._embed_query(words) if mode in ("dense", "hybrid") else None
        text = words if mode in ("bm25", "hybrid") else None
        lists: list[list[str]] = []
        weights: list[float] = []
        mem_allowed = rank.memory_mask(index, scope, time_range)
        dense = rank.Dense(index, vector) if vector is not None else None
        if dense is not None:
            lists.append(["e:" + i for i in rank.memory_dense(index, mem_allowed, dense, deep)])
        if text is not None:
            lists.append(["e:" + i for i in rank.memory_bm25(index, mem_allowed, text, deep)])
        weights += [self.settings.memory_weight] * len(lists)
        allowed = rank.grid_mask(index.grid, index.sessions.of, scope, time_range)
        for ranked in rank.turn_rankings(index, allowed, dense, text, deep):
            lists.append(["t:" + i for i in ranked])
            weights.append(1.0)
        if focus:
            narrowed = allowed & rank.focus_mask(index, focus)
            for ranked in rank.turn_rankings(index, narrowed, dense, text, deep):
                lists.append(["t:" + i for i in ranked])
                weights.append(FOCUS_WEIGHT)
        present = not when.about_past(query)
        if present and dense is not None and index.replaced:
            # a question about now: the memories that say something changed, on their own
            turns, memories = index.changes_mask()
            ranked = rank.turn_dense(index, allowed & turns, dense, deep, CHANGE_COSINE)
            ranked_m = rank.memory_dense(index, mem_allowed & memories, dense, deep, CHANGE_COSINE)
            lists.append(["t:" + i for i in ranked] + ["e:" + i for i in ranked_m])
            weights.append(CHANGE_WEIGHT)
        if vector is not None and self.image_embedder is not None:
            self._add_images(index, query, allowed, deep, lists, weights)
        top_sessions: dict[str, Entry] = {}
        if deep > depth:
            top_sessions = self._top_sessions(index, scope, vector, query, time_range, hidden)
            lists, weights = self._drill(index, lists, weights, top_sessions, depth)
        fused = rrf(lists, k=self.settings.rrf_k, weights=weights)
        hits = Resolver(index, hidden, present).hits(fused, limit, with_sources)
        if dense is not None:
            for hit in hits:
                hit.match = rank.match(index, dense, hit)
        if top_sessions:
            for hit in hits:
                found = [t.session_id for t in hit.sources if t.session_id in top_sessions]
                hit.session = top_sessions[found[0]] if found else None
        return hits

    def _add_images(
        self,
        index: OwnerIndex,
        query: str,
        allowed: npt.NDArray[np.bool_],
        depth: int,
        lists: list[list[str]],
        weights: list[float],
    ) -> None:
        """The images by the image embedder's text side: the turns that share them and the
        memories that carry them."""
        assert self.image_embedder is not None
        index.load_images(self.store)
        image_query = self.image_embedder.embed_texts([query])[0]
        rows = np.flatnonzero(allowed)
        usable = {t.id for t in (index.row_turn[i] for i in rows) if t is not None}
        turns, carried = rank.image_rankings(index, usable, image_query, depth)
        lists.append(["e:" + i for i in carried])
        weights.append(self.settings.memory_weight)
        if turns:
            lists.append(["t:" + i for i in turns])
            weights.append(1.0)

    def _drill(
        self,
        index: OwnerIndex,
        lists: list[list[str]],
        weights: list[float],
        top_sessions: dict[str, Entry],
        depth: int,
    ) -> tuple[list[list[str]], list[float]]:
        """The flat rankings cut to ``depth``, plus each deep ranking restricted to the top
        sessions (weighted ``session_weight``)."""
        wanted = top_sessions.keys()
        inside: dict[str, bool] = {}  # a unit is in several rankings: decided once

        def within(unit: str) -> bool:
            found = inside.get(unit)
            if found is None:
                found = inside[unit] = _within(index, unit, wanted)
            return found

        drilled = [[u for u in ranked if within(u)] for ranked in lists]
        w = self.settings.session_weight
        return (
            [ranked[:depth] for ranked in lists] + [d[:depth] for d in drilled],
            weights + [w * x for x in weights],
        )

    def _memories_only(
        self,
        index: OwnerIndex,
        query: str,
        scope: Scope,
        limit: int,
        mode: SearchMode,
        time_range: TimeRange | None,
        hidden: Callable[[Entry], bool] | None,
    ) -> list[Hit]:
        """Memories only, by the store's own dense and BM25 indexes (every entry, a turn's
        own text included)."""
        depth = max(limit * 3, 50)
        lists: list[list[str]] = []
        if mode in ("dense", "hybrid", "hierarchical"):
            vector = self._embed_query(query)
            lists.append(
                ["e:" + i for i, _ in self.store.search_dense(scope, vector, depth, time_range)]
            )
        if mode in ("bm25", "hybrid", "hierarchical"):
            lists.append(
                ["e:" + i for i, _ in self.store.search_bm25(scope, query, depth, time_range)]
            )
        fused = rrf(
            lists, k=self.settings.rrf_k, weights=[self.settings.memory_weight] * len(lists)
        )
        return Resolver(index, hidden, not when.about_past(query)).hits(fused, limit, True)

    def _embed_query(self, query: str) -> Vector:
        start = time.perf_counter()
        vector = self.query_vectors(query)
        seconds = time.perf_counter() - start
        self.timings["search_embedding"] = self.timings.get("search_embedding", 0.0) + seconds
        QUERY_EMBEDDING.set(QUERY_EMBEDDING.get() + seconds)
        return vector

    def _top_sessions(
        self,
        index: OwnerIndex,
        scope: Scope,
        vector: Vector | None,
        query: str,
        time_range: TimeRange | None,
        hidden: Callable[[Entry], bool] | None = None,
    ) -> dict[str, Entry]:
        """Session id -> summary of the ``retrieval.sessions`` best sessions for the query;
        not a summary that quotes a ``hidden`` memory's turn (an expired one: sleep time
        rebuilds the summary without it)."""
        ranked = rank.summary_rankings(index, scope, vector, query, 50, time_range)
        by_id = {e.id: e for lst in ranked for e in lst}
        fused = rrf([[e.id for e in lst] for lst in ranked], k=self.settings.rrf_k)
        out: dict[str, Entry] = {}
        for entry_id, _ in fused:
            summary = by_id[entry_id]
            sid = summary.meta.get("session_id")
            if not isinstance(sid, str) or sid in out:
                continue
            if hidden is None or not _quotes(index, summary, hidden):
                out[sid] = summary
            if len(out) >= self.settings.sessions:
                break
        return out


def _quotes(index: OwnerIndex, summary: Entry, hidden: Callable[[Entry], bool]) -> bool:
    """Whether ``summary`` draws on a turn whose memory is ``hidden``."""
    for t in summary.sources:
        entry = index.entries.get(index.turn_entry.get(t, ""))
        if entry is not None and hidden(entry):
            return True
    return False


def check_query(query: object, mode: object, limit: object) -> None:
    if not isinstance(query, str) or not query.strip():
        raise InputError("query must be a non-empty string")
    if mode not in MODES:
        raise InputError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InputError(f"limit must be an integer >= 1, got {limit!r}")


def _within(index: OwnerIndex, unit: str, sessions: Collection[str | None]) -> bool:
    """Whether a ranked unit ("t:turn" or "e:entry") comes from one of ``sessions``."""
    if unit.startswith("t:"):
        t = index.turns.get(unit[2:])
        return t is not None and t.session_id in sessions
    entry = index.entries.get(unit[2:])
    if entry is None:
        return False
    turns = index.turns
    return any(s in turns and turns[s].session_id in sessions for s in entry.sources)


__all__ = ["MODES", "SearchSettings", "Searcher", "check_query", "is_turn_text"]
