"""Storage backends: SQLite (embedded default); PostgreSQL implements the same contract."""

from lightmem.stores.base import Store

__all__ = ["Store"]
