"""Claims on the consolidation queue, so workers on many machines share it.

The queue is the ``consolidation_queue`` table (one row per entry not yet consolidated).
:func:`claim` takes the oldest unclaimed rows with ``FOR UPDATE SKIP LOCKED`` and stamps them
with the worker and an expiry, so two workers never get the same entry, and a dead worker's
entries come back once its claims expire. The expiry is computed by the database clock, the
one clock all machines share.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lightmem.stores.sql.codec import scope_where
from lightmem.stores.sql.dialect import Conn
from lightmem.types import Scope

NOW = "(now() AT TIME ZONE 'utc')"


def claim(
    cur: Conn, worker_id: str, limit: int, scope: Scope | None, ttl_seconds: int
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
                ORDER BY q.entry_pk LIMIT ?
                FOR UPDATE OF q SKIP LOCKED)
            UPDATE consolidation_queue q
            SET worker_id = ?, claimed_until = {NOW} + ?
            FROM free, entries e
            WHERE q.entry_pk = free.entry_pk AND e.pk = q.entry_pk
            RETURNING q.entry_pk, e.id""",
        [*params, max(0, limit), worker_id, timedelta(seconds=ttl_seconds)],
    ).fetchall()
    return [r["id"] for r in sorted(rows, key=lambda r: r["entry_pk"])]


def release(cur: Conn, worker_id: str, entry_ids: list[str] | None) -> int:
    """Give back ``worker_id``'s claims (on ``entry_ids``, or all of them): the entries stay
    queued and any worker may claim them at once. Returns how many were released."""
    sql = "UPDATE consolidation_queue SET worker_id = NULL, claimed_until = NULL "
    sql += "WHERE worker_id = ?"
    params: list[Any] = [worker_id]
    if entry_ids is not None:
        sql += " AND entry_pk IN (SELECT pk FROM entries WHERE id = ANY(?))"
        params.append(list(dict.fromkeys(entry_ids)))
    return int(cur.execute(sql, params).rowcount)
