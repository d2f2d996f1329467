"""Long-term entries and their history. The search index (terms, owner revisions, change
feed) follows the entries table through triggers (see ``migrations.py``), so no write path
can forget it.

Functions take a connection inside a transaction opened by the caller (see ``db.py``).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from lightmem.errors import NotFoundError
from lightmem.stores.sqlite.codec import (
    dump_list,
    from_blob,
    in_scope,
    load_list,
    placeholders,
    row_to_entry,
    row_to_history,
    scope_where,
    to_iso,
)
from lightmem.stores.sqlite.turns import check_new_ids, chunks, rows_by_id
from lightmem.types import Entry, EntryStatus, HistoryEvent, HistoryRecord, Scope


def insert_entries(
    conn: sqlite3.Connection,
    entries: list[Entry],
    blobs: list[bytes],
    *,
    actor: str,
    now: datetime,
) -> None:
    """New active entries, each with a history ADD, queued for consolidation."""
    check_new_ids(conn, "entries", "entry", [e.id for e in entries])
    stamp = to_iso(now)
    conn.executemany(
        """INSERT INTO entries (id, user_id, agent_id, run_id, text, timestamp, speakers,
            topic_id, keywords, sources, origin, status, version, created_at, updated_at,
            consolidated, vector)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', 1, ?, ?, 0, ?)""",
        [
            (
                e.id, e.scope.user_id, e.scope.agent_id, e.scope.run_id, e.text,
                to_iso(e.timestamp), dump_list(e.speakers), e.topic_id, dump_list(e.keywords),
                dump_list(e.sources), e.origin, stamp, stamp, blob,
            )
            for e, blob in zip(entries, blobs, strict=True)
        ],
    )  # fmt: skip
    conn.executemany(
        """INSERT INTO history (entry_id, event, old_text, new_text, reason, actor, created_at)
           VALUES (?, ?, NULL, ?, NULL, ?, ?)""",
        [(e.id, HistoryEvent.ADD.value, e.text, actor, stamp) for e in entries],
    )


