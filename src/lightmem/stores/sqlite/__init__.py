"""The embedded default store: one SQLite file (WAL), FTS5 for BM25, exact dense search."""

from lightmem.stores.sqlite.store import SQLiteStore, SQLiteStoreOptions

__all__ = ["SQLiteStore", "SQLiteStoreOptions"]
