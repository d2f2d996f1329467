"""Store side of sleep-time consolidation: the queue, claims on it, decided pairs, and
decisions applied atomically with their pairs, so a re-run never applies a decision twice.

The queue is the ``consolidation_queue`` table (one row per entry not yet consolidated).
Workers on many machines share it through claims: :func:`claim` takes the oldest unclaimed
rows with ``FOR UPDATE SKIP LOCKED`` and stamps them with the worker and an expiry, so two
workers never get the same entry, and a dead worker's entries come back once its claims
expire. The expiry is computed by the database clock, the one clock all machines share.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lightmem.errors import NotFoundError, StorageError
from lightmem.stores.base import Decision
from lightmem.stores.postgres.codec import Row, dump_list, scope_where
from lightmem.stores.postgres.entries import ENTRY_FIELDS, add_history, tombstone
from lightmem.stores.sqlite.consolidation import check_decision
from lightmem.types import EntryStatus, HistoryEvent, Scope

Cursor = Any  # psycopg.Cursor[dict[str, Any]]

ACTOR = "consolidation"
NOW = "(now() AT TIME ZONE 'utc')"


def consolidation_queue(cur: Cursor, scope: Scope | None, limit: int | None) -> list[str]:
    where = "e.status = 'active'"
    params: list[Any] = []
    if scope is not None:
        sw, params = scope_where(scope, "e")
        where += f" AND {sw}"
    sql = f"""SELECT e.id FROM consolidation_queue q JOIN entries e ON e.pk = q.entry_pk
              WHERE {where} ORDER BY q.entry_pk LIMIT %s"""
    params.append(None if limit is None else max(0, limit))
    return [r["id"] for r in cur.execute(sql, params).fetchall()]


def claim(
    cur: Cursor, worker_id: str, limit: int, scope: Scope | None, ttl_seconds: int
) -> list[str]:
    """Claim up to ``limit`` queued active entries, oldest first, for ``worker_id``: those
    unclaimed or whose claim expired. Entries this worker already holds are not handed out
    again, so entries it leaves unconsolidated (a failed decision) come back only when
    their claim expires: a retry after ``ttl_seconds``, not at once."""
    where = "e.status = 'active'"
    params: list[Any] = []
    if scope is not None:
        sw, params = scope_where(scope, "e")
        where += f" AND {sw}"
    rows = cur.execute(
        f"""WITH free AS (
                SELECT q.entry_pk FROM consolidation_queue q
                JOIN entries e ON e.pk = q.entry_pk
                WHERE {where} AND (q.worker_id IS NULL OR q.claimed_until <= {NOW})
                ORDER BY q.entry_pk LIMIT %s
                FOR UPDATE OF q SKIP LOCKED)
            UPDATE consolidation_queue q
            SET worker_id = %s, claimed_until = {NOW} + %s
            FROM free, entries e
            WHERE q.entry_pk = free.entry_pk AND e.pk = q.entry_pk
            RETURNING q.entry_pk, e.id""",
        [*params, max(0, limit), worker_id, timedelta(seconds=ttl_seconds)],
    ).fetchall()
    return [r["id"] for r in sorted(rows, key=lambda r: r["entry_pk"])]


def release(cur: Cursor, worker_id: str, entry_ids: list[str] | None) -> int:
    """Give back ``worker_id``'s claims (on ``entry_ids``, or all of them): the entries stay
    queued and any worker may claim them at once. Returns how many were released."""
    sql = "UPDATE consolidation_queue SET worker_id = NULL, claimed_until = NULL "
    sql += "WHERE worker_id = %s"
    params: list[Any] = [worker_id]
    if entry_ids is not None:
        sql += " AND entry_pk IN (SELECT pk FROM entries WHERE id = ANY(%s))"
        params.append(list(dict.fromkeys(entry_ids)))
    return int(cur.execute(sql, params).rowcount)


def pairs_done(cur: Cursor, target_id: str, source_ids: list[str]) -> set[str]:
    rows = cur.execute(
        """SELECT source_id FROM consolidation_pairs
           WHERE target_id = %s AND source_id = ANY(%s)""",
        (target_id, list(dict.fromkeys(source_ids))),
    ).fetchall()
    return {r["source_id"] for r in rows}


def mark_consolidated(cur: Cursor, entry_ids: list[str]) -> None:
    """Take the entries off the queue; their claims go with their queue rows."""
    cur.execute(
        """DELETE FROM consolidation_queue
           WHERE entry_pk IN (SELECT pk FROM entries WHERE id = ANY(%s))""",
        (list(dict.fromkeys(entry_ids)),),
    )


def apply_decision(
    cur: Cursor,
    target_id: str,
    source_ids: list[str],
    decision: Decision,
    *,
    new_text: str | None,
    vector: str | None,
    reason: str | None,
    now: datetime,
) -> bool:
    sources = list(dict.fromkeys(source_ids))
    # check_decision only asks whether a vector was given, not what it holds.
    check_decision(target_id, sources, decision, new_text, None if vector is None else b"")
    # Lock the target and its sources (in id order) before reading the pairs: a concurrent
    # decision on the same entries waits here, then sees this one's pairs.
    locked = cur.execute(
        f"""SELECT {ENTRY_FIELDS} FROM entries WHERE id = ANY(%s)
            ORDER BY id COLLATE "C" FOR UPDATE""",
        ([target_id, *sources],),
    ).fetchall()
    rows: dict[str, Row] = {r["id"]: r for r in locked}
    if pairs_done(cur, target_id, sources):
        return False
    target = rows.get(target_id)
    if target is None:
        raise NotFoundError(f"apply_decision: no memory entry with id {target_id!r}")
    missing = [s for s in sources if s not in rows]
    if missing:
        raise NotFoundError(f"apply_decision: no memory entry with id(s) {', '.join(missing)}")
    owner = (target["user_id"], target["agent_id"])
    foreign = [s for s in sources if (rows[s]["user_id"], rows[s]["agent_id"]) != owner]
    if foreign:
        raise StorageError(
            f"apply_decision: source(s) {', '.join(foreign)} belong to another scope than "
            f"target {target_id!r}"
        )
    cur.executemany(
        "INSERT INTO consolidation_pairs (target_id, source_id) VALUES (%s, %s)",
        [(target_id, s) for s in sources],
    )
    if target["status"] != EntryStatus.ACTIVE.value:
        return True  # decided against an entry that is gone: only the pairs are recorded
    if decision == "update":
        assert new_text is not None
        cur.execute(
            """UPDATE entries SET text = %s, vector = %s::vector, version = version + 1,
                updated_at = %s WHERE id = %s""",
            (new_text, vector, now, target_id),
        )
        add_history(
            cur, target_id, HistoryEvent.UPDATE, target["text"], new_text, reason, ACTOR, now
        )
    elif decision == "delete":
        tombstone(
            cur, target, HistoryEvent.DELETE, new_text=None, reason=reason, actor=ACTOR, now=now
        )
    elif decision == "merge":
        _merge(cur, target, [rows[s] for s in sources], reason=reason, now=now)
    return True


def _merge(
    cur: Cursor, target: Row, sources: list[Row], *, reason: str | None, now: datetime
) -> None:
    """Tombstone the target and hand its source turns to the first *active* source entry
    (an earlier decision may have retired the first one). With no active source left the
    target stays as it is: retiring it would lose its fact."""
    receiver = next((r for r in sources if r["status"] == EntryStatus.ACTIVE.value), None)
    if receiver is None:
        return
    merged = list(dict.fromkeys([*receiver["sources"], *target["sources"]]))
    cur.execute(
        "UPDATE entries SET sources = %s::jsonb, updated_at = %s WHERE id = %s",
        (dump_list(merged), now, receiver["id"]),
    )
    tombstone(
        cur,
        target,
        HistoryEvent.MERGE,
        new_text=receiver["text"],
        reason=reason if reason is not None else f"merged into {receiver['id']}",
        actor=ACTOR,
        now=now,
    )
