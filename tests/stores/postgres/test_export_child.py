"""A large export of a PostgreSQL store is made by a child process that opens the same
database (the URL handed over on its stdin): the same lines as made in the server."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory, exporting
from lightmem.types import Scope
from tests.pg import PgServer


def test_a_postgres_export_in_a_child_has_the_same_lines(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {"url": pg_server.url, "schema": pg_server.schema(tmp_path, "export")}
    config = {
        "embedder": {"provider": "hash"},
        "llm": "none",
        "store": {"provider": "postgres", "options": options},
    }
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(exporting.subprocess, "Popen", popen)
    with Memory(tmp_path / "store", config=config) as memory:
        memory.add(
            [{"role": "user", "content": f"note {i} about the café"} for i in range(9)],
            user_id="alice",
        )
        memory.add([{"role": "user", "content": "bob's note"}], user_id="bob")
        memory.flush()
        alice = Scope(user_id="alice")
        here = "".join(exporting.export_lines(memory, alice))
        assert not started
        monkeypatch.setattr(exporting, "PROCESS_FROM_ROWS", 1)
        child = "".join(exporting.export_lines(memory, alice))
    assert len(started) == 1 and started[0].returncode == 0
    assert child == here and "café" in child and "bob's note" not in child
    # the database URL went over the child's stdin, not its command line
    assert pg_server.url not in " ".join(map(str, started[0].args))
