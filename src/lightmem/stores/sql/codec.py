"""Plain conversions between Python values and SQL columns, the same for every SQL store:
times, vector checks, the export encoding of vectors, JSON lists, scope filters, the column
lists and rows -> dataclasses. Pure functions, no connection.

Rows are read by column name only (``sqlite3.Row`` and psycopg's ``dict_row`` both allow
it). Times come back as ISO strings (SQLite) or naive UTC datetimes (PostgreSQL) and lists
as JSON text or decoded ``jsonb``; :func:`load_time` and :func:`load_list` take either.
"""

from __future__ import annotations

import base64
import json
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
    ImageRef,
    Scope,
    Turn,
    TurnStage,
)

Row = Any  # sqlite3.Row or a psycopg dict row: read by column name

# -- columns -------------------------------------------------------------------------------

TURN_FIELDS = (
    "seq, id, user_id, agent_id, run_id, session_id, role, speaker, content, compressed, "
    "tokens, timestamp, ref, stage, segment_id, batch_id, created_at, author, images, forgotten"
)
#: Every column of ``entries`` an entry is made of (not its vector, not the queue flag).
ENTRY_FIELDS = (
    "pk, id, user_id, agent_id, run_id, text, timestamp, speakers, topic_id, keywords, "
    "sources, origin, status, version, created_at, updated_at, pinned, expires_at, kind, meta, "
    "images, superseded_by, valid_until"
)
BATCH_FIELDS = (
    "pk, id, user_id, agent_id, run_id, turn_ids, status, attempts, last_error, raw_reply, "
    "created_at"
)
HISTORY_FIELDS = "id, entry_id, event, old_text, new_text, reason, actor, created_at"

# -- times ---------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(value: datetime | None) -> datetime | None:
    """Naive UTC, the one kind of time a store keeps."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def to_iso(value: datetime | None) -> str | None:
    """Fixed width ``YYYY-MM-DDTHH:MM:SS.ffffff`` in UTC: string order is time order."""
    value = naive_utc(value)
    return None if value is None else value.isoformat(timespec="microseconds")


def load_time(value: str | datetime | None) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def load_time_required(value: str | datetime) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


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


def vector_to_b64(vector: Vectors | None) -> str | None:
    """The export form of a vector: base64 of its little-endian float32 bytes."""
    if vector is None:
        return None
    data = np.ascontiguousarray(vector, dtype="<f4").tobytes()
    return base64.b64encode(data).decode("ascii")


def b64_to_vector(text: str | None, dim: int, what: str) -> Vectors | None:
    if text is None:
        return None
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if len(data) != 4 * dim:
        raise StorageError(
            f"{what}: vector of {len(data) // 4} floats does not match the store's dimension {dim}"
        )
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


# -- JSON lists ------------------------------------------------------------------------------


def dump_list(values: list[str]) -> str:
    return json.dumps([str(v) for v in values], ensure_ascii=False)


#: the JSON of an empty list or object, as most rows hold it: no decoder call for those
EMPTY_LIST, EMPTY_OBJECT = "[]", "{}"


def load_list(value: str | list[Any] | None) -> list[str]:
    if value == EMPTY_LIST:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return [str(v) for v in value or []]


# -- scopes ----------------------------------------------------------------------------------


def scope_where(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    """SQL filter for a scope: ``None`` matches only NULL; ``run_id`` only when given.

    ``IS NULL`` / ``= ?`` rather than ``IS ?`` / ``IS NOT DISTINCT FROM``, which not every
    database serves from an index.
    """
    p = f"{alias}." if alias else ""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("user_id", scope.user_id), ("agent_id", scope.agent_id)):
        if value is None:
            clauses.append(f"{p}{column} IS NULL")
        else:
            clauses.append(f"{p}{column} = ?")
            params.append(value)
    if scope.run_id is not None:
        clauses.append(f"{p}run_id = ?")
        params.append(scope.run_id)
    return " AND ".join(clauses), params


def in_scope(row: Row, scope: Scope) -> bool:
    if row["user_id"] != scope.user_id or row["agent_id"] != scope.agent_id:
        return False
    return scope.run_id is None or row["run_id"] == scope.run_id


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
        timestamp=load_time(row["timestamp"]),
        ref=row["ref"],
        compressed=row["compressed"],
        stage=TurnStage(row["stage"]),
        segment_id=row["segment_id"],
        batch_id=row["batch_id"],
        tokens=row["tokens"],
        created_at=load_time(row["created_at"]),
        author=row["author"],
        images=load_images(row["images"]),
        forgotten=bool(row["forgotten"]),
    )


def load_images(value: str | list[Any] | None) -> list[ImageRef]:
    """Images from their JSON column (text or decoded) or from export records."""
    if value == EMPTY_LIST:
        return []
    items = json.loads(value) if isinstance(value, str) else value or []
    out = []
    for i in items:
        if not isinstance(i, dict) or not isinstance(i.get("url"), str):
            raise ValueError("an image is {'url': str, 'caption': str | null}")
        caption = i.get("caption")
        out.append(ImageRef(i["url"], None if caption is None else str(caption)))
    return out


def images_json(images: list[ImageRef]) -> list[dict[str, str | None]]:
    return [{"url": i.url, "caption": i.caption} for i in images]


def dump_images(images: list[ImageRef]) -> str:
    return json.dumps(images_json(images), ensure_ascii=False)


def row_to_entry(row: Row) -> Entry:
    return Entry(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        text=row["text"],
        sources=load_list(row["sources"]),
        timestamp=load_time(row["timestamp"]),
        speakers=load_list(row["speakers"]),
        topic_id=row["topic_id"],
        keywords=load_list(row["keywords"]),
        origin=row["origin"],
        status=EntryStatus(row["status"]),
        version=row["version"],
        created_at=load_time(row["created_at"]),
        updated_at=load_time(row["updated_at"]),
        pinned=bool(row["pinned"]),
        expires_at=load_time(row["expires_at"]),
        kind=row["kind"],
        meta=load_meta(row["meta"]),
        images=load_images(row["images"]),
        superseded_by=row["superseded_by"],
        valid_until=load_time(row["valid_until"]),
    )


def load_meta(value: Any) -> dict[str, Any]:
    """An entry's structure from its JSON column (text or decoded) or an export record."""
    if value == EMPTY_OBJECT:
        return {}
    meta = json.loads(value) if isinstance(value, str) else value
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ValueError("an entry's meta is a JSON object")
    return meta


def dump_meta(meta: dict[str, Any]) -> str:
    return json.dumps(meta, ensure_ascii=False, sort_keys=True)


def row_to_batch(row: Row) -> Batch:
    return Batch(
        id=row["id"],
        scope=Scope(row["user_id"], row["agent_id"], row["run_id"]),
        turn_ids=load_list(row["turn_ids"]),
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        raw_reply=row["raw_reply"],
        created_at=load_time(row["created_at"]),
    )


def row_to_history(row: Row) -> HistoryRecord:
    return HistoryRecord(
        id=row["id"],
        entry_id=row["entry_id"],
        event=HistoryEvent(row["event"]),
        old_text=row["old_text"],
        new_text=row["new_text"],
        reason=row["reason"],
        created_at=load_time_required(row["created_at"]),
        actor=row["actor"],
    )
