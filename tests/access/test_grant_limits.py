"""What a grant may not do, and whom it reaches (issue 19, findings 4 and 12), over REST and
MCP: a write grant forgets (tombstones the owner sees, with who did it) but never erases for
good; a grant to a user reaches that user's agent keys, and nothing else of theirs."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from mcp import Client

from lightmem import Memory
from lightmem.types import Scope
from tests.server.conftest import Tenants, seed
from tests.server.mcp.test_mcp import run_with

TEAM = Scope("team")
NOTES = [f"release note {n}: the build is green" for n in range(12)] + ["the office cat"]


def test_a_write_grant_never_purges_the_owners_pool(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    ids = seed(memory, "team", NOTES)
    before = list(memory.export(user_id="team"))
    writer = tenants.store.create(users=["writer"], name="writer")[0]
    memory.grant("write", pool=TEAM, to=Scope("writer"))
    h = Tenants.auth(writer)
    body = {"query": "build green", "user_id": "team", "purge": True, "confirm": True}
    r = client.post("/v1/forget", json=body, headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert "owner" in r.json()["error"]["message"]
    r = client.post("/v1/forget", json={**body, "ids": ids[:3], "query": None}, headers=h)
    assert r.status_code == 403
    assert list(memory.export(user_id="team")) == before  # nothing erased, nothing changed
    # the preview stays allowed: it changes nothing
    r = client.post("/v1/forget", json={**body, "confirm": False}, headers=h)
    assert r.status_code == 200 and len(r.json()["memories"]) == 12

    async def mcp_purge(c: Client) -> Any:
        return await c.call_tool(
            "forget", {"query": "build green", "pool_user": "team", "purge": True, "confirm": True}
        )

    refused = run_with(memory, "writer", mcp_purge)
    assert refused.is_error and "forbidden" in refused.content[0].text
    assert list(memory.export(user_id="team")) == before


def test_the_owner_sees_who_forgot_what(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    ids = seed(memory, "team", NOTES)
    owner = tenants.store.create(users=["team"], name="team-owner")[0]
    writer = tenants.store.create(users=["writer"], name="writer")[0]
    memory.grant("write", pool=TEAM, to=Scope("writer"))
    body = {"query": "build green", "user_id": "team", "confirm": True}
    r = client.post("/v1/forget", json=body, headers=Tenants.auth(writer))
    assert r.status_code == 200 and r.json()["purged"] is False
    forgotten = {m["id"] for m in r.json()["memories"]}
    assert forgotten == set(ids[:12])
    h = Tenants.auth(owner)
    listed = client.get("/v1/memories", params={"include_deleted": True}, headers=h).json()
    deleted = {m["id"] for m in listed["memories"] if m["status"] == "deleted"}
    assert deleted == forgotten  # tombstones, kept with their text for the owner
    for memory_id in forgotten:
        history = client.get(f"/v1/memories/{memory_id}/history", headers=h).json()["history"]
        assert history[-1]["event"] == "FORGET" and history[-1]["actor"] == "key:writer"
    # and the owner may still erase for good
    r = client.post("/v1/forget", json={**body, "purge": True}, headers=h)
    assert r.status_code == 200 and r.json()["erased_memories"] == 12
    assert [e["actor"] for e in memory.erasures(user_id="team")] == ["key:team-owner"]


def test_a_grant_to_a_user_reaches_that_users_agent_keys(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    seed(memory, "team", ["the team deploys on Fridays"])
    seed(memory, "alice", ["alice keeps her own diary"], agent_id="helper")
    agent_key = tenants.store.create(users=["alice"], agents=["helper"], name="alice-helper")[0]
    other_key = tenants.store.create(users=["bob"], agents=["helper"], name="bob-helper")[0]
    memory.grant("read", pool=TEAM, to=Scope("alice"))
    pool = {"user_id": "team"}
    for key, reaches in ((agent_key, True), (other_key, False)):
        h = Tenants.auth(key)
        listed = client.get("/v1/memories", params=pool, headers=h)
        found = client.post("/v1/search", json={"query": "deploys Fridays", **pool}, headers=h)
        shared = client.post("/v1/search", json={"query": "deploys", "shared": True}, headers=h)
        received = client.get("/v1/grants", headers=h).json()["received"]
        if reaches:
            assert listed.status_code == 200 and "Fridays" in listed.text
            assert found.status_code == 200 and "Fridays" in found.text
            assert "Fridays" in shared.text
            assert [g["pool"]["user_id"] for g in received] == ["team"]
        else:
            assert listed.status_code == 403 and found.status_code == 403
            assert "Fridays" not in shared.text and received == []
    # an admin sees every grant as given, not each one a second time as received
    grants = client.get("/v1/grants", headers=Tenants.auth(tenants.admin)).json()
    assert [g["pool"]["user_id"] for g in grants["given"]] == ["team"]
    assert grants["received"] == []
    # a read grant stays read-only for the agent key too
    h = Tenants.auth(agent_key)
    r = client.post("/v1/memories", json={"messages": "sneaky", **pool}, headers=h)
    assert r.status_code == 403
