"""The store contract implemented once over SQL (:class:`SQLStore`), for every SQL backend.

A backend gives a :class:`Dialect` (what its SQL writes differently), its transactions,
migrations and search; ``sqlite/`` and ``postgres/`` are the two built in.
"""

from lightmem.stores.sql.dialect import Dialect, Transactions
from lightmem.stores.sql.store import SQLStore

__all__ = ["Dialect", "SQLStore", "Transactions"]
