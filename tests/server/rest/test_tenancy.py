"""Tenant isolation: with alice's key, no endpoint reads or changes anything of bob's, whatever
ids or filters the request sends. Bob's state is read directly through Memory before and
after, and must be identical."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lightmem import Memory
from lightmem.server.rest.app import create_app
from tests.server.conftest import Tenants, seed

BOB_SECRET = "bob's bank PIN is 4921 and he hides it under the zebra rug"

#: Strings that a careless store would read as "everyone" or as SQL, and near-misses of "bob".
TRICKS: list[Any] = [
    "bob",
    "*",
    "%",
    "_",
    "' OR 1=1 --",
    "bob' OR '1'='1",
    "alice' OR user_id='bob",
    "",
    " ",
    "bob ",
    "BOB",
    "b\u043eb",  # Cyrillic o
    "b\u200bob",  # zero-width space
    "bob\x00",
    "null",
    "None",
    ["bob"],
    ["alice", "bob"],
    {"$ne": None},
    1,
    True,
]
STRING_TRICKS = [t for t in TRICKS if isinstance(t, str)]
ID_TRICKS = ["*", "%", "' OR 1=1 --", "null", "0", "1", "a" * 256]
#: ids no memory can have: refused as input (422) before any lookup, whoever asks
BAD_IDS = ["a" * 257, "ab%0Acd", "%00abc"]


def bob_state(memory: Memory) -> list[Any]:
    """Everything of bob's in every partition, as exported (turns, entries, history...)."""
    state = []
    for agent in (None, "helper"):
        state.append(
            sorted(
                json.dumps(r, sort_keys=True) for r in memory.export(user_id="bob", agent_id=agent)
            )
        )
    return state


@pytest.fixture
def bob_ids(memory: Memory) -> list[str]:
    ids = seed(memory, "bob", [BOB_SECRET, "bob walks his dog Rex every morning"])
    ids += seed(memory, "bob", ["bob's helper agent knows his diary password"], "helper")
    seed(memory, "alice", ["alice plays the cello in an orchestra"])
    return ids


#: Words that only bob's memories contain.
BOB_WORDS = ("zebra", "PIN is", "Rex", "diary")


def assert_no_bob(response: Any, bob_ids: list[str]) -> None:
    text = response.text
    leaked = [w for w in (*BOB_WORDS, *bob_ids) if w in text]
    assert not leaked, (response.request.url, leaked)


def assert_refused(response: Any) -> None:
    assert response.status_code in (403, 422), response.text
    assert set(response.json()["error"]) == {"code", "message"}
    assert not any(w in response.text for w in BOB_WORDS)


def test_every_scope_trick_is_refused_or_stays_in_alices_memories(
    client: TestClient, memory: Memory, tenants: Tenants, bob_ids: list[str]
) -> None:
    before = bob_state(memory)
    a = tenants.auth(tenants.alice)
    for trick in TRICKS:
        bodies = [{"user_id": trick}, {"user_id": "alice", "agent_id": trick}]
        for extra in bodies:
            for method, path, body in (
                ("post", "/v1/memories", {"messages": "note", **extra}),
                ("post", "/v1/search", {"query": "bank PIN zebra", **extra}),
                ("post", "/v1/context", {"query": "bank PIN zebra", **extra}),
                ("post", "/v1/flush", extra),
                ("post", "/v1/consolidate", extra),
                (
                    "post",
                    "/v1/forget",
                    {"query": "zebra rug", "confirm": True, "purge": True, **extra},
                ),
                ("put", "/v1/ttl", {"ttl_seconds": 1, **extra}),
            ):
                r = client.request(method.upper(), path, json=body, headers=a)
                plain = (
                    isinstance(trick, str)
                    and trick.strip()
                    and not any(ord(c) < 32 or c == "\x7f" for c in trick)
                )
                if "agent_id" in extra and plain:
                    # alice's own partition under an odd agent name: allowed, and empty of bob
                    assert r.status_code < 300, (path, trick, r.text)
                    assert_no_bob(r, bob_ids)
                else:
                    assert_refused(r)
        if not isinstance(trick, str):
            continue
        for params in ({"user_id": trick}, {"user_id": ["alice", trick]}):
            for method, path in (
                ("GET", "/v1/memories"),
                ("DELETE", "/v1/memories"),
                ("GET", "/v1/stats"),
                ("GET", "/v1/export"),
                ("GET", "/v1/ttl"),
            ):
                r = client.request(method, path, params=params, headers=a)
                if r.status_code < 300:
                    assert_no_bob(r, bob_ids)
                else:
                    assert_refused(r)
    assert bob_state(memory) == before


