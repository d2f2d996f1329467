"""Tenancy exactly as ``serve``: a key only ever injects, and records into, the scopes it
may touch; the ``user`` field and the ``X-LightMem-User`` header choose within them; bad
requests are 4xx in OpenAI's shape that name the problem."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from lightmem import Memory
from tests.server.conftest import Tenants, seed
from tests.server.proxy.conftest import MakeProxy, Proxy
from tests.server.rest.test_tenancy import BOB_SECRET, BOB_WORDS, bob_state

QUESTION = [{"role": "user", "content": "where does bob hide his bank PIN under the rug?"}]


@pytest.fixture
def seeded(memory: Memory) -> None:
    seed(memory, "bob", [BOB_SECRET, "bob walks his dog Rex every morning"])
    seed(memory, "alice", ["alice hides her spare key under the doormat"])


def upstream_text(proxy: Proxy) -> str:
    return " ".join(
        str(m.get("content")) for r in proxy.upstream.chat_requests for m in r.body["messages"]
    )


@pytest.mark.usefixtures("seeded")
def test_alices_key_never_gets_bobs_memories(proxy: Proxy, tenants: Tenants) -> None:
    proxy.upstream.chat_responder = lambda body: "I do not know."
    client = proxy.client(tenants.alice)
    for stream in (False, True):
        out: Any = client.chat.completions.create(model="m", messages=QUESTION, stream=stream)
        if stream:
            list(out)
    text = upstream_text(proxy)
    assert "doormat" in text  # alice's own memory is injected
    assert not [w for w in BOB_WORDS if w in text]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("how", ["field", "header"])
def test_naming_another_user_is_403_and_changes_nothing(
    proxy: Proxy, memory: Memory, tenants: Tenants, how: str
) -> None:
    before = bob_state(memory)
    extra: dict[str, Any] = (
        {"user": "bob"} if how == "field" else {"extra_headers": {"X-LightMem-User": "bob"}}
    )
    with pytest.raises(openai.PermissionDeniedError) as caught:
        proxy.client(tenants.alice).chat.completions.create(model="m", messages=QUESTION, **extra)
    error = caught.value.response.json()["error"]
    assert (
        error["type"] == "permission_error"
        and "user 'bob' is not this caller's own" in (error["message"])
    )
    assert not [w for w in BOB_WORDS if w in caught.value.response.text]
    assert proxy.upstream.chat_requests == []
    assert bob_state(memory) == before


@pytest.mark.usefixtures("seeded")
def test_an_admin_key_names_the_user(proxy: Proxy, tenants: Tenants) -> None:
    client = proxy.client(tenants.admin)
    with pytest.raises(openai.BadRequestError, match="X-LightMem-User"):
        client.chat.completions.create(model="m", messages=QUESTION)
    proxy.upstream.reply("under the zebra rug")
    client.chat.completions.create(model="m", messages=QUESTION, user="bob")
    assert "zebra rug" in upstream_text(proxy)
    turns = proxy.memory.turns(user_id="bob", session_id="proxy-admin")
    assert [t.role for t in turns] == ["user", "assistant"]


def test_the_field_and_the_header_must_agree(proxy: Proxy, tenants: Tenants) -> None:
    with pytest.raises(openai.BadRequestError, match="different users"):
        proxy.client(tenants.alice).chat.completions.create(
            model="m", messages=QUESTION, user="alice", extra_headers={"X-LightMem-User": "bob"}
        )


def test_no_key_or_a_wrong_key_is_401(proxy: Proxy) -> None:
    keyless = httpx.post(proxy.url + "/v1/chat/completions", json={"messages": QUESTION})
    assert keyless.status_code == 401 and "API key is required" in keyless.text
    garbage = httpx.post(proxy.url + "/v1/chat/completions", content=b"{not json")
    assert garbage.status_code == 401  # no key: nothing of the body is looked at
    with pytest.raises(openai.AuthenticationError):
        proxy.client("lm-not-a-key").chat.completions.create(model="m", messages=QUESTION)
    with pytest.raises(openai.AuthenticationError):
        proxy.client("lm-not-a-key").models.list()
    assert proxy.upstream.requests == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"model": "m"}', "'messages'"),
        (b'{"model": "m", "messages": [{"content": "x"}]}', "messages[0]"),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
            "'stream'",
        ),
        (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "user": 7}', "'user'"),
        # numbers JSON cannot carry: nothing could be sent upstream (was a 500)
        (b'{"model": "m", "temperature": NaN, "messages": [{"role": "user"}]}', "NaN"),
        (b'{"model": "m", "top_p": -Infinity, "messages": [{"role": "user"}]}', "-Infinity"),
        (b'{"model": "m", "max_tokens": 1e999, "messages": [{"role": "user"}]}', "1e999"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        # a number or an object is no chat content (the reply was recorded without its turn)
        (b'{"model": "m", "messages": [{"role": "user", "content": 123}]}', "messages[0].content"),
        (b'{"model": "m", "messages": [{"role": "user", "content": {}}]}', "messages[0].content"),
        (b'{"model": "m", "messages": [{"role": "user"}], "user": "' + b"u" * 300 + b'"}', "300"),
    ],
)
def test_a_bad_request_is_400_naming_the_problem(
    proxy: Proxy, tenants: Tenants, body: bytes, problem: str
) -> None:
    response = httpx.post(
        proxy.url + "/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {tenants.alice}", "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and problem in error["message"]
    assert proxy.upstream.requests == [] and proxy.memory.turns(user_id="alice") == []


def test_a_session_header_with_control_characters_is_refused(
    proxy: Proxy, tenants: Tenants
) -> None:
    response = httpx.post(
        proxy.url + "/v1/chat/completions",
        json={"model": "m", "messages": QUESTION},
        headers={"Authorization": f"Bearer {tenants.alice}", "X-LightMem-Session": "a\tb"},
    )
    assert response.status_code == 400 and "control characters" in response.text


def test_a_session_header_longer_than_an_id_is_refused(proxy: Proxy, tenants: Tenants) -> None:
    """It was kept, and echoed in a response header and the body, at any length."""
    response = httpx.post(
        proxy.url + "/v1/chat/completions",
        json={"model": "m", "messages": QUESTION},
        headers={"Authorization": f"Bearer {tenants.alice}", "X-LightMem-Session": "s" * 5000},
    )
    assert response.status_code == 400 and "5000 characters" in response.text
    assert proxy.upstream.requests == [] and proxy.memory.turns(user_id="alice") == []


def test_keyless_mode_serves_loopback_clients_only(make_proxy: MakeProxy) -> None:
    proxy = make_proxy(keys=None)
    proxy.upstream.reply("hi")
    ok = httpx.post(
        proxy.url + "/v1/chat/completions",
        json={"model": "m", "messages": QUESTION, "user": "carol"},
    )
    assert ok.status_code == 200
    assert proxy.session_turns("carol", "proxy-anonymous")[0][0] == "user"
    nobody = httpx.post(
        proxy.url + "/v1/chat/completions", json={"model": "m", "messages": QUESTION}
    )
    assert nobody.status_code == 400 and "(no key was sent)" in nobody.text
    refused = httpx.post(
        proxy.url + "/v1/chat/completions",
        json={"model": "m", "messages": QUESTION, "user": "carol"},
        headers={"Host": "evil.example"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"


def test_an_oversized_body_is_413_in_openai_shape(memory: Memory, tenants: Tenants) -> None:
    from fastapi.testclient import TestClient

    from lightmem.config import ProxySection
    from lightmem.server.proxy import create_proxy_app

    app = create_proxy_app(
        memory,
        tenants.store,
        ProxySection(upstream_url="http://127.0.0.1:9/v1"),
        max_body_bytes=100,
    )
    with TestClient(app) as client:
        response = client.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "x" * 200}]},
            headers={"Authorization": f"Bearer {tenants.alice}"},
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
