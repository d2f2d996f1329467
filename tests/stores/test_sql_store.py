"""The SQL store layer: what a SQL backend must write itself, and the pieces it shares."""

from __future__ import annotations

from lightmem.stores.postgres.db import format_style
from lightmem.stores.postgres.dialect import PostgresDialect
from lightmem.stores.sql import SQLStore
from lightmem.stores.sqlite.dialect import CHUNK, SQLiteDialect


def test_a_sql_backend_writes_only_what_truly_differs() -> None:
    # Everything else of the 35-method contract is implemented once, over the dialect.
    assert SQLStore.__abstractmethods__ == {"open", "close", "dim", "search_dense", "search_bm25"}


def test_id_lists_follow_each_databases_bounds() -> None:
    ids = [f"id{i}" for i in range(CHUNK + 1)]
    parts = list(SQLiteDialect().any_of("id", ids))
    assert [len(p) for _, p in parts] == [CHUNK, 1]
    assert parts[1] == ("id IN (?)", [ids[-1]])
    assert list(PostgresDialect().any_of("id", ids)) == [("id = ANY(?)", [ids])]
    assert list(SQLiteDialect().any_of("id", [])) == list(PostgresDialect().any_of("id", [])) == []


def test_postgres_takes_qmark_placeholders() -> None:
    sql = "SELECT 1 FROM t WHERE a = ? AND b LIKE '5%' AND c = ANY(?)"
    assert format_style(sql) == "SELECT 1 FROM t WHERE a = %s AND b LIKE '5%%' AND c = ANY(%s)"
