"""Findings of the black-box probe (issue: trustworthy under attack and misuse): each one
is a 4xx with the documented error shape, never a 500, and nothing accepted is lost."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lightmem import InputError, Memory
from lightmem.server.codes import problems
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


def test_a_unix_epoch_is_a_timestamp_everywhere(
    client: TestClient, tenants: Tenants, memory: Memory
) -> None:
    """The error said "or a UNIX epoch number", and an epoch was refused (422)."""
    a = tenants.auth(tenants.alice)
    message = {"role": "user", "content": "epoch one", "timestamp": 1704067200}
    for body in (
        {"messages": [message]},
        {"messages": "epoch two", "timestamp": 1704153600.0},
        {"messages": [{**message, "content": "epoch three", "timestamp": "1704240000"}]},
    ):
        r = client.post("/v1/memories", json=body, headers=a)
        assert r.status_code == 202, r.text
    days = sorted(t.timestamp.day for t in memory.turns(user_id="alice") if t.timestamp)
    assert days == [1, 2, 3]
    r = client.post("/v1/search", json={"query": "epoch", "start": 1704153600}, headers=a)
    assert r.status_code == 200, r.text


def test_a_bad_message_is_told_in_the_form_it_was_sent(
    client: TestClient, tenants: Tenants
) -> None:
    """A bad list of messages was told as three failures, one per form the field takes
    ("constrained-str: ...; MessageIn: ...; list[MessageIn].0.role: ...")."""
    a = tenants.auth(tenants.alice)
    told = {
        "messages.0.role: Input should be 'user', 'assistant', 'system' or 'tool'": [
            {"role": "bot", "content": "x"}
        ],
        "messages.0.content: Field required": [{"role": "user"}],
        "messages.content: String should have at least 1 character": {
            "role": "user",
            "content": "",
        },
    }
    for message, messages in told.items():
        said = error_of(client.post("/v1/memories", json={"messages": messages}, headers=a))
        assert said["message"] == f"body.{message}"


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
    # JSON sent as text: it said "body: Input should be a valid dictionary ..."
    plain = {**headers, "Content-Type": "text/plain"}
    r = client.post("/v1/memories", content=b'{"messages": "hi"}', headers=plain)
    assert r.status_code == 422 and "Content-Type: application/json" in error_of(r)["message"]


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


def test_a_response_streamed_longer_than_the_body_timeout_is_not_cut_off() -> None:
    """A streamed response (GET /v1/export of 20,000 memories) waits for the client to go
    away with ``receive()`` while it streams: the body timeout is for the body only, and
    once the body is in it must not end the response (it cut exports off at 10 s)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.request"  # the (empty) body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        # as Starlette's StreamingResponse: listen for a disconnect while streaming
        assert (await receive())["type"] == "http.disconnect"
        await send({"type": "http.response.body", "body": b"done", "more_body": False})

    async def run() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        queue = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict[str, Any]:
            if queue:
                return queue.pop()
            await asyncio.sleep(1.0)  # the client reads for longer than the timeout
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/v1/export", "headers": []}
        await asyncio.wait_for(BodyLimit(app, timeout_s=0.2)(scope, receive, send), 10)
        return sent

    sent = asyncio.run(run())
    assert sent[-1] == {"type": "http.response.body", "body": b"done", "more_body": False}


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


# -- retries: idempotency keys ----------------------------------------------------------------
def test_idempotency_key_on_rest(client: TestClient, tenants: Tenants, memory: Memory) -> None:
    a = {**tenants.auth(tenants.alice), "Idempotency-Key": "req-1"}
    body = {"messages": [{"role": "user", "content": "I moved to Porto"}]}
    first = client.post("/v1/memories", json=body, headers=a)
    again = client.post("/v1/memories", json=body, headers=a)
    assert first.status_code == again.status_code == 202
    assert again.json() == {**first.json(), "replayed": True} and not first.json()["replayed"]
    other = client.post("/v1/memories", json={"messages": "something else"}, headers=a)
    assert other.status_code == 409 and error_of(other)["code"] == "conflict"
    memory.wait()
    assert [t.content for t in memory.turns(user_id="alice")] == ["I moved to Porto"]


KILLED_ADD = """
import os, signal, sys
from lightmem import Memory
mem = Memory(sys.argv[1], config={"embedder": {"provider": "hash"}, "llm": "none"})
mem.add("I switched from tea to coffee", user_id="alice", idempotency_key="retry-me")
os.kill(os.getpid(), signal.SIGKILL)  # dies before any answer reaches the caller
"""


def test_an_idempotent_retry_after_kill_9_stores_once(tmp_path: Any) -> None:
    import subprocess
    import sys

    store = tmp_path / "s"
    proc = subprocess.run([sys.executable, "-c", KILLED_ADD, str(store)], check=False)
    assert proc.returncode == -9
    config = {"embedder": {"provider": "hash"}, "llm": "none"}
    with Memory(store, config=config) as mem:
        retry = mem.add(
            "I switched from tea to coffee", user_id="alice", idempotency_key="retry-me"
        )
        assert retry.replayed
        turns = mem.turns(user_id="alice")
        assert [t.content for t in turns] == ["I switched from tea to coffee"]
        assert retry.turn_ids == [turns[0].id]
        with pytest.raises(InputError, match="idempotency key"):
            mem.add("x", user_id="alice", idempotency_key="")


# -- files readable by their owner only -------------------------------------------------------
def test_store_files_are_private_whatever_the_umask(tmp_path: Any) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        with Memory(
            tmp_path / "new", config={"embedder": {"provider": "hash"}, "llm": "none"}
        ) as m:
            m.add("secret", user_id="alice")
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in m.path.iterdir()}
            assert stat.S_IMODE(m.path.stat().st_mode) == 0o700
    finally:
        os.umask(old)
    for name in ("lightmem.sqlite3", "lightmem.sqlite3-wal", "lightmem.sqlite3-shm", "config.json"):
        assert files.get(name) == 0o600, (name, files)


# -- a server started without keys switches to keys --------------------------------------------
def test_a_key_created_while_keyless_switches_the_server_to_auth(memory: Memory) -> None:
    from lightmem.server.keys import KeyStore
    from lightmem.server.rest.app import create_app

    keys = KeyStore.for_memory(memory)
    app = create_app(memory, keys, anonymous_until_keys=True)
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/v1/memories", params={"user_id": "alice"}).status_code == 200
        secret, _ = keys.create(users=["alice"], name="late")
        r = c.get("/v1/memories", params={"user_id": "alice"})
        assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
        ok = c.get("/v1/memories", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200


def test_admin_stats_show_repairs_and_recent_failures(client: TestClient, tenants: Tenants) -> None:
    usage = client.get("/v1/stats", headers=tenants.auth(tenants.admin)).json()["usage"]
    assert usage["repaired_sources"] == 0 and usage["failures"] == []


def test_a_header_or_query_is_named_as_sent() -> None:
    """Names such as "Idempotency-Key" are no union forms: they stay in the message."""
    said = problems([{"loc": ("header", "Idempotency-Key"), "msg": "too long", "type": "x"}])
    assert said == "header.Idempotency-Key: too long"
