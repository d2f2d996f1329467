"""Findings of the black-box probe (issue: trustworthy under attack and misuse): each one
is a 4xx with the documented error shape, never a 500, and nothing accepted is lost."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lightmem import InputError, Memory
from lightmem.server.middleware import BodyLimit
from lightmem.timeutil import parse_timestamp
from tests.server.conftest import Tenants

EDGES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")


def error_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]


@pytest.mark.parametrize("edge", EDGES)
def test_edge_timestamps_are_422_everywhere(
    client: TestClient, tenants: Tenants, memory: Memory, edge: str
) -> None:
    a = tenants.auth(tenants.alice)
    bodies = [
        ("/v1/memories", {"messages": "hello", "timestamp": edge}),
        ("/v1/memories", {"messages": [{"role": "user", "content": "hi", "timestamp": edge}]}),
        ("/v1/search", {"query": "hello", "start": edge}),
        ("/v1/search", {"query": "hello", "end": edge}),
        ("/v1/context", {"query": "hello", "start": edge}),
    ]
    for path, body in bodies:
        r = client.post(path, json=body, headers=a)
        assert r.status_code == 422, (path, r.text)
        err = error_of(r)
        assert err["code"] == "invalid_input" and "UTC" in err["message"]
    assert memory.turns(user_id="alice") == []
    with pytest.raises(InputError, match="outside the range"):
        parse_timestamp(EDGES[0])


def test_deeply_nested_import_line_is_422(client: TestClient, tenants: Tenants) -> None:
    line = "[" * 200_000 + "]" * 200_000
    r = client.post(
        "/v1/import",
        content=line.encode(),
        headers={**tenants.auth(tenants.admin), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 422 and "nested too deeply" in error_of(r)["message"]


def test_a_body_that_is_not_json_is_422(client: TestClient, tenants: Tenants) -> None:
    headers = {**tenants.auth(tenants.alice), "Content-Type": "application/json"}
    for content in (b"not json at all", b"{", b"\xff\xfe"):
        r = client.post("/v1/search", content=content, headers=headers)
        assert r.status_code == 422 and error_of(r)["code"] == "invalid_input", content


@pytest.mark.parametrize("bad", ["al\x00ice", "bob\nsmith", "\x7f"])
def test_control_characters_in_ids_are_refused(
    client: TestClient, tenants: Tenants, memory: Memory, bad: str
) -> None:
    a = tenants.auth(tenants.admin)
    r = client.post("/v1/memories", json={"messages": "hello", "user_id": bad}, headers=a)
    assert r.status_code == 422 and "control characters" in error_of(r)["message"]
    with pytest.raises(InputError, match="control characters"):
        memory.add("hello", user_id=bad)
    assert memory.store.scopes() == []


def test_a_stalled_body_is_408_not_held_open() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # never answers: the middleware must give up first

    async def run() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(3600)
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/memories", "headers": []}
        try:
            await asyncio.wait_for(BodyLimit(app, timeout_s=0.2)(scope, receive, send), 5)
        except Exception as exc:  # noqa: BLE001 - FastAPI turns it into the 408 response
            sent.append({"raised": exc})
        return sent

    sent = asyncio.run(run())
    raised = [m["raised"] for m in sent if "raised" in m]
    assert raised and getattr(raised[0], "status_code", None) == 408


def test_search_limit_zero_is_an_error_in_python(memory: Memory) -> None:
    memory.add("hello there", user_id="alice")
    for bad in (0, -1):
        with pytest.raises(InputError, match="limit"):
            memory.search("hello", user_id="alice", limit=bad)


def test_swagger_ui_is_served_from_local_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert json.loads(client.get("/openapi.json").text)["info"]["title"] == "LightMem"
