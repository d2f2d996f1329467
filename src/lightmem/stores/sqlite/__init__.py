"""The embedded default store: one SQLite file (WAL); BM25 and exact dense search over
per-owner indexes in memory, an HNSW sidecar (usearch) for owners too large for exact search."""

from lightmem.stores.sqlite.store import SQLiteStore, SQLiteStoreOptions

__all__ = ["SQLiteStore", "SQLiteStoreOptions"]
