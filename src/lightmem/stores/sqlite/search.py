"""Dense and BM25 search over per-owner indexes held in memory.

An owner's :class:`OwnerIndex` holds its active entries (ids, runs, times, in creation
order), their vectors as one matrix for exact cosine search, and, built on the first BM25
query, an inverted index of their terms (``lexical.py``). An owner with more active entries
than the ANN threshold keeps no matrix: its dense search goes through an HNSW sidecar
(``ann.py``).

Every write that can change a result moves the owner's revision in ``owner_revs`` (triggers,
see ``migrations.py``, in this process or any other), so a search checks one indexed row and
reloads only that owner; ``cache.py`` keeps the indexes of the most recently searched owners
within a memory budget.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lightmem.errors import StorageError
from lightmem.stores.base import TimeRange
from lightmem.stores.sql.codec import scope_where, to_iso
from lightmem.stores.sqlite import lexical
from lightmem.types import Scope

#: Rough per-entry bytes of the Python objects an index keeps (id string, run reference).
_OBJECT_BYTES = 96


def owner_key(scope: Scope) -> str:
    """The owner as the triggers write it: ``quote(user_id) || ' ' || quote(agent_id)``."""
    return f"{_quote(scope.user_id)} {_quote(scope.agent_id)}"


def _quote(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def owner_of_key(key: str) -> Scope | None:
    """The owner an :func:`owner_key` was made from (None if it is not one)."""
    values: list[str | None] = []
    i = 0
    while i < len(key) and len(values) < 2:
        if key.startswith("NULL", i):
            values.append(None)
            i += 4
        elif key[i] == "'":
            j, out = i + 1, []
            while j < len(key):
                if key[j] == "'" and key[j + 1 : j + 2] == "'":
                    out.append("'")
                    j += 2
                elif key[j] == "'":
                    break
                else:
                    out.append(key[j])
                    j += 1
            else:
                return None
            values.append("".join(out))
            i = j + 1
        else:
            return None
        if len(values) == 1:
            if key[i : i + 1] != " ":
                return None
            i += 1
    if len(values) != 2 or i != len(key):
        return None
    return Scope(user_id=values[0], agent_id=values[1])


def more_active_than(conn: sqlite3.Connection, owner: Scope, n: int) -> bool:
    """Whether the owner has more than ``n`` active entries (reads at most ``n + 1``)."""
    where, params = scope_where(owner.owner)
    sql = f"""SELECT count(*) FROM (SELECT 1 FROM entries
              WHERE {where} AND status = 'active' LIMIT ?)"""
    return int(conn.execute(sql, [*params, n + 1]).fetchone()[0]) > n


def owner_rev(conn: sqlite3.Connection, key: str) -> int:
    row = conn.execute("SELECT rev FROM owner_revs WHERE owner = ?", (key,)).fetchone()
    return 0 if row is None else int(row[0])


def active_count(conn: sqlite3.Connection, owner: Scope) -> int:
    where, params = scope_where(owner.owner)
    sql = f"SELECT COUNT(*) FROM entries WHERE {where} AND status = 'active'"
    return int(conn.execute(sql, params).fetchone()[0])


@dataclass(frozen=True, slots=True)
class Slots:
    """An owner's active entries in creation order (``pks`` ascending)."""

    pks: npt.NDArray[np.int64]
    ids: npt.NDArray[np.object_]
    runs: npt.NDArray[np.object_]
    times: npt.NDArray[np.datetime64]  # NaT where the entry has no timestamp

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return self.pks.nbytes + self.times.nbytes + self.runs.nbytes + _OBJECT_BYTES * self.size

    def apply(
        self, delta: Delta
    ) -> tuple[Slots, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """The slots after ``delta``: (new slots, each old slot's new one or -1, the new
        slots of the delta's live rows, the old slots kept)."""
        at = self.find(delta.pks)
        kept = np.ones(self.size, dtype=bool)
        kept[at[at >= 0]] = False
        kept_pks = self.pks[kept]
        live = delta.live_pks
        where = np.searchsorted(kept_pks, live)
        old_to_new = np.full(self.size, -1, dtype=np.int64)
        old_to_new[kept] = np.arange(kept_pks.size) + np.searchsorted(live, kept_pks)
        new_at = where + np.arange(live.size)
        slots = Slots(
            np.insert(kept_pks, where, live),
            np.insert(self.ids[kept], where, delta.ids),
            np.insert(self.runs[kept], where, delta.runs),
            np.insert(self.times[kept], where, delta.times),
        )
        return slots, old_to_new, new_at.astype(np.int64), kept

    def mask(
        self, run_id: str | None, time_range: TimeRange | None
    ) -> npt.NDArray[np.bool_] | None:
        """The entries in the run and time range (``None``: all of them)."""
        keep: npt.NDArray[np.bool_] | None = None
        if run_id is not None:
            keep = np.asarray(self.runs == run_id, dtype=bool)
        start, end = time_range if time_range is not None else (None, None)
        if start is not None or end is not None:
            in_range = ~np.isnat(self.times)  # an undated entry is in no time range
            if start is not None:
                in_range &= self.times >= np.datetime64(to_iso(start), "us")
            if end is not None:
                in_range &= self.times <= np.datetime64(to_iso(end), "us")
            keep = in_range if keep is None else keep & in_range
        return keep

    def find(self, pks: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The slot of each pk, -1 where it is not an active entry of this owner."""
        if self.size == 0:
            return np.full(pks.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.pks, pks), self.size - 1)
        return np.where(self.pks[at] == pks, at, -1).astype(np.int64)


def _object_array(values: list[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _times(values: list[str | None]) -> npt.NDArray[np.datetime64]:
    return np.array([v or "NaT" for v in values], dtype="datetime64[us]")


@dataclass(frozen=True, slots=True)
class Delta:
    """An owner's entries changed since a revision (the change feed): every changed ``pk``
    (sorted), and of those still active in the owner, their columns."""

    pks: npt.NDArray[np.int64]
    live_pks: npt.NDArray[np.int64]
    ids: npt.NDArray[np.object_]
    runs: npt.NDArray[np.object_]
    times: npt.NDArray[np.datetime64]
    has_vector: npt.NDArray[np.bool_]
    vectors: list[bytes | None]
    terms: list[bytes | None]

    @property
    def size(self) -> int:
        return int(self.pks.size)


def read_delta(
    conn: sqlite3.Connection, key: str, since: int, *, vectors: bool, limit: int
) -> Delta | None:
    """The owner's changes after revision ``since``; None when there are more than
    ``limit`` (cheaper to load the owner again)."""
    column = "e.vector" if vectors else "e.vector IS NOT NULL"
    rows = conn.execute(
        f"""SELECT s.pk, e.id, e.run_id, e.timestamp, e.status, {column}, s.terms
            FROM search_index AS s LEFT JOIN entries AS e ON e.pk = s.pk
            WHERE s.owner = ? AND s.rev > ? ORDER BY s.pk LIMIT ?""",
        (key, since, limit + 1),
    ).fetchall()
    if len(rows) > limit:
        return None
    live = [r for r in rows if r[4] == "active"]
    return Delta(
        np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        np.fromiter((r[0] for r in live), dtype=np.int64, count=len(live)),
        _object_array([r[1] for r in live]),
        _object_array([r[2] for r in live]),
        _times([r[3] for r in live]),
        np.fromiter((bool(r[5]) for r in live), dtype=bool, count=len(live)),
        [r[5] for r in live] if vectors else [],
        [r[6] for r in live],
    )


def top(
    scores: npt.NDArray[np.floating[Any]],
    candidates: npt.NDArray[np.int64],
    pks: npt.NDArray[np.int64],
    k: int,
) -> list[tuple[int, float]]:
    """The best ``k`` of ``candidates`` (slots) by score, ties to the older entry."""
    if k <= 0 or candidates.size == 0:
        return []
    picked = scores[candidates]
    if k < picked.size:
        kth = np.partition(picked, picked.size - k)[picked.size - k]
        keep = np.flatnonzero(picked >= kth)
        candidates, picked = candidates[keep], picked[keep]
    order = np.lexsort((pks[candidates], -picked))[:k]
    return [(int(candidates[i]), float(picked[i])) for i in order]


@dataclass(slots=True)
class OwnerIndex:
    """What search keeps of one owner at one revision. ``matrix`` is ``None`` for an owner
    searched through the ANN sidecar, whose ``postings`` wait for the first BM25 query."""

    key: str
    rev: int
    slots: Slots
    matrix: npt.NDArray[np.float32] | None
    has_vector: npt.NDArray[np.bool_]
    postings: lexical.TermIndex | None = None
    ann: Any = None  # ann.AnnIndex, attached by the store for a large owner
    extra_bytes: int = field(default=0)

    @property
    def nbytes(self) -> int:
        total = self.slots.nbytes + self.has_vector.nbytes + self.extra_bytes
        if self.matrix is not None:
            total += self.matrix.nbytes
        if self.postings is not None:
            total += self.postings.nbytes
        if self.ann is not None:
            total += int(self.ann.nbytes)
        return total

    def apply(self, delta: Delta, rev: int, dim: int) -> OwnerIndex:
        """This index after ``delta`` (at revision ``rev``); the arrays of ``self`` are not
        changed (a search may still be reading them outside the lock)."""
        slots, old_to_new, new_at, kept = self.slots.apply(delta)
        has_vector = np.insert(
            self.has_vector[kept], new_at - np.arange(new_at.size), delta.has_vector
        )
        matrix = None
        if self.matrix is not None:
            rows = np.zeros((delta.live_pks.size, dim), dtype=np.float32)
            for i, blob in enumerate(delta.vectors):
                if blob is not None:
                    rows[i] = np.frombuffer(blob, dtype=np.float32)
            matrix = np.insert(self.matrix[kept], new_at - np.arange(new_at.size), rows, axis=0)
        postings = None
        if self.postings is not None:
            postings = self.postings.apply(old_to_new, slots.size, new_at, delta.terms)
        return OwnerIndex(self.key, rev, slots, matrix, has_vector, postings, self.ann)

    def dense(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        run_id: str | None,
        time_range: TimeRange | None,
    ) -> list[tuple[str, float]]:
        """Exact cosine over the matrix (unit-norm rows and query)."""
        if self.matrix is None:
            raise StorageError("this owner is searched through its ANN index")
        if k <= 0 or self.slots.size == 0:
            return []
        # einsum, not ``matrix @ vector``: BLAS's threaded matrix-vector kernel is faster on
        # idle cores but was measured at ~12 ms for 10k x 384 whenever the cores are busy;
        # numpy's own single-threaded loop stays at ~1-2 ms either way.
        scores = np.einsum("ij,j->i", self.matrix, query)
        keep = self.slots.mask(run_id, time_range)
        keep = self.has_vector if keep is None else keep & self.has_vector
        best = top(scores, np.flatnonzero(keep), self.slots.pks, k)
        return [(self.slots.ids[i], s) for i, s in best]

    def bm25(
        self, query: str, k: int, run_id: str | None, time_range: TimeRange | None
    ) -> list[tuple[str, float]]:
        terms = lexical.query_ids(query)
        if k <= 0 or terms.size == 0 or self.slots.size == 0 or self.postings is None:
            return []
        # The statistics are the scope's (owner or run); the time range only filters.
        stats = self.slots.mask(run_id, None)
        scores = lexical.bm25(self.postings, terms, stats)
        keep = scores > 0
        if time_range is not None:
            in_time = self.slots.mask(None, time_range)
            if in_time is not None:
                keep &= in_time
        best = top(scores, np.flatnonzero(keep), self.slots.pks, k)
        return [(self.slots.ids[i], s) for i, s in best]


def load_owner(
    conn: sqlite3.Connection, owner: Scope, key: str, rev: int, dim: int, *, large: bool
) -> OwnerIndex:
    """The owner's active entries with their vectors and BM25 index, read in one pass; for a
    ``large`` owner (searched through its ANN index) neither: its BM25 index is built on
    the first BM25 query (:func:`load_postings`)."""
    where, params = scope_where(owner.owner, "e")
    if large:
        columns, join = "e.vector IS NOT NULL, NULL", ""
    else:
        columns, join = "e.vector, s.terms", "LEFT JOIN search_index AS s ON s.pk = e.pk"
    rows = conn.execute(
        f"""SELECT e.pk, e.id, e.run_id, e.timestamp, {columns} FROM entries AS e {join}
            WHERE {where} AND e.status = 'active' ORDER BY e.pk""",
        params,
    ).fetchall()
    slots = Slots(
        np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
        _object_array([r[1] for r in rows]),
        _object_array([r[2] for r in rows]),
        _times([r[3] for r in rows]),
    )
    has_vector = np.fromiter((bool(r[4]) for r in rows), dtype=bool, count=len(rows))
    if large:
        return OwnerIndex(key, rev, slots, None, has_vector)
    blobs = [r[4] for r in rows if r[4] is not None]
    blob = b"".join(blobs)
    if len(blob) != 4 * dim * len(blobs):
        raise StorageError(
            f"stored entry vectors of {owner} do not all have the store's dimension {dim}"
        )
    matrix = np.zeros((len(rows), dim), dtype=np.float32)
    matrix[has_vector] = np.frombuffer(blob, dtype=np.float32).reshape(len(blobs), dim)
    postings = lexical.TermIndex.of(lexical.build_postings([r[5] for r in rows]))
    return OwnerIndex(key, rev, slots, matrix, has_vector, postings)


def load_postings(conn: sqlite3.Connection, index: OwnerIndex, owner: Scope) -> None:
    """Build a large owner's BM25 index from the stored terms (same revision as the slots)."""
    where, params = scope_where(owner.owner, "e")
    rows = conn.execute(
        f"""SELECT e.pk, s.terms FROM entries AS e LEFT JOIN search_index AS s ON s.pk = e.pk
            WHERE {where} AND e.status = 'active' ORDER BY e.pk""",
        params,
    ).fetchall()
    if len(rows) != index.slots.size:
        raise StorageError(f"the entries of {owner} changed while their index was built")
    index.postings = lexical.TermIndex.of(lexical.build_postings([r[1] for r in rows]))
