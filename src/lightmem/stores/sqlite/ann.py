"""Approximate dense search for large owners: an HNSW index (usearch) per owner, kept in a
sidecar folder beside the SQLite file (``<file>.ann/``) and rebuildable from the store.

The index maps an entry's ``pk`` to its vector (float16 in the graph). It records the owner
revision it reflects; on the next search it catches up from the change feed
(``search_index`` rows of the owner with a newer ``rev``: entries added, changed, deleted
or purged) by removing and re-adding those keys, which is idempotent, so a sidecar saved
at any point is usable. A feed larger than a third of the index, a missing, unreadable or
foreign sidecar, or one newer than the store, is rebuilt from the stored vectors.

A search asks the graph for more candidates than wanted, keeps those that are active
entries of the owner inside the run and time filters, and re-scores them exactly with the
stored float32 vectors. When the filters leave too few, it asks for more; past
:data:`MAX_CANDIDATES`, or when the filters select few entries, it scores the filtered
entries exactly. Deleted entries are never returned, whatever the sidecar holds.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lightmem.errors import MissingDependencyError
from lightmem.stores.sql.codec import scope_where
from lightmem.stores.sqlite import sidecar
from lightmem.stores.sqlite.dialect import placeholders
from lightmem.stores.sqlite.search import Slots, owner_rev, top
from lightmem.types import Scope

FORMAT = 1
#: Candidates asked of the graph at most before falling back to exact scoring.
MAX_CANDIDATES = 4096
#: A filter that leaves at most this many entries is scored exactly, without the graph.
EXACT_FILTERED = 20_000
BUILD_CHUNK = 20_000
IN_CHUNK = 500
#: Changes kept beside a published graph before a background merge writes a new one.
MERGE_AT = 10_000
#: A change feed longer than this (or a third of the graph) rebuilds the graph.
FEED_MAX = 100_000
ADD_CHUNK = 2_000
#: After a failed job, the next one starts no sooner than this.
RETRY_S = 30.0
DETACH_WAIT_S = 30.0


def usearch_available() -> bool:
    """Whether usearch is installed (found without importing it)."""
    return importlib.util.find_spec("usearch") is not None


def _index_class() -> Any:
    # usearch's compiled module, once loaded, makes a later ``import onnxruntime`` crash the
    # process (a segfault in onnxruntime's init; usearch 2.26, onnxruntime 1.31, Linux
    # x86-64). Loaded in the other order both work, so onnxruntime goes first when present.
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime  # noqa: F401
    try:
        from usearch.index import Index
    except ImportError as exc:
        raise MissingDependencyError("usearch") from exc
    return Index


@dataclass(frozen=True, slots=True)
class AnnSettings:
    folder: Path | None  # None: in memory only (a ':memory:' store)
    connectivity: int
    expansion_add: int
    expansion_search: int

    def params(self, dim: int) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "dim": dim,
            "dtype": "f16",
            "metric": "cos",
            "connectivity": self.connectivity,
            "expansion_add": self.expansion_add,
        }


def sidecar_folder(db_path: str) -> Path | None:
    return None if db_path == ":memory:" else Path(f"{db_path}.ann")


@dataclass(frozen=True, slots=True)
class _Done:
    """What a background job left: a published graph at ``rev``, or the error."""

    rev: int = -1
    graph: str | None = None
    removed: int = 0
    error: str | None = None


class AnnIndex:
    """One owner's graph and the changes made since it was written.

    The graph (``base``) is a published sidecar file, memory-mapped (``view``), or an
    in-memory index for a ':memory:' store; it never changes once in use. Changes read
    from the change feed since its revision wait in ``pending`` (pk -> vector, None for
    a removal) and are scored exactly beside the graph's candidates. A background thread
    merges them into a new graph file once there are :data:`MERGE_AT`, or builds the graph
    from the store when there is none (meanwhile search is exact); either is swapped in at
    the next search. Every method runs under the store's cache lock."""

    def __init__(self, settings: AnnSettings, key: str, dim: int, db_path: str) -> None:
        self.settings = settings
        self.key = key
        self.dim = dim
        self.db_path = db_path
        self.base_rev = -1  # revision of the graph
        self.seen_rev = -1  # revision of the change feed read so far
        self.removed = 0  # removals merged into the graph since its build
        self.rebuilds = 0
        self.merges = 0
        self.loads = 0
        self.errors: list[str] = []
        self._base: Any = None
        self._graph: str | None = None
        self._pending: dict[int, tuple[int, npt.NDArray[np.float32] | None]] = {}
        self._pending_matrix: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None = None
        self._job: threading.Thread | None = None
        self._done: _Done | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self.meta_lock = threading.Lock()  # one writer of the owner's metadata at a time
        self._failed_at = 0.0

    @property
    def nbytes(self) -> int:
        pending = len(self._pending) * 4 * self.dim
        if self._base is None or self._graph is not None:
            return pending  # a mapped file is the page cache's, not ours
        return pending + int(self._base.memory_usage)

    @property
    def size(self) -> int:
        return 0 if self._base is None else int(self._base.size)

    @property
    def ready(self) -> bool:
        return self._base is not None

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- keeping it current ------------------------------------------------------------
    def refresh(self, conn: sqlite3.Connection, owner: Scope, rev: int) -> None:
        """Swap in a finished job, open the sidecar, read the feed, start a job if due."""
        with self._lock:
            self._collect()
            if self._base is None and self._job is None and self.base_rev < 0:
                self._open(rev)
            if self._base is None:
                if self._job is None:
                    self._start_build(conn, owner, rev)
                return
            if self.base_rev > rev:  # a sidecar from the future (a restored backup)
                self._drop()
                self._start_build(conn, owner, rev)
                return
            if self.seen_rev < rev:
                self._read_feed(conn, owner, rev)
            if self._base is not None and len(self._pending) >= self._merge_at():
                self._start_merge()

    def _merge_at(self) -> int:
        return MERGE_AT if self.settings.folder is not None else 0

    def _new(self) -> Any:
        s = self.settings
        return _index_class()(
            ndim=self.dim,
            metric="cos",
            dtype="f16",
            connectivity=s.connectivity,
            expansion_add=s.expansion_add,
            expansion_search=s.expansion_search,
        )

    def _open(self, rev: int) -> None:
        """Map the published graph, if it is ours, readable and not newer than the store."""
        folder = self.settings.folder
        if folder is None:
            return
        meta = sidecar.read_meta(folder, self.key)
        if meta is None or meta.params != self.settings.params(self.dim) or meta.rev > rev:
            return
        try:
            index = self._new()
            index.view(str(folder / meta.graph))
        except (OSError, ValueError, RuntimeError):
            return  # unreadable or half-written: the store has everything to rebuild it
        self._base, self._graph = index, meta.graph
        self.base_rev = self.seen_rev = meta.rev
        self.removed = meta.removed
        self._pending.clear()
        self._pending_matrix = None
        self.loads += 1

    def _drop(self) -> None:
        self._base = self._graph = None
        self.base_rev = self.seen_rev = -1
        self._pending.clear()
        self._pending_matrix = None

    def _read_feed(self, conn: sqlite3.Connection, owner: Scope, rev: int) -> None:
        limit = max(FEED_MAX, self.size // 3)
        rows = conn.execute(
            """SELECT s.pk, s.rev, e.status, e.vector FROM search_index AS s
               LEFT JOIN entries AS e ON e.pk = s.pk
               WHERE s.owner = ? AND s.rev > ? LIMIT ?""",
            (self.key, self.seen_rev, limit + 1),
        ).fetchall()
        if len(rows) > limit:  # cheaper to build again (meanwhile, exact search)
            self._drop()
            self._start_build(conn, owner, rev)
            return
        for pk, row_rev, status, blob in rows:
            live = status == "active" and blob is not None
            vector = np.frombuffer(blob, dtype=np.float32) if live else None
            self._pending[int(pk)] = (int(row_rev), vector)
        if self.settings.folder is None and rows:  # in memory: apply at once
            self._apply_to(self._base, list(self._pending.items()))
            self.removed += sum(1 for _, (_, v) in self._pending.items() if v is None)
            self.base_rev = rev
            self._pending.clear()
        self._pending_matrix = None
        self.seen_rev = rev

    def _apply_to(
        self, index: Any, items: list[tuple[int, tuple[int, npt.NDArray[np.float32] | None]]]
    ) -> None:
        keys = np.array([pk for pk, _ in items], dtype=np.uint64)
        if keys.size:
            present = np.atleast_1d(index.contains(keys))
            if present.any():
                index.remove(keys[present])
        live = [(pk, v) for pk, (_, v) in items if v is not None]
        for i in range(0, len(live), ADD_CHUNK):
            part = live[i : i + ADD_CHUNK]
            index.add(
                np.array([pk for pk, _ in part], dtype=np.uint64), np.stack([v for _, v in part])
            )

    # -- background jobs ---------------------------------------------------------------
    def _collect(self) -> None:
        done, self._done = self._done, None
        if done is None:
            return
        self._job = None
        if done.error == "cancelled":
            return
        if done.error is not None:
            self.errors = [*self.errors[-9:], done.error]
            self._failed_at = time.monotonic()
            return
        folder = self.settings.folder
        assert folder is not None and done.graph is not None
        try:
            index = self._new()
            index.view(str(folder / done.graph))
        except (OSError, ValueError, RuntimeError) as exc:
            self.errors = [*self.errors[-9:], f"open {done.graph}: {exc}"]
            return
        self._base, self._graph = index, done.graph
        self.base_rev, self.removed = done.rev, done.removed
        self.seen_rev = max(self.seen_rev, done.rev)
        self._pending = {pk: item for pk, item in self._pending.items() if item[0] > done.rev}
        self._pending_matrix = None

    def _may_start(self) -> bool:
        return self._job is None and time.monotonic() - self._failed_at > RETRY_S

    def _start_build(self, conn: sqlite3.Connection, owner: Scope, rev: int) -> None:
        if self.settings.folder is None:  # in memory: no second connection, build here
            index = self._new()
            for keys, vectors in _stored(conn, owner, self.dim):
                index.add(keys, vectors)
            self._base, self.base_rev, self.seen_rev, self.removed = index, rev, rev, 0
            self.rebuilds += 1
            return
        if self._may_start():
            self.rebuilds += 1
            self._spawn(self._build_job, (owner,))

    def _start_merge(self) -> None:
        if not self._may_start() or self._graph is None:
            return
        items = list(self._pending.items())
        removals = sum(1 for _, (_, v) in items if v is None)
        if self.removed + removals > self.size // 3:  # a graph of tombstones: build anew
            self.rebuilds += 1
            self._spawn(self._build_job, (None,))
            return
        self.merges += 1
        self._spawn(self._merge_job, (self._graph, items, self.seen_rev, self.removed + removals))

    def _spawn(self, target: Any, args: tuple[Any, ...]) -> None:
        self._cancel.clear()

        def run() -> None:
            try:
                done = target(*args)
            except Exception as exc:  # noqa: BLE001 - recorded (cache_stats ann_errors), retried
                done = _Done(error=f"{type(exc).__name__}: {exc}")
            self._done = done

        self._job = threading.Thread(target=run, name=f"lightmem-ann-{self.key}", daemon=True)
        self._job.start()

    def _publish(self, index: Any, rev: int, removed: int) -> _Done:
        folder = self.settings.folder
        assert folder is not None
        tmp, final = sidecar.new_file(folder, self.key, rev, ".usearch")
        index.save(str(tmp))
        sidecar.publish(tmp, final)
        with self.meta_lock:
            meta = sidecar.read_meta(folder, self.key)
            slots = (meta.slots_rev, meta.slots) if meta is not None else (-1, None)
            sidecar.write_meta(
                folder,
                sidecar.Meta(
                    self.key, self.settings.params(self.dim), rev, final.name, removed, *slots
                ),
            )
        return _Done(rev, final.name, removed)

    def _build_job(self, owner: Scope | None) -> _Done:
        """A new graph from the store's vectors, read through a connection of its own."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            conn.execute("BEGIN")
            rev = owner_rev(conn, self.key)
            index = self._new()
            for keys, vectors in _stored(conn, owner, self.dim, self.key):
                if self._cancel.is_set():
                    return _Done(error="cancelled")
                index.add(keys, vectors)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return self._publish(index, rev, 0)

    def _merge_job(
        self,
        graph: str,
        items: list[tuple[int, tuple[int, npt.NDArray[np.float32] | None]]],
        rev: int,
        removed: int,
    ) -> _Done:
        folder = self.settings.folder
        assert folder is not None
        index = self._new()
        index.load(str(folder / graph))
        if self._cancel.is_set():
            return _Done(error="cancelled")
        self._apply_to(index, items)
        return self._publish(index, rev, removed)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running job (True when none is left running)."""
        job = self._job
        if job is not None:
            job.join(timeout)
        return job is None or not job.is_alive()

    def detach(self) -> None:
        """Stop a running job and let the graph go (the owner left the cache)."""
        job = self._job
        self._cancel.set()
        if job is not None:
            job.join(DETACH_WAIT_S)
        with self._lock:
            self._collect()
            self._base = None
            self.base_rev = -1

    def stats(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "pending": len(self._pending),
            "rev": self.base_rev,
            "job": self._job is not None,
            "errors": list(self.errors),
        }

    # -- searching ---------------------------------------------------------------------
    def search(
        self,
        conn: sqlite3.Connection,
        slots: Slots,
        query: npt.NDArray[np.float32],
        k: int,
        keep: npt.NDArray[np.bool_],
    ) -> list[tuple[int, float]]:
        """The best ``k`` slots among ``keep``, exact scores, ties to the older entry."""
        population = int(keep.sum())
        if k <= 0 or population == 0:
            return []
        with self._lock:
            index = self._base
            if index is None or (population <= EXACT_FILTERED and population < slots.size):
                return exact(conn, slots, np.flatnonzero(keep), query, k)
            want = min(k, population)
            count = min(max(4 * k, 64) * max(1, slots.size // population), MAX_CANDIDATES)
            while True:
                index.expansion_search = max(self.settings.expansion_search, count)
                found = index.search(query, count, threads=1)
                where = slots.find(np.asarray(found.keys, dtype=np.int64))
                where = where[where >= 0]
                where = where[keep[where]]
                if where.size >= want or count >= min(index.size, MAX_CANDIDATES):
                    break
                count = min(count * 4, MAX_CANDIDATES)
            fresh = self._pending_best(slots, query, k, keep)
        if where.size + fresh.size < want:
            return exact(conn, slots, np.flatnonzero(keep), query, k)
        return exact(conn, slots, np.unique(np.concatenate([where, fresh])), query, k)

    def _pending_best(
        self, slots: Slots, query: npt.NDArray[np.float32], k: int, keep: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.int64]:
        """The slots of the best ``k`` changed entries not yet in the graph."""
        if not self._pending:
            return np.zeros(0, np.int64)
        if self._pending_matrix is None:
            live = [(pk, v) for pk, (_, v) in self._pending.items() if v is not None]
            pks = np.array([pk for pk, _ in live], dtype=np.int64)
            matrix = np.stack([v for _, v in live]) if live else np.zeros((0, self.dim), np.float32)
            self._pending_matrix = (pks, matrix)
        pks, matrix = self._pending_matrix
        at = slots.find(pks)
        usable = np.flatnonzero(at >= 0)
        usable = usable[keep[at[usable]]]
        if usable.size == 0:
            return np.zeros(0, np.int64)
        scores = np.einsum("ij,j->i", matrix[usable], query)
        best = usable[np.argsort(-scores, kind="stable")[: 2 * k]]
        return at[best]


def _stored(
    conn: sqlite3.Connection, owner: Scope | None, dim: int, key: str | None = None
) -> Iterator[tuple[npt.NDArray[np.uint64], npt.NDArray[np.float32]]]:
    """The owner's active vectors, in chunks (``owner`` None: found by its key)."""
    if owner is not None:
        where, params = scope_where(owner.owner)
        sql = f"""SELECT pk, vector FROM entries
                  WHERE {where} AND status = 'active' AND vector IS NOT NULL ORDER BY pk"""
    else:
        sql = """SELECT e.pk, e.vector FROM search_index AS s JOIN entries AS e ON e.pk = s.pk
                 WHERE s.owner = ? AND e.status = 'active' AND e.vector IS NOT NULL
                 ORDER BY e.pk"""
        params = [key]
    cur = conn.execute(sql, params)
    while rows := cur.fetchmany(BUILD_CHUNK):
        keys = np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        yield keys, vectors.reshape(len(rows), dim)


def exact(
    conn: sqlite3.Connection,
    slots: Slots,
    candidates: npt.NDArray[np.int64],
    query: npt.NDArray[np.float32],
    k: int,
) -> list[tuple[int, float]]:
    """Cosine of the candidates' stored vectors; the best ``k`` (slot, score)."""
    pks = slots.pks[candidates]
    vectors: dict[int, bytes] = {}
    for i in range(0, pks.size, IN_CHUNK):
        part = [int(p) for p in pks[i : i + IN_CHUNK]]
        sql = f"SELECT pk, vector FROM entries WHERE pk IN ({placeholders(len(part))})"
        vectors.update((r[0], r[1]) for r in conn.execute(sql, part) if r[1] is not None)
    have = np.array([int(p) in vectors for p in pks], dtype=bool)
    candidates, pks = candidates[have], pks[have]
    if candidates.size == 0:
        return []
    dim = query.shape[0]
    matrix = np.frombuffer(b"".join(vectors[int(p)] for p in pks), dtype=np.float32)
    scores = np.zeros(slots.size, dtype=np.float32)
    scores[candidates] = np.einsum("ij,j->i", matrix.reshape(-1, dim), query)
    return top(scores, candidates, slots.pks, k)
