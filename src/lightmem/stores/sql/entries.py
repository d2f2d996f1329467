"""Long-term entries and their history. Whatever search keeps beside the entries (SQLite's
term index through triggers, PostgreSQL's generated full-text columns) follows the
``entries`` table by itself, so no write path here can forget it.

Functions take a connection inside a transaction opened by the caller and the backend's
:class:`Dialect`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lightmem import giveway
from lightmem.errors import NotFoundError
from lightmem.stores.sql import keys
from lightmem.stores.sql.codec import (
    ENTRY_FIELDS,
    HISTORY_FIELDS,
    Row,
    dump_images,
    dump_list,
    dump_meta,
    in_scope,
    load_list,
    row_to_entry,
    row_to_history,
    scope_where,
)
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.stores.sql.turns import check_new_ids, existing_ids, rows_by_id
from lightmem.types import Entry, EntryStatus, HistoryEvent, HistoryRecord, Scope


def insert_entries(
    c: Conn, d: Dialect, entries: list[Entry], vectors: list[Any], *, actor: str, now: datetime
) -> None:
    """New active entries, each with a history ADD, queued for consolidation."""
    if not entries:
        return
    ids = [e.id for e in entries]
    check_new_ids(c, d, "entries", "entry", ids)
    j, stamp = d.json_param, d.dump_time(now)
    c.executemany(
        f"""INSERT INTO entries (id, user_id, agent_id, run_id, text, timestamp, speakers,
            topic_id, keywords, sources, origin, status, version, created_at, updated_at,
            kind, meta, images, vector)
           VALUES (?, ?, ?, ?, ?, ?, {j}, ?, {j}, {j}, ?, 'active', 1, ?, ?, ?, {j}, {j},
                   {d.vector_param})""",
        [
            (
                e.id,
                e.scope.user_id,
                e.scope.agent_id,
                e.scope.run_id,
                e.text,
                d.dump_time(e.timestamp),
                dump_list(e.speakers),
                e.topic_id,
                dump_list(e.keywords),
                dump_list(e.sources),
                e.origin,
                stamp,
                stamp,
                e.kind,
                dump_meta(e.meta),
                dump_images(e.images),
                vector,
            )
            for e, vector in zip(entries, vectors, strict=True)
        ],
    )
    # facts wait for consolidation; structure (summaries, events) is rebuilt, never merged
    d.enqueue(c, [e.id for e in entries if e.kind == "fact"])
    d.dequeue(c, [e.id for e in entries if e.kind != "fact"])
    c.executemany(
        """INSERT INTO history (entry_id, event, old_text, new_text, reason, actor, created_at)
           VALUES (?, ?, NULL, ?, NULL, ?, ?)""",
        [(e.id, HistoryEvent.ADD.value, e.text, actor, stamp) for e in entries],
    )


def add_history(
    c: Conn,
    d: Dialect,
    entry_id: str,
    event: HistoryEvent,
    old_text: str | None,
    new_text: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    c.execute(
        """INSERT INTO history (entry_id, event, old_text, new_text, reason, actor, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (entry_id, event.value, old_text, new_text, reason, actor, d.dump_time(now)),
    )


def entry_row(c: Conn, d: Dialect, entry_id: str, *, lock: bool = False) -> Row | None:
    sql = f"SELECT {ENTRY_FIELDS} FROM entries WHERE id = ?" + (d.for_update if lock else "")
    return c.execute(sql, (entry_id,)).fetchone()


def active_row(c: Conn, d: Dialect, entry_id: str, what: str) -> Row:
    """The entry's row, locked; it must exist and be active."""
    row = entry_row(c, d, entry_id, lock=True)
    if row is None:
        raise NotFoundError(f"{what}: no memory entry with id {entry_id!r}")
    if row["status"] != EntryStatus.ACTIVE.value:
        raise NotFoundError(f"{what}: memory entry {entry_id!r} is deleted")
    return row


def get_entry(c: Conn, d: Dialect, entry_id: str, scope: Scope | None) -> Entry:
    row = entry_row(c, d, entry_id)
    if row is None or (scope is not None and not in_scope(row, scope)):
        # The same message either way: another scope's ids are not disclosed.
        raise NotFoundError(f"no memory entry with id {entry_id!r}")
    return row_to_entry(row)


def get_entries(c: Conn, d: Dialect, ids: list[str]) -> list[Entry]:
    rows = rows_by_id(c, d, "entries", ids, ENTRY_FIELDS)
    return [row_to_entry(rows[i]) for i in ids if i in rows]


