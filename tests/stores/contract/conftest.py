"""The backends the store contract runs against.

Each backend is a factory ``(tmp_path, name) -> Store`` returning an *unopened* store; the
same ``name`` under the same ``tmp_path`` must reach the same data (so a test can close and
reopen), a different ``name`` an empty store. ``BACKENDS`` maps a backend's name to a
function that gives its factory for a test: PostgreSQL's starts a real server once per
session (``tests/pg.py``; a schema per name) and skips, naming what to install, where that
cannot be done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lightmem.stores.base import Store
from lightmem.stores.sqlite import SQLiteStore
from tests.pg import PgServer, pg_server  # noqa: F401 - pg_server is a fixture used here

DIM = 8

StoreFactory = Callable[[Path, str], Store]


def _sqlite(tmp_path: Path, name: str) -> Store:
    return SQLiteStore(SQLiteStore.Options(path=str(tmp_path / f"{name}.db")))


def _sqlite_backend(request: pytest.FixtureRequest) -> StoreFactory:
    return _sqlite


def _postgres_backend(request: pytest.FixtureRequest) -> StoreFactory:
    server: PgServer = request.getfixturevalue("pg_server")  # skips when it cannot run
    return server.store


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], StoreFactory]] = {
    "sqlite": _sqlite_backend,
    "postgres": _postgres_backend,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> StoreFactory:
    return BACKENDS[request.param](request)


@pytest.fixture
def make_store(backend: StoreFactory, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """``make_store(name="main", dim=DIM)``: a new opened store object for ``name``; closed
    at teardown."""
    opened: list[Store] = []

    def make(name: str = "main", dim: int = DIM) -> Store:
        store = backend(tmp_path, name)
        store.open(dim)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    """A fresh, opened store of vector dimension ``DIM``."""
    return make_store()
