"""Export: the records of a scope (or of the store) read in chunks, each chunk one short
read transaction, so no export holds the database however large the tenant.

The rows to export are fixed when the export starts (:class:`Marks`: the highest turn
``seq``, the entry and batch keys, the last LLM call); each chunk then reads its rows as they
are at that moment. A row written after the start is left out, one erased since is skipped,
and what a chunk holds refers only to rows of the export (a pair whose other entry came
later is left out too), so the file imports as it is. Every query follows an index: turns
by ``(owner, seq)``, entries and batches by key, history by ``(entry_id, id)``, pairs by
their target (the primary key) and their source's key, never a join of the tenant's
entries with themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from lightmem.stores.sql import images
from lightmem.stores.sql.codec import (
    images_json,
    load_images,
    load_list,
    load_meta,
    load_time,
    load_time_required,
    scope_where,
    to_iso,
    vector_to_b64,
)
from lightmem.stores.sql.dialect import Conn, Dialect, Transactions
from lightmem.stores.sql.transfer import (
    BATCH_COLUMNS,
    CALL_COLUMNS,
    ENTRY_COLUMNS,
    ENTRY_LISTS,
    HISTORY_COLUMNS,
    TIME_COLUMNS,
    TURN_COLUMNS,
)
from lightmem.types import Scope

T = TypeVar("T")

#: Rows read per transaction.
CHUNK = 500

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Marks:
    """What an export holds, fixed at its start."""

    turn_seq: int
    entry_pks: list[int]
    batch_pks: list[int]
    call_id: int


def export_records(
    db: Transactions, d: Dialect, scope: Scope | None, chunk: int = CHUNK
) -> Iterator[Record]:
    """Turns, entries, batches, history, pairs, image vectors (and in a whole-store export
    the LLM calls), chunk by chunk."""
    marks = db.read("export_records", lambda c: _marks(c, scope))
    yield from _keyset(db, lambda c, after: _turns(c, d, scope, after, marks.turn_seq, chunk))
    entries = set(marks.entry_pks)
    yield from _chunked(db, marks.entry_pks, chunk, lambda c, p: _entries(c, d, p))
    yield from _chunked(db, marks.batch_pks, chunk, lambda c, p: _batches(c, d, p))
    yield from _chunked(db, marks.entry_pks, chunk, lambda c, p: _history(c, d, p))
    yield from _chunked(db, marks.entry_pks, chunk, lambda c, p: _pairs(c, d, p, entries))
    yield from db.read("export_records", lambda c: images.export_image_vectors(c, d, scope))
    if scope is None:
        yield from _keyset(db, lambda c, after: _calls(c, after, marks.call_id, chunk))


def _marks(c: Conn, scope: Scope | None) -> Marks:
    w, p = _where(scope, "")

    def keys(table: str, column: str) -> list[int]:
        sql = f"SELECT {column} AS k FROM {table} WHERE {w} ORDER BY {column}"
        return [int(r["k"]) for r in c.execute(sql, p).fetchall()]

    top = c.execute(f"SELECT max(seq) AS k FROM turns WHERE {w}", p).fetchone()["k"]
    calls = c.execute("SELECT max(id) AS k FROM llm_calls").fetchone()["k"]
    return Marks(int(top or 0), keys("entries", "pk"), keys("batches", "pk"), int(calls or 0))


def _keyset(db: Transactions, read: Callable[[Conn, int], list[Record]]) -> Iterator[Record]:
    """Chunks of a table read in key order: ``read(c, after)`` gives the rows past ``after``
    (a chunk, each with its key under ``"_key"``), until one comes back empty."""
    after = 0
    while True:
        rows = db.read("export_records", _bound(read, after))
        if not rows:
            return
        after = rows[-1]["_key"]
        for row in rows:
            del row["_key"]
        yield from rows


def _chunked(
    db: Transactions,
    keys: Sequence[int],
    size: int,
    read: Callable[[Conn, list[int]], list[Record]],
) -> Iterator[Record]:
    """``read(c, part)`` for each part of ``size`` keys, one transaction each."""
    for i in range(0, len(keys), size):
        yield from db.read("export_records", _bound(read, list(keys[i : i + size])))


def _bound(read: Callable[[Conn, T], list[Record]], value: T) -> Callable[[Conn], list[Record]]:
    """``read`` with its second argument fixed now (not when the transaction calls it)."""
    return lambda c: read(c, value)


def _where(scope: Scope | None, alias: str) -> tuple[str, list[Any]]:
    return scope_where(scope, alias) if scope is not None else ("1 = 1", [])


def _plain(r: Any, columns: Sequence[str]) -> Record:
    """The row's values for ``columns``, times as ISO strings."""
    return {
        c: to_iso(load_time_required(r[c])) if c in TIME_COLUMNS and r[c] else r[c] for c in columns
    }


