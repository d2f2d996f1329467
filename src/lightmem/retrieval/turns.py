"""Raw turns as retrieval units: each turn is keyed twice, by its own text and by its
context (the neighbouring turns of its session), but the unit returned is the turn alone.

A turn's context key is its vector plus ``neighbour_weight`` times each neighbour's within
``window`` turns of the same session (re-normalised), and the words of those turns for
BM25: a question about "the camping trip" then also finds the turn "we loved it!" that
answers it. No extra embedding: the vectors are the ones the sensory stage stored.

A turn is hidden once every memory drawn from it was deleted (in no-LLM mode a memory IS
its turn): deleting a memory never leaves its words findable through the turn. A forgotten
turn (``Turn.forgotten``) is hidden too, extracted or not.

The index of an owner is built from the store on demand and kept while the store's
:meth:`~lightmem.stores.base.Store.search_revision` of that owner is unchanged.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from lightmem.retrieval.lexical import BM25Index, terms
from lightmem.stores.base import Store, TimeRange
from lightmem.types import Entry, EntryStatus, Scope, Turn, image_captions

T = TypeVar("T")

#: Bytes of owner indexes kept in memory at once (least recently searched dropped first).
CACHE_BYTES = 512 * 1024 * 1024
#: Seconds before an owner found too large for these indexes is measured again.
RECHECK_S = 60.0


@dataclass(slots=True)
class TurnKeys:
    """One owner's searchable turns and their keys."""

    revision: Hashable
    turns: list[Turn]
    plain: npt.NDArray[np.float32]  # (n, dim) unit vectors, zero rows for missing vectors
    context: npt.NDArray[np.float32]
    has_vector: npt.NDArray[np.bool_]
    plain_bm25: BM25Index
    context_bm25: BM25Index
    #: turn id -> the active no-LLM memory that is this turn (its hits return the memory)
    turn_entry: dict[str, str]
    #: the active memories that are not a turn's own text, and their stemmed BM25
    memories: list[Entry]
    memory_bm25: BM25Index
    #: each memory's vector plus ``source_weight`` times the mean of its source turns'
    memory_keys: npt.NDArray[np.float32]
    #: the active session summaries, their vectors and stemmed BM25 (hierarchical search)
    summaries: list[Entry] = field(default_factory=list)
    summary_keys: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.float32)
    )
    summary_bm25: BM25Index = field(default_factory=lambda: BM25Index([]))
    #: the image embedder's vectors of the turns' images (empty without one): row i is an
    #: image of ``turns[image_turn[i]]`` at ``image_urls[i]``
    images: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.zeros((0, 1), dtype=np.float32)
    )
    image_turn: list[int] = field(default_factory=list)
    image_urls: list[str] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        arrays = self.plain.nbytes + self.context.nbytes + self.memory_keys.nbytes
        arrays += self.images.nbytes
        lexical = self.plain_bm25.nbytes + self.context_bm25.nbytes + self.memory_bm25.nbytes
        extra = self.summary_keys.nbytes + self.summary_bm25.nbytes
        return arrays + lexical + extra + 512 * (len(self.turns) + len(self.memories))


def unit_text(turn: Turn) -> str:
    """A turn as a unit: ``"{speaker}: {text}"``."""
    return f"{turn.label}: {' '.join(turn.searchable.split())}"


def neighbours(sessions: list[str | None], i: int, window: int) -> list[int]:
    """Indexes of the turns within ``window`` of turn ``i`` in the same session (``i`` excluded)."""
    lo, hi = max(0, i - window), min(len(sessions), i + window + 1)
    return [j for j in range(lo, hi) if j != i and sessions[j] == sessions[i]]


def context_vectors(
    plain: npt.NDArray[np.float32], sessions: list[str | None], window: int, weight: float
) -> npt.NDArray[np.float32]:
    """Each row plus ``weight`` times its same-session neighbours' rows, re-normalised."""
    out = plain.copy()
    for i in range(len(sessions)):
        for j in neighbours(sessions, i, window):
            out[i] += weight * plain[j]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (out / norms).astype(np.float32)