def test_alices_own_views_hold_nothing_of_bob(
    client: TestClient, memory: Memory, tenants: Tenants, bob_ids: list[str]
) -> None:
    a = tenants.auth(tenants.alice)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/search", {"json": {"query": "bank PIN zebra rug dog Rex diary"}}),
        ("POST", "/v1/search", {"json": {"query": "*"}}),
        ("POST", "/v1/search", {"json": {"query": "' OR 1=1 --", "mode": "bm25"}}),
        ("POST", "/v1/context", {"json": {"query": "bank PIN zebra rug dog Rex diary"}}),
        ("POST", "/v1/context", {"json": {"query": "*", "budget_tokens": 5000}}),
        ("GET", "/v1/memories", {"params": {"include_deleted": "true"}}),
        ("GET", "/v1/export", {}),
        ("GET", "/v1/stats", {}),
        ("GET", "/v1/me", {}),
        ("POST", "/v1/forget", {"json": {"query": "zebra"}}),
        ("POST", "/v1/forget", {"json": {"query": "PIN"}}),
        ("POST", "/v1/forget", {"json": {"query": "Rex", "confirm": True, "purge": True}}),
    ]
    for method, path, kwargs in calls:
        r = client.request(method, path, headers=a, **kwargs)
        assert r.status_code == 200, r.text
        assert_no_bob(r, bob_ids)
    stats = client.get("/v1/stats", headers=a).json()
    assert stats["memories"] == 1 and stats["usage"] is None


def test_bobs_ids_answer_exactly_like_missing_ids(
    client: TestClient, memory: Memory, tenants: Tenants, bob_ids: list[str]
) -> None:
    before = bob_state(memory)
    a = tenants.auth(tenants.alice)
    missing = "0" * 32
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/memories/{}", {}),
        ("GET", "/v1/memories/{}/history", {}),
        ("PATCH", "/v1/memories/{}", {"json": {"text": "alice was here"}}),
        ("DELETE", "/v1/memories/{}", {"params": {"reason": "x"}}),
        ("GET", "/v1/memories/{}/sources", {}),
        ("POST", "/v1/memories/{}/pin", {"json": {"pinned": True}}),
        ("POST", "/v1/memories/{}/ttl", {"json": {"ttl_seconds": 1}}),
    ]
    for entry_id in [*bob_ids, *ID_TRICKS]:
        for method, path, kwargs in calls:
            r = client.request(method, path.format(entry_id), headers=a, **kwargs)
            ref = client.request(method, path.format(missing), headers=a, **kwargs)
            assert r.status_code == ref.status_code == 404, (entry_id, r.text)
            assert r.json()["error"]["code"] == "not_found"
            expected = ref.json()["error"]["message"].replace(repr(missing), repr(entry_id))
            assert r.json()["error"]["message"] == expected
    for entry_id in BAD_IDS:  # a 300-character id was a 404 that echoed it whole
        for method, path, kwargs in calls:
            r = client.request(method, path.format(entry_id), headers=a, **kwargs)
            assert r.status_code == 422 and "memory_id" in r.text and entry_id not in r.text
    assert bob_state(memory) == before


def test_forgetting_bobs_ids_answers_like_missing_ids(
    client: TestClient, memory: Memory, tenants: Tenants, bob_ids: list[str]
) -> None:
    before = bob_state(memory)
    a = tenants.auth(tenants.alice)
    missing = "0" * 32
    for entry_id in [*bob_ids, *(i for i in ID_TRICKS if len(i) <= 256)]:  # longer: 422
        for purge in (False, True):
            body = {"ids": [entry_id], "confirm": True, "purge": purge}
            r = client.post("/v1/forget", json=body, headers=a)
            ref = client.post("/v1/forget", json={**body, "ids": [missing]}, headers=a)
            assert r.status_code == ref.status_code == 404, (entry_id, r.text)
            expected = ref.json()["error"]["message"].replace(repr(missing), repr(entry_id))
            assert r.json()["error"]["message"] == expected
    assert bob_state(memory) == before


def test_bodies_with_smuggled_filters_are_rejected(
    client: TestClient, memory: Memory, tenants: Tenants, bob_ids: list[str]
) -> None:
    before = bob_state(memory)
    a = tenants.auth(tenants.alice)
    for path, body in (
        ("/v1/search", {"query": "PIN", "filters": {"user_id": "bob"}}),
        ("/v1/search", {"query": "PIN", "scope": {"user_id": "bob"}}),
        ("/v1/memories", {"messages": "hi", "metadata": {"user_id": "bob"}}),
        ("/v1/memories", {"messages": [{"role": "user", "content": "hi", "user_id": "bob"}]}),
        ("/v1/flush", {"user_id": "alice", "all": True}),
    ):
        r = client.post(path, json=body, headers=a)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_input"
    r = client.get("/v1/memories", params={"user": "bob"}, headers=a)
    assert r.status_code == 422
    assert bob_state(memory) == before


