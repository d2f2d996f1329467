"""The permission matrix of shared pools, over every REST route and MCP tool that touches
memories: {owner, read grant, write grant, revoked grant, no grant} x {search, context, get,
list, add, update, delete, forget, export}. 0 unexpected allows, 0 unexpected denies."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mcp import Client

from lightmem import Memory
from lightmem.types import Scope
from tests.server.conftest import Tenants, seed
from tests.server.mcp.test_mcp import run_with

POOL = Scope("team")
ROLES = ("owner", "read", "write", "revoked", "none")
OPS = ("search", "context", "get", "list", "add", "update", "delete", "forget", "export")
READS = {"search", "context", "get", "list", "export"}


def expected(role: str, op: str) -> bool:
    return role in ("owner", "write") or (role == "read" and op in READS)


@pytest.fixture
def world(memory: Memory, tenants: Tenants) -> dict[str, Any]:
    """The pool ``team`` with one memory per role (each role deletes/forgets its own), and
    a key per role; the grants as the role says (``revoked``: granted write, then revoked)."""
    texts = ["the team deploys on Fridays"] + [f"team note for {r} zz{r}" for r in ROLES]
    ids = seed(memory, "team", texts)
    keys = {"owner": tenants.store.create(users=["team"], name="team-owner")[0]}
    for role in ROLES[1:]:
        keys[role] = tenants.store.create(users=[role], name=f"{role}-key")[0]
    memory.grant("read", pool=POOL, to=Scope("read"))
    memory.grant("write", pool=POOL, to=Scope("write"))
    memory.grant("write", pool=POOL, to=Scope("revoked"))
    memory.revoke(pool=POOL, to=Scope("revoked"))
    return {"shared": ids[0], "own": dict(zip(ROLES, ids[1:], strict=True)), "keys": keys}


def rest_call(c: TestClient, key: str, op: str, shared_id: str, own_id: str) -> Any:
    h = Tenants.auth(key)
    pool = {"user_id": "team"}
    calls: dict[str, Callable[[], Any]] = {
        "search": lambda: c.post("/v1/search", json={"query": "deploys", **pool}, headers=h),
        "context": lambda: c.post("/v1/context", json={"query": "deploys", **pool}, headers=h),
        "get": lambda: c.get(f"/v1/memories/{shared_id}", headers=h),
        "list": lambda: c.get("/v1/memories", params=pool, headers=h),
        "add": lambda: c.post("/v1/memories", json={"messages": "a new note", **pool}, headers=h),
        "update": lambda: c.patch(f"/v1/memories/{shared_id}", json={"text": "edited"}, headers=h),
        "delete": lambda: c.delete(f"/v1/memories/{own_id}", headers=h),
        "forget": lambda: c.post(
            "/v1/forget", json={"ids": [own_id], "confirm": True, **pool}, headers=h
        ),
        "export": lambda: c.get("/v1/export", params=pool, headers=h),
    }
    return calls[op]()


def test_rest_permission_matrix(client: TestClient, world: dict[str, Any]) -> None:
    unexpected = []
    for role in ROLES:
        for op in OPS:
            r = rest_call(client, world["keys"][role], op, world["shared"], world["own"][role])
            allowed = r.status_code < 300
            if not allowed:
                assert r.status_code in (403, 404), (role, op, r.text)
                assert "deploys" not in r.text
            if allowed != expected(role, op):
                unexpected.append((role, op, r.status_code))
    assert unexpected == []


def test_rest_writes_are_attributed_and_hits_name_their_pool(
    client: TestClient, memory: Memory, world: dict[str, Any]
) -> None:
    h = Tenants.auth(world["keys"]["write"])
    client.post("/v1/memories", json={"messages": "a write-key note", "user_id": "team"}, headers=h)
    memory.flush()
    assert memory.turns(user_id="team")[-1].author == "key:write-key"
    r = client.post("/v1/search", json={"query": "team deploys Fridays", "shared": True}, headers=h)
    pools = {json.dumps(hit["pool"], sort_keys=True) for hit in r.json()["results"]}
    assert json.dumps({"user_id": "team", "agent_id": None}, sort_keys=True) in pools
    r = client.post(
        "/v1/context", json={"query": "team deploys Fridays", "shared": True}, headers=h
    )
    assert r.status_code == 200 and "Fridays" in r.json()["text"]
    # a shared search of a key without grants stays in its own scope
    r = client.post(
        "/v1/search",
        json={"query": "team deploys", "shared": True},
        headers=Tenants.auth(world["keys"]["none"]),
    )
    assert r.status_code == 200 and "deploys" not in r.text


def mcp_calls(role: str, shared_id: str, own_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each operation as the MCP tool that does it, naming the pool (or a pool memory id)."""
    pool = {"pool_user": "team"}
    return {
        "search": ("search_memory", {"query": "deploys", **pool}),
        "context": ("memory_context", {"query": "deploys", **pool}),
        "get": ("get_memory", {"memory_id": shared_id}),
        "list": ("list_memories", pool),
        "add": ("add_memory", {"content": "an mcp note", "process_now": False, **pool}),
        "update": ("update_memory", {"memory_id": shared_id, "text": "edited by mcp"}),
        "delete": ("delete_memory", {"memory_id": own_id}),
        "forget": ("forget", {"query": "zz" + role, "confirm": True, **pool}),
        "export": ("export_memories", pool),
    }


def test_mcp_permission_matrix(memory: Memory, world: dict[str, Any]) -> None:
    unexpected = []
    for role in ROLES:
        user = "team" if role == "owner" else role
        calls = mcp_calls(role, world["shared"], world["own"][role])
        assert set(calls) == set(OPS)

        async def work(c: Client, calls: dict[str, Any] = calls) -> dict[str, Any]:
            out = {}
            for op, (tool, args) in calls.items():
                r = await c.call_tool(tool, args)
                text = " ".join(getattr(b, "text", "") for b in r.content)
                out[op] = (not r.is_error, text)
            return out

        got = run_with(memory, user, work)  # the owner names its own scope as the pool
        for op in OPS:
            allowed, text = got[op]
            if not allowed:
                assert re.search(r"\b(forbidden|not_found): ", text), (role, op, text)
                assert "deploys" not in text
            if allowed != expected(role, op):
                unexpected.append((role, op, allowed))
    assert unexpected == []


def test_mcp_writes_into_a_pool_are_attributed_and_grants_listed(
    memory: Memory, world: dict[str, Any]
) -> None:
    async def work(c: Client) -> tuple[Any, Any, Any]:
        upd = await c.call_tool(
            "update_memory", {"memory_id": world["shared"], "text": "the team deploys Mondays"}
        )
        got = await c.call_tool("get_memory", {"memory_id": world["shared"]})
        grants = await c.call_tool("list_grants", {})
        return upd.structured_content, got.structured_content, grants.structured_content

    upd, got, grants = run_with(memory, "write", work)
    assert upd["text"] == got["text"] == "the team deploys Mondays" and got["version"] == 2
    assert memory.history(world["shared"])[-1].actor == "key:stdio"
    assert grants["given"] == []
    assert [g["pool"] for g in grants["received"]] == [{"user_id": "team", "agent_id": None}]

    async def export(c: Client) -> Any:
        return (await c.call_tool("export_memories", {"pool_user": "team"})).structured_content

    records = run_with(memory, "read", export)["records"]
    kinds = {r["kind"] for r in records}
    assert {"turn", "entry", "history"} <= kinds
    assert all("vector" not in r for r in records)
    assert all(r.get("user_id") in (None, "team") for r in records)
