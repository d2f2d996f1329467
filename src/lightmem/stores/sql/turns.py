"""Turns and extraction batches: the durable sensory and short-term state.

Functions take a connection inside a transaction opened by the caller and the backend's
:class:`Dialect`. Checks that guard a state transition read their rows with the dialect's
row locks, so two workers cannot both move the same turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from lightmem import giveway
from lightmem.errors import ConflictError, InputError, NotFoundError, StorageError
from lightmem.stores.sql.codec import (
    BATCH_FIELDS,
    TURN_FIELDS,
    Row,
    dump_images,
    dump_list,
    in_scope,
    row_to_batch,
    row_to_turn,
    scope_where,
)
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.types import Batch, Scope, Turn, TurnStage


def rows_by_id(
    c: Conn, d: Dialect, table: str, ids: list[str], columns: str, *, lock: bool = False
) -> dict[str, Row]:
    """Rows of ``table`` by id; with ``lock``, locked for the transaction."""
    out: dict[str, Row] = {}
    for where, params in d.any_of("id", list(dict.fromkeys(ids))):
        sql = f"SELECT {columns} FROM {table} WHERE {where}" + (d.lock_by_id if lock else "")
        out.update((row["id"], row) for row in c.execute(sql, params).fetchall())
    return out


def existing_ids(c: Conn, d: Dialect, table: str, ids: list[str]) -> list[str]:
    found = rows_by_id(c, d, table, ids, "id")
    return [i for i in ids if i in found]


def check_new_ids(c: Conn, d: Dialect, table: str, kind: str, ids: list[str]) -> None:
    """Refuse ids that repeat (:class:`InputError`) or already exist (:class:`ConflictError`,
    a 409 at the API), naming them."""
    dupes = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dupes:
        raise InputError(f"{kind} id(s) given twice: {', '.join(dupes[:10])}")
    taken = existing_ids(c, d, table, ids)
    if taken:
        raise ConflictError(
            f"{kind} id(s) already exist in this store: {', '.join(taken[:10])}; import into "
            f"a new store, or delete those first"
        )


def update_each(c: Conn, d: Dialect, sql: str, params: list[Any], ids: list[str]) -> None:
    """Run ``UPDATE ... WHERE {}`` (the ``{}`` is an ``id`` condition) for ``ids``."""
    for where, id_params in d.any_of("id", ids):
        c.execute(sql.format(where), [*params, *id_params])


# -- turns -------------------------------------------------------------------------------


def add_turns(c: Conn, d: Dialect, turns: list[Turn], now: datetime) -> list[Turn]:
    if not turns:
        return []
    check_new_ids(c, d, "turns", "turn", [t.id for t in turns])
    seqs = d.insert_returning(
        c,
        f"""INSERT INTO turns (id, user_id, agent_id, run_id, session_id, role, speaker,
            content, compressed, tokens, timestamp, ref, stage, created_at, author, images)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {d.json_param})""",
        [
            (
                t.id,
                t.scope.user_id,
                t.scope.agent_id,
                t.scope.run_id,
                t.session_id,
                t.role,
                t.speaker,
                t.content,
                t.compressed,
                t.tokens,
                d.dump_time(t.timestamp),
                t.ref,
                TurnStage.SENSORY.value,
                d.dump_time(now),
                t.author,
                dump_images(t.images),
            )
            for t in turns
        ],
        "seq",
    )
    return [
        replace(t, seq=seq, created_at=now, stage=TurnStage.SENSORY, segment_id=None, batch_id=None)
        for t, seq in zip(turns, seqs, strict=True)
    ]


def get_turns(c: Conn, d: Dialect, ids: list[str]) -> list[Turn]:
    rows = rows_by_id(c, d, "turns", ids, TURN_FIELDS)
    return [row_to_turn(rows[i]) for i in ids if i in rows]


def list_turns(
    c: Conn,
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
    sql = f"SELECT {TURN_FIELDS} FROM turns WHERE {where} ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(max(0, limit))
    return giveway.each(c.execute(sql, params).fetchall(), row_to_turn)


def count_turns(c: Conn, scope: Scope) -> int:
    where, params = scope_where(scope)
    return int(c.execute(f"SELECT count(*) AS n FROM turns WHERE {where}", params).fetchone()["n"])


def set_turn_views(
    c: Conn, d: Dialect, views: list[tuple[str, str, int]], vectors: list[Any] | None
) -> None:
    found = rows_by_id(c, d, "turns", [v[0] for v in views], "id")
    missing = [v[0] for v in views if v[0] not in found]
    if missing:
        raise NotFoundError(f"no turn with id {missing[0]!r}")
    c.executemany(
        f"""UPDATE turns SET compressed = ?, tokens = ?,
            vector = COALESCE({d.vector_param}, vector) WHERE id = ?""",
        [
            (text, tokens, vectors[i] if vectors is not None else None, turn_id)
            for i, (turn_id, text, tokens) in enumerate(views)
        ],
    )


def turn_vectors(c: Conn, d: Dialect, ids: list[str]) -> dict[str, Any]:
    rows = rows_by_id(c, d, "turns", ids, f"id, {d.read_vector('vector')} AS vector")
    return {i: d.load_vector(r["vector"]) for i, r in rows.items() if r["vector"] is not None}


def _require_turns(
    c: Conn, d: Dialect, ids: list[str], stages: Iterable[TurnStage], what: str
) -> dict[str, Row]:
    """The turns' rows, locked; every id must exist and be in one of ``stages``."""
    rows = rows_by_id(c, d, "turns", ids, "id, user_id, agent_id, run_id, stage", lock=True)
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


