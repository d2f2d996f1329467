"""Turns and extraction batches: the durable sensory and short-term state.

Functions take a connection inside a transaction opened by the caller (see ``db.py``).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from lightmem.errors import ConflictError, NotFoundError, StorageError
from lightmem.stores.sqlite.codec import (
    dump_list,
    from_blob,
    in_scope,
    placeholders,
    row_to_batch,
    row_to_turn,
    scope_where,
    to_iso,
)
from lightmem.types import Batch, Scope, Turn, TurnStage

T = TypeVar("T")

#: Ids per ``IN (...)`` query, well under SQLite's bound-parameter limit.
CHUNK = 500


def chunks(items: list[T], size: int = CHUNK) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def rows_by_id(
    conn: sqlite3.Connection, table: str, ids: list[str], columns: str = "*"
) -> dict[str, sqlite3.Row]:
    out: dict[str, sqlite3.Row] = {}
    for part in chunks(list(dict.fromkeys(ids))):
        sql = f"SELECT {columns} FROM {table} WHERE id IN ({placeholders(len(part))})"
        for row in conn.execute(sql, part):
            out[row["id"]] = row
    return out


def existing_ids(conn: sqlite3.Connection, table: str, ids: list[str]) -> list[str]:
    found = rows_by_id(conn, table, ids, "id")
    return [i for i in ids if i in found]


def check_new_ids(conn: sqlite3.Connection, table: str, kind: str, ids: list[str]) -> None:
    """Refuse ids that repeat or already exist: a :class:`StorageError` naming them."""
    dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dupes:
        raise StorageError(f"{kind} id(s) given twice: {', '.join(dupes[:10])}")
    taken = existing_ids(conn, table, ids)
    if taken:
        raise StorageError(f"{kind} id(s) already exist: {', '.join(taken[:10])}")


# -- turns -------------------------------------------------------------------------------


def add_turns(conn: sqlite3.Connection, turns: list[Turn], now: datetime) -> list[Turn]:
    check_new_ids(conn, "turns", "turn", [t.id for t in turns])
    out: list[Turn] = []
    for t in turns:
        cur = conn.execute(
            """INSERT INTO turns (id, user_id, agent_id, run_id, session_id, role, speaker,
                content, compressed, tokens, timestamp, ref, stage, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                t.id, t.scope.user_id, t.scope.agent_id, t.scope.run_id, t.session_id, t.role,
                t.speaker, t.content, t.compressed, t.tokens, to_iso(t.timestamp), t.ref,
                TurnStage.SENSORY.value, to_iso(now),
            ),
        )  # fmt: skip
        seq = cur.lastrowid
        assert seq is not None
        out.append(
            replace(
                t, seq=seq, created_at=now, stage=TurnStage.SENSORY, segment_id=None, batch_id=None
            )
        )
    return out


def get_turns(conn: sqlite3.Connection, ids: list[str]) -> list[Turn]:
    rows = rows_by_id(conn, "turns", ids)
    return [row_to_turn(rows[i]) for i in ids if i in rows]


def list_turns(
    conn: sqlite3.Connection,
    scope: Scope,
    session_id: str | None,
    stage: TurnStage | None,
    limit: int | None,
) -> list[Turn]:
    where, params = scope_where(scope)
    if session_id is not None:
        where += " AND session_id = ?"
        params.append(session_id)
    if stage is not None:
        where += " AND stage = ?"
        params.append(TurnStage(stage).value)
    sql = f"SELECT * FROM turns WHERE {where} ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(max(0, limit))
    return [row_to_turn(r) for r in conn.execute(sql, params)]


def set_turn_views(
    conn: sqlite3.Connection, views: list[tuple[str, str, int]], blobs: list[bytes] | None
) -> None:
    for i, (turn_id, text, tokens) in enumerate(views):
        blob = blobs[i] if blobs is not None else None
        cur = conn.execute(
            """UPDATE turns SET compressed = ?, tokens = ?, vector = COALESCE(?, vector)
               WHERE id = ?""",
            (text, tokens, blob, turn_id),
        )
        if cur.rowcount == 0:
            raise NotFoundError(f"no turn with id {turn_id!r}")


def turn_vectors(conn: sqlite3.Connection, ids: list[str]) -> dict[str, Any]:
    rows = rows_by_id(conn, "turns", ids, "id, vector")
    return {i: from_blob(r["vector"]) for i, r in rows.items() if r["vector"] is not None}


