"""A Memory on each store backend (SQLite; PostgreSQL from ``tests/pg.py``), hash embedder,
no-LLM mode, for the forgetting tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

BASE: dict[str, Any] = {"embedder": {"provider": "hash"}, "llm": "none"}


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_memory(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], Memory]]:
    """``open_memory()``: the test's store (the same data each call), closed at teardown."""
    config = dict(BASE)
    # ann_threshold 1: every owner is searched through an ANN sidecar, which must forget too
    config["store"] = {"provider": "sqlite", "options": {"ann_threshold": 1}}
    if backend == "postgres":
        server: PgServer = request.getfixturevalue("pg_server")
        schema = server.schema(tmp_path, "forget")
        config["store"] = {"provider": "postgres", "options": {"url": server.url, "schema": schema}}
    opened: list[Memory] = []

    def make() -> Memory:
        mem = Memory(tmp_path / "store", config=config)
        opened.append(mem)
        return mem

    yield make
    for mem in opened:
        mem.close()
