"""One owner's search index, kept in memory and updated by delta from the store's change log.

What it holds: every turn of the owner and the rows of those that can be searched (content,
not forgotten, not hidden: a turn every one of whose memories was deleted is hidden, so a
deleted memory's words never come back through its turn), their vectors, their BM25 terms,
and their *context keys*: the turn's vector plus ``neighbour_weight`` times each neighbour's,
and its words plus theirs. Neighbours are the turns of the same session around it: at least
``window`` each side, and more while they fit ``window_words`` words (short chat messages
get more context than long ones), at most :data:`MAX_REACH`. Besides: every entry, the
memories that are not a turn's own text (facts, events) keyed by their text and their
evidence, the session summaries, the speakers' aliases, and the turns' images.

Writes go to the store; :meth:`OwnerIndex.refresh` reads the owner's changes since its
watermark (one indexed query when nothing changed) and re-reads those rows only: a new turn
adds a row and rewrites the context keys of the turns around it; nothing is rebuilt. Rows
that left are marked dead and compacted away once they are a third of the rows.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lightmem import giveway
from lightmem.retrieval import people
from lightmem.retrieval.bm25 import LiveBM25
from lightmem.retrieval.lexical import terms
from lightmem.stores.base import Store
from lightmem.timeutil import epoch_seconds
from lightmem.types import Entry, EntryStatus, Scope, Turn, image_captions

#: turns each side a context key may reach, however short they are
MAX_REACH = 8
#: context keys whose norms are computed at once (a block's gather is ~25 MB at 384 dims)
NORM_BLOCK = 1024
#: the store meta key holding the highest change id pruned from the log (see
#: :meth:`~lightmem.stores.base.Store.prune_changes`)
FLOOR_KEY = "changes_floor"
Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class IndexSettings:
    dim: int
    window: int = 2
    window_words: int = 60
    neighbour_weight: float = 0.3
    source_weight: float = 0.6
    image_model: str | None = None


def memory_text(entry: Entry) -> str:
    """What BM25 indexes of a memory: its text, keywords and images' captions."""
    return " ".join([entry.text, *entry.keywords, image_captions(entry.images)])


def unit_text(turn: Turn) -> str:
    """A turn as a unit: ``"{speaker}: {text}"``."""
    return f"{turn.label}: {' '.join(turn.searchable.split())}"


def is_turn_text(entry: Entry) -> bool:
    """A no-LLM memory still holding its turn's text (an edited one is ranked by its own)."""
    return entry.kind == "fact" and entry.origin == "turn" and entry.version == 1


class Codes:
    """Small integer codes for strings (sessions, speakers); None is -1."""

    def __init__(self) -> None:
        self.of: dict[str, int] = {}

    def __call__(self, value: str | None) -> int:
        if value is None:
            return -1
        return self.of.setdefault(value, len(self.of))


@dataclass(slots=True)
class Grid:
    """Rows of vectors and per-row attributes, grown by doubling."""

    dim: int
    n: int = 0
    vectors: Vector = field(init=False)
    live: npt.NDArray[np.bool_] = field(init=False)
    has: npt.NDArray[np.bool_] = field(init=False)
    ts: npt.NDArray[np.float64] = field(init=False)
    run: npt.NDArray[np.int32] = field(init=False)
    speaker: npt.NDArray[np.int32] = field(init=False)
    user: npt.NDArray[np.bool_] = field(init=False)  # a message of role "user"

    def __post_init__(self) -> None:
        self.vectors = np.zeros((16, self.dim), dtype=np.float32)
        self.live = np.zeros(16, dtype=bool)
        self.has = np.zeros(16, dtype=bool)
        self.ts = np.full(16, np.nan)
        self.run = np.full(16, -1, dtype=np.int32)
        self.speaker = np.full(16, -1, dtype=np.int32)
        self.user = np.zeros(16, dtype=bool)

    def append(self) -> int:
        if self.n == len(self.live):
            self.reserve(2 * len(self.live))
        self.n += 1
        return self.n - 1

    def reserve(self, rows: int) -> None:
        """Room for ``rows`` rows (a rebuild knows how many it will add)."""
        if rows <= len(self.live):
            return
        for name, fill in _FILL.items():
            setattr(self, name, grown(getattr(self, name), rows, fill))


