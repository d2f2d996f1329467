"""Long-term entries and their history. The full-text vector and document length are
generated columns (see ``migrations.py``), so no write path can forget them.

Functions take a cursor inside a transaction opened by the caller (see ``db.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lightmem.errors import NotFoundError
from lightmem.stores.postgres.codec import (
    Row,
    dump_list,
    from_vector_send,
    in_scope,
    naive_utc,
    row_to_entry,
    row_to_history,
    scope_where,
)
from lightmem.stores.postgres.turns import check_new_ids, rows_by_id
from lightmem.types import Entry, EntryStatus, HistoryEvent, HistoryRecord, Scope

Cursor = Any  # psycopg.Cursor[dict[str, Any]]

ENTRY_FIELDS = (
    "pk, id, user_id, agent_id, run_id, text, timestamp, speakers, topic_id, keywords, "
    "sources, origin, status, version, created_at, updated_at"
)
HISTORY_FIELDS = "id, entry_id, event, old_text, new_text, reason, actor, created_at"


def insert_entries(
    cur: Cursor, entries: list[Entry], vectors: list[str], *, actor: str, now: datetime
) -> None:
    """New active entries, each with a history ADD, queued for consolidation."""
    if not entries:
        return
    ids = [e.id for e in entries]
    check_new_ids(cur, "entries", "entry", ids)
    cur.executemany(
        """INSERT INTO entries (id, user_id, agent_id, run_id, text, timestamp, speakers,
            topic_id, keywords, sources, origin, status, version, created_at, updated_at,
            vector)
           VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::jsonb, %s::jsonb, %s, 'active',
            1, %s, %s, %s::vector)""",
        [
            (
                e.id, e.scope.user_id, e.scope.agent_id, e.scope.run_id, e.text,
                naive_utc(e.timestamp), dump_list(e.speakers), e.topic_id,
                dump_list(e.keywords), dump_list(e.sources), e.origin, now, now, vector,
            )
            for e, vector in zip(entries, vectors, strict=True)
        ],
    )  # fmt: skip
    cur.execute(
        """INSERT INTO consolidation_queue (entry_pk)
           SELECT pk FROM entries WHERE id = ANY(%s) ORDER BY pk""",
        (ids,),
    )
    cur.executemany(
        """INSERT INTO history (entry_id, event, old_text, new_text, reason, actor, created_at)
           VALUES (%s, %s, NULL, %s, NULL, %s, %s)""",
        [(e.id, HistoryEvent.ADD.value, e.text, actor, now) for e in entries],
    )


def add_history(
    cur: Cursor,
    entry_id: str,
    event: HistoryEvent,
    old_text: str | None,
    new_text: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    cur.execute(
        """INSERT INTO history (entry_id, event, old_text, new_text, reason, actor, created_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s)""",
        (entry_id, event.value, old_text, new_text, reason, actor, now),
    )


def entry_row(cur: Cursor, entry_id: str, *, lock: bool = False) -> Row | None:
    sql = f"SELECT {ENTRY_FIELDS} FROM entries WHERE id = %s"
    row: Row | None = cur.execute(sql + (" FOR UPDATE" if lock else ""), (entry_id,)).fetchone()
    return row


def active_row(cur: Cursor, entry_id: str, what: str) -> Row:
    """The entry's row, locked; it must exist and be active."""
    row = entry_row(cur, entry_id, lock=True)
    if row is None:
        raise NotFoundError(f"{what}: no memory entry with id {entry_id!r}")
    if row["status"] != EntryStatus.ACTIVE.value:
        raise NotFoundError(f"{what}: memory entry {entry_id!r} is deleted")
    return row


def get_entry(cur: Cursor, entry_id: str, scope: Scope | None) -> Entry:
    row = entry_row(cur, entry_id)
    if row is None or (scope is not None and not in_scope(row, scope)):
        # The same message either way: another scope's ids are not disclosed.
        raise NotFoundError(f"no memory entry with id {entry_id!r}")
    return row_to_entry(row)


def get_entries(cur: Cursor, ids: list[str]) -> list[Entry]:
    rows = rows_by_id(cur, "entries", ids, ENTRY_FIELDS)
    return [row_to_entry(rows[i]) for i in ids if i in rows]