def _by_key(c: Conn, d: Dialect, sql: str, column: str, keys: list[int]) -> list[Any]:
    """``sql`` (with ``{}`` for the condition) run for ``keys``, rows in key order."""
    rows: list[Any] = []
    for where, params in d.any_of(column, keys):
        rows += c.execute(sql.format(where), params).fetchall()
    return rows


def _turns(
    c: Conn, d: Dialect, scope: Scope | None, after: int, top: int, chunk: int
) -> list[Record]:
    w, p = _where(scope, "t")
    sql = f"""SELECT t.*, {d.read_vector("t.vector")} AS vbytes FROM turns t
              WHERE {w} AND t.seq > ? AND t.seq <= ? ORDER BY t.seq LIMIT ?"""
    out = []
    for r in c.execute(sql, [*p, after, top, chunk]).fetchall():
        out.append(
            {
                "kind": "turn",
                **_plain(r, TURN_COLUMNS),
                "author": r["author"],
                "images": images_json(load_images(r["images"])),
                "forgotten": int(r["forgotten"]),
                "vector": vector_to_b64(d.load_vector(r["vbytes"])),
                "_key": int(r["seq"]),
            }
        )
    return out


def _entries(c: Conn, d: Dialect, pks: list[int]) -> list[Record]:
    sql = f"""SELECT e.*, {d.read_vector("e.vector")} AS vbytes, {d.queued("e")} AS queued
              FROM entries e WHERE {{}} ORDER BY e.pk"""
    out = []
    for r in _by_key(c, d, sql, "e.pk", pks):
        rec = {"kind": "entry", **_plain(r, ENTRY_COLUMNS), "consolidated": 0 if r["queued"] else 1}
        rec.update({col: load_list(r[col]) for col in ENTRY_LISTS})
        rec.update(pinned=int(r["pinned"]), expires_at=to_iso(load_time(r["expires_at"])))
        rec.update(memory_kind=r["kind"], meta=load_meta(r["meta"]))
        rec["images"] = images_json(load_images(r["images"]))
        rec.update(
            superseded_by=r["superseded_by"], valid_until=to_iso(load_time(r["valid_until"]))
        )
        out.append({**rec, "vector": vector_to_b64(d.load_vector(r["vbytes"]))})
    return out


def _batches(c: Conn, d: Dialect, pks: list[int]) -> list[Record]:
    sql = "SELECT b.* FROM batches b WHERE {} ORDER BY b.pk"
    return [
        {"kind": "batch", **_plain(r, BATCH_COLUMNS), "turn_ids": load_list(r["turn_ids"])}
        for r in _by_key(c, d, sql, "b.pk", pks)
    ]


def _history(c: Conn, d: Dialect, pks: list[int]) -> list[Record]:
    sql = "SELECT h.* FROM entries e JOIN history h ON h.entry_id = e.id WHERE {} ORDER BY h.id"
    rows = _by_key(c, d, sql, "e.pk", pks)
    return [{"kind": "history", **_plain(r, HISTORY_COLUMNS)} for r in rows]


def _pairs(c: Conn, d: Dialect, pks: list[int], exported: set[int]) -> list[Record]:
    """The pairs whose target is one of these entries and whose source is exported too."""
    sql = f"""SELECT p.target_id, p.source_id, p.decision, p.reason, p.decided_at,
                     s.pk AS source_pk
              FROM entries e JOIN consolidation_pairs p ON p.target_id = e.id
              JOIN entries s ON s.id = p.source_id
              WHERE {{}} ORDER BY p.target_id{d.bytewise}, p.source_id{d.bytewise}"""
    return [
        {
            "kind": "pair",
            "target_id": r["target_id"],
            "source_id": r["source_id"],
            "decision": r["decision"],
            "reason": r["reason"],
            "decided_at": to_iso(load_time(r["decided_at"])),
        }
        for r in _by_key(c, d, sql, "e.pk", pks)
        if int(r["source_pk"]) in exported
    ]


def _calls(c: Conn, after: int, top: int, chunk: int) -> list[Record]:
    sql = "SELECT * FROM llm_calls WHERE id > ? AND id <= ? ORDER BY id LIMIT ?"
    return [
        {"kind": "llm_call", **_plain(r, CALL_COLUMNS), "ok": bool(r["ok"]), "_key": int(r["id"])}
        for r in c.execute(sql, [after, top, chunk]).fetchall()
    ]
