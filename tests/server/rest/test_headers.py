"""Headers every response carries: ``X-Content-Type-Options: nosniff`` (issue 19, finding
15), so that no browser reads tenant text served as JSON, JSON Lines or an error as a page
or a script."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lightmem import Memory
from lightmem.server.rest.app import create_app
from tests.server.conftest import Tenants


def test_every_response_says_nosniff(client: TestClient, tenants: Tenants) -> None:
    a = tenants.auth(tenants.alice)
    client.post("/v1/memories", json={"messages": "hello there"}, headers=a)
    answers = {
        "health": client.get("/v1/health"),
        "json": client.get("/v1/memories", headers=a),
        "ndjson": client.get("/v1/export", headers=a),
        "browser": client.get("/ui"),
        "docs": client.get("/docs"),
        "openapi": client.get("/openapi.json"),
        "401": client.get("/v1/me"),
        "404 route": client.get("/nowhere", headers=a),
        "404 id": client.get("/v1/memories/nope", headers=a),
        "405": client.put("/v1/health"),
        "413": client.post(
            "/v1/memories", content=b"x" * (2 * 1024 * 1024), headers={**a, "Content-Type": "a/b"}
        ),
        "422": client.post("/v1/search", content=b"{", headers=a),
    }
    for what, r in answers.items():
        assert r.headers.get("x-content-type-options") == "nosniff", (what, r.status_code)


def test_the_keyless_guard_refusal_says_nosniff(memory: Memory) -> None:
    with TestClient(create_app(memory, None)) as c:
        r = c.get("/v1/health", headers={"Host": "evil.example"})
    assert r.status_code == 403
    assert r.headers["x-content-type-options"] == "nosniff"
