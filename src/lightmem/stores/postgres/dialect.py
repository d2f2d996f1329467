"""PostgreSQL's side of the shared SQL store: id lists as one array parameter, naive UTC
``timestamp`` values, pgvector values (bound as text, read in binary), ``jsonb`` lists, row
locks ``FOR UPDATE`` (in id order), ``COLLATE "C"`` for byte order, and the consolidation
queue as its own table (``consolidation_queue``, which workers claim rows of)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from lightmem.embedders.base import Vectors
from lightmem.stores.sql.codec import naive_utc
from lightmem.stores.sql.dialect import Conn, Dialect


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


class PostgresDialect(Dialect):
    json_param: ClassVar[str] = "?::jsonb"
    vector_param: ClassVar[str] = "?::vector"
    for_update: ClassVar[str] = " FOR UPDATE"
    lock_by_id: ClassVar[str] = ' ORDER BY id COLLATE "C" FOR UPDATE'
    bytewise: ClassVar[str] = ' COLLATE "C"'
    like_any_case: ClassVar[str] = "ILIKE"

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        if values:
            yield f"{column} = ANY(?)", [list(values)]

    def json_text(self, column: str) -> str:
        return f"{column}::text"

    def cites_any(self, column: str, ids: Sequence[str]) -> tuple[str, list[Any]]:
        return f"jsonb_exists_any({column}, ?)", [list(ids)]

    def non_ascii(self, column: str) -> tuple[str, list[Any]]:
        return f"{column} ~ ?", [f"[^{chr(1)}-{chr(127)}]"]

    def dump_time(self, value: datetime | None) -> datetime | None:
        # An aware value would be converted through the session's time zone instead.
        return naive_utc(value)

    def dump_vector(self, vector: Vectors) -> str:
        return vector_literal(vector)

    def read_vector(self, column: str) -> str:
        return f"vector_send({column})"

    def load_vector(self, value: bytes | None) -> Vectors | None:
        return from_vector_send(value)

    def insert_returning(
        self, c: Conn, sql: str, rows: list[Sequence[Any]], column: str
    ) -> list[Any]:
        c.executemany(f"{sql} RETURNING {column}", rows, returning=True)
        out: list[Any] = []
        while True:
            row = c.fetchone()
            if row is not None:
                out.append(row[column])
            if not c.nextset():
                return out

    def queued(self, alias: str) -> str:
        return f"{alias}.pk IN (SELECT entry_pk FROM consolidation_queue)"

    def enqueue(self, c: Conn, entry_ids: list[str]) -> None:
        if entry_ids:
            c.execute(
                """INSERT INTO consolidation_queue (entry_pk)
                   SELECT pk FROM entries WHERE id = ANY(?) ORDER BY pk""",
                (entry_ids,),
            )

    def dequeue(self, c: Conn, entry_ids: list[str]) -> None:
        """Their claims go with their queue rows."""
        if entry_ids:
            c.execute(
                """DELETE FROM consolidation_queue
                   WHERE entry_pk IN (SELECT pk FROM entries WHERE id = ANY(?))""",
                (entry_ids,),
            )

    def before_import(self, c: Conn) -> None:
        # Kept seq / history ids must stay free until commit and the sequences must move
        # past them: no other writer adds turns or history meanwhile (readers go on).
        c.execute("LOCK TABLE turns, history IN SHARE ROW EXCLUSIVE MODE")

    def after_explicit_ids(self, c: Conn, table: str, column: str, values: list[int]) -> None:
        """Move the identity sequence of ``table.column`` past ``values`` (never back)."""
        if values:
            c.execute(
                f"""SELECT setval(s.seq, ?) FROM (
                        SELECT pg_get_serial_sequence('{table}', '{column}')::regclass AS seq
                    ) AS s WHERE ? > COALESCE(pg_sequence_last_value(s.seq), 0)""",
                (max(values), max(values)),
            )
