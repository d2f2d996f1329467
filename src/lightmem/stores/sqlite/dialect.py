"""SQLite's side of the shared SQL store: parameter lists in chunks, ISO-string times,
vectors as float32 blobs, no row locks (a write transaction is ``BEGIN IMMEDIATE``: one
writer at a time) and the consolidation queue as the ``consolidated`` column of entries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

import numpy as np

from lightmem.embedders.base import Vectors
from lightmem.stores.sql.codec import to_iso
from lightmem.stores.sql.dialect import Conn, Dialect

#: Values per ``IN (...)`` list, well under SQLite's bound-parameter limit.
CHUNK = 500


def placeholders(n: int) -> str:
    return ",".join("?" * n)


class SQLiteDialect(Dialect):
    no_limit: ClassVar[Any] = -1

    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        for i in range(0, len(values), CHUNK):
            part = list(values[i : i + CHUNK])
            yield f"{column} IN ({placeholders(len(part))})", part

    def dump_time(self, value: datetime | None) -> str | None:
        return to_iso(value)

    def dump_vector(self, vector: Vectors) -> bytes:
        return np.ascontiguousarray(vector, dtype=np.float32).tobytes()

    def load_vector(self, value: bytes | None) -> Vectors | None:
        return None if value is None else np.frombuffer(value, dtype=np.float32).copy()

    def insert_returning(
        self, c: Conn, sql: str, rows: list[Sequence[Any]], column: str
    ) -> list[Any]:
        # ``column`` is the table's INTEGER PRIMARY KEY, the rowid: no RETURNING (SQLite
        # 3.35) needed.
        return [c.execute(sql, row).lastrowid for row in rows]

    def cites_any(self, column: str, ids: Sequence[str]) -> tuple[str, list[Any]]:
        # a list written by another program and not valid JSON is a candidate
        chunks = [list(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK)]
        found = " OR ".join(
            f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value IN ({placeholders(len(p))}))"
            for p in chunks
        )
        return f"(CASE WHEN json_valid({column}) THEN ({found}) ELSE 1 END)", list(ids)

    def non_ascii(self, column: str) -> tuple[str, list[Any]]:
        # GLOB compares a class's bounds by code point
        return f"{column} GLOB ?", [f"*[^{chr(1)}-{chr(127)}]*"]

    def queued(self, alias: str) -> str:
        return f"{alias}.consolidated = 0"

    def enqueue(self, c: Conn, entry_ids: list[str]) -> None:
        """Nothing to do: a new entry's ``consolidated`` is 0, queued."""

    def dequeue(self, c: Conn, entry_ids: list[str]) -> None:
        for where, params in self.any_of("id", entry_ids):
            c.execute(f"UPDATE entries SET consolidated = 1 WHERE {where}", params)