def list_entries(
    c: Conn,
    d: Dialect,
    scope: Scope,
    include_deleted: bool,
    limit: int | None,
    offset: int,
    kind: str | None = None,
    pinned: bool | None = None,
    newest_first: bool = False,
) -> list[Entry]:
    where, params = scope_where(scope)
    if not include_deleted:
        where += " AND status = 'active'"
    if kind is not None:
        # the term a bound kind cannot show the planner: the partial index of the kinds
        # but "fact" then serves it, in pk order (no sort of every row of the owner)
        where += " AND kind = ?" + (" AND kind <> 'fact'" if kind != "fact" else "")
        params.append(kind)
    if pinned is not None:  # a literal: "pinned = 1" is what the partial index names
        where += " AND pinned = 1" if pinned else " AND pinned = 0"
    order = "pk DESC" if newest_first else "pk"
    sql = f"SELECT {ENTRY_FIELDS} FROM entries WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    params += [d.no_limit if limit is None else max(0, limit), max(0, offset)]
    return giveway.each(c.execute(sql, params).fetchall(), row_to_entry)


def count_entries(c: Conn, scope: Scope | None, include_deleted: bool) -> int:
    clauses: list[str] = []
    params: list[Any] = []
    if scope is not None:
        where, params = scope_where(scope)
        clauses.append(where)
    if not include_deleted:
        clauses.append("status = 'active'")
    sql = "SELECT count(*) AS n FROM entries"
    sql += " WHERE " + " AND ".join(clauses) if clauses else ""
    return int(c.execute(sql, params).fetchone()["n"])


def update_entry(
    c: Conn,
    d: Dialect,
    entry_id: str,
    text: str,
    vector: Any,
    *,
    reason: str | None,
    actor: str,
    sources: list[str] | None,
    now: datetime,
    meta: dict[str, Any] | None = None,
) -> Entry:
    row = active_row(c, d, entry_id, "update")
    j = d.json_param
    c.execute(
        f"""UPDATE entries SET text = ?, vector = {d.vector_param},
            sources = COALESCE({j}, sources), meta = COALESCE({j}, meta),
            version = version + 1, updated_at = ?
            WHERE id = ?""",
        (
            text,
            vector,
            None if sources is None else dump_list(sources),
            None if meta is None else dump_meta(meta),
            d.dump_time(now),
            entry_id,
        ),
    )
    add_history(c, d, entry_id, HistoryEvent.UPDATE, row["text"], text, reason, actor, now)
    return row_to_entry(entry_row(c, d, entry_id))


def tombstone(
    c: Conn,
    d: Dialect,
    row: Row,
    event: HistoryEvent,
    *,
    new_text: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    c.execute(
        "UPDATE entries SET status = 'deleted', updated_at = ? WHERE id = ?",
        (d.dump_time(now), row["id"]),
    )
    add_history(c, d, row["id"], event, row["text"], new_text, reason, actor, now)


def delete_entry(
    c: Conn, d: Dialect, entry_id: str, *, reason: str | None, actor: str, now: datetime
) -> None:
    row = entry_row(c, d, entry_id, lock=True)
    if row is None:
        raise NotFoundError(f"delete: no memory entry with id {entry_id!r}")
    if row["status"] == EntryStatus.DELETED.value:
        return  # already a tombstone: deleting twice changes nothing
    tombstone(c, d, row, HistoryEvent.DELETE, new_text=None, reason=reason, actor=actor, now=now)


def history(c: Conn, entry_id: str) -> list[HistoryRecord]:
    sql = f"SELECT {HISTORY_FIELDS} FROM history WHERE entry_id = ? ORDER BY id"
    return [row_to_history(r) for r in c.execute(sql, (entry_id,)).fetchall()]


def entry_vectors(c: Conn, d: Dialect, ids: list[str]) -> dict[str, Any]:
    rows = rows_by_id(c, d, "entries", ids, f"id, {d.read_vector('vector')} AS vector")
    return {i: d.load_vector(r["vector"]) for i, r in rows.items() if r["vector"] is not None}


def delete_all(c: Conn, d: Dialect, scope: Scope) -> int:
    """Purge a scope. History, consolidation pairs (and queue rows) go with their entries
    (foreign keys). Returns the number of entries removed."""
    where, params = scope_where(scope)
    removed = c.execute(f"DELETE FROM entries WHERE {where}", params).rowcount
    if scope.run_id is None:
        c.execute(f"DELETE FROM turns WHERE {where}", params)
        c.execute(f"DELETE FROM batches WHERE {where}", params)
        keys.drop_idempotency_keys(c, scope.owner)
    else:
        gone = {r["id"] for r in c.execute(f"SELECT id FROM turns WHERE {where}", params)}
        c.execute(f"DELETE FROM turns WHERE {where}", params)
        _purge_orphan_batches(c, d, scope)
        keys.drop_idempotency_keys(c, scope.owner, gone)
    return int(removed)


def _purge_orphan_batches(c: Conn, d: Dialect, scope: Scope) -> None:
    """After a run's turns are gone: drop the run's batches and any batch of the owner
    whose turns were all in that run."""
    where, params = scope_where(scope.owner)
    sql = f"SELECT id, run_id, turn_ids FROM batches WHERE {where}"
    for row in c.execute(sql, params).fetchall():
        turn_ids = load_list(row["turn_ids"])
        left = existing_ids(c, d, "turns", turn_ids)
        if row["run_id"] == scope.run_id or (turn_ids and not left):
            c.execute("DELETE FROM batches WHERE id = ?", (row["id"],))
