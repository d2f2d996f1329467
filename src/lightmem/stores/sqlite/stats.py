"""Counters: LLM usage by stage, batch and buffer counts, and the owners in the store."""

from __future__ import annotations

import sqlite3

from lightmem.types import Scope, StageUsage, TurnStage, Usage


def read_usage(conn: sqlite3.Connection) -> Usage:
    usage = Usage()
    rows = conn.execute(
        """SELECT stage, COUNT(*), SUM(ok = 0), SUM(tokens_in), SUM(tokens_out), SUM(seconds)
           FROM llm_calls GROUP BY stage ORDER BY stage"""
    )
    for stage, calls, failed, tokens_in, tokens_out, seconds in rows:
        usage.stages[stage] = StageUsage(
            calls=int(calls),
            failed_calls=int(failed or 0),
            tokens_in=int(tokens_in or 0),
            tokens_out=int(tokens_out or 0),
            seconds=float(seconds or 0.0),
        )
    for status, n in conn.execute("SELECT status, COUNT(*) FROM batches GROUP BY status"):
        if status == "failed":
            usage.failed_batches = int(n)
        elif status == "pending":
            usage.pending_batches = int(n)
    usage.buffered_turns = int(
        conn.execute(
            "SELECT COUNT(*) FROM turns WHERE stage IN (?, ?)",
            (TurnStage.SENSORY.value, TurnStage.SHORT_TERM.value),
        ).fetchone()[0]
    )
    return usage


def read_scopes(conn: sqlite3.Connection) -> list[Scope]:
    rows = conn.execute(
        """SELECT user_id, agent_id FROM turns UNION SELECT user_id, agent_id FROM entries
           ORDER BY 1, 2"""
    )
    return [Scope(user_id, agent_id) for user_id, agent_id in rows]
