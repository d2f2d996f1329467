"""Storage backends: the contract (``base``), implemented once over SQL (``sql``) for SQLite
(the embedded default) and PostgreSQL (``sqlite``, ``postgres``)."""

from lightmem.stores.base import Store

__all__ = ["Store"]