class TurnSearch:
    """Per-owner turn indexes over one store, rebuilt when the owner's revision moves."""

    def __init__(
        self,
        store: Store,
        *,
        dim: int,
        window: int,
        neighbour_weight: float,
        source_weight: float,
        image_model: str | None = None,
    ) -> None:
        self.image_model = image_model
        self.store = store
        self.dim = dim
        self.window = window
        self.neighbour_weight = neighbour_weight
        self.source_weight = source_weight
        self._lock = threading.Lock()
        self._owners: OrderedDict[Scope, TurnKeys] = OrderedDict()
        #: owners found too large, and when: the store's revision of a large owner is an
        #: aggregate over all its rows (~1 s at 1M entries), so it is not asked again
        #: until :data:`RECHECK_S` later (a large owner searched through the store's own
        #: indexes is as correct; it only lacks the turn and context keys)
        self._too_big: dict[Scope, float] = {}

    def _fits_or_mark(self, owner: Scope, max_items: int) -> bool:
        if self.fits(owner, max_items):
            return True
        with self._lock:
            self._too_big[owner] = time.monotonic()
            self._owners.pop(owner, None)
        return False

    def _still_too_big(self, owner: Scope) -> bool:
        with self._lock:
            checked = self._too_big.get(owner)
            if checked is None:
                return False
            if time.monotonic() - checked < RECHECK_S:
                return True
            del self._too_big[owner]
            return False

    def fits(self, owner: Scope, max_items: int) -> bool:
        """Whether the owner is small enough for these in-memory indexes (a larger one is
        searched by the store's own scalable indexes only)."""
        entries = self.store.count_entries(owner, include_deleted=True)
        return entries <= max_items and entries + self.store.count_turns(owner) <= max_items

    def keys(self, owner: Scope, max_items: int | None = None) -> TurnKeys | None:
        """The owner's indexes, current for its revision (one small query when cached);
        None when the owner has more than ``max_items`` turns and memories."""
        known = False
        if max_items is not None:
            if self._still_too_big(owner):
                return None
            with self._lock:
                known = owner in self._owners
            # An owner not yet indexed is measured first: the revision costs more.
            if not known and not self._fits_or_mark(owner, max_items):
                return None
        revision = self.store.search_revision(owner)
        with self._lock:
            found = self._owners.get(owner)
            if found is not None and found.revision == revision:
                self._owners.move_to_end(owner)
                return found
        if max_items is not None and known and not self._fits_or_mark(owner, max_items):
            return None
        built = self._build(owner, revision)
        with self._lock:
            self._owners[owner] = built
            self._owners.move_to_end(owner)
            total = sum(k.nbytes for k in self._owners.values())
            while total > CACHE_BYTES and len(self._owners) > 1:
                _, dropped = self._owners.popitem(last=False)
                total -= dropped.nbytes
        return built

    def _build(self, owner: Scope, revision: Hashable) -> TurnKeys:
        turns = [t for t in self.store.list_turns(owner) if t.content.strip() and not t.forgotten]
        hidden, turn_entry, memories, summaries = self._memories(owner)
        turns = [t for t in turns if t.id not in hidden]
        stored = self.store.turn_vectors([t.id for t in turns])
        plain = np.zeros((len(turns), self.dim), dtype=np.float32)
        has = np.zeros(len(turns), dtype=bool)
        for i, t in enumerate(turns):
            v = stored.get(t.id)
            if v is not None:
                plain[i] = v
                has[i] = True
        sessions = [t.session_id for t in turns]
        context = context_vectors(plain, sessions, self.window, self.neighbour_weight)
        words = [terms(unit_text(t)) for t in turns]
        context_words = [
            words[i] + [w for j in neighbours(sessions, i, self.window) for w in words[j]]
            for i in range(len(turns))
        ]
        images, image_turn, image_urls = self._images(owner, turns)
        return TurnKeys(
            revision,
            turns,
            plain,
            context,
            has,
            BM25Index(words),
            BM25Index(context_words),
            turn_entry,
            memories,
            BM25Index([terms(memory_text(e)) for e in memories]),
            self._memory_keys(memories, stored),
            summaries,
            self._summary_keys(summaries),
            BM25Index([terms(memory_text(e)) for e in summaries]),
            images,
            image_turn,
            image_urls,
        )

    def _summary_keys(self, summaries: list[Entry]) -> npt.NDArray[np.float32]:
        keys = np.zeros((len(summaries), self.dim), dtype=np.float32)
        stored = self.store.entry_vectors([e.id for e in summaries])
        for i, e in enumerate(summaries):
            v = stored.get(e.id)
            if v is not None:
                keys[i] = v
        return keys

    def _images(
        self, owner: Scope, turns: list[Turn]
    ) -> tuple[npt.NDArray[np.float32], list[int], list[str]]:
        """The image vectors of the searchable turns, by the configured image model."""
        if self.image_model is None:
            return np.zeros((0, 1), dtype=np.float32), [], []
        stored = self.store.image_vectors(owner, self.image_model)
        rows, where, urls = [], [], []
        for i, t in enumerate(turns):
            for n, image in enumerate(t.images):
                v = stored.get((t.id, n))
                if v is not None:
                    rows.append(v)
                    where.append(i)
                    urls.append(image.url)
        if not rows:
            return np.zeros((0, 1), dtype=np.float32), [], []
        return np.stack(rows).astype(np.float32), where, urls

    def _memory_keys(
        self, memories: list[Entry], turn_vectors: dict[str, npt.NDArray[np.float32]]
    ) -> npt.NDArray[np.float32]:
        """A memory keyed by its text and its evidence: a fact then also meets questions
        worded like the turns it came from."""
        keys = np.zeros((len(memories), self.dim), dtype=np.float32)
        stored = self.store.entry_vectors([e.id for e in memories])
        for i, e in enumerate(memories):
            v = stored.get(e.id)
            if v is None:
                continue
            src = [turn_vectors[t] for t in e.sources if t in turn_vectors]
            key = np.asarray(v, dtype=np.float32)
            if src and self.source_weight > 0:
                key = key + self.source_weight * np.mean(src, axis=0)
            norm = float(np.linalg.norm(key))
            keys[i] = key / norm if norm > 0 else key
        return keys

    def _memories(self, owner: Scope) -> tuple[set[str], dict[str, str], list[Entry], list[Entry]]:
        """The turns every one of whose memories is deleted, the active no-LLM memory of
        each turn that has one, the other active memories (facts, events) and the active
        session summaries (which cite whole sessions, so they hide or show no turn)."""
        live: set[str] = set()
        cited: set[str] = set()
        turn_entry: dict[str, str] = {}
        memories: list[Entry] = []
        summaries: list[Entry] = []
        for entry in self.store.list_entries(owner, include_deleted=True):
            if entry.kind == "summary":
                if entry.status == EntryStatus.ACTIVE:
                    summaries.append(entry)
                continue
            cited.update(entry.sources)
            if entry.status != EntryStatus.ACTIVE:
                continue
            live.update(entry.sources)
            if entry.origin == "turn":
                for t in entry.sources:
                    turn_entry.setdefault(t, entry.id)
            if not is_turn_text(entry):
                memories.append(entry)
        return cited - live, turn_entry, memories, summaries