def add_history(
    conn: sqlite3.Connection,
    entry_id: str,
    event: HistoryEvent,
    old_text: str | None,
    new_text: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    conn.execute(
        """INSERT INTO history (entry_id, event, old_text, new_text, reason, actor, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (entry_id, event.value, old_text, new_text, reason, actor, to_iso(now)),
    )


def entry_row(conn: sqlite3.Connection, entry_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM entries WHERE id = ?", (entry_id,)
    ).fetchone()
    return row


def active_row(conn: sqlite3.Connection, entry_id: str, what: str) -> sqlite3.Row:
    row = entry_row(conn, entry_id)
    if row is None:
        raise NotFoundError(f"{what}: no memory entry with id {entry_id!r}")
    if row["status"] != EntryStatus.ACTIVE.value:
        raise NotFoundError(f"{what}: memory entry {entry_id!r} is deleted")
    return row


def get_entry(conn: sqlite3.Connection, entry_id: str, scope: Scope | None) -> Entry:
    row = entry_row(conn, entry_id)
    if row is None or (scope is not None and not in_scope(row, scope)):
        # The same message either way: another scope's ids are not disclosed.
        raise NotFoundError(f"no memory entry with id {entry_id!r}")
    return row_to_entry(row)


#: Every column of ``entries`` but the vector, which entries as returned do not carry.
ENTRY_FIELDS = (
    "id, user_id, agent_id, run_id, text, timestamp, speakers, topic_id, keywords, sources, "
    "origin, status, version, created_at, updated_at"
)


def get_entries(conn: sqlite3.Connection, ids: list[str]) -> list[Entry]:
    rows = rows_by_id(conn, "entries", ids, ENTRY_FIELDS)
    return [row_to_entry(rows[i]) for i in ids if i in rows]


def list_entries(
    conn: sqlite3.Connection, scope: Scope, include_deleted: bool, limit: int | None, offset: int
) -> list[Entry]:
    where, params = scope_where(scope)
    if not include_deleted:
        where += " AND status = 'active'"
    sql = f"SELECT * FROM entries WHERE {where} ORDER BY pk LIMIT ? OFFSET ?"
    params += [-1 if limit is None else max(0, limit), max(0, offset)]
    return [row_to_entry(r) for r in conn.execute(sql, params)]


def count_entries(conn: sqlite3.Connection, scope: Scope | None, include_deleted: bool) -> int:
    clauses: list[str] = []
    params: list[Any] = []
    if scope is not None:
        where, params = scope_where(scope)
        clauses.append(where)
    if not include_deleted:
        clauses.append("status = 'active'")
    sql = "SELECT COUNT(*) FROM entries" + (" WHERE " + " AND ".join(clauses) if clauses else "")
    return int(conn.execute(sql, params).fetchone()[0])


def update_entry(
    conn: sqlite3.Connection,
    entry_id: str,
    text: str,
    blob: bytes,
    *,
    reason: str | None,
    actor: str,
    sources: list[str] | None,
    now: datetime,
) -> Entry:
    row = active_row(conn, entry_id, "update")
    conn.execute(
        """UPDATE entries SET text = ?, vector = ?, sources = COALESCE(?, sources),
            version = version + 1, updated_at = ? WHERE id = ?""",
        (text, blob, None if sources is None else dump_list(sources), to_iso(now), entry_id),
    )
    add_history(conn, entry_id, HistoryEvent.UPDATE, row["text"], text, reason, actor, now)
    updated = entry_row(conn, entry_id)
    assert updated is not None
    return row_to_entry(updated)


def tombstone(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    event: HistoryEvent,
    *,
    new_text: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    conn.execute(
        "UPDATE entries SET status = 'deleted', updated_at = ? WHERE id = ?",
        (to_iso(now), row["id"]),
    )
    add_history(conn, row["id"], event, row["text"], new_text, reason, actor, now)


def delete_entry(
    conn: sqlite3.Connection, entry_id: str, *, reason: str | None, actor: str, now: datetime
) -> None:
    row = entry_row(conn, entry_id)
    if row is None:
        raise NotFoundError(f"delete: no memory entry with id {entry_id!r}")
    if row["status"] == EntryStatus.DELETED.value:
        return  # already a tombstone: deleting twice changes nothing
    tombstone(conn, row, HistoryEvent.DELETE, new_text=None, reason=reason, actor=actor, now=now)


def history(conn: sqlite3.Connection, entry_id: str) -> list[HistoryRecord]:
    rows = conn.execute("SELECT * FROM history WHERE entry_id = ? ORDER BY id", (entry_id,))
    return [row_to_history(r) for r in rows]


def entry_vectors(conn: sqlite3.Connection, ids: list[str]) -> dict[str, Any]:
    rows = rows_by_id(conn, "entries", ids, "id, vector")
    return {i: from_blob(r["vector"]) for i, r in rows.items() if r["vector"] is not None}


def delete_all(conn: sqlite3.Connection, scope: Scope) -> int:
    """Purge a scope. History and consolidation pairs go with their entries (foreign keys),
    FTS rows through the triggers. Returns the number of entries removed."""
    where, params = scope_where(scope)
    removed = conn.execute(f"DELETE FROM entries WHERE {where}", params).rowcount
    conn.execute(f"DELETE FROM turns WHERE {where}", params)
    if scope.run_id is None:
        conn.execute(f"DELETE FROM batches WHERE {where}", params)
    else:
        _purge_orphan_batches(conn, scope)
    return int(removed)


def _purge_orphan_batches(conn: sqlite3.Connection, scope: Scope) -> None:
    """After a run's turns are gone: drop the run's batches and any batch of the owner
    whose turns were all in that run."""
    where, params = scope_where(scope.owner)
    sql = f"SELECT id, run_id, turn_ids FROM batches WHERE {where}"
    for row in conn.execute(sql, params).fetchall():
        turn_ids = load_list(row["turn_ids"])
        left = 0
        for part in chunks(turn_ids):
            sql = f"SELECT COUNT(*) FROM turns WHERE id IN ({placeholders(len(part))})"
            left += int(conn.execute(sql, part).fetchone()[0])
        if row["run_id"] == scope.run_id or (turn_ids and left == 0):
            conn.execute("DELETE FROM batches WHERE id = ?", (row["id"],))
