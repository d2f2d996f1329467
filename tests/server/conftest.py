"""Fixtures of the server tests: a store on the hash embedder in no-LLM mode with the
background worker on, keys for two tenants and an admin, and a TestClient over the app."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

from lightmem import Memory
from lightmem.cli.state import state

try:
    from fastapi.testclient import TestClient

    from lightmem.cli.keys import keys_app
    from lightmem.cli.serve import serve
    from lightmem.server.keys import KeyStore
    from lightmem.server.rest.app import create_app
except ImportError:  # the server extra is not installed: nothing here can run
    collect_ignore_glob = ["test_*.py"]

CONFIG: dict[str, Any] = {
    "embedder": {"provider": "hash"},
    "llm": "none",
    "worker": {"background": True},
}


@dataclass
class Tenants:
    """The keys of the test server: alice and bob (one user each), and an admin."""

    store: KeyStore
    alice: str
    bob: str
    admin: str
    extra: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    mem = Memory(tmp_path / "store", config=CONFIG)
    yield mem
    mem.close()


@pytest.fixture
def tenants(memory: Memory) -> Tenants:
    store = KeyStore.for_memory(memory)
    alice, _ = store.create(users=["alice"], name="alice")
    bob, _ = store.create(users=["bob"], name="bob")
    admin, _ = store.create(admin=True, name="admin")
    return Tenants(store, alice, bob, admin)


@pytest.fixture
def client(memory: Memory, tenants: Tenants) -> Iterator[TestClient]:
    with TestClient(create_app(memory, tenants.store)) as c:
        yield c


def seed(
    memory: Memory, user_id: str | None, texts: list[str], agent_id: str | None = None
) -> list[str]:
    """Add ``texts`` for a user directly through Memory, extract them, return the entry ids."""
    memory.add([{"role": "user", "content": t} for t in texts], user_id=user_id, agent_id=agent_id)
    memory.flush(user_id=user_id, agent_id=agent_id)
    return [e.id for e in memory.get_all(user_id=user_id, agent_id=agent_id)]


def server_cli() -> typer.Typer:
    """A stand-in for the main CLI: its global --store option plus the server commands."""
    app = typer.Typer()

    @app.callback()
    def options(ctx: typer.Context, store: Annotated[Path, typer.Option()]) -> None:
        state(ctx).store = store

    app.add_typer(keys_app, name="keys")
    app.command("serve")(serve)
    return app
