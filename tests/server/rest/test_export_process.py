"""A large export is made in a child process (other tenants do not wait for it): the same
lines as made in the server, an error before any line when the child fails, and a child
ended when the reader stops."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from lightmem import Memory, exporting
from lightmem.config import StoreSection
from lightmem.types import Scope
from tests.server.conftest import Tenants, seed
from tests.server.mcp.test_mcp import run_with


class Children:
    """Every child process started, started for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        real = subprocess.Popen

        def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
            proc = real(*args, **kwargs)
            self.started.append(proc)
            return proc

        monkeypatch.setattr(exporting.subprocess, "Popen", popen)


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> Children:
    return Children(monkeypatch)


def test_a_large_export_is_made_in_a_child_with_the_same_lines(
    client: TestClient,
    memory: Memory,
    tenants: Tenants,
    children: Children,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(memory, "alice", [f"I keep note {i} about the garden, día {i}" for i in range(12)])
    seed(memory, "bob", ["bob's own memory"])
    here = client.get("/v1/export", headers=tenants.auth(tenants.alice))
    assert here.status_code == 200 and not children.started  # small: made in the server

    monkeypatch.setattr(exporting, "PROCESS_FROM_ROWS", 1)
    monkeypatch.setattr(exporting, "CHUNK_BYTES", 512)  # many pieces through the pipe
    child = client.get("/v1/export", headers=tenants.auth(tenants.alice))
    assert child.status_code == 200 and len(children.started) == 1
    assert children.started[0].args[1:] == ["-P", "-m", "lightmem.exporting"]
    assert children.started[0].returncode == 0
    assert child.text == here.text and "día 11" in child.text
    assert "bob's own memory" not in child.text

    everything = client.get("/v1/export", headers=tenants.auth(tenants.admin))
    assert everything.status_code == 200 and len(children.started) == 2
    assert "bob's own memory" in everything.text


def test_a_child_that_fails_answers_with_an_error_and_no_line(
    client: TestClient,
    memory: Memory,
    tenants: Tenants,
    children: Children,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    seed(memory, "alice", ["a memory to export"])
    monkeypatch.setattr(exporting, "PROCESS_FROM_ROWS", 1)
    missing = tmp_path / "moved" / "store.sqlite3"
    gone = StoreSection(provider="sqlite", options={"path": str(missing)})
    monkeypatch.setattr(exporting, "_shareable", lambda _memory: gone)
    r = client.get("/v1/export", headers=tenants.auth(tenants.alice))
    assert r.status_code == 503, r.text
    assert r.json()["error"]["message"] == "the memory store is unavailable; try again"
    assert children.started and children.started[0].returncode not in (None, 0)
    assert not missing.parent.exists()  # the child opens a store, it never makes one


def test_a_reader_that_stops_early_ends_the_child(
    memory: Memory, children: Children, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(memory, "alice", [f"memory number {i} with some words in it" for i in range(40)])
    monkeypatch.setattr(exporting, "PROCESS_FROM_ROWS", 1)
    monkeypatch.setattr(exporting, "CHUNK_BYTES", 256)
    pieces = exporting.export_lines(memory, Scope(user_id="alice"))
    assert next(pieces).endswith("\n")
    pieces.close()  # type: ignore[attr-defined]
    (proc,) = children.started
    assert proc.returncode is not None  # killed and reaped, not left running


def test_mcp_export_of_a_large_pool_is_made_in_a_child_too(
    memory: Memory, tenants: Tenants, children: Children, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MCP's ``export_memories`` read every row in the server process (issue 19, finding
    1): a large export is made by the same child as REST's, with the same records."""
    seed(memory, "alice", [f"I keep note {i} about the garden, día {i}" for i in range(12)])
    seed(memory, "bob", ["bob's own memory"])

    async def export(c: Client) -> Any:
        return (await c.call_tool("export_memories", {})).structured_content["records"]

    here = run_with(memory, "alice", export)
    assert not children.started
    monkeypatch.setattr(exporting, "PROCESS_FROM_ROWS", 1)
    child = run_with(memory, "alice", export)
    assert len(children.started) == 1 and children.started[0].returncode == 0
    assert child == here
    assert {r["kind"] for r in child} >= {"turn", "entry", "history"}
    assert all("vector" not in r for r in child)
    assert "bob's own memory" not in str(child)
