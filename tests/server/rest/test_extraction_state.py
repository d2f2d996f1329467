"""What any key learns when the LLM endpoint is down (issue 19, finding 2): ``extraction``
in ``GET /v1/stats`` and ``POST /v1/flush`` says the endpoint is unreachable and the turns
wait; an admin key is also told where and what failed, another key not the address, and
neither gets the other's usage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lightmem import Memory
from lightmem.server.keys import KeyStore
from lightmem.server.models import UNREACHABLE
from lightmem.server.rest.app import create_app
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def down(tmp_path: Path) -> Iterator[tuple[Memory, str]]:
    with FakeOpenAIServer() as gone:
        url = gone.base_url  # nothing listens there any more
    config = {
        "embedder": {"provider": "hash"},
        "llm": {"provider": "openai", "options": {"base_url": url, "backoff": 0}},
        "buffer": {"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0},
        "worker": {"background": True},
    }
    mem = Memory(tmp_path / "store", config=config)
    yield mem, url
    mem.close()


def test_any_key_learns_that_extraction_waits_for_the_endpoint(
    down: tuple[Memory, str],
) -> None:
    memory, url = down
    keys = KeyStore.for_memory(memory)
    alice, _ = keys.create(users=["alice"], name="alice")
    admin, _ = keys.create(admin=True, name="admin")
    auth = {"Authorization": f"Bearer {alice}"}
    with TestClient(create_app(memory, keys)) as client:
        ok = client.get("/v1/stats", params={"user_id": "alice"}, headers=auth).json()
        assert ok["extraction"]["state"] == "ok"

        r = client.post(
            "/v1/memories", json={"messages": "my cat is Pixel", "user_id": "alice"}, headers=auth
        )
        assert r.status_code == 202
        r = client.post("/v1/flush", json={"user_id": "alice"}, headers=auth)
        assert r.status_code == 200
        flushed = r.json()
        assert flushed["entries_created"] == 0 and flushed["failed_batches"] == []
        assert flushed["waiting_batches"]  # kept, not failed
        assert flushed["extraction"]["state"] == "unreachable"
        assert flushed["extraction"]["message"] == UNREACHABLE

        mine = client.get("/v1/stats", params={"user_id": "alice"}, headers=auth).json()
        assert mine["usage"] is None  # no admin data
        assert mine["extraction"]["state"] == "unreachable"
        assert mine["extraction"]["since"] is not None
        assert url not in str(mine) and "127.0.0.1" not in str(mine)

        every = client.get("/v1/stats", headers={"Authorization": f"Bearer {admin}"}).json()
        assert every["extraction"]["state"] == "unreachable"
        said = every["extraction"]["message"]  # the process's first check, or a call, found it
        assert url in said and "connection refused" in said
        assert [f["where"] for f in every["usage"]["failures"]] == ["llm"]
