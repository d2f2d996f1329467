"""When the upstream fails, the user's turn is kept and the client gets an OpenAI-shaped
error that says what failed: 502 (unreachable, an error answer), 504 (too slow); a refusal
of the request itself keeps its status; a stream that breaks ends with an error event."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from lightmem.server.threaded import free_port
from tests.fakes.openai_server import FakeResponse, chat_body
from tests.server.conftest import Tenants
from tests.server.proxy.conftest import MakeProxy, Proxy

QUESTION = [{"role": "user", "content": "my passport number is X1234, keep it"}]


def kept_user_turn(proxy: Proxy) -> bool:
    return proxy.session_turns("alice", "proxy-alice") == [("user", QUESTION[0]["content"])]


def failure(proxy: Proxy, key: str) -> tuple[int, dict[str, Any]]:
    """The status and the OpenAI-shaped error of a request that must fail (alice's: it
    says the session her turn was kept in)."""
    with pytest.raises(openai.APIStatusError) as caught:
        proxy.client(key).chat.completions.create(model="m", messages=QUESTION)
    body = caught.value.response.json()
    assert set(body) == {"error"} and {"message", "type", "code"} <= set(body["error"])
    assert caught.value.response.headers["x-lightmem-session"] == "proxy-alice"
    return caught.value.status_code, body["error"]


def test_an_unreachable_upstream_is_502_and_the_turn_is_kept(
    make_proxy: MakeProxy, tenants: Tenants
) -> None:
    proxy = make_proxy(upstream_url=f"http://127.0.0.1:{free_port()}/v1")
    status, error = failure(proxy, tenants.alice)
    assert status == 502 and error["type"] == "server_error"
    assert error["code"] == "upstream_error" and "unreachable" in error["message"]
    assert kept_user_turn(proxy)


def test_a_clients_retries_store_the_users_turn_once(
    make_proxy: MakeProxy, tenants: Tenants
) -> None:
    """The official client retries a 502 twice by default, with no Idempotency-Key: the
    request itself identifies the retries (it stored the turn three times)."""
    proxy = make_proxy(upstream_url=f"http://127.0.0.1:{free_port()}/v1")
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key=tenants.alice, max_retries=2)
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="m", messages=QUESTION)
    client.close()
    assert kept_user_turn(proxy)


def test_the_same_words_later_in_a_conversation_are_a_new_turn(
    proxy: Proxy, tenants: Tenants
) -> None:
    client = proxy.client(tenants.alice)
    history: list[dict[str, str]] = []
    for _ in range(2):
        history.append({"role": "user", "content": "ok"})
        proxy.upstream.reply("fine")
        reply = client.chat.completions.create(model="m", messages=history)
        history.append({"role": "assistant", "content": reply.choices[0].message.content or ""})
    proxy.upstream.reply("fine, again")
    client.chat.completions.create(model="m", messages=history[:3])  # a regenerate
    said = [text for role, text in proxy.session_turns("alice", "proxy-alice") if role == "user"]
    assert said == ["ok", "ok"]


def test_a_slow_upstream_is_504_and_the_turn_is_kept(
    make_proxy: MakeProxy, tenants: Tenants
) -> None:
    proxy = make_proxy(timeout_seconds=0.5)
    proxy.upstream.reply("too late", delay=3)
    status, error = failure(proxy, tenants.alice)
    assert status == 504
    assert error["code"] == "upstream_timeout" and "0.5 s" in error["message"]
    assert kept_user_turn(proxy)


@pytest.mark.parametrize("status", [500, 401, 503])
def test_an_upstream_error_answer_is_502(proxy: Proxy, tenants: Tenants, status: int) -> None:
    proxy.upstream.error(status, "the model fell over")
    answered, error = failure(proxy, tenants.alice)
    assert answered == 502
    assert f"HTTP {status}" in error["message"] and "the model fell over" in error["message"]
    assert ("proxy's own upstream key is not accepted" in error["message"]) == (status == 401)
    assert kept_user_turn(proxy)


def test_a_refused_request_keeps_the_upstreams_status(proxy: Proxy, tenants: Tenants) -> None:
    proxy.upstream.error(404, "no model named m", headers={"Retry-After": "3"})
    status, error = failure(proxy, tenants.alice)
    assert status == 404 and error["code"] == "upstream_refused"
    proxy.upstream.error(429, "slow down", headers={"Retry-After": "3"})
    with pytest.raises(openai.RateLimitError) as limited:
        proxy.client(tenants.alice).chat.completions.create(model="m", messages=QUESTION)
    assert limited.value.response.headers["retry-after"] == "3"


def test_a_broken_stream_ends_with_an_error_event(proxy: Proxy, tenants: Tenants) -> None:
    proxy.upstream.enqueue(FakeResponse(200, chat_body("one two three four five"), break_after=2))
    stream = proxy.client(tenants.alice).chat.completions.create(
        model="m", messages=QUESTION, stream=True
    )
    with pytest.raises(openai.APIError, match=r"broke off its answer"):
        for _ in stream:
            pass
    assert kept_user_turn(proxy)  # and no half reply recorded


def test_a_stream_that_ends_early_is_an_error_not_a_short_reply(
    proxy: Proxy, tenants: Tenants
) -> None:
    """An upstream that closed an unchunked stream after a few events (no finish_reason, no
    [DONE]): the client read a cut reply as a whole one, and it was recorded."""
    proxy.upstream.enqueue(FakeResponse(200, chat_body("one two three four five"), close_after=2))
    stream = proxy.client(tenants.alice).chat.completions.create(
        model="m", messages=QUESTION, stream=True
    )
    got = []
    with pytest.raises(openai.APIError, match=r"before the reply was complete"):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "one two "
    assert kept_user_turn(proxy)


def test_a_stream_with_its_finish_reason_but_no_done_is_a_whole_reply(
    proxy: Proxy, tenants: Tenants
) -> None:
    """Some servers send no [DONE]: the first choice's finish_reason says the reply is whole."""
    answer = chat_body("one two three four five")
    proxy.upstream.enqueue(FakeResponse(200, answer, close_after=5))  # role, 3 pieces, stop
    stream = proxy.client(tenants.alice).chat.completions.create(
        model="m", messages=QUESTION, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "one two three four five"
    assert proxy.session_turns("alice", "proxy-alice") == [
        ("user", QUESTION[0]["content"]),
        ("assistant", "one two three four five"),
    ]


def test_a_failing_stream_start_is_an_error_answer(proxy: Proxy, tenants: Tenants) -> None:
    proxy.upstream.error(500, "boom")
    with pytest.raises(openai.InternalServerError):
        proxy.client(tenants.alice).chat.completions.create(
            model="m", messages=QUESTION, stream=True
        )
    assert kept_user_turn(proxy)


def test_an_upstream_answer_that_is_not_json_is_502(proxy: Proxy, tenants: Tenants) -> None:
    proxy.upstream.enqueue(FakeResponse(200, "<html>gateway</html>"))
    response = httpx.post(
        proxy.url + "/v1/chat/completions",
        json={"model": "m", "messages": QUESTION},
        headers={"Authorization": f"Bearer {tenants.alice}"},
    )
    assert response.status_code == 502 and "not a JSON object" in response.text
    assert kept_user_turn(proxy)


@pytest.mark.parametrize(
    ("body", "kind"),
    [("<html>gateway</html>", "text/html"), (chat_body("a whole answer"), "application/json")],
)
def test_a_streamed_answer_that_is_not_an_event_stream_is_502(
    proxy: Proxy, tenants: Tenants, body: Any, kind: str
) -> None:
    """Relayed as it came, a page or a JSON body was a 200 the client read as an empty
    stream (and no reply was recorded)."""
    proxy.upstream.enqueue(FakeResponse(200, body, headers={"Content-Type": kind}))
    with pytest.raises(openai.APIStatusError) as caught:
        proxy.client(tenants.alice).chat.completions.create(
            model="m", messages=QUESTION, stream=True
        )
    assert caught.value.status_code == 502
    message = caught.value.response.json()["error"]["message"]
    assert "not an event stream" in message and kind in message
    assert kept_user_turn(proxy)