def _require_turns(
    conn: sqlite3.Connection, ids: list[str], stages: Iterable[TurnStage], what: str
) -> dict[str, sqlite3.Row]:
    """The turns' rows; every id must exist and be in one of ``stages``."""
    rows = rows_by_id(conn, "turns", ids, "id, user_id, agent_id, run_id, stage")
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFoundError(f"{what}: no turn with id(s) {', '.join(missing[:10])}")
    allowed = {s.value for s in stages}
    wrong = [f"{i} ({rows[i]['stage']})" for i in ids if rows[i]["stage"] not in allowed]
    if wrong:
        raise ConflictError(
            f"{what}: turn(s) not in stage {'/'.join(sorted(allowed))}: {', '.join(wrong[:10])}"
        )
    return rows


def assign_segments(conn: sqlite3.Connection, segments: list[tuple[str, list[str]]]) -> None:
    ids = [tid for _, tids in segments for tid in tids]
    if len(set(ids)) != len(ids):
        raise StorageError("assign_segments: a turn is listed in more than one segment")
    _require_turns(conn, ids, [TurnStage.SENSORY], "assign_segments")
    conn.executemany(
        "UPDATE turns SET stage = ?, segment_id = ? WHERE id = ?",
        [(TurnStage.SHORT_TERM.value, seg, tid) for seg, tids in segments for tid in tids],
    )


# -- batches -----------------------------------------------------------------------------


def create_batch(conn: sqlite3.Connection, batch: Batch, now: datetime) -> None:
    check_new_ids(conn, "batches", "batch", [batch.id])
    if len(set(batch.turn_ids)) != len(batch.turn_ids):
        raise StorageError(f"create_batch {batch.id!r}: a turn is listed twice")
    rows = _require_turns(
        conn, batch.turn_ids, [TurnStage.SENSORY, TurnStage.SHORT_TERM], "create_batch"
    )
    owner = batch.scope.owner
    foreign = [i for i in batch.turn_ids if not in_scope(rows[i], owner)]
    if foreign:
        raise StorageError(
            f"create_batch {batch.id!r}: turn(s) of another scope: {', '.join(foreign[:10])}"
        )
    conn.execute(
        """INSERT INTO batches (id, user_id, agent_id, run_id, turn_ids, status, attempts,
            created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)""",
        (
            batch.id, batch.scope.user_id, batch.scope.agent_id, batch.scope.run_id,
            dump_list(batch.turn_ids), batch.attempts, to_iso(batch.created_at or now),
        ),
    )  # fmt: skip
    conn.executemany(
        "UPDATE turns SET stage = ?, batch_id = ? WHERE id = ?",
        [(TurnStage.BATCHED.value, batch.id, tid) for tid in batch.turn_ids],
    )


def list_batches(
    conn: sqlite3.Connection, scope: Scope | None, statuses: Iterable[str]
) -> list[Batch]:
    wanted = list(dict.fromkeys(statuses))
    if not wanted:
        return []
    where = f"status IN ({placeholders(len(wanted))})"
    params: list[Any] = list(wanted)
    if scope is not None:
        sw, sp = scope_where(scope)
        where += f" AND {sw}"
        params += sp
    return [
        row_to_batch(r)
        for r in conn.execute(f"SELECT * FROM batches WHERE {where} ORDER BY pk", params)
    ]


def open_batch(conn: sqlite3.Connection, batch_id: str, what: str) -> Batch:
    """The batch, which must exist and not be done yet."""
    row = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"{what}: no batch with id {batch_id!r}")
    if row["status"] == "done":
        raise ConflictError(f"{what}: batch {batch_id!r} is already done")
    return row_to_batch(row)


def finish_batch(conn: sqlite3.Connection, batch: Batch) -> None:
    conn.executemany(
        "UPDATE turns SET stage = ? WHERE id = ? AND batch_id = ?",
        [(TurnStage.EXTRACTED.value, tid, batch.id) for tid in batch.turn_ids],
    )
    conn.execute("UPDATE batches SET status = 'done' WHERE id = ?", (batch.id,))


def fail_batch(conn: sqlite3.Connection, batch_id: str, error: str, raw_reply: str | None) -> None:
    open_batch(conn, batch_id, "fail_batch")
    conn.execute(
        """UPDATE batches SET status = 'failed', last_error = ?, raw_reply = COALESCE(?, raw_reply),
            attempts = attempts + 1 WHERE id = ?""",
        (error, raw_reply, batch_id),
    )
