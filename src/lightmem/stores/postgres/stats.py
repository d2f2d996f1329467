"""Counters: LLM usage by stage, batch and buffer counts, and the owners in the store."""

from __future__ import annotations

from typing import Any

from lightmem.types import Scope, StageUsage, TurnStage, Usage

Cursor = Any  # psycopg.Cursor[dict[str, Any]]


def read_usage(cur: Cursor) -> Usage:
    usage = Usage()
    rows = cur.execute(
        """SELECT stage, count(*) AS calls, count(*) FILTER (WHERE NOT ok) AS failed,
                  sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
                  sum(seconds) AS seconds
           FROM llm_calls GROUP BY stage ORDER BY stage COLLATE "C" """
    ).fetchall()
    for r in rows:
        usage.stages[r["stage"]] = StageUsage(
            calls=int(r["calls"]),
            failed_calls=int(r["failed"] or 0),
            tokens_in=int(r["tokens_in"] or 0),
            tokens_out=int(r["tokens_out"] or 0),
            seconds=float(r["seconds"] or 0.0),
        )
    for r in cur.execute("SELECT status, count(*) AS n FROM batches GROUP BY status").fetchall():
        if r["status"] == "failed":
            usage.failed_batches = int(r["n"])
        elif r["status"] == "pending":
            usage.pending_batches = int(r["n"])
    usage.buffered_turns = int(
        cur.execute(
            "SELECT count(*) AS n FROM turns WHERE stage = ANY(%s)",
            ([TurnStage.SENSORY.value, TurnStage.SHORT_TERM.value],),
        ).fetchone()["n"]
    )
    return usage


def read_scopes(cur: Cursor) -> list[Scope]:
    """Owners in SQLite's order: byte order, no owner id (NULL) first."""
    rows = cur.execute(
        """SELECT user_id, agent_id FROM (
               SELECT user_id, agent_id FROM turns UNION SELECT user_id, agent_id FROM entries
           ) AS owners
           ORDER BY user_id COLLATE "C" NULLS FIRST, agent_id COLLATE "C" NULLS FIRST"""
    ).fetchall()
    return [Scope(r["user_id"], r["agent_id"]) for r in rows]
