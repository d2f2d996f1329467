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

import hashlib
import importlib.util
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lightmem.errors import MissingDependencyError
from lightmem.stores.sql.codec import scope_where
from lightmem.stores.sqlite.dialect import placeholders
from lightmem.stores.sqlite.search import Slots, top
from lightmem.types import Scope

FORMAT = 1
#: Candidates asked of the graph at most before falling back to exact scoring.
MAX_CANDIDATES = 4096
#: A filter that leaves at most this many entries is scored exactly, without the graph.
EXACT_FILTERED = 20_000
BUILD_CHUNK = 20_000
IN_CHUNK = 500


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


class AnnIndex:
    """One owner's graph. Every method runs inside the store's lock."""

    def __init__(self, settings: AnnSettings, key: str, dim: int) -> None:
        self.settings = settings
        self.key = key
        self.dim = dim
        self.rev = -1
        self.unsaved = 0  # changes applied since the sidecar was written
        self.rebuilds = 0
        self.save_errors = 0
        self._index: Any = None
        self._lock = threading.Lock()
        stem = hashlib.sha256(key.encode()).hexdigest()[:24]
        folder = settings.folder
        self.path = None if folder is None else folder / f"{stem}.usearch"
        self.meta_path = None if folder is None else folder / f"{stem}.json"

    @property
    def nbytes(self) -> int:
        return 0 if self._index is None else int(self._index.memory_usage)

    @property
    def size(self) -> int:
        return 0 if self._index is None else int(self._index.size)

    # -- keeping it current ------------------------------------------------------------
    def refresh(self, conn: sqlite3.Connection, owner: Scope, rev: int) -> None:
        with self._lock:
            if self._index is None and not self._load():
                self._build(conn, owner, rev)
                return
            if self.rev > rev:  # a sidecar from the future (a restored backup): rebuild
                self._build(conn, owner, rev)
            elif self.rev < rev:
                self._catch_up(conn, owner, rev)

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

    def _load(self) -> bool:
        """Read the sidecar if it is ours and readable; False means build one."""
        if self.path is None or self.meta_path is None or not self.meta_path.is_file():
            return False
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if meta.get("owner") != self.key or meta.get("params") != self.settings.params(
                self.dim
            ):
                return False
            index = self._new()
            index.load(str(self.path))
        except (OSError, ValueError, RuntimeError):
            return False  # unreadable or half-written: the store has everything to rebuild it
        self._index = index
        self.rev = int(meta["rev"])
        self.unsaved = 0
        return True

    def _build(self, conn: sqlite3.Connection, owner: Scope, rev: int) -> None:
        index = self._new()
        where, params = scope_where(owner.owner)
        cur = conn.execute(
            f"""SELECT pk, vector FROM entries
                WHERE {where} AND status = 'active' AND vector IS NOT NULL ORDER BY pk""",
            params,
        )
        while rows := cur.fetchmany(BUILD_CHUNK):
            keys = np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            index.add(keys, vectors.reshape(len(rows), self.dim))
        self._index = index
        self.rev = rev
        self.rebuilds += 1
        self.save()

    def _catch_up(self, conn: sqlite3.Connection, owner: Scope, rev: int) -> None:
        rows = conn.execute(
            """SELECT s.pk, e.status, e.vector FROM search_index AS s
               LEFT JOIN entries AS e ON e.pk = s.pk WHERE s.owner = ? AND s.rev > ?""",
            (self.key, self.rev),
        ).fetchall()
        if len(rows) > self.size // 3 + 1000:
            self._build(conn, owner, rev)
            return
        index = self._index
        keys = np.array([r[0] for r in rows], dtype=np.uint64)
        if keys.size:
            present = np.atleast_1d(index.contains(keys))
            if present.any():
                index.remove(keys[present])
        live = [r for r in rows if r[1] == "active" and r[2] is not None]
        if live:
            vectors = np.frombuffer(b"".join(r[2] for r in live), dtype=np.float32)
            index.add(
                np.array([r[0] for r in live], dtype=np.uint64),
                vectors.reshape(len(live), self.dim),
            )
        self.rev = rev
        self.unsaved += len(rows)
        if self.unsaved >= max(1000, self.size // 20):
            self.save()

    def save(self) -> None:
        """Write the sidecar atomically (index first, then the metadata that vouches for it)."""
        if self.path is None or self.meta_path is None or self._index is None:
            self.unsaved = 0
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".usearch.tmp")
        self._index.save(str(tmp))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        meta = {"owner": self.key, "rev": self.rev, "params": self.settings.params(self.dim)}
        tmp_meta = self.meta_path.with_suffix(".json.tmp")
        tmp_meta.write_text(json.dumps(meta) + "\n", encoding="utf-8")
        os.chmod(tmp_meta, 0o600)
        os.replace(tmp_meta, self.meta_path)
        self.unsaved = 0

    def detach(self) -> None:
        """Save pending changes and let the graph go (the owner left the cache)."""
        with self._lock:
            if self.unsaved:
                try:
                    self.save()
                except OSError:
                    # A sidecar is a cache: the next search catches up from the feed.
                    self.save_errors += 1
            self._index = None

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
        if population <= EXACT_FILTERED and population < slots.size:
            return exact(conn, slots, np.flatnonzero(keep), query, k)
        want = min(k, population)
        count = min(max(4 * k, 64) * max(1, slots.size // population), MAX_CANDIDATES)
        with self._lock:
            index = self._index
            while True:
                index.expansion_search = max(self.settings.expansion_search, count)
                found = index.search(query, count, threads=1)
                where = slots.find(np.asarray(found.keys, dtype=np.int64))
                where = where[where >= 0]
                where = where[keep[where]]
                if where.size >= want or count >= min(index.size, MAX_CANDIDATES):
                    break
                count = min(count * 4, MAX_CANDIDATES)
        if where.size < want:
            return exact(conn, slots, np.flatnonzero(keep), query, k)
        return exact(conn, slots, np.unique(where), query, k)


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
