"""Dense search (pgvector, cosine) and BM25 search (PostgreSQL full-text search).

Dense: a scope (with its run and time filters) of at most ``exact_max_rows`` active entries
is searched exactly: every vector is scored and the best ``k`` are returned, which costs a
few milliseconds at that size and is always right. A larger scope is searched through the
HNSW index with ``hnsw.ef_search`` raised with the ``k`` asked for and, on pgvector 0.8 or
newer, ``hnsw.iterative_scan = relaxed_order``, so that the scope and time filters, applied
while the index is walked, do not leave too few rows: the walk goes on until ``k`` rows
pass them. If it still returns fewer rows than the scope holds and ``k`` asks for (pgvector
older than 0.8, or ``hnsw.max_scan_tuples`` reached), the search is redone exactly.

BM25: the query is tokenized by PostgreSQL with the same parser and configuration as the
entries (``to_tsvector('simple', query)``), never parsed as query syntax, so any string is
safe. Entries holding any query term match (an OR, as in the SQLite store), found through
the GIN index, and are ranked by Okapi BM25 (k1 = 1.2, b = 0.75) computed in SQL: term
frequencies from the ``tsvector`` positions, document frequencies and the average length
over the active entries of the scope searched. Lengths count distinct terms (what a
``tsvector`` keeps), so scores differ slightly from SQLite FTS5's; the ranking model is
the same. The cost grows with the entries of the scope that hold a query term (measured:
~3 ms for a scope of 200, ~0.5 s when all 50,000 entries of a scope match, on 2 cores).
"""

from __future__ import annotations

from typing import Any

from lightmem.stores.base import TimeRange
from lightmem.stores.sql.codec import naive_utc, scope_where
from lightmem.stores.sql.dialect import Conn
from lightmem.types import Scope

#: Terms of a BM25 query beyond this many are ignored (as in the SQLite store).
MAX_QUERY_TERMS = 64
#: BM25 parameters, FTS5's defaults.
K1 = 1.2
B = 0.75
#: ``hnsw.ef_search`` is ``EF_PER_K`` times k, at least ``MIN_EF_SEARCH`` (pgvector's
#: default, 40, lost ~6% recall@10 on a scope filtered to half the index in the tests),
#: at most pgvector's bound.
EF_PER_K = 4
MIN_EF_SEARCH = 100
MAX_EF_SEARCH = 1000


def search_dense(
    cur: Conn,
    scope: Scope,
    query: str,
    k: int,
    time_range: TimeRange | None,
    *,
    exact_max_rows: int,
    iterative_scan: bool,
) -> list[tuple[str, float]]:
    """``query`` is the vector's pgvector literal. Best first: ``(id, cosine)``."""
    if k <= 0:
        return []
    where, params = dense_filter(scope, time_range)
    # Counted up to a cap, so a huge scope costs no full count: below the cap the count is
    # exact; at the cap the scope is larger than both the exact limit and k.
    cap = max(exact_max_rows, k) + 1
    rows = int(
        cur.execute(
            f"SELECT count(*) AS n FROM (SELECT 1 FROM entries WHERE {where} LIMIT ?) AS s",
            [*params, cap],
        ).fetchone()["n"]
    )
    if rows == 0:
        return []
    if rows > exact_max_rows:
        hits = _approximate(cur, where, params, query, k, iterative_scan)
        if len(hits) >= min(k, rows):
            return hits
    return _exact(cur, where, params, query, k)


def time_where(time_range: TimeRange | None, column: str) -> tuple[str, list[Any]]:
    """``AND``-clauses for an inclusive time range; an undated row is in no range."""
    start, end = time_range if time_range is not None else (None, None)
    sql = ""
    params: list[Any] = []
    if start is not None:
        sql += f" AND {column} >= ?"
        params.append(naive_utc(start))
    if end is not None:
        sql += f" AND {column} <= ?"
        params.append(naive_utc(end))
    return sql, params


