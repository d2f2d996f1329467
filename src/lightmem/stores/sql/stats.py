"""Counters: LLM usage by stage, batch and buffer counts, and the owners in the store."""

from __future__ import annotations

from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.types import Scope, StageUsage, TurnStage, Usage


def read_usage(c: Conn, d: Dialect) -> Usage:
    usage = Usage()
    rows = c.execute(
        f"""SELECT stage, count(*) AS calls, sum(CASE WHEN ok THEN 0 ELSE 1 END) AS failed,
                   sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
                   sum(seconds) AS seconds
            FROM llm_calls GROUP BY stage ORDER BY stage{d.bytewise}"""
    ).fetchall()
    for r in rows:
        usage.stages[r["stage"]] = StageUsage(
            calls=int(r["calls"]),
            failed_calls=int(r["failed"] or 0),
            tokens_in=int(r["tokens_in"] or 0),
            tokens_out=int(r["tokens_out"] or 0),
            seconds=float(r["seconds"] or 0.0),
        )
    for r in c.execute("SELECT status, count(*) AS n FROM batches GROUP BY status").fetchall():
        if r["status"] == "failed":
            usage.failed_batches = int(r["n"])
        elif r["status"] == "pending":
            usage.pending_batches = int(r["n"])
    buffered = [TurnStage.SENSORY.value, TurnStage.SHORT_TERM.value]
    for where, params in d.any_of("stage", buffered):
        sql = f"SELECT count(*) AS n FROM turns WHERE {where}"
        usage.buffered_turns += int(c.execute(sql, params).fetchone()["n"])
    return usage


def read_scopes(c: Conn, d: Dialect) -> list[Scope]:
    """Owners in byte order, no owner id (NULL) first."""
    rows = c.execute(
        f"""SELECT user_id, agent_id FROM (
               SELECT user_id, agent_id FROM turns UNION SELECT user_id, agent_id FROM entries
           ) AS owners
           ORDER BY user_id{d.bytewise} NULLS FIRST, agent_id{d.bytewise} NULLS FIRST"""
    ).fetchall()
    return [Scope(r["user_id"], r["agent_id"]) for r in rows]