def test_import_cannot_write_into_or_link_to_another_tenant(
    client: TestClient, memory: Memory, tenants: Tenants, bob_ids: list[str]
) -> None:
    before = bob_state(memory)
    a = tenants.auth(tenants.alice)
    bob_records = list(memory.export(user_id="bob"))
    bob_turn = next(r["id"] for r in bob_records if r["kind"] == "turn")
    alice_records = list(memory.export(user_id="alice"))
    entry = next(r for r in alice_records if r["kind"] == "entry")
    history = {
        "kind": "history",
        "id": 999,
        "entry_id": bob_ids[0],
        "event": "UPDATE",
        "old_text": None,
        "new_text": "pwned",
        "reason": None,
        "actor": "user",
        "created_at": "2024-01-01T00:00:00",
    }
    call = {
        "kind": "llm_call",
        "stage": "x",
        "tokens_in": 1,
        "tokens_out": 1,
        "seconds": 0.1,
        "ok": True,
        "created_at": "2024-01-01T00:00:00",
    }
    forged: list[tuple[str | tuple[str, ...], list[dict[str, Any]]]] = [
        ("forbidden", [{**bob_records[0], "id": "t-new"}]),  # a turn in bob's scope
        ("invalid_input", [history]),  # history of bob's entry
        ("invalid_input", [{**entry, "id": "e-new", "sources": [bob_turn]}]),  # bob's turns
        ("invalid_input", [{"kind": "pair", "target_id": bob_ids[0], "source_id": bob_ids[1]}]),
        ("forbidden", [call]),  # store-wide LLM accounting
        # an event binding bob's fact, or linking to bob's entry: search would follow them
        (
            "invalid_input",
            [
                {
                    **entry,
                    "id": "ev-new",
                    "memory_kind": "event",
                    "sources": [],
                    "meta": {"facts": [bob_ids[0]], "links": []},
                }
            ],
        ),
        (
            "invalid_input",
            [
                {
                    **entry,
                    "id": "ev-new",
                    "memory_kind": "event",
                    "sources": [],
                    "meta": {"facts": [], "links": [{"to": bob_ids[0]}]},
                }
            ],
        ),
        ("invalid_input", [{**entry, "id": "ev-new", "meta": "not an object"}]),
    ]
    for code, records in forged:
        body = "\n".join(json.dumps(r) for r in records)
        r = client.post("/v1/import", content=body, headers=a)
        assert r.json()["error"]["code"] in (code if isinstance(code, tuple) else (code,))
        assert not any(w in r.text for w in (*BOB_WORDS, *bob_ids[1:]))
    assert bob_state(memory) == before
    assert memory.history(bob_ids[0])[-1].new_text != "pwned"


def test_an_event_naming_another_tenants_fact_never_shows_it(
    client: TestClient, memory: Memory, tenants: Tenants, bob_ids: list[str]
) -> None:
    """An event in alice's memory whose ``meta`` names bob's fact (written by a trusted
    import, or by a store edited by hand) brings alice none of bob's words: search follows
    an event's facts only within the event's owner."""
    alice_entry = next(r for r in memory.export(user_id="alice") if r["kind"] == "entry")
    event = {
        **alice_entry,
        "id": "ev-forged",
        "memory_kind": "event",
        "sources": [],
        "text": "alice and the cello concert event",
        "meta": {"facts": [bob_ids[0], alice_entry["id"]], "links": []},
    }
    assert memory.import_records([event]) == 1  # the Python API is the store owner's: no check
    a = tenants.auth(tenants.alice)
    for path, body in (
        ("/v1/search", {"query": "cello concert event", "limit": 20}),
        ("/v1/search", {"query": "cello concert event", "limit": 20, "mode": "hierarchical"}),
        ("/v1/context", {"query": "cello concert event", "hierarchical": True}),
    ):
        r = client.post(path, json=body, headers=a)
        assert r.status_code == 200, r.text
        assert "cello" in r.text
        # the forged event's own meta holds the id alice wrote; nothing of bob's comes back
        assert_no_bob(r, bob_ids[1:])
    hits = memory.search("cello concert event", user_id="alice", limit=20)
    forged = next(h for h in hits if h.entry is not None and h.entry.id == "ev-forged")
    assert [f.id for f in forged.facts] == [alice_entry["id"]]  # its own fact still comes


def test_consolidation_jobs_are_private(
    client: TestClient, tenants: Tenants, bob_ids: list[str]
) -> None:
    job = client.post("/v1/consolidate", headers=tenants.auth(tenants.bob)).json()
    r = client.get(f"/v1/consolidate/{job['id']}", headers=tenants.auth(tenants.alice))
    assert r.status_code == 404
    r = client.get(f"/v1/consolidate/{job['id']}", headers=tenants.auth(tenants.bob))
    assert r.status_code == 200 and r.json()["status"] == "done"