def dense_filter(scope: Scope, time_range: TimeRange | None) -> tuple[str, list[Any]]:
    """The rows a dense search ranks: active entries of the scope with a vector, in range."""
    where, params = scope_where(scope)
    tw, tp = time_where(time_range, "timestamp")
    return f"{where} AND status = 'active' AND vector IS NOT NULL{tw}", params + tp


def _exact(cur: Conn, where: str, params: list[Any], query: str, k: int) -> list[tuple[str, float]]:
    # Ordering by the score (not by ``vector <=> q``) keeps the HNSW index out of the plan.
    rows = cur.execute(
        f"""SELECT id, 1 - (vector <=> ?::vector) AS score FROM entries WHERE {where}
            ORDER BY score DESC, pk LIMIT ?""",
        [query, *params, k],
    ).fetchall()
    return [(r["id"], float(r["score"])) for r in rows]


def _approximate(
    cur: Conn, where: str, params: list[Any], query: str, k: int, iterative_scan: bool
) -> list[tuple[str, float]]:
    ef_search = min(MAX_EF_SEARCH, max(MIN_EF_SEARCH, EF_PER_K * k))
    cur.execute("SELECT set_config('hnsw.ef_search', ?, true)", (str(ef_search),))
    if iterative_scan:
        cur.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
    rows = cur.execute(approximate_sql(where), [query, *params, query, k]).fetchall()
    return [(r["id"], float(r["score"])) for r in rows]


def approximate_sql(where: str) -> str:
    """The HNSW query; parameters: the vector, ``where``'s, the vector again, k."""
    # relaxed_order may emit rows slightly out of order: take k in the CTE, then re-sort.
    return f"""WITH nearest AS MATERIALIZED (
                   SELECT id, pk, vector <=> ?::vector AS distance FROM entries WHERE {where}
                   ORDER BY vector <=> ?::vector LIMIT ?)
               SELECT id, 1 - distance AS score FROM nearest ORDER BY distance, pk"""


def search_bm25(
    cur: Conn, scope: Scope, query: str, k: int, time_range: TimeRange | None
) -> list[tuple[str, float]]:
    if k <= 0 or not query.strip():
        return []
    where, params = scope_where(scope, "e")
    tw, tp = time_where(time_range, "m.timestamp")
    rows = cur.execute(
        f"""WITH terms AS (
                SELECT lexeme FROM unnest(to_tsvector('simple'::regconfig, ?))
                ORDER BY positions[1] LIMIT {MAX_QUERY_TERMS}),
            q AS (
                SELECT tsquery_or_agg(plainto_tsquery('simple'::regconfig, lexeme)) AS query,
                       array_agg(lexeme) AS lexemes
                FROM terms),
            corpus AS (
                SELECT count(*)::float8 AS n, avg(e.doclen)::float8 AS avgdl FROM entries e
                WHERE {where} AND e.status = 'active'),
            matched AS (
                SELECT e.pk, e.id, e.timestamp, e.doclen, u.lexeme,
                       cardinality(u.positions)::float8 AS tf
                FROM q, entries e,
                     -- only the query's lexemes: marked 'A' by setweight, kept by ts_filter
                     unnest(ts_filter(setweight(e.tsv, 'A', q.lexemes), '{{a}}')) AS u
                WHERE e.tsv @@ q.query AND {where} AND e.status = 'active'),
            df AS (SELECT lexeme, count(*)::float8 AS df FROM matched GROUP BY lexeme)
            SELECT m.id, sum(
                ln(1 + (c.n - d.df + 0.5) / (d.df + 0.5)) * m.tf * ({K1} + 1)
                / (m.tf + {K1} * (1 - {B} + {B} * m.doclen / NULLIF(c.avgdl, 0)))) AS score
            FROM matched m JOIN df d USING (lexeme) CROSS JOIN corpus c
            WHERE TRUE{tw}
            GROUP BY m.pk, m.id
            ORDER BY score DESC, m.pk LIMIT ?""",
        [query, *params, *params, *tp, k],
    ).fetchall()
    return [(r["id"], float(r["score"])) for r in rows if r["score"] is not None]
