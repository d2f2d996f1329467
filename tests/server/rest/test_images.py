"""Images over REST: a message's images are kept on its turn and come back with it."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from lightmem import Memory
from tests.server.conftest import Tenants


def test_message_images_come_back_with_the_source_turns(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    a = tenants.auth(tenants.alice)
    image = {"url": "https://example.org/kayak.jpg", "caption": "a red kayak"}
    body = {"messages": [{"role": "user", "content": "my new boat", "images": [image]}]}
    assert client.post("/v1/memories", json=body, headers=a).status_code == 202
    client.post("/v1/flush", json={}, headers=a)
    hits = client.post("/v1/search", json={"query": "red kayak"}, headers=a).json()["results"]
    assert hits and hits[0]["sources"][0]["images"] == [image]
    memory_id = hits[0]["memory"]["id"]
    turns = client.get(f"/v1/memories/{memory_id}/sources", headers=a).json()["turns"]
    assert turns[0]["images"] == [image] and turns[0]["author"] is None
    bad = {"messages": [{"role": "user", "content": "x", "images": [{"url": ""}]}]}
    assert client.post("/v1/memories", json=bad, headers=a).status_code == 422
    # the memory drawn from the turn carries the image too
    assert hits[0]["memory"]["images"] == [image]
    got = client.get(f"/v1/memories/{memory_id}", headers=a).json()
    assert got["images"] == [image]


def test_decisions_of_a_memory_over_rest_and_only_for_its_tenant(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    from tests.server.conftest import seed

    old, new = seed(memory, "alice", ["I like green tea", "I like black coffee"])
    assert memory.store.apply_decision(old, [new], "ignore", reason="different drinks")
    a, b = tenants.auth(tenants.alice), tenants.auth(tenants.bob)
    for memory_id, other in ((old, "I like black coffee"), (new, "I like green tea")):
        r = client.get(f"/v1/memories/{memory_id}/decisions", headers=a)
        assert r.status_code == 200
        (d,) = r.json()["decisions"]
        assert (d["target_id"], d["source_id"], d["decision"]) == (old, new, "ignore")
        assert d["reason"] == "different drinks" and d["other_text"].endswith(other)
    r = client.get(f"/v1/memories/{old}/decisions", headers=b)
    assert r.status_code == 404 and "tea" not in r.text and "coffee" not in r.text


def test_an_import_may_not_attach_image_vectors_to_another_tenants_turn(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    memory.add([{"role": "user", "content": "bob's photo", "images": ["bob.png"]}], user_id="bob")
    (bob_turn,) = memory.turns(user_id="bob")
    record = {
        "kind": "image_vector",
        "turn_id": bob_turn.id,
        "n": 0,
        "model": "m",
        "vector": "AACAPw==",
    }
    r = client.post(
        "/v1/import",
        content=json.dumps(record) + "\n",
        headers={**tenants.auth(tenants.alice), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code in (400, 422) and "turn_id" in r.text
    assert memory.store.image_vectors(bob_turn.scope, "m") == {}