def memory_text(entry: Entry) -> str:
    """What BM25 indexes of a memory: its text, keywords and images' captions."""
    return " ".join([entry.text, *entry.keywords, image_captions(entry.images)])


def is_turn_text(entry: Entry) -> bool:
    """A no-LLM memory still holding its turn's text (an edited one is ranked by its own)."""
    return entry.kind == "fact" and entry.origin == "turn" and entry.version == 1


def summary_rankings(
    keys: TurnKeys,
    scope: Scope,
    vector: npt.NDArray[np.float32] | None,
    query: str | None,
    depth: int,
    time_range: TimeRange | None,
) -> list[list[Entry]]:
    """Session summaries by cosine (when ``vector``) and stemmed BM25 (when ``query``),
    within the run and overlapping the time range."""
    usable = np.array(
        [_in_run(e.scope.run_id, scope) and _overlaps(e, time_range) for e in keys.summaries],
        dtype=bool,
    )
    if not usable.any():
        return []
    out: list[list[Entry]] = []
    if vector is not None:
        scores = keys.summary_keys @ vector.astype(np.float32)
        out.append(_top(keys.summaries, scores, usable, depth))
    if query is not None:
        scored = [(i, s) for i, s in keys.summary_bm25.scores(terms(query)).items() if usable[i]]
        scored.sort(key=lambda kv: (-kv[1], kv[0]))
        out.append([keys.summaries[i] for i, _ in scored[:depth]])
    return out


def _in_run(run_id: str | None, scope: Scope) -> bool:
    return scope.run_id is None or run_id == scope.run_id


def _overlaps(summary: Entry, time_range: TimeRange | None) -> bool:
    """Whether a session's span (``meta`` start/end) meets the time range."""
    if time_range is None:
        return True
    start, end = time_range
    first = _meta_time(summary.meta.get("start")) or summary.timestamp
    last = _meta_time(summary.meta.get("end")) or first
    if first is None or last is None:
        return False
    return (end is None or first <= end) and (start is None or last >= start)


