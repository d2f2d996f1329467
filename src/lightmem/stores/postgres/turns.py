"""Turns and extraction batches: the durable sensory and short-term state.

Functions take a cursor inside a transaction opened by the caller (see ``db.py``). Checks
that guard a state transition read the rows ``FOR UPDATE`` (in id order, so concurrent
transitions queue rather than deadlock): two workers cannot both move the same turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from lightmem.errors import ConflictError, NotFoundError, StorageError
from lightmem.stores.postgres.codec import (
    Row,
    dump_list,
    from_vector_send,
    in_scope,
    naive_utc,
    row_to_batch,
    row_to_turn,
    scope_where,
)
from lightmem.types import Batch, Scope, Turn, TurnStage

Cursor = Any  # psycopg.Cursor[dict[str, Any]]

TURN_FIELDS = (
    "seq, id, user_id, agent_id, run_id, session_id, role, speaker, content, compressed, "
    "tokens, timestamp, ref, stage, segment_id, batch_id, created_at"
)


def rows_by_id(
    cur: Cursor, table: str, ids: list[str], columns: str = "*", *, lock: bool = False
) -> dict[str, Row]:
    """Rows of ``table`` by id; with ``lock``, locked ``FOR UPDATE`` in id order."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return {}
    sql = f"SELECT {columns} FROM {table} WHERE id = ANY(%s)"
    if lock:
        sql += ' ORDER BY id COLLATE "C" FOR UPDATE'
    return {row["id"]: row for row in cur.execute(sql, (unique,)).fetchall()}


def existing_ids(cur: Cursor, table: str, ids: list[str]) -> list[str]:
    found = rows_by_id(cur, table, ids, "id")
    return [i for i in ids if i in found]


def check_new_ids(cur: Cursor, table: str, kind: str, ids: list[str]) -> None:
    """Refuse ids that repeat or already exist: a :class:`StorageError` naming them."""
    dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dupes:
        raise StorageError(f"{kind} id(s) given twice: {', '.join(dupes[:10])}")
    taken = existing_ids(cur, table, ids)
    if taken:
        raise StorageError(f"{kind} id(s) already exist: {', '.join(taken[:10])}")


def returned(cur: Cursor, key: str) -> list[Any]:
    """The ``key`` column of every row returned by ``executemany(..., returning=True)``."""
    out: list[Any] = []
    while True:
        row = cur.fetchone()
        if row is not None:
            out.append(row[key])
        if not cur.nextset():
            return out


# -- turns -------------------------------------------------------------------------------


def add_turns(cur: Cursor, turns: list[Turn], now: datetime) -> list[Turn]:
    if not turns:
        return []
    check_new_ids(cur, "turns", "turn", [t.id for t in turns])
    cur.executemany(
        """INSERT INTO turns (id, user_id, agent_id, run_id, session_id, role, speaker,
            content, compressed, tokens, timestamp, ref, stage, created_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq""",
        [
            (
                t.id, t.scope.user_id, t.scope.agent_id, t.scope.run_id, t.session_id, t.role,
                t.speaker, t.content, t.compressed, t.tokens, naive_utc(t.timestamp), t.ref,
                TurnStage.SENSORY.value, now,
            )
            for t in turns
        ],
        returning=True,
    )  # fmt: skip
    seqs = returned(cur, "seq")
    return [
        replace(t, seq=seq, created_at=now, stage=TurnStage.SENSORY, segment_id=None, batch_id=None)
        for t, seq in zip(turns, seqs, strict=True)
    ]


def get_turns(cur: Cursor, ids: list[str]) -> list[Turn]:
    rows = rows_by_id(cur, "turns", ids, TURN_FIELDS)
    return [row_to_turn(rows[i]) for i in ids if i in rows]


def list_turns(
    cur: Cursor,
    scope: Scope,
    session_id: str | None,
    stage: TurnStage | None,
    limit: int | None,
) -> list[Turn]:
    where, params = scope_where(scope)
    if session_id is not None:
        where += " AND session_id = %s"
        params.append(session_id)
    if stage is not None:
        where += " AND stage = %s"
        params.append(TurnStage(stage).value)
    sql = f"SELECT {TURN_FIELDS} FROM turns WHERE {where} ORDER BY seq"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(max(0, limit))
    return [row_to_turn(r) for r in cur.execute(sql, params).fetchall()]


def set_turn_views(
    cur: Cursor, views: list[tuple[str, str, int]], vectors: list[str] | None
) -> None:
    found = rows_by_id(cur, "turns", [v[0] for v in views], "id")
    missing = [v[0] for v in views if v[0] not in found]
    if missing:
        raise NotFoundError(f"no turn with id {missing[0]!r}")
    cur.executemany(
        """UPDATE turns SET compressed = %s, tokens = %s,
            vector = COALESCE(%s::vector, vector) WHERE id = %s""",
        [
            (text, tokens, vectors[i] if vectors is not None else None, turn_id)
            for i, (turn_id, text, tokens) in enumerate(views)
        ],
    )


