"""Plain conversions between Python values and PostgreSQL columns: times, pgvector values,
scope filters and rows. Pure functions, no connection.

Times are ``timestamp`` (without time zone) holding naive UTC, so they compare and export
exactly like the SQLite store's ISO strings (microsecond precision both).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np

from lightmem.embedders.base import Vectors
from lightmem.types import (
    Batch,
    Entry,
    EntryStatus,
    HistoryEvent,
    HistoryRecord,
    Scope,
    Turn,
    TurnStage,
)

Row = dict[str, Any]


def naive_utc(value: datetime | None) -> datetime | None:
    """Naive UTC, the only kind of time handed to PostgreSQL (an aware value would be
    converted through the session's time zone instead)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def dump_list(values: list[str]) -> str:
    """A JSON array for a ``jsonb`` parameter (``%s::jsonb``)."""
    return json.dumps([str(v) for v in values], ensure_ascii=False)


# -- vectors -------------------------------------------------------------------------------


def vector_literal(vector: Vectors) -> str:
    """pgvector's text input for a float32 vector. ``repr`` of each value (a float32 widened
    to a double) parses back to the same float32, so the round trip is exact."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
    return "[" + ",".join(map(repr, values)) + "]"


def from_vector_send(data: bytes | None) -> Vectors | None:
    """A float32 array from pgvector's binary form (``vector_send``): int16 dimension,
    int16 unused, then big-endian float32 values."""
    if data is None:
        return None
    return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


def to_le_bytes(vector: Vectors) -> bytes:
    """The SQLite store's vector bytes (little-endian float32), used in exports."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_le_bytes(blob: bytes) -> Vectors:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


# -- scopes ----------------------------------------------------------------------------------


def scope_where(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    """SQL filter for a scope: ``None`` matches only NULL; ``run_id`` only when given.

    ``IS NULL`` / ``= %s`` rather than ``IS NOT DISTINCT FROM``, which no index can serve.
    """
    p = f"{alias}." if alias else ""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("user_id", scope.user_id), ("agent_id", scope.agent_id)):
        if value is None:
            clauses.append(f"{p}{column} IS NULL")
        else:
            clauses.append(f"{p}{column} = %s")
            params.append(value)
    if scope.run_id is not None:
        clauses.append(f"{p}run_id = %s")
        params.append(scope.run_id)
    return " AND ".join(clauses), params


def in_scope(row: Row, scope: Scope) -> bool:
    if row["user_id"] != scope.user_id or row["agent_id"] != scope.agent_id:
        return False
    return scope.run_id is None or row["run_id"] == scope.run_id


def time_where(time_range: Any, column: str) -> tuple[str, list[Any]]:
    """``AND``-clauses for an inclusive time range; an undated row is in no range."""
    start, end = time_range if time_range is not None else (None, None)
    sql = ""
    params: list[Any] = []
    if start is not None:
        sql += f" AND {column} >= %s"
        params.append(naive_utc(start))
    if end is not None:
        sql += f" AND {column} <= %s"
        params.append(naive_utc(end))
    return sql, params


# -- rows -> dataclasses -----------------------------------------------------------------------


def row_to_turn(row: Row) -> Turn:
    return Turn(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        seq=row["seq"],
        role=row["role"],
        content=row["content"],
        speaker=row["speaker"],
        session_id=row["session_id"],
        timestamp=row["timestamp"],
        ref=row["ref"],
        compressed=row["compressed"],
        stage=TurnStage(row["stage"]),
        segment_id=row["segment_id"],
        batch_id=row["batch_id"],
        tokens=row["tokens"],
        created_at=row["created_at"],
    )


def row_to_entry(row: Row) -> Entry:
    return Entry(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        text=row["text"],
        sources=[str(s) for s in row["sources"]],
        timestamp=row["timestamp"],
        speakers=[str(s) for s in row["speakers"]],
        topic_id=row["topic_id"],
        keywords=[str(s) for s in row["keywords"]],
        origin=row["origin"],
        status=EntryStatus(row["status"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def row_to_batch(row: Row) -> Batch:
    return Batch(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        turn_ids=[str(t) for t in row["turn_ids"]],
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        raw_reply=row["raw_reply"],
        created_at=row["created_at"],
    )


def row_to_history(row: Row) -> HistoryRecord:
    return HistoryRecord(
        id=row["id"],
        entry_id=row["entry_id"],
        event=HistoryEvent(row["event"]),
        old_text=row["old_text"],
        new_text=row["new_text"],
        reason=row["reason"],
        created_at=row["created_at"],
        actor=row["actor"],
    )
