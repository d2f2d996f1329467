"""Plain conversions between Python values and SQLite columns: timestamps, vectors, JSON
lists, scopes and rows. Pure functions, no connection."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

import numpy as np

from lightmem.embedders.base import Vectors
from lightmem.errors import StorageError
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


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # Fixed width 'YYYY-MM-DDTHH:MM:SS.ffffff' (always microseconds): string order is time order.
    return value.isoformat(timespec="microseconds")


def from_iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def from_iso_required(value: str) -> datetime:
    return datetime.fromisoformat(value)


# -- vectors -------------------------------------------------------------------------------


def as_matrix(vectors: Vectors | None, rows: int, dim: int, what: str) -> Vectors:
    """``vectors`` as a ``(rows, dim)`` float32 array, or a :class:`StorageError` saying why not."""
    if vectors is None:
        raise StorageError(f"{what}: vectors are required")
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim == 1 and rows == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] != rows:
        raise StorageError(f"{what}: expected {rows} vector(s), got an array of shape {arr.shape}")
    if arr.shape[1] != dim:
        raise StorageError(
            f"{what}: vector dimension {arr.shape[1]} does not match the store's dimension {dim}"
        )
    return arr


def as_vector(vector: Vectors, dim: int, what: str) -> Vectors:
    """One query or entry vector as a ``(dim,)`` float32 array."""
    arr = np.asarray(vector, dtype=np.float32)
    if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[0] != 1):
        raise StorageError(f"{what}: expected one vector, got an array of shape {arr.shape}")
    arr = arr.reshape(-1)
    if arr.shape[0] != dim:
        raise StorageError(
            f"{what}: vector dimension {arr.shape[0]} does not match the store's dimension {dim}"
        )
    return arr


def to_blob(vector: Vectors) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> Vectors:
    return np.frombuffer(blob, dtype=np.float32).copy()


def blob_to_b64(blob: bytes | None) -> str | None:
    return None if blob is None else base64.b64encode(blob).decode("ascii")


def b64_to_blob(text: str | None, dim: int, what: str) -> bytes | None:
    if text is None:
        return None
    blob = base64.b64decode(text.encode("ascii"), validate=True)
    if len(blob) != 4 * dim:
        raise StorageError(
            f"{what}: vector of {len(blob) // 4} floats does not match the store's dimension {dim}"
        )
    return blob


# -- JSON lists ------------------------------------------------------------------------------


def dump_list(values: list[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def load_list(text: str | None) -> list[str]:
    return [] if not text else [str(v) for v in json.loads(text)]


# -- scopes ----------------------------------------------------------------------------------


def scope_where(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    """SQL filter for a scope: ``None`` matches only NULL; ``run_id`` only when given."""
    p = f"{alias}." if alias else ""
    sql = f"{p}user_id IS ? AND {p}agent_id IS ?"
    params: list[Any] = [scope.user_id, scope.agent_id]
    if scope.run_id is not None:
        sql += f" AND {p}run_id = ?"
        params.append(scope.run_id)
    return sql, params


def in_scope(row: sqlite3.Row, scope: Scope) -> bool:
    if row["user_id"] != scope.user_id or row["agent_id"] != scope.agent_id:
        return False
    return scope.run_id is None or row["run_id"] == scope.run_id


def placeholders(n: int) -> str:
    return ",".join("?" * n)


# -- rows -> dataclasses -----------------------------------------------------------------------


def row_to_turn(row: sqlite3.Row) -> Turn:
    return Turn(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        seq=row["seq"],
        role=row["role"],
        content=row["content"],
        speaker=row["speaker"],
        session_id=row["session_id"],
        timestamp=from_iso(row["timestamp"]),
        ref=row["ref"],
        compressed=row["compressed"],
        stage=TurnStage(row["stage"]),
        segment_id=row["segment_id"],
        batch_id=row["batch_id"],
        tokens=row["tokens"],
        created_at=from_iso(row["created_at"]),
    )


def row_to_entry(row: sqlite3.Row) -> Entry:
    return Entry(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        text=row["text"],
        sources=load_list(row["sources"]),
        timestamp=from_iso(row["timestamp"]),
        speakers=load_list(row["speakers"]),
        topic_id=row["topic_id"],
        keywords=load_list(row["keywords"]),
        origin=row["origin"],
        status=EntryStatus(row["status"]),
        version=row["version"],
        created_at=from_iso(row["created_at"]),
        updated_at=from_iso(row["updated_at"]),
    )


def row_to_batch(row: sqlite3.Row) -> Batch:
    return Batch(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        turn_ids=load_list(row["turn_ids"]),
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        raw_reply=row["raw_reply"],
        created_at=from_iso(row["created_at"]),
    )


def row_to_history(row: sqlite3.Row) -> HistoryRecord:
    return HistoryRecord(
        id=row["id"],
        entry_id=row["entry_id"],
        event=HistoryEvent(row["event"]),
        old_text=row["old_text"],
        new_text=row["new_text"],
        reason=row["reason"],
        created_at=from_iso_required(row["created_at"]),
        actor=row["actor"],
    )
