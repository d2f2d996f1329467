"""What SQL databases write differently, for the store code written once in this package.

Statements use ``?`` placeholders (a driver that wants another style translates them, as the
PostgreSQL store's cursor does). Everything else that differs is asked of the backend's
:class:`Dialect`: how a list of ids goes into a query, how times and vectors are bound and
read back, row locks, byte-order collation, and how the consolidation queue is kept.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from lightmem.embedders.base import Vectors

T = TypeVar("T")

#: A connection or cursor inside a transaction: ``execute(sql, params)`` returning a cursor
#: (``fetchone``, ``fetchall``, ``rowcount``) and ``executemany(sql, rows)``.
Conn = Any


class Transactions(Protocol):
    """Runs a function in one transaction: read (a consistent snapshot) or write (all or
    nothing), translating the driver's errors into :class:`StorageError`."""

    def read(self, what: str, fn: Callable[[Conn], T]) -> T: ...

    def write(self, what: str, fn: Callable[[Conn], T]) -> T: ...


class Dialect(ABC):
    #: The placeholder of a JSON list parameter and of a vector parameter.
    json_param: ClassVar[str] = "?"
    vector_param: ClassVar[str] = "?"
    #: Appended to a SELECT of the one row a write is about to change: a row lock where
    #: other writers may run meanwhile, nothing where a write transaction excludes them.
    for_update: ClassVar[str] = ""
    #: Appended to a SELECT of rows by id that a write will change: the locks taken in one
    #: order (ids bytewise), so concurrent writers queue rather than deadlock.
    lock_by_id: ClassVar[str] = ""
    #: The collation that compares text byte by byte (the order exports and owners use).
    bytewise: ClassVar[str] = ""
    #: The LIMIT parameter that limits nothing.
    no_limit: ClassVar[Any] = None

    @abstractmethod
    def any_of(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """``column`` equal to one of ``values``: ``(condition, params)`` pairs, one per
        statement to run (a backend with a bound on parameters splits long lists); none
        for an empty list."""

    @abstractmethod
    def dump_time(self, value: datetime | None) -> Any:
        """A time as bound to a query (naive UTC)."""

    @abstractmethod
    def dump_vector(self, vector: Vectors) -> Any:
        """A float32 vector as bound to :attr:`vector_param`."""

    def read_vector(self, column: str) -> str:
        """The expression that selects ``column`` for :meth:`load_vector`."""
        return column

    @abstractmethod
    def load_vector(self, value: Any) -> Vectors | None:
        """A float32 array from what :meth:`read_vector` selected (None stays None)."""

    @abstractmethod
    def insert_returning(
        self, c: Conn, sql: str, rows: list[Sequence[Any]], column: str
    ) -> list[Any]:
        """Run the INSERT ``sql`` once per row; the value of ``column`` (the table's
        generated key) each row got."""

    # -- candidate filters (forget's word match) ----------------------------------------------
    #: The operator that matches a pattern with ASCII letters in either case.
    like_any_case: ClassVar[str] = "LIKE"

    def json_text(self, column: str) -> str:
        """The JSON column ``column`` as text (a list as ``["a", "b"]``)."""
        return column

    @abstractmethod
    def cites_any(self, column: str, ids: Sequence[str]) -> tuple[str, list[Any]]:
        """The condition that the JSON list ``column`` holds one of ``ids``."""

    @abstractmethod
    def non_ascii(self, column: str) -> tuple[str, list[Any]]:
        """The condition that ``column`` holds a character outside ASCII (or a NUL)."""

    # -- the consolidation queue ------------------------------------------------------------
    @abstractmethod
    def queued(self, alias: str) -> str:
        """The condition that the entry ``alias`` waits for consolidation."""

    @abstractmethod
    def enqueue(self, c: Conn, entry_ids: list[str]) -> None:
        """Queue entries just inserted (in the given order)."""

    @abstractmethod
    def dequeue(self, c: Conn, entry_ids: list[str]) -> None:
        """Take entries off the queue (consolidated)."""

    # -- import ---------------------------------------------------------------------------
    def before_import(self, c: Conn) -> None:
        """Called first in an import's transaction (to keep out other writers)."""
        return None

    def after_explicit_ids(self, c: Conn, table: str, column: str, values: list[int]) -> None:
        """``values`` were inserted into the counter ``table.column`` (turn seq, history
        id) explicitly: move its sequence past them where the database does not."""
        return None