def test_one_key_cannot_borrow_another_tenants_key(
    client: TestClient, tenants: Tenants, bob_ids: list[str]
) -> None:
    for header in (
        f"Bearer {tenants.alice} {tenants.bob}",
        f"Bearer {tenants.alice},{tenants.bob}",
        f"Bearer {tenants.bob[:-1]}",
        f"bearer  {tenants.bob}x",
    ):
        r = client.get("/v1/memories", params={"user_id": "bob"}, headers={"Authorization": header})
        assert r.status_code == 401, header


def test_scoped_keys_narrow_but_never_widen(memory: Memory, tenants: Tenants) -> None:
    seed(memory, "bob", [BOB_SECRET])
    seed(memory, "carol", ["carol grows tomatoes"])
    seed(memory, "carol", ["carol's planner agent books trains"], "planner")
    seed(memory, None, ["the helper agent's own notes"], "helper")
    two, _ = tenants.store.create(users=["alice", "carol"], name="two")
    planner, _ = tenants.store.create(users=["carol"], agents=["planner"], name="planner")
    agent, _ = tenants.store.create(agents=["helper"], name="agent")
    with TestClient(create_app(memory, tenants.store)) as c:
        r = c.get("/v1/memories", headers=Tenants.auth(two))
        assert r.status_code == 422  # two users: the request must name one
        r = c.get("/v1/memories", params={"user_id": "carol"}, headers=Tenants.auth(two))
        assert [m["text"] for m in r.json()["memories"]] == ["user: carol grows tomatoes"]
        assert (
            c.get("/v1/memories", params={"user_id": "bob"}, headers=Tenants.auth(two)).status_code
            == 403
        )

        r = c.get("/v1/memories", headers=Tenants.auth(planner))
        assert [m["agent_id"] for m in r.json()["memories"]] == ["planner"]
        for params in ({"agent_id": "other"}, {"user_id": "alice"}):
            assert (
                c.get("/v1/memories", params=params, headers=Tenants.auth(planner)).status_code
                == 403
            )

        r = c.get("/v1/memories", headers=Tenants.auth(agent))
        assert [m["text"] for m in r.json()["memories"]] == ["user: the helper agent's own notes"]
        r = c.get("/v1/memories", params={"user_id": "bob"}, headers=Tenants.auth(agent))
        assert r.status_code == 403


def test_admin_key_sees_every_tenant(
    client: TestClient, tenants: Tenants, bob_ids: list[str]
) -> None:
    r = client.get(f"/v1/memories/{bob_ids[0]}", headers=tenants.auth(tenants.admin))
    assert r.status_code == 200 and r.json()["text"].endswith(BOB_SECRET)
    r = client.get("/v1/memories", headers=tenants.auth(tenants.admin))
    assert r.status_code == 422  # an admin names the scope it works in


def test_import_answers_alike_for_another_tenants_id_and_a_fresh_one(
    client: TestClient, memory: Memory, tenants: Tenants, bob_ids: list[str]
) -> None:
    """Issue 19, finding 13: an import naming bob's entry id is answered exactly as one
    naming a fresh id (200, the row stored under an id of alice's own), so it is no
    existence oracle; only ids of alice's own scope conflict."""
    before = bob_state(memory)
    a = tenants.auth(tenants.alice)
    entry = next(r for r in memory.export(user_id="alice") if r["kind"] == "entry")
    answers = []
    for given in (bob_ids[0], "f" * 32):
        body = json.dumps({**entry, "id": given, "sources": [], "text": f"copy {given[:4]}"})
        r = client.post("/v1/import", content=body, headers=a)
        answers.append((r.status_code, r.json()))
        for path in (f"/v1/memories/{given}", f"/v1/memories/{given}/history"):
            assert client.get(path, headers=a).status_code == 404
    assert answers == [(200, {"imported": 1})] * 2
    texts = {e.text for e in memory.get_all(user_id="alice")}
    assert {f"copy {bob_ids[0][:4]}", "copy ffff"} <= texts
    assert bob_state(memory) == before
    # alice's own ids conflict (an export imported back), as before
    own = "\n".join(json.dumps(r) for r in memory.export(user_id="alice"))
    r = client.post("/v1/import", content=own, headers=a)
    assert r.status_code == 409 and entry["id"] in r.json()["error"]["message"]
    # and so does the same file imported twice
    body = json.dumps({**entry, "id": "e" * 32, "sources": []})
    assert client.post("/v1/import", content=body, headers=a).status_code == 200
    r = client.post("/v1/import", content=body, headers=a)
    assert r.status_code == 409 and "made before" in r.json()["error"]["message"]
