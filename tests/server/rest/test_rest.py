"""The REST API: auth, limits, error shapes, the endpoints' behaviour, logs, the keyless
loopback mode, and the key and serve commands."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lightmem import ConfigError, Memory, StorageError
from lightmem.cli.serve import check_bind, is_loopback
from lightmem.errors import MissingDependencyError
from lightmem.messages import make_scope
from lightmem.server.auth import Principal
from lightmem.server.errors import classify
from lightmem.server.keys import KeyStore
from lightmem.server.rest.app import create_app
from lightmem.server.rest.jobs import Jobs
from lightmem.types import Scope
from tests.server.conftest import CONFIG, Tenants, seed, server_cli

DOCS = Path(__file__).resolve().parents[3] / "docs" / "rest.md"


def error_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return dict(body["error"])


# -- auth ---------------------------------------------------------------------------------------
def test_health_needs_no_key(client: TestClient) -> None:
    r = client.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer lm_not-a-key"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"X-API-Key": "lm_whatever"},
    ],
)
def test_missing_or_bad_key_is_401(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/v1/memories", headers=headers)
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


def test_revoked_key_is_401_on_a_running_server(
    client: TestClient, tenants: Tenants, memory: Memory
) -> None:
    a = tenants.auth(tenants.alice)
    assert client.get("/v1/memories", headers=a).status_code == 200
    with Memory(memory.path, config=CONFIG) as other:  # as `lightmem keys revoke` would
        KeyStore.for_memory(other).revoke("alice")
    r = client.get("/v1/memories", headers=a)
    assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
    assert client.get("/v1/memories", headers=tenants.auth(tenants.bob)).status_code == 200


def test_the_store_holds_only_key_hashes_and_is_private(memory: Memory, tenants: Tenants) -> None:
    memory.store.close()  # checkpoint the WAL into the database file
    memory.store.open(memory.embedder.dim)
    blob = b"".join(p.read_bytes() for p in memory.path.iterdir() if p.is_file())
    for key in (tenants.alice, tenants.bob, tenants.admin):
        assert key.encode() not in blob and key[3:20].encode() not in blob
    assert {k.name for k in tenants.store.list_keys()} == {"alice", "bob", "admin"}
    assert not (memory.path / "keys.json").exists()


def test_a_keys_file_of_an_older_version_is_imported_once(tmp_path: Path) -> None:
    legacy = {
        "version": 1,
        "keys": [
            {
                "name": "old",
                "sha256": "ab" * 32,
                "admin": False,
                "grants": [{"user_id": "alice", "agent_id": None}],
                "created_at": "2026-01-01T00:00:00+00:00",
            }
        ],
    }
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "keys.json").write_text(json.dumps(legacy))
    os.chmod(tmp_path / "s" / "keys.json", 0o600)
    with Memory(tmp_path / "s", config=CONFIG) as mem:
        assert [k.name for k in KeyStore.for_memory(mem).list_keys()] == ["old"]
        assert not (tmp_path / "s" / "keys.json").exists()
        assert (tmp_path / "s" / "keys.json.imported").exists()
        assert [k.name for k in KeyStore.for_memory(mem).list_keys()] == ["old"]


# -- limits and malformed requests --------------------------------------------------------------
def test_body_over_the_limit_is_413(memory: Memory, tenants: Tenants) -> None:
    a = tenants.auth(tenants.alice)
    with TestClient(create_app(memory, tenants.store, max_body_bytes=1000)) as c:
        r = c.post("/v1/memories", json={"messages": "x" * 2000}, headers=a)
        assert r.status_code == 413 and error_of(r)["code"] == "too_large"
        chunks = iter([b'{"messages": "', b"x" * 800, b"x" * 800, b'"}'])  # no Content-Length
        r = c.post(
            "/v1/memories", content=chunks, headers={**a, "Content-Type": "application/json"}
        )
        assert r.status_code == 413 and error_of(r)["code"] == "too_large"
        r = c.post("/v1/import", content=iter([b"{}\n" * 400]), headers=a)
        assert r.status_code == 413
        assert c.post("/v1/memories", json={"messages": "short"}, headers=a).status_code == 202
    assert memory.turns(user_id="alice")[0].content == "short"


def test_default_limit_is_one_mebibyte(client: TestClient, tenants: Tenants) -> None:
    r = client.post(
        "/v1/memories", json={"messages": "x" * (1024 * 1024)}, headers=tenants.auth(tenants.alice)
    )
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b'{"messages": "hi"', "json_invalid"),
        (b'{"messages": "hi", "colour": "red"}', "unknown field"),
        (b'{"messages": 42}', "wrong type"),
        (b'{"messages": [{"role": "robot", "content": "hi"}]}', "bad role"),
        (b'{"messages": [{"role": "user", "content": ""}]}', "empty content"),
        (b'{"messages": "hi", "user_id": ["alice"]}', "list instead of string"),
        (b'{"messages": "hi", "timestamp": "yesterday-ish"}', "bad timestamp"),
        (b"[]", "not an object"),
        (b"", "no body"),
    ],
)
def test_malformed_requests_are_422_in_the_error_shape(
    client: TestClient, tenants: Tenants, content: bytes, what: str
) -> None:
    headers = {**tenants.auth(tenants.alice), "Content-Type": "application/json"}
    r = client.post("/v1/memories", content=content, headers=headers)
    assert r.status_code == 422, what
    assert error_of(r)["code"] == "invalid_input"


def test_wrong_types_on_destructive_fields_are_422_and_change_nothing(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    """Flags and numbers are taken as JSON gives them, never coerced: ``"ttl_seconds": true``
    was a 1 s default TTL (the next sleep time erased the user's memories) and
    ``"confirm": "yes"`` an irreversible purge."""
    ids = seed(memory, "alice", ["alice keeps bees on the roof"])
    a = tenants.auth(tenants.alice)
    bad: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", "/v1/ttl", {"ttl_seconds": True}),
        ("PUT", "/v1/ttl", {"ttl_seconds": "1"}),
        ("POST", f"/v1/memories/{ids[0]}/ttl", {"ttl_seconds": True}),
        ("POST", "/v1/forget", {"query": "bees", "confirm": "yes", "purge": True}),
        ("POST", "/v1/forget", {"query": "bees", "confirm": True, "purge": 1}),
        ("POST", "/v1/forget", {"query": "bees", "confirm": 1.0}),
        ("POST", f"/v1/memories/{ids[0]}/pin", {"pinned": "false"}),
        ("POST", "/v1/search", {"query": "bees", "limit": True}),
        ("POST", "/v1/search", {"query": "bees", "shared": "yes"}),
        ("POST", "/v1/context", {"query": "bees", "hierarchical": 1}),
        ("POST", "/v1/search", {"query": "bees", "start": "2024-05-01", "end": "2024-01-01"}),
        ("PATCH", f"/v1/memories/{ids[0]}", {"text": "a\u0000b"}),
        (
            "POST",
            "/v1/memories",
            {
                "messages": {
                    "role": "user",
                    "content": "look",
                    "images": [{"url": "javascript:alert(1)"}],
                }
            },
        ),
    ]
    before = list(memory.export(user_id="alice"))
    for method, path, body in bad:
        r = client.request(method, path, json=body, headers=a)
        assert r.status_code == 422, (method, path, body, r.text)
        assert error_of(r)["code"] == "invalid_input"
    assert list(memory.export(user_id="alice")) == before
    assert memory.default_ttl(user_id="alice") is None


def test_unknown_query_parameter_is_422(client: TestClient, tenants: Tenants) -> None:
    r = client.get("/v1/memories", params={"usr_id": "alice"}, headers=tenants.auth(tenants.alice))
    assert r.status_code == 422
    assert "usr_id" in error_of(r)["message"]
    a = tenants.auth(tenants.alice)
    assert client.get("/v1/grants", headers=a).status_code == 200
    r = client.get("/v1/grants", params={"user_id": "bob"}, headers=a)
    assert r.status_code == 422 and "user_id" in error_of(r)["message"]
    # a route taking its fields in the body ignored its query string (black-box probe)
    body = {"query": "anything"}
    r = client.post("/v1/search", params={"user_id": "bob"}, json=body, headers=a)
    assert r.status_code == 422 and "user_id" in error_of(r)["message"]
    assert "JSON body" in error_of(r)["message"]
    assert client.post("/v1/search", json=body, headers=a).status_code == 200


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    assert error_of(client.get("/v1/nothing"))["code"] == "not_found"
    r = client.put("/v1/search")
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"


def test_store_failure_is_503_with_a_fixed_message(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    memory.store.close()
    r = client.get("/v1/memories", headers=tenants.auth(tenants.alice))
    assert r.status_code == 503
    assert error_of(r) == {
        "code": "storage",
        "message": "the memory store is unavailable; try again",
    }


def test_unexpected_errors_are_500_internal_and_logged_by_type_only(
    memory: Memory, tenants: Tenants, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(memory, tenants.store)

    def boom() -> None:
        raise KeyError("the user's diary text")

    app.add_api_route("/v1/boom", boom)
    caplog.set_level(logging.INFO)
    with TestClient(app) as c:  # raise_server_exceptions stays on: nothing may escape
        r = c.get("/v1/boom")
    assert r.status_code == 500
    assert error_of(r) == {"code": "internal", "message": "internal server error"}
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "GET /v1/boom failed: KeyError" in logged and "diary" not in logged


def test_error_table() -> None:
    assert classify(StorageError("disk /secret/path full"))[:2] == (503, "storage")
    assert "/secret" not in classify(StorageError("disk /secret/path full"))[2]
    assert classify(RuntimeError("boom")) == (500, "internal", "internal server error")


# -- the endpoints ------------------------------------------------------------------------------
def test_add_returns_202_before_extraction_and_flush_makes_it_searchable(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    a = tenants.auth(tenants.alice)
    answers: dict[str, Any] = {}
    body = {"messages": [{"role": "user", "content": "My sister Lena lives in Porto."}]}
    # alice's pipeline lock: her extraction cannot run until it is released
    with memory.engine.owners.hold(make_scope("alice", None, None).owner):
        worker = threading.Thread(
            target=lambda: answers.update(r=client.post("/v1/memories", json=body, headers=a))
        )
        start = time.monotonic()
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "add waited for extraction"
        assert time.monotonic() - start < 10
        r = answers["r"]
        assert r.status_code == 202 and r.json()["status"] == "accepted"
        assert [t.id for t in memory.turns(user_id="alice")] == r.json()["turn_ids"]
        assert memory.get_all(user_id="alice") == []

    r = client.post("/v1/flush", headers=a)
    assert r.status_code == 200 and r.json()["entries_created"] == 1
    r = client.post("/v1/search", json={"query": "where does Lena live"}, headers=a)
    hits = r.json()["results"]
    assert "Porto" in hits[0]["memory"]["text"]
    assert hits[0]["sources"][0]["content"] == "My sister Lena lives in Porto."


def test_memory_lifecycle(client: TestClient, memory: Memory, tenants: Tenants) -> None:
    a = tenants.auth(tenants.alice)
    [entry_id] = seed(memory, "alice", ["I drink oat milk"])
    listed = client.get("/v1/memories", headers=a).json()["memories"]
    assert [m["id"] for m in listed] == [entry_id]
    got = client.get(f"/v1/memories/{entry_id}", headers=a).json()
    assert got["user_id"] == "alice" and got["status"] == "active" and got["version"] == 1

    r = client.patch(
        f"/v1/memories/{entry_id}",
        json={"text": "I drink soy milk", "reason": "changed"},
        headers=a,
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    events = client.get(f"/v1/memories/{entry_id}/history", headers=a).json()["history"]
    assert [e["event"] for e in events] == ["ADD", "UPDATE"]
    assert events[1]["old_text"].endswith("oat milk") and events[1]["reason"] == "changed"

    r = client.delete(f"/v1/memories/{entry_id}", params={"reason": "wrong"}, headers=a)
    assert r.status_code == 204 and r.content == b""
    assert client.get(f"/v1/memories/{entry_id}", headers=a).json()["status"] == "deleted"
    assert client.get("/v1/memories", headers=a).json()["memories"] == []
    deleted = client.get("/v1/memories", params={"include_deleted": "true"}, headers=a)
    assert len(deleted.json()["memories"]) == 1

    seed(memory, "alice", ["I run on Sundays"])
    r = client.delete("/v1/memories", headers=a)
    assert r.status_code == 200 and r.json()["deleted"] == 2
    assert memory.get_all(user_id="alice", include_deleted=True) == []


def test_supersede_and_chain(client: TestClient, memory: Memory, tenants: Tenants) -> None:
    a, b = tenants.auth(tenants.alice), tenants.auth(tenants.bob)
    old, new = seed(memory, "alice", ["I work at Acme", "I started at Globex"])
    [bobs] = seed(memory, "bob", ["I work at Initech"])
    r = client.post(f"/v1/memories/{old}/supersede", json={"by": new, "reason": "job"}, headers=a)
    assert r.status_code == 200
    body = r.json()
    assert body["superseded_by"] == new and body["valid_from"] is not None
    assert body["valid_until"] == client.get(f"/v1/memories/{new}", headers=a).json()["timestamp"]
    chain = client.get(f"/v1/memories/{new}/chain", headers=a).json()["chain"]
    assert [m["id"] for m in chain] == [old, new] and chain[1]["superseded_by"] is None
    events = client.get(f"/v1/memories/{old}/history", headers=a).json()["history"]
    assert events[-1]["event"] == "SUPERSEDE" and events[-1]["reason"] == "job"
    # another tenant's ids, on either side, are answered as missing ones
    for path, by, key in ((old, new, b), (old, bobs, a), (bobs, old, b)):
        r = client.post(f"/v1/memories/{path}/supersede", json={"by": by}, headers=key)
        assert r.status_code == 404 and error_of(r)["code"] == "not_found"
    assert client.get(f"/v1/memories/{old}/chain", headers=b).status_code == 404
    r = client.post(f"/v1/memories/{new}/supersede", json={"by": old}, headers=a)
    assert r.status_code == 422 and "cycle" in error_of(r)["message"]
    r = client.post(f"/v1/memories/{old}/supersede", json={"by": None}, headers=a)
    assert r.status_code == 200 and r.json()["superseded_by"] is None
    assert client.post(f"/v1/memories/{old}/supersede", json={}, headers=a).status_code == 422


def test_search_options(client: TestClient, memory: Memory, tenants: Tenants) -> None:
    seed(memory, "alice", ["I adopted a cat named Miso", "My car is a red Fiat"])
    a = tenants.auth(tenants.alice)
    for mode in ("dense", "bm25", "hybrid"):
        r = client.post(
            "/v1/search", json={"query": "cat Miso", "mode": mode, "limit": 1}, headers=a
        )
        assert r.status_code == 200 and len(r.json()["results"]) == 1
    r = client.post(
        "/v1/search",
        json={"query": "cat", "start": "2000-01-01T00:00:00", "end": "2000-12-31T00:00:00"},
        headers=a,
    )
    assert r.json()["results"] == []
    r = client.post("/v1/search", json={"query": "cat", "mode": "fuzzy"}, headers=a)
    assert r.status_code == 422


def test_context_route(client: TestClient, memory: Memory, tenants: Tenants) -> None:
    seed(memory, "alice", ["I adopted a cat named Miso", "My car is a red Fiat"])
    a = tenants.auth(tenants.alice)
    r = client.post("/v1/context", json={"query": "cat Miso", "budget_tokens": 60}, headers=a)
    body = r.json()
    assert r.status_code == 200 and 0 < body["tokens"] <= 60 and "Miso" in body["text"]
    assert body["items"][0]["kind"] == "memory" and body["budget_tokens"] == 60
    r = client.post("/v1/context", json={"query": "cat", "budget_tokens": 0}, headers=a)
    assert r.status_code == 422 and set(r.json()["error"]) == {"code", "message"}
    r = client.post("/v1/search", json={"query": "cat Miso"}, headers=a)
    hit = r.json()["results"][0]
    assert hit["kind"] == "memory" and hit["relevance"] == 1.0 and hit["turn"] is None
    # what the prompt already holds is left out (here every memory but the car)
    held = {"query": "cat Miso", "in_prompt": ["I adopted a cat  named Miso"]}
    r = client.post("/v1/context", json=held, headers=a)
    assert r.status_code == 200 and "Miso" not in r.json()["text"]
    r = client.post("/v1/context", json={"query": "cat", "in_prompt": "Miso"}, headers=a)
    assert r.status_code == 422


def test_consolidate_runs_after_the_response(
    client: TestClient, memory: Memory, tenants: Tenants
) -> None:
    seed(memory, "alice", ["I live in Berlin", "I live in Berlin"])
    a = tenants.auth(tenants.alice)
    r = client.post("/v1/consolidate", headers=a)
    assert r.status_code == 202 and r.json()["status"] == "queued"
    job = client.get(f"/v1/consolidate/{r.json()['id']}", headers=a).json()
    assert job["status"] == "done" and job["result"]["examined"] >= 1
    assert client.get("/v1/consolidate/nope", headers=a).status_code == 404


def test_a_failed_job_records_its_error() -> None:
    jobs = Jobs()
    job = jobs.submit(Scope("alice"))

    def fail() -> Any:
        raise StorageError("database is locked")

    jobs.run(job, fail)
    seen = jobs.get(job.id, Principal.for_scope("k", "alice", None))
    assert (seen.status, seen.error_code) == ("failed", "storage")


def test_stats(client: TestClient, memory: Memory, tenants: Tenants) -> None:
    seed(memory, "alice", ["one fact"])
    seed(memory, "bob", ["another fact", "and more"])
    mine = client.get("/v1/stats", headers=tenants.auth(tenants.alice)).json()
    assert mine["memories"] == 1 and mine["usage"] is None
    assert mine["scope"] == {"user_id": "alice", "agent_id": None}
    assert mine["llm_mode"] == memory.llm_mode and mine["embedder"] == memory.embedder.model_id
    every = client.get("/v1/stats", headers=tenants.auth(tenants.admin)).json()
    assert every["memories"] == 3 and every["scope"] is None
    assert "total" in every["usage"]


def test_export_import_roundtrip(
    client: TestClient, memory: Memory, tenants: Tenants, tmp_path: Path
) -> None:
    seed(memory, "alice", ["I collect vinyl records"])
    r = client.get("/v1/export", headers=tenants.auth(tenants.alice))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = r.text.splitlines()
    assert {json.loads(line)["kind"] for line in lines} >= {"turn", "entry", "history"}

    other = Memory(tmp_path / "other", config=CONFIG)
    try:
        store = KeyStore.for_memory(other)
        key, _ = store.create(users=["alice"])
        with TestClient(create_app(other, store)) as c:
            r = c.post("/v1/import", content=r.text, headers=Tenants.auth(key))
            assert r.status_code == 200 and r.json()["imported"] == len(lines)
            assert r.json()["imported"] == len(lines)
            r = c.post("/v1/import", content=b"not json\n", headers=Tenants.auth(key))
            assert r.status_code == 422 and "line 1" in error_of(r)["message"]
        assert [e.text for e in other.get_all(user_id="alice")] == ["user: I collect vinyl records"]
    finally:
        other.close()


def test_openapi_is_served_and_every_route_is_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    docs = DOCS.read_text(encoding="utf-8")
    routes = [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops]
    assert routes and all(p.startswith("/v1/") for _, p in routes)
    undocumented = [f"{m} {p}" for m, p in routes if f"`{m} {p}`" not in docs]
    assert not undocumented
    for code in (
        "not_found",
        "invalid_input",
        "config",
        "forbidden",
        "unauthorized",
        "too_large",
        "provider",
        "storage",
        "internal",
    ):
        assert f"`{code}`" in docs


def test_logs_hold_no_user_text(
    client: TestClient, memory: Memory, tenants: Tenants, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    a = tenants.auth(tenants.alice)
    secret = "my-passport-number-X9931"
    r = client.post("/v1/memories", json={"messages": secret, "run_id": "run-secret"}, headers=a)
    client.post("/v1/flush", headers=a)
    client.post("/v1/search", json={"query": secret}, headers=a)
    entry_id = memory.get_all(user_id="alice")[0].id
    client.get(f"/v1/memories/{entry_id}", headers=a)
    client.get("/v1/memories", params={"user_id": "alice-query"}, headers=a)
    client.post(
        "/v1/memories", json={"messages": [{"role": "nobody", "content": secret}]}, headers=a
    )
    lines = [rec.getMessage() for rec in caplog.records if rec.name.startswith("lightmem")]
    text = "\n".join(lines)
    for private in (secret, "run-secret", entry_id, "alice-query", tenants.alice):
        assert private not in text
    assert "POST /v1/memories 202" in text and "GET /v1/memories/{memory_id} 200" in text
    assert r.status_code == 202


# -- keyless loopback mode ------------------------------------------------------------------------
def test_keyless_mode_serves_loopback_clients_only(memory: Memory) -> None:
    seed(memory, "alice", ["I like tea"])
    app = create_app(memory, None)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/v1/memories", params={"user_id": "alice"}).status_code == 200
        r = c.get(
            "/v1/memories", params={"user_id": "alice"}, headers={"Origin": "http://localhost:3000"}
        )
        assert r.status_code == 200
        for headers in (
            {"Host": "evil.example"},
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
        ):
            r = c.get("/v1/memories", params={"user_id": "alice"}, headers=headers)
            assert r.status_code == 403 and error_of(r)["code"] == "forbidden"


def test_the_app_needs_the_background_worker(tmp_path: Path) -> None:
    mem = Memory(tmp_path / "s", config={**CONFIG, "worker": {"background": False}})
    with mem, pytest.raises(ConfigError, match="background"):
        create_app(mem, None)


@pytest.mark.parametrize(
    ("host", "keys", "allow", "ok"),
    [
        ("0.0.0.0", False, True, False),
        ("::", False, True, False),
        ("192.168.1.20", False, True, False),
        ("example.com", False, True, False),
        ("127.0.0.1", False, False, False),  # keyless needs the explicit flag
        ("127.0.0.1", False, True, True),
        ("::1", False, True, True),
        ("localhost", False, True, True),
        ("0.0.0.0", True, False, True),
    ],
)
def test_check_bind(host: str, keys: bool, allow: bool, ok: bool) -> None:
    if ok:
        check_bind(host, keys_configured=keys, allow_unauthenticated_loopback=allow)
    else:
        with pytest.raises(ConfigError):
            check_bind(host, keys_configured=keys, allow_unauthenticated_loopback=allow)
    assert is_loopback("127.0.0.2") and not is_loopback("10.0.0.1")


# -- the commands ---------------------------------------------------------------------------------
def test_a_missing_server_package_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    with Memory(tmp_path, config=CONFIG) as mem:
        KeyStore.for_memory(mem).create(users=["alice"])
    r = CliRunner().invoke(server_cli(), ["--store", str(tmp_path), "serve"])
    assert isinstance(r.exception, MissingDependencyError)
    assert "pip install 'lightmem[server]'" in str(r.exception)


def test_serve_refuses_a_public_address_without_keys(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        server_cli(),
        [
            "--store",
            str(tmp_path),
            "serve",
            "--host",
            "0.0.0.0",
            "--allow-unauthenticated-loopback",
        ],
    )
    assert isinstance(r.exception, ConfigError)
    assert "loopback" in str(r.exception) and "lightmem keys create" in str(r.exception)
    r = CliRunner().invoke(server_cli(), ["--store", str(tmp_path), "serve"])
    assert isinstance(r.exception, ConfigError)
    assert "--allow-unauthenticated-loopback" in str(r.exception)


def test_key_commands(tmp_path: Path) -> None:
    run = CliRunner().invoke
    r = run(
        server_cli(),
        ["--store", str(tmp_path), "keys", "create", "--user", "alice", "--name", "a1"],
    )
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip()
    assert secret.startswith("lm_") and len(secret) > 40
    with Memory(tmp_path) as mem:
        assert KeyStore.for_memory(mem).verify(secret) is not None

    r = run(server_cli(), ["--store", str(tmp_path), "keys", "list", "--json"])
    assert json.loads(r.stdout)[0]["grants"] == [{"user_id": "alice", "agent_id": None}]
    assert secret not in r.stdout

    r = run(server_cli(), ["--store", str(tmp_path), "keys", "create", "--name", "nobody"])
    assert r.exit_code != 0  # a key needs a scope
    r = run(server_cli(), ["--store", str(tmp_path), "keys", "revoke", "a1"])
    assert r.exit_code == 0
    with Memory(tmp_path) as mem:
        assert KeyStore.for_memory(mem).verify(secret) is None
    r = run(server_cli(), ["--store", str(tmp_path), "keys", "revoke", "a1"])
    assert r.exit_code != 0
