"""Confirming a forget preview by its ids (issue 19, finding 9): ``POST /v1/forget`` with
the preview's ``ids`` and ``turn_ids`` erases what it showed, not what matches the query now;
another tenant's turn ids answer as missing ones."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lightmem import Memory
from tests.server.conftest import Tenants, seed


def test_a_preview_confirmed_by_its_ids_erases_exactly_it(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    alice = tenants.auth(tenants.alice)
    seed(memory, "alice", ["my cousin Ottilie lives in Ghent", "my cat eats salmon"])
    seed(memory, "bob", ["Ottilie is bob's neighbour"])
    preview = client.post(
        "/v1/forget", json={"query": "Ottilie", "user_id": "alice"}, headers=alice
    ).json()
    assert preview["done"] is False and len(preview["memories"]) == len(preview["turns"]) == 1

    seed(memory, "alice", ["Ottilie moved to Leuven"])  # added after the preview
    confirm = {
        "ids": [m["id"] for m in preview["memories"]],
        "turn_ids": [t["id"] for t in preview["turns"]],
        "user_id": "alice",
        "purge": True,
        "confirm": True,
    }
    r = client.post("/v1/forget", json=confirm, headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["erased_memories"] == 1 and r.json()["erased_turns"] == 1
    texts = [t.content for t in memory.turns(user_id="alice")]
    assert "Ottilie moved to Leuven" in texts and not any("Ghent" in t for t in texts)

    bobs = [t.id for t in memory.turns(user_id="bob")]
    r = client.post(
        "/v1/forget",
        json={"turn_ids": bobs, "user_id": "alice", "confirm": True, "purge": True},
        headers=alice,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert len(memory.turns(user_id="bob")) == 1
    r = client.post("/v1/forget", json={"user_id": "alice", "confirm": True}, headers=alice)
    assert r.status_code == 422