def turn_vectors(cur: Cursor, ids: list[str]) -> dict[str, Any]:
    rows = rows_by_id(cur, "turns", ids, "id, vector_send(vector) AS vector")
    return {i: from_vector_send(r["vector"]) for i, r in rows.items() if r["vector"] is not None}


def _require_turns(
    cur: Cursor, ids: list[str], stages: Iterable[TurnStage], what: str
) -> dict[str, Row]:
    """The turns' rows, locked; every id must exist and be in one of ``stages``."""
    rows = rows_by_id(cur, "turns", ids, "id, user_id, agent_id, run_id, stage", lock=True)
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


def assign_segments(cur: Cursor, segments: list[tuple[str, list[str]]]) -> None:
    ids = [tid for _, tids in segments for tid in tids]
    if len(set(ids)) != len(ids):
        raise StorageError("assign_segments: a turn is listed in more than one segment")
    _require_turns(cur, ids, [TurnStage.SENSORY], "assign_segments")
    cur.executemany(
        "UPDATE turns SET stage = %s, segment_id = %s WHERE id = %s",
        [(TurnStage.SHORT_TERM.value, seg, tid) for seg, tids in segments for tid in tids],
    )


# -- batches -----------------------------------------------------------------------------

BATCH_FIELDS = (
    "pk, id, user_id, agent_id, run_id, turn_ids, status, attempts, last_error, raw_reply, "
    "created_at"
)


def create_batch(cur: Cursor, batch: Batch, now: datetime) -> None:
    check_new_ids(cur, "batches", "batch", [batch.id])
    if len(set(batch.turn_ids)) != len(batch.turn_ids):
        raise StorageError(f"create_batch {batch.id!r}: a turn is listed twice")
    rows = _require_turns(
        cur, batch.turn_ids, [TurnStage.SENSORY, TurnStage.SHORT_TERM], "create_batch"
    )
    owner = batch.scope.owner
    foreign = [i for i in batch.turn_ids if not in_scope(rows[i], owner)]
    if foreign:
        raise StorageError(
            f"create_batch {batch.id!r}: turn(s) of another scope: {', '.join(foreign[:10])}"
        )
    cur.execute(
        """INSERT INTO batches (id, user_id, agent_id, run_id, turn_ids, status, attempts,
            created_at) VALUES (%s, %s, %s, %s, %s::jsonb, 'pending', %s, %s)""",
        (
            batch.id, batch.scope.user_id, batch.scope.agent_id, batch.scope.run_id,
            dump_list(batch.turn_ids), batch.attempts, naive_utc(batch.created_at) or now,
        ),
    )  # fmt: skip
    cur.execute(
        "UPDATE turns SET stage = %s, batch_id = %s WHERE id = ANY(%s)",
        (TurnStage.BATCHED.value, batch.id, list(batch.turn_ids)),
    )


def list_batches(cur: Cursor, scope: Scope | None, statuses: Iterable[str]) -> list[Batch]:
    wanted = list(dict.fromkeys(statuses))
    if not wanted:
        return []
    where = "status = ANY(%s)"
    params: list[Any] = [wanted]
    if scope is not None:
        sw, sp = scope_where(scope)
        where += f" AND {sw}"
        params += sp
    sql = f"SELECT {BATCH_FIELDS} FROM batches WHERE {where} ORDER BY pk"
    return [row_to_batch(r) for r in cur.execute(sql, params).fetchall()]


def open_batch(cur: Cursor, batch_id: str, what: str) -> Batch:
    """The batch, locked; it must exist and not be done yet."""
    row = cur.execute(
        f"SELECT {BATCH_FIELDS} FROM batches WHERE id = %s FOR UPDATE", (batch_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"{what}: no batch with id {batch_id!r}")
    if row["status"] == "done":
        raise ConflictError(f"{what}: batch {batch_id!r} is already done")
    return row_to_batch(row)


def finish_batch(cur: Cursor, batch: Batch) -> None:
    cur.execute(
        "UPDATE turns SET stage = %s WHERE id = ANY(%s) AND batch_id = %s",
        (TurnStage.EXTRACTED.value, list(batch.turn_ids), batch.id),
    )
    cur.execute("UPDATE batches SET status = 'done' WHERE id = %s", (batch.id,))


def fail_batch(cur: Cursor, batch_id: str, error: str, raw_reply: str | None) -> None:
    open_batch(cur, batch_id, "fail_batch")
    cur.execute(
        """UPDATE batches SET status = 'failed', last_error = %s,
            raw_reply = COALESCE(%s, raw_reply),
            attempts = attempts + 1 WHERE id = %s""",
        (error, raw_reply, batch_id),
    )
