"""Claims (leases) on the work queues, so worker processes on many machines share them.

* the consolidation queue is the ``consolidation_queue`` table (one row per entry not yet
  consolidated): :func:`claim` takes the oldest unclaimed rows;
* extraction batches (``batches`` rows pending, or failed with attempts left):
  :func:`claim_batches` takes the oldest unclaimed ones (migration 7's columns).

Both take rows with ``FOR UPDATE SKIP LOCKED`` and stamp them with the worker and an expiry,
so two workers never get the same row, and a dead worker's rows come back once its claims
expire. A live worker renews the claims on the rows it is working on (:func:`renew`), so a
call slower than the lease is not paid twice. The expiry is computed by the database clock,
the one clock all machines share. A claim only saves work: what a worker does with a claimed
row is applied in transactions that check the row's state (a batch completes once, a
decision's pairs are recorded once).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lightmem.stores.sql.codec import BATCH_FIELDS, row_to_batch, scope_where
from lightmem.stores.sql.dialect import Conn
from lightmem.types import Batch, Scope

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


def claim_batches(
    cur: Conn, worker_id: str, limit: int, max_attempts: int, ttl_seconds: int
) -> list[Batch]:
    """Claim up to ``limit`` extraction batches, oldest first, for ``worker_id``: pending
    ones, and failed ones with fewer than ``max_attempts`` attempts, that are unclaimed or
    whose claim expired. A batch that fails stays claimed by its worker, so it is retried
    (by any worker) once the claim expires: a back-off of ``ttl_seconds``."""
    rows = cur.execute(
        f"""WITH free AS (
                SELECT pk FROM batches
                WHERE (status = 'pending' OR (status = 'failed' AND attempts < ?))
                  AND (worker_id IS NULL OR claimed_until <= {NOW})
                ORDER BY pk LIMIT ?
                FOR UPDATE SKIP LOCKED)
            UPDATE batches b SET worker_id = ?, claimed_until = {NOW} + ?
            FROM free WHERE b.pk = free.pk
            RETURNING {", ".join(f"b.{f.strip()}" for f in BATCH_FIELDS.split(","))}""",
        [max_attempts, max(0, limit), worker_id, timedelta(seconds=ttl_seconds)],
    ).fetchall()
    return [row_to_batch(r) for r in sorted(rows, key=lambda r: r["pk"])]


def release_batches(cur: Conn, worker_id: str) -> int:
    """Give back ``worker_id``'s claims on batches not done yet (a worker stopping)."""
    return int(
        cur.execute(
            """UPDATE batches SET worker_id = NULL, claimed_until = NULL
               WHERE worker_id = ? AND status <> 'done'""",
            [worker_id],
        ).rowcount
    )


def renew(
    cur: Conn, worker_id: str, batch_ids: list[str], entry_ids: list[str], ttl_seconds: int
) -> tuple[int, int]:
    """Extend ``worker_id``'s claims on the batches and queued entries it is working on to
    ``ttl_seconds`` from now (a heartbeat, so a slow LLM call keeps its lease). A claim
    another worker took over after it expired stays with that worker. Returns how many
    batch and entry claims were renewed."""
    until = timedelta(seconds=ttl_seconds)
    batches = entries = 0
    if batch_ids:
        batches = cur.execute(
            f"""UPDATE batches SET claimed_until = {NOW} + ?
                WHERE worker_id = ? AND status <> 'done' AND id = ANY(?)""",
            [until, worker_id, list(dict.fromkeys(batch_ids))],
        ).rowcount
    if entry_ids:
        entries = cur.execute(
            f"""UPDATE consolidation_queue SET claimed_until = {NOW} + ?
                WHERE worker_id = ? AND entry_pk IN (SELECT pk FROM entries WHERE id = ANY(?))""",
            [until, worker_id, list(dict.fromkeys(entry_ids))],
        ).rowcount
    return int(batches), int(entries)
