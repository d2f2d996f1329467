"""Numbered schema migrations: what every SQL backend keeps the same way.

A backend holds a table ``version -> migration`` filled at import by the ``@migration(n)``
decorator that :func:`registrar` makes. Applying the missing ones, each in its own
transaction with the record of its version, is the backend's (``PRAGMA user_version`` in
SQLite; a ``migrations`` table under an advisory lock in PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

M = TypeVar("M", bound=Callable[..., None])


def registrar(table: dict[int, M]) -> Callable[[int], Callable[[M], M]]:
    """The ``@migration(n)`` decorator that files a function in ``table`` under ``n``."""

    def migration(version: int) -> Callable[[M], M]:
        def register(fn: M) -> M:
            if version in table:
                raise ValueError(f"migration {version} is defined twice")
            table[version] = fn
            return fn

        return register

    return migration


#: The partial index of the pinned memories (the same on both stores; a query names
#: ``pinned = 1`` as written here, or the planner cannot use it).
PINNED_INDEX = "CREATE INDEX entries_pinned ON entries (user_id, agent_id, pk) WHERE pinned = 1"


def execute_all(c: Any, statements: list[str]) -> None:
    """Run a migration's statements one by one (not ``executescript``, which would commit
    the migration's transaction half-way)."""
    for sql in statements:
        c.execute(sql)