#: what a fresh row of each grid column holds
_FILL = {"vectors": 0, "live": 0, "has": 0, "ts": np.nan, "run": -1, "speaker": -1, "user": 0}


def grown(old: npt.NDArray[Any], rows: int, fill: Any) -> npt.NDArray[Any]:
    """``old`` with room for ``rows`` rows, the new ones ``fill``."""
    out = np.full((rows, *old.shape[1:]), fill, dtype=old.dtype)
    out[: len(old)] = old
    return out


class OwnerIndex:
    def __init__(self, owner: Scope, settings: IndexSettings) -> None:
        self.owner = owner.owner
        self.s = settings
        self.lock = threading.RLock()
        self.watermark = -1
        self.sessions, self.speakers, self.runs = Codes(), Codes(), Codes()
        self.turns: dict[str, Turn] = {}
        self.entries: dict[str, Entry] = {}
        self.cites: dict[str, set[str]] = {}  # turn id -> entries citing it (any status)
        self.live_cites: dict[str, set[str]] = {}  # ... active ones
        self.turn_entry: dict[str, str] = {}  # turn id -> its active no-LLM memory
        self.replaced: dict[str, set[str]] = {}  # entry id -> the entries it superseded
        self._reset_rows()
        self.memories: list[Entry | None] = []
        self.memory_row: dict[str, int] = {}
        self.mem = Grid(settings.dim)
        self.memory_bm25 = LiveBM25()
        self.summaries: list[Entry] = []
        self.summary_keys: Vector = np.zeros((0, settings.dim), dtype=np.float32)
        self.summary_bm25 = LiveBM25()
        self._summary_vectors: dict[str, Vector] = {}
        self.images: Vector = np.zeros((0, 1), dtype=np.float32)
        self.image_turn: list[str] = []
        self.image_urls: list[str] = []
        self.images_dirty = True
        self._aliases: dict[str, str] | None = None
        #: a turn or memory was erased from the store since this index was built: what it
        #: said may linger (a word in the BM25 vocabulary, a session code), so the index is
        #: never written to a snapshot (:mod:`lightmem.retrieval.snapshot`)
        self.erased = False
        #: where a cold index looks for a snapshot before it builds from the rows (set by
        #: the searcher; None: always build)
        self.restore: Callable[[OwnerIndex, Store], bool] | None = None

    def _reset_rows(self) -> None:
        self.grid = Grid(self.s.dim)
        self.row_of: dict[str, int] = {}
        self.row_turn: list[Turn | None] = []
        self.row_ids: list[str] = []  # the turn id of each row ("" once it left)
        self.words: list[list[str]] = []
        self.sizes: list[int] = []
        self.plain_bm25, self.context_bm25 = LiveBM25(), LiveBM25()
        self.neighbours = np.full((16, 2 * MAX_REACH), -1, dtype=np.int32)
        self.context_norm = np.ones(16, dtype=np.float32)
        self.session_rows: dict[int, list[int]] = {}
        self.session_seqs: dict[int, list[int]] = {}
        self._dirty: set[int] = set()  # rows whose context keys must be rewritten
        self.dead = 0

    # -- reading the store -----------------------------------------------------------------
    def refresh(self, store: Store) -> bool:
        """Bring the index up to the store's latest change of the owner; whether it moved
        (long work: it gives way to other requests in a server, see :mod:`lightmem.giveway`)."""
        with self.lock, giveway.long_work():
            last = store.last_change(self.owner)
            restored = False
            if self.watermark < 0 and last is not None and self.restore is not None:
                restored = self.restore(self, store)  # then only the changes since it
            if last is not None and last == self.watermark:
                return restored
            if last is None or self.watermark < 0:
                self._rebuild(store, last)
                return True
            if int(store.get_meta(FLOOR_KEY) or 0) > self.watermark:
                self._rebuild(store, last)  # the log was pruned past our watermark
                return True
            changes = store.changes_since(self.owner, max(0, self.watermark - store.change_lag))
            kinds: dict[str, set[str]] = {"t": set(), "e": set(), "i": set()}
            for _, kind, row_id in changes:
                kinds.setdefault(kind, set()).add(row_id)
            self._apply(store, kinds["t"], kinds["e"], bool(kinds["i"]))
            self.watermark = max(last, max((c[0] for c in changes), default=last))
            return True

    def _rebuild(self, store: Store, last: int | None) -> None:
        fresh = OwnerIndex(self.owner, self.s)
        turns = store.list_turns(self.owner)
        entries = store.list_entries(self.owner, include_deleted=True)
        fresh.grid.reserve(len(turns))  # no regrowth on the way
        fresh._load(store, turns, [t.id for t in turns], entries, [e.id for e in entries])
        fresh.images_dirty = True
        keep = ("lock", "restore")
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in keep})
        self.watermark = last if last is not None else -1

    def _apply(self, store: Store, turn_ids: set[str], entry_ids: set[str], images: bool) -> None:
        turns = store.get_turns(sorted(turn_ids)) if turn_ids else []
        entries = store.get_entries(sorted(entry_ids)) if entry_ids else []
        self._load(store, turns, list(turn_ids), entries, list(entry_ids))
        self.images_dirty = self.images_dirty or images

    def _load(
        self,
        store: Store,
        turns: list[Turn],
        turn_ids: list[str],
        entries: list[Entry],
        entry_ids: list[str],
    ) -> None:
        """Take in these rows as the store has them now (an id without a row was erased)."""
        found_e = {e.id: e for e in entries if e.scope.owner == self.owner}
        keyed = [e.id for e in found_e.values() if e.kind != "fact" or not is_turn_text(e)]
        entry_vectors = store.entry_vectors(keyed) if keyed else {}
        touched: set[str] = set()
        for entry_id in entry_ids:
            giveway.checkpoint()
            if entry_id not in found_e and entry_id in self.entries:
                self.erased = True
            touched |= self._set_entry(entry_id, found_e.get(entry_id))
        found_t = {t.id: t for t in turns if t.scope.owner == self.owner}
        for turn_id in turn_ids:
            if turn_id not in found_t and turn_id in self.turns:
                self.erased = True
            old = self.turns.pop(turn_id, None)
            if old is not None and old.images:
                self.images_dirty = True
            if turn_id in found_t:
                self.turns[turn_id] = found_t[turn_id]
                self.images_dirty = self.images_dirty or bool(found_t[turn_id].images)
            touched.add(turn_id)
        changed = set(turn_ids)
        fetch = [i for i in touched if i in self.turns and (i in changed or i not in self.row_of)]
        turn_vectors = store.turn_vectors(fetch) if fetch else {}
        for turn_id in sorted(touched, key=self._seq):
            giveway.checkpoint()
            self._place(turn_id, turn_id in changed, turn_vectors)
        self._rewrite_dirty()
        for entry_id in entry_ids:
            giveway.checkpoint()
            if entry_id in found_e:
                self._key_memory(found_e[entry_id], entry_vectors.get(entry_id))
        self._refresh_summaries(entry_vectors)
        if self.dead > max(256, self.grid.n // 3):
            self._compact()

    def _seq(self, turn_id: str) -> int:
        t = self.turns.get(turn_id)
        return t.seq if t is not None else -1

    # -- entries ----------------------------------------------------------------------------
    def _set_entry(self, entry_id: str, entry: Entry | None) -> set[str]:
        """Record the entry as it is now; the turns whose visibility may have changed."""
        old = self.entries.pop(entry_id, None)
        touched: set[str] = set()
        for e, add in ((old, False), (entry, True)):
            if e is None:
                continue
            for t in e.sources:
                touched.add(t)
                for table, keep in ((self.cites, True), (self.live_cites, e.status == "active")):
                    if add and keep:
                        table.setdefault(t, set()).add(entry_id)
                    elif not add:
                        table.get(t, set()).discard(entry_id)
        for t in touched:
            if self.turn_entry.get(t) == entry_id:
                del self.turn_entry[t]
        if old is not None and old.superseded_by is not None:
            self.replaced.get(old.superseded_by, set()).discard(entry_id)
        if entry is not None and entry.superseded_by is not None:
            self.replaced.setdefault(entry.superseded_by, set()).add(entry_id)
        if entry is not None:
            self.entries[entry_id] = entry
            if entry.status == EntryStatus.ACTIVE and entry.origin == "turn":
                for t in entry.sources:
                    self.turn_entry.setdefault(t, entry_id)
        self._drop_memory(entry_id)
        if (old is not None and old.kind == "summary") or (entry and entry.kind == "summary"):
            self._summary_vectors.pop(entry_id, None)
        return touched

    def _drop_memory(self, entry_id: str) -> None:
        row = self.memory_row.pop(entry_id, None)
        if row is not None:
            self.memories[row] = None
            self.mem.live[row] = False
            self.memory_bm25.remove(row)

    def _key_memory(self, entry: Entry, vector: Vector | None) -> None:
        """Index an active fact or event that is not a turn's own text, keyed by its text
        and its evidence (a fact then also meets questions worded like its turns)."""
        if entry.kind == "summary":
            if entry.status == EntryStatus.ACTIVE and vector is not None:
                self._summary_vectors[entry.id] = np.asarray(vector, dtype=np.float32)
            return
        if entry.status != EntryStatus.ACTIVE or is_turn_text(entry):
            return
        row = self.mem.append()
        self.memories.append(entry)
        self.memory_row[entry.id] = row
        g = self.mem
        g.live[row] = True
        g.ts[row] = epoch_seconds(entry.timestamp)
        g.run[row] = self.runs(entry.scope.run_id)
        if vector is not None:
            key = np.asarray(vector, dtype=np.float32).copy()
            src = [self.grid.vectors[self.row_of[t]] for t in entry.sources if t in self.row_of]
            src = [v for v in src if v.any()]
            if src and self.s.source_weight > 0:
                key = key + self.s.source_weight * np.mean(src, axis=0)
            norm = float(np.linalg.norm(key))
            g.vectors[row] = key / norm if norm > 0 else key
            g.has[row] = bool(norm > 0)
        self.memory_bm25.put(row, terms(memory_text(entry)))

    def _refresh_summaries(self, vectors: dict[str, Vector]) -> None:
        active = [
            e
            for e in self.entries.values()
            if e.kind == "summary" and e.status == EntryStatus.ACTIVE
        ]
        if [e.id for e in active] == [e.id for e in self.summaries] and all(
            e is self.entries.get(e.id) for e in self.summaries
        ):
            return
        self.summaries = active
        self.summary_keys = np.zeros((len(active), self.s.dim), dtype=np.float32)
        for i, e in enumerate(active):
            v = self._summary_vectors.get(e.id, vectors.get(e.id))
            if v is not None:
                self.summary_keys[i] = v
        self.summary_bm25 = LiveBM25.of(terms(memory_text(e)) for e in active)

    # -- turns ------------------------------------------------------------------------------
    def visible(self, turn_id: str) -> bool:
        t = self.turns.get(turn_id)
        if t is None or t.forgotten or not t.content.strip():
            return False
        return not (self.cites.get(turn_id) and not self.live_cites.get(turn_id))

    def _place(self, turn_id: str, changed: bool, vectors: dict[str, Vector]) -> None:
        has_row = turn_id in self.row_of
        show = self.visible(turn_id)
        if has_row and (changed or not show):
            self._remove_row(turn_id)
        if show and turn_id not in self.row_of:
            self._add_row(self.turns[turn_id], vectors.get(turn_id))
        if not show:
            self._aliases = None

    def _add_row(self, turn: Turn, vector: Vector | None) -> None:
        g = self.grid
        row = g.append()
        if row >= len(self.context_norm):
            self.neighbours = grown(self.neighbours, max(2 * row, len(g.live)), -1)
            self.context_norm = grown(self.context_norm, max(2 * row, len(g.live)), 1.0)
        self.row_of[turn.id] = row
        self.row_turn.append(turn)
        self.row_ids.append(turn.id)
        words = terms(unit_text(turn))
        self.words.append(words)
        self.sizes.append(len(turn.content.split()))
        g.live[row] = True
        g.ts[row] = epoch_seconds(turn.timestamp)
        g.run[row] = self.sessions(turn.session_id)
        g.speaker[row] = self.speakers(turn.speaker)
        g.user[row] = turn.role == "user"
        if vector is not None:
            g.vectors[row] = vector
            g.has[row] = True
        self.plain_bm25.put(row, words)
        rows = self.session_rows.setdefault(int(g.run[row]), [])
        seqs = self.session_seqs.setdefault(int(g.run[row]), [])
        at = bisect.bisect(seqs, turn.seq)
        rows.insert(at, row)
        seqs.insert(at, turn.seq)
        self._dirty.add(row)
        self._aliases = None

    def _remove_row(self, turn_id: str) -> None:
        row = self.row_of.pop(turn_id)
        g = self.grid
        g.live[row] = False
        self.plain_bm25.remove(row)
        self.context_bm25.remove(row)
        session = int(g.run[row])
        rows, seqs = self.session_rows[session], self.session_seqs[session]
        at = rows.index(row)
        self._dirty.update(rows[max(0, at - MAX_REACH) : at + MAX_REACH + 1])
        self._dirty.discard(row)
        del rows[at], seqs[at]
        self.row_turn[row] = None
        self.row_ids[row] = ""
        self.words[row] = []
        self.dead += 1

    def _rewrite_dirty(self) -> None:
        """Context keys of the turns within reach of those that came or went, each once."""
        g, todo = self.grid, self._dirty
        self._dirty = set()
        by_session: dict[int, list[int]] = {}
        for row in todo:
            if g.live[row]:
                by_session.setdefault(int(g.run[row]), []).append(row)
        rewritten: list[int] = []
        for session, dirty in by_session.items():
            rows = self.session_rows[session]
            where = {r: i for i, r in enumerate(rows)}
            positions: set[int] = set()
            for row in dirty:
                at = where[row]
                positions.update(range(max(0, at - MAX_REACH), min(len(rows), at + MAX_REACH + 1)))
            for pos in sorted(positions):
                giveway.checkpoint()
                rewritten.append(self._rewrite_context(rows, pos))
        self._context_norms(rewritten)

    def _rewrite_context(self, rows: list[int], pos: int) -> int:
        """The neighbours and BM25 context key of the turn at ``pos`` of its session's rows
        (its vector's norm follows in :meth:`_context_norms`); its row."""
        row = rows[pos]
        near = self._reach(rows, pos)
        self.neighbours[row] = -1
        self.neighbours[row, : len(near)] = near
        self.context_bm25.put(row, self.words[row] + [w for j in near for w in self.words[j]])
        return row

    def _context_norms(self, rows: list[int]) -> None:
        """The norms of these rows' context vectors (the turn's vector plus
        ``neighbour_weight`` times its neighbours'), in blocks of array arithmetic: one
        numpy call per row gave the interpreter lock up and took it back each time, and
        other threads (another tenant's request) waited for many of them in a row."""
        vectors, weight = self.grid.vectors, self.s.neighbour_weight
        for start in range(0, len(rows), NORM_BLOCK):
            giveway.checkpoint()
            block = np.asarray(rows[start : start + NORM_BLOCK], dtype=np.int64)
            near = self.neighbours[block]
            gathered = vectors[np.maximum(near, 0)] * (near >= 0)[:, :, None]
            keys = vectors[block] + weight * gathered.sum(axis=1)
            norms = np.sqrt(np.einsum("ij,ij->i", keys, keys))
            self.context_norm[block] = np.where(norms > 0, norms, 1.0)

    def _reach(self, rows: list[int], pos: int) -> list[int]:
        """The neighbours of the turn at ``pos``: ``window`` each side, then more while they
        fit ``window_words`` words, at most ``MAX_REACH``."""
        out: list[int] = []
        for step in (-1, 1):
            used, j = 0, pos + step
            while 0 <= j < len(rows) and abs(j - pos) <= MAX_REACH:
                size = self.sizes[rows[j]]
                if abs(j - pos) > self.s.window and used + size > self.s.window_words:
                    break
                out.append(rows[j])
                used += size
                j += step
        return sorted(out)

    def _compact(self) -> None:
        """Renumber the live rows (no store read but the turns' vectors)."""
        keep = [t for t in self.row_turn if t is not None]
        vectors = {t.id: self.grid.vectors[self.row_of[t.id]].copy() for t in keep}
        has = {t.id: bool(self.grid.has[self.row_of[t.id]]) for t in keep}
        self._reset_rows()
        for t in sorted(keep, key=lambda x: x.seq):
            self._add_row(t, vectors[t.id] if has[t.id] else None)
        self._rewrite_dirty()
        self.images_dirty = True

    # -- derived ----------------------------------------------------------------------------
    def changes_mask(self) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """The rows (turns, memories) of the memories that replaced another: what a person
        said changed, the current state of something."""
        turns = np.zeros(self.grid.n, dtype=bool)
        memories = np.zeros(self.mem.n, dtype=bool)
        for entry_id, older in self.replaced.items():
            entry = self.entries.get(entry_id)
            if not older or entry is None or entry.status != EntryStatus.ACTIVE:
                continue
            if entry_id in self.memory_row:
                memories[self.memory_row[entry_id]] = True
            for t in entry.sources:
                if t in self.row_of and self.turn_entry.get(t) == entry_id:
                    turns[self.row_of[t]] = True
        return turns, memories

    @property
    def aliases(self) -> dict[str, str]:
        if self._aliases is None:
            self._aliases = people.aliases([t for t in self.row_turn if t is not None])
        return self._aliases

    def load_images(self, store: Store) -> None:
        """The image embedder's vectors of the searchable turns' images (when they moved)."""
        if not self.images_dirty:
            return
        self.images_dirty = False
        self.images, self.image_turn, self.image_urls = np.zeros((0, 1), np.float32), [], []
        if self.s.image_model is None:
            return
        stored = store.image_vectors(self.owner, self.s.image_model)
        rows, where, urls = [], [], []
        for t in self.row_turn:
            for n, image in enumerate(t.images if t is not None else []):
                v = stored.get((t.id, n))  # type: ignore[union-attr]
                if v is not None:
                    rows.append(v)
                    where.append(t.id)  # type: ignore[union-attr]
                    urls.append(image.url)
        if rows:
            self.images = np.stack(rows).astype(np.float32)
            self.image_turn, self.image_urls = where, urls

    @property
    def nbytes(self) -> int:
        arrays = self.grid.vectors.nbytes + self.mem.vectors.nbytes + self.neighbours.nbytes
        lexical = self.plain_bm25.nbytes + self.context_bm25.nbytes + self.memory_bm25.nbytes
        return arrays + lexical + 600 * (len(self.turns) + len(self.entries))