def _meta_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def memory_bm25(
    keys: TurnKeys, scope: Scope, query: str, depth: int, time_range: TimeRange | None
) -> list[str]:
    """Memory ids by stemmed BM25 over their text and keywords, best first."""
    scored = [
        (i, s)
        for i, s in keys.memory_bm25.scores(terms(query)).items()
        if _in_scope(keys.memories[i].scope.run_id, keys.memories[i].timestamp, scope, time_range)
    ]
    scored.sort(key=lambda kv: (-kv[1], kv[0]))
    return [keys.memories[i].id for i, _ in scored[:depth]]


def memory_dense(
    keys: TurnKeys,
    scope: Scope,
    vector: npt.NDArray[np.float32],
    depth: int,
    time_range: TimeRange | None,
) -> list[str]:
    """Memory ids by cosine to their evidence-keyed vectors, best first."""
    usable = np.array(
        [
            _in_scope(e.scope.run_id, e.timestamp, scope, time_range)
            and bool(keys.memory_keys[i].any())
            for i, e in enumerate(keys.memories)
        ],
        dtype=bool,
    )
    if not usable.any():
        return []
    scores = keys.memory_keys @ vector.astype(np.float32)
    return [e.id for e in _top(keys.memories, scores, usable, depth)]


def rankings(
    keys: TurnKeys,
    scope: Scope,
    vector: npt.NDArray[np.float32] | None,
    query: str | None,
    depth: int,
    time_range: TimeRange | None,
) -> list[list[str]]:
    """Ranked turn ids, one list per key: dense plain, dense context (when ``vector``),
    BM25 plain, BM25 context (when ``query``)."""
    allowed = np.array(
        [_in_scope(t.session_id, t.timestamp, scope, time_range) for t in keys.turns],
        dtype=bool,
    )
    if not allowed.any():
        return []
    out: list[list[str]] = []
    if vector is not None:
        usable = allowed & keys.has_vector
        for matrix in (keys.plain, keys.context):
            scores = matrix @ vector.astype(np.float32)
            out.append([t.id for t in _top(keys.turns, scores, usable, depth)])
    if query is not None:
        q = terms(query)
        for index in (keys.plain_bm25, keys.context_bm25):
            scored = [(i, s) for i, s in index.scores(q).items() if allowed[i]]
            scored.sort(key=lambda kv: (-kv[1], kv[0]))
            out.append([keys.turns[i].id for i, _ in scored[:depth]])
    return out


def image_rankings(
    keys: TurnKeys,
    scope: Scope,
    vector: npt.NDArray[np.float32],
    depth: int,
    time_range: TimeRange | None,
) -> tuple[list[str], list[str]]:
    """Turns and memories by their images' similarity to the query's image-space vector,
    best first: the turns that share the images, and the memories (not a turn's own text)
    that carry them from those turns."""
    if not keys.image_turn or keys.images.shape[1] != vector.shape[0]:
        return [], []
    usable = np.array(
        [
            _in_scope(keys.turns[i].session_id, keys.turns[i].timestamp, scope, time_range)
            for i in keys.image_turn
        ],
        dtype=bool,
    )
    order = _top(list(range(len(keys.image_turn))), keys.images @ vector, usable, depth)
    turns = list(dict.fromkeys(keys.turns[keys.image_turn[r]].id for r in order))
    by_image: dict[tuple[str, str], list[str]] = {}
    for e in keys.memories:
        for image in e.images:
            for source in e.sources:
                by_image.setdefault((source, image.url), []).append(e.id)
    carried: dict[str, None] = {}
    for r in order:
        key = (keys.turns[keys.image_turn[r]].id, keys.image_urls[r])
        carried.update((i, None) for i in by_image.get(key, []))
    return turns, list(carried)[:depth]


def _in_scope(
    run_id: str | None, ts: datetime | None, scope: Scope, time_range: TimeRange | None
) -> bool:
    if scope.run_id is not None and run_id != scope.run_id:
        return False
    if time_range is not None:
        start, end = time_range
        if ts is None:
            return False
        if start is not None and ts < start:
            return False
        if end is not None and ts > end:
            return False
    return True


def _top(
    items: list[T], scores: npt.NDArray[np.float32], usable: npt.NDArray[np.bool_], depth: int
) -> list[T]:
    masked = np.where(usable, scores, -np.inf)
    n = min(depth, int(usable.sum()))
    if n <= 0:
        return []
    idx = np.argpartition(-masked, n - 1)[:n] if n < len(masked) else np.arange(len(masked))
    idx = idx[np.lexsort((idx, -masked[idx]))]
    return [items[int(i)] for i in idx if usable[int(i)]][:n]
