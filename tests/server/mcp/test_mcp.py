"""The MCP server through the SDK's own client: in process for the stdio-style server bound
to one user, and over streamable HTTP (in process, no socket) for per-key scoping."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from typer.testing import CliRunner

from lightmem import ConfigError, InputError, Memory
from lightmem.cli.serve import mcp as mcp_command
from lightmem.server.auth import Principal
from lightmem.server.mcp import TOOLS, create_mcp_server, http_app
from tests.server.conftest import Tenants, seed, server_cli

DOCS = Path(__file__).resolve().parents[3] / "docs" / "mcp.md"
BASE = "http://127.0.0.1:8001"


def run_with(memory: Memory, user: str, work: Callable[[Client], Awaitable[Any]]) -> Any:
    server = create_mcp_server(memory, Principal.for_scope("stdio", user, None))

    async def main() -> Any:
        async with Client(server) as client:
            return await work(client)

    return anyio.run(main)


def test_tools_are_listed_and_documented(memory: Memory) -> None:
    async def work(c: Client) -> Any:
        return (await c.list_tools()).tools, (await c.list_resource_templates()).resource_templates

    tools, templates = run_with(memory, "alice", work)
    assert {t.name for t in tools} == set(TOOLS)
    assert all(t.description for t in tools)
    assert not any("user_id" in (t.input_schema.get("properties") or {}) for t in tools)
    assert [t.uri_template for t in templates] == ["memory://{user_id}"]
    docs = DOCS.read_text(encoding="utf-8")
    for name in (*TOOLS, "memory://{user_id}"):
        assert f"`{name}`" in docs


def test_tools_add_search_list_delete_consolidate(memory: Memory) -> None:
    async def work(c: Client) -> dict[str, Any]:
        out: dict[str, Any] = {}
        r = await c.call_tool("add_memory", {"content": "I am allergic to peanuts"})
        out["add"] = r.structured_content
        r = await c.call_tool(
            "add_memory", {"content": "Noted.", "role": "assistant", "process_now": False}
        )
        out["buffered"] = r.structured_content
        r = await c.call_tool("search_memory", {"query": "allergies peanuts", "limit": 3})
        out["search"] = r.structured_content["memories"]
        r = await c.call_tool("memory_context", {"query": "allergies", "budget_tokens": 80})
        out["context"] = r.structured_content
        out["list"] = (await c.call_tool("list_memories", {})).structured_content["memories"]
        r = await c.call_tool("consolidate", {})
        out["consolidate"] = r.structured_content
        target = out["list"][0]["id"]
        out["delete"] = (await c.call_tool("delete_memory", {"memory_id": target})).is_error
        out["after"] = (await c.call_tool("list_memories", {})).structured_content["memories"]
        return out

    out = run_with(memory, "alice", work)
    assert out["add"]["memories_created"] == 1 and len(out["add"]["turn_ids"]) == 1
    assert out["buffered"]["memories_created"] == 0
    assert "peanuts" in out["search"][0]["text"] and out["search"][0]["score"] > 0
    assert [m["text"] for m in out["list"]] == ["user: I am allergic to peanuts"]
    assert "peanuts" in out["context"]["text"] and 0 < out["context"]["tokens"] <= 80
    assert out["consolidate"]["failed"] == []
    assert out["delete"] is False and out["after"] == []
    assert memory.get_all(user_id="alice", include_deleted=True)[0].status == "deleted"


def test_get_memory_shows_validity(memory: Memory) -> None:
    old, new = seed(memory, "alice", ["I work at Acme", "I started at Globex"])
    memory.supersede(old, new)

    async def work(c: Client) -> Any:
        return [
            (await c.call_tool("get_memory", {"memory_id": i})).structured_content
            for i in (old, new)
        ]

    was, now = run_with(memory, "alice", work)
    assert was["superseded_by"] == new and was["valid_until"] == now["timestamp"]
    assert now["superseded_by"] is None and now["valid_from"] == now["timestamp"]


def test_forget_previews_then_forgets_only_the_connections_memories(memory: Memory) -> None:
    seed(memory, "bob", ["bob's cousin Ottilie sails"])
    seed(memory, "alice", ["my cousin Ottilie plays chess", "I like tea"])

    async def work(c: Client) -> dict[str, Any]:
        out: dict[str, Any] = {}
        args = {"query": "Ottilie"}
        out["preview"] = (await c.call_tool("forget", args)).structured_content
        out["done"] = (
            await c.call_tool("forget", {**args, "confirm": True, "purge": True})
        ).structured_content
        return out

    out = run_with(memory, "alice", work)
    assert out["preview"]["done"] is False and len(out["preview"]["memories"]) == 1
    assert out["done"]["purged"] is True and out["done"]["turns"] == 1
    assert [e.text for e in memory.get_all(user_id="alice")] == ["user: I like tea"]
    assert len(memory.get_all(user_id="bob")) == 1


def test_tool_arguments_are_bounded_like_rest(memory: Memory) -> None:
    async def work(c: Client) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, args in (
            ("search_memory", {"query": "x", "limit": 0}),
            ("search_memory", {"query": "x", "limit": 51}),
            ("add_memory", {"content": "x" * 100_001}),
            ("add_memory", {"content": "note", "colour": "red"}),
            ("memory_context", {"query": "x", "budget_tokens": 0}),
            ("list_memories", {"limit": 0}),
            # flags are JSON booleans, never read from "yes" or 1 (forget purges for good)
            ("forget", {"query": "note", "confirm": "yes", "purge": True}),
            ("forget", {"query": "note", "confirm": True, "purge": 1}),
            ("add_memory", {"content": "note", "process_now": "yes"}),
            ("search_memory", {"query": "x", "limit": True}),
            ("memory_context", {"query": "x", "hierarchical": "true"}),
        ):
            r = await c.call_tool(name, args)
            out[f"{name} {sorted(args.items(), key=str)}"] = r.is_error
        r = await c.call_tool("add_memory", {"content": "x" * 100_000, "process_now": False})
        out["at the cap"] = r.is_error
        return out

    out = run_with(memory, "alice", work)
    assert out.pop("at the cap") is False
    assert all(out.values()), out
    assert len(memory.turns(user_id="alice")) == 1  # only the one at the cap was stored


def test_a_connection_sees_only_its_user(memory: Memory) -> None:
    [bob_id] = seed(memory, "bob", ["bob's locker code is 7731"])
    seed(memory, "alice", ["alice likes jazz"])

    async def work(c: Client) -> dict[str, Any]:
        out: dict[str, Any] = {}
        r = await c.call_tool("search_memory", {"query": "locker code 7731 bob"})
        out["search"] = json.dumps(r.structured_content)
        r = await c.call_tool("list_memories", {"limit": 1000})
        out["list"] = json.dumps(r.structured_content)
        r = await c.call_tool("delete_memory", {"memory_id": bob_id})
        out["delete"] = (r.is_error, getattr(r.content[0], "text", ""))
        # an argument a tool does not take is refused: a smuggled user_id is an error
        r = await c.call_tool("search_memory", {"query": "locker jazz", "user_id": "bob"})
        out["extra_arg"] = json.dumps(r.structured_content)
        out["extra_arg_error"] = (r.is_error, getattr(r.content[0], "text", ""))
        out["own"] = getattr((await c.read_resource("memory://alice")).contents[0], "text", "")
        try:
            await c.read_resource("memory://bob")
        except MCPError as exc:
            out["other"] = str(exc)
        return out

    out = run_with(memory, "alice", work)
    for seen in (out["search"], out["list"], out["own"], out["extra_arg"]):
        assert "7731" not in seen and bob_id not in seen
    assert "jazz" in out["list"] and json.loads(out["own"])[0]["text"] == "user: alice likes jazz"
    assert out["delete"][0] is True and out["delete"][1].endswith(
        f"not_found: no memory with id {bob_id!r}"
    )
    assert out["extra_arg"] == "null" and out["extra_arg_error"][0] is True
    assert "user_id" in out["extra_arg_error"][1] and "7731" not in out["extra_arg_error"][1]
    assert "forbidden" in out["other"]
    assert memory.get(bob_id).status == "active"


def test_http_transport_scopes_each_request_by_its_key(memory: Memory, tenants: Tenants) -> None:
    seed(memory, "bob", ["bob's locker code is 7731"])
    app: Any = http_app(memory, keys=tenants.store, principal=None, host="127.0.0.1")

    def client_for(key: str) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url=BASE, headers=Tenants.auth(key)
        )

    async def session(key: str) -> dict[str, Any]:
        transport = streamable_http_client(f"{BASE}/mcp", http_client=client_for(key))
        async with Client(transport) as c:
            await c.call_tool("add_memory", {"content": f"note of {key[:8]}"})
            r = await c.call_tool("list_memories", {})
            return r.structured_content or {}

    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}

    async def main() -> tuple[dict[str, Any], dict[str, Any], list[httpx2.Response]]:
        async with app.app.router.lifespan_context(app.app):
            alice = await session(tenants.alice)
            bob = await session(tenants.bob)
            async with client_for("lm_unknown") as raw:
                bad = await raw.post("/mcp", json=ping)
            async with httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=app), base_url=BASE
            ) as raw:
                none = await raw.post("/mcp", json=ping)
            async with client_for(tenants.alice) as raw:
                keyed = await raw.post("/mcp", json=ping)  # no session: the SDK's own answer
            # a key its tools could not use (they take no user id) is refused at once
            async with client_for(tenants.admin) as raw:
                admin = await raw.post("/mcp", json=ping)
            async with client_for(tenants.store.create(users=["alice", "bob"])[0]) as raw:
                several = await raw.post("/mcp", json=ping)
            return alice, bob, [bad, none, keyed, admin, several]

    alice, bob, (bad, none, keyed, admin, several) = anyio.run(main)
    assert [m["text"] for m in alice["memories"]] == [f"user: note of {tenants.alice[:8]}"]
    assert "7731" in json.dumps(bob) and tenants.alice[:8] not in json.dumps(bob)
    assert bad.status_code == none.status_code == 401 and keyed.status_code != 401
    assert admin.status_code == several.status_code == 403
    assert "an admin key" in admin.text and "several users" in several.text
    assert "lightmem keys create --user U" in several.text
    # issue 19, finding 15: every MCP-over-HTTP answer says nosniff, the guards' refusals too
    assert all(r.headers.get("x-content-type-options") == "nosniff" for r in (bad, none, keyed))
    assert [e.text for e in memory.get_all(user_id="alice")] == [
        f"user: note of {tenants.alice[:8]}"
    ]


def test_mcp_command_checks_its_options(tmp_path: Path) -> None:
    app = server_cli()
    app.command("mcp")(mcp_command)
    run = CliRunner().invoke
    r = run(app, ["--store", str(tmp_path), "mcp"])
    assert isinstance(r.exception, InputError) and "--user" in str(r.exception)
    r = run(
        app,
        [
            "--store",
            str(tmp_path),
            "mcp",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
            "--user",
            "alice",
            "--allow-unauthenticated-loopback",
        ],
    )
    assert isinstance(r.exception, ConfigError)