def assign_segments(c: Conn, d: Dialect, segments: list[tuple[str, list[str]]]) -> None:
    ids = [tid for _, tids in segments for tid in tids]
    if len(set(ids)) != len(ids):
        raise StorageError("assign_segments: a turn is listed in more than one segment")
    _require_turns(c, d, ids, [TurnStage.SENSORY], "assign_segments")
    c.executemany(
        "UPDATE turns SET stage = ?, segment_id = ? WHERE id = ?",
        [(TurnStage.SHORT_TERM.value, seg, tid) for seg, tids in segments for tid in tids],
    )


# -- batches -----------------------------------------------------------------------------


def create_batch(c: Conn, d: Dialect, batch: Batch, now: datetime) -> None:
    check_new_ids(c, d, "batches", "batch", [batch.id])
    if len(set(batch.turn_ids)) != len(batch.turn_ids):
        raise StorageError(f"create_batch {batch.id!r}: a turn is listed twice")
    rows = _require_turns(
        c, d, batch.turn_ids, [TurnStage.SENSORY, TurnStage.SHORT_TERM], "create_batch"
    )
    owner = batch.scope.owner
    foreign = [i for i in batch.turn_ids if not in_scope(rows[i], owner)]
    if foreign:
        raise StorageError(
            f"create_batch {batch.id!r}: turn(s) of another scope: {', '.join(foreign[:10])}"
        )
    c.execute(
        f"""INSERT INTO batches (id, user_id, agent_id, run_id, turn_ids, status, attempts,
            created_at) VALUES (?, ?, ?, ?, {d.json_param}, 'pending', ?, ?)""",
        (
            batch.id,
            batch.scope.user_id,
            batch.scope.agent_id,
            batch.scope.run_id,
            dump_list(batch.turn_ids),
            batch.attempts,
            d.dump_time(batch.created_at or now),
        ),
    )
    sql = "UPDATE turns SET stage = ?, batch_id = ? WHERE {}"
    update_each(c, d, sql, [TurnStage.BATCHED.value, batch.id], list(batch.turn_ids))


def list_batches(c: Conn, d: Dialect, scope: Scope | None, statuses: Iterable[str]) -> list[Batch]:
    wanted = list(dict.fromkeys(statuses))
    out: list[Batch] = []
    for where, params in d.any_of("status", wanted):
        if scope is not None:
            sw, sp = scope_where(scope)
            where, params = f"{where} AND {sw}", params + sp
        sql = f"SELECT {BATCH_FIELDS} FROM batches WHERE {where} ORDER BY pk"
        out += [row_to_batch(r) for r in c.execute(sql, params).fetchall()]
    return out


def open_batch(c: Conn, d: Dialect, batch_id: str, what: str) -> Batch:
    """The batch, locked; it must exist and not be done yet."""
    sql = f"SELECT {BATCH_FIELDS} FROM batches WHERE id = ?{d.for_update}"
    row = c.execute(sql, (batch_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"{what}: no batch with id {batch_id!r}")
    if row["status"] == "done":
        raise ConflictError(f"{what}: batch {batch_id!r} is already done")
    return row_to_batch(row)


def finish_batch(c: Conn, d: Dialect, batch: Batch) -> None:
    sql = "UPDATE turns SET stage = ? WHERE batch_id = ? AND {}"
    update_each(c, d, sql, [TurnStage.EXTRACTED.value, batch.id], list(batch.turn_ids))
    c.execute("UPDATE batches SET status = 'done' WHERE id = ?", (batch.id,))


def fail_batch(c: Conn, d: Dialect, batch_id: str, error: str, raw_reply: str | None) -> None:
    open_batch(c, d, batch_id, "fail_batch")
    c.execute(
        """UPDATE batches SET status = 'failed', last_error = ?,
            raw_reply = COALESCE(?, raw_reply), attempts = attempts + 1 WHERE id = ?""",
        (error, raw_reply, batch_id),
    )


def buffered_owners(c: Conn) -> list[tuple[Scope, int]]:
    """Every owner with turns not batched yet (sensory or short-term), with the highest
    ``seq`` among them: a worker skips an owner whose buffer did not move since it last
    looked. Read from the ``turns_stage`` index."""
    rows = c.execute(
        """SELECT user_id, agent_id, max(seq) AS top FROM turns
           WHERE stage IN ('sensory', 'short_term')
           GROUP BY user_id, agent_id ORDER BY min(seq)"""
    ).fetchall()
    return [(Scope(r["user_id"], r["agent_id"]), int(r["top"])) for r in rows]