def list_entries(
    cur: Cursor, scope: Scope, include_deleted: bool, limit: int | None, offset: int
) -> list[Entry]:
    where, params = scope_where(scope)
    if not include_deleted:
        where += " AND status = 'active'"
    sql = f"SELECT {ENTRY_FIELDS} FROM entries WHERE {where} ORDER BY pk LIMIT %s OFFSET %s"
    params += [None if limit is None else max(0, limit), max(0, offset)]
    return [row_to_entry(r) for r in cur.execute(sql, params).fetchall()]


def count_entries(cur: Cursor, scope: Scope | None, include_deleted: bool) -> int:
    clauses: list[str] = []
    params: list[Any] = []
    if scope is not None:
        where, params = scope_where(scope)
        clauses.append(where)
    if not include_deleted:
        clauses.append("status = 'active'")
    sql = "SELECT count(*) AS n FROM entries"
    sql += " WHERE " + " AND ".join(clauses) if clauses else ""
    return int(cur.execute(sql, params).fetchone()["n"])


def update_entry(
    cur: Cursor,
    entry_id: str,
    text: str,
    vector: str,
    *,
    reason: str | None,
    actor: str,
    sources: list[str] | None,
    now: datetime,
) -> Entry:
    row = active_row(cur, entry_id, "update")
    updated = cur.execute(
        f"""UPDATE entries SET text = %s, vector = %s::vector,
            sources = COALESCE(%s::jsonb, sources), version = version + 1, updated_at = %s
            WHERE id = %s RETURNING {ENTRY_FIELDS}""",
        (text, vector, None if sources is None else dump_list(sources), now, entry_id),
    ).fetchone()
    add_history(cur, entry_id, HistoryEvent.UPDATE, row["text"], text, reason, actor, now)
    return row_to_entry(updated)


def tombstone(
    cur: Cursor,
    row: Row,
    event: HistoryEvent,
    *,
    new_text: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    cur.execute(
        "UPDATE entries SET status = 'deleted', updated_at = %s WHERE id = %s", (now, row["id"])
    )
    add_history(cur, row["id"], event, row["text"], new_text, reason, actor, now)


def delete_entry(
    cur: Cursor, entry_id: str, *, reason: str | None, actor: str, now: datetime
) -> None:
    row = entry_row(cur, entry_id, lock=True)
    if row is None:
        raise NotFoundError(f"delete: no memory entry with id {entry_id!r}")
    if row["status"] == EntryStatus.DELETED.value:
        return  # already a tombstone: deleting twice changes nothing
    tombstone(cur, row, HistoryEvent.DELETE, new_text=None, reason=reason, actor=actor, now=now)


def history(cur: Cursor, entry_id: str) -> list[HistoryRecord]:
    sql = f"SELECT {HISTORY_FIELDS} FROM history WHERE entry_id = %s ORDER BY id"
    return [row_to_history(r) for r in cur.execute(sql, (entry_id,)).fetchall()]


def entry_vectors(cur: Cursor, ids: list[str]) -> dict[str, Any]:
    rows = rows_by_id(cur, "entries", ids, "id, vector_send(vector) AS vector")
    return {i: from_vector_send(r["vector"]) for i, r in rows.items() if r["vector"] is not None}


def delete_all(cur: Cursor, scope: Scope) -> int:
    """Purge a scope. History, consolidation pairs and queue rows go with their entries
    (foreign keys). Returns the number of entries removed."""
    where, params = scope_where(scope)
    removed = cur.execute(f"DELETE FROM entries WHERE {where}", params).rowcount
    cur.execute(f"DELETE FROM turns WHERE {where}", params)
    if scope.run_id is None:
        cur.execute(f"DELETE FROM batches WHERE {where}", params)
    else:
        # The run's batches, and any batch of the owner whose turns were all in that run.
        owner_where, owner_params = scope_where(scope.owner, "b")
        cur.execute(
            f"""DELETE FROM batches b WHERE {owner_where} AND (b.run_id = %s OR (
                    jsonb_array_length(b.turn_ids) > 0 AND NOT EXISTS (
                        SELECT 1 FROM turns t
                        WHERE t.id IN (SELECT jsonb_array_elements_text(b.turn_ids)))))""",
            [*owner_params, scope.run_id],
        )
    return int(removed)
