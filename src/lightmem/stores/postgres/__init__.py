"""The shared store: PostgreSQL with pgvector (HNSW), full-text BM25, claims on the
consolidation queue for workers on many machines. Needs ``pip install 'lightmem[postgres]'``
(psycopg 3 and psycopg_pool, imported only when a store opens)."""

from lightmem.stores.postgres.store import PostgresStore, PostgresStoreOptions

__all__ = ["PostgresStore", "PostgresStoreOptions"]
